package judge

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"

	"rlhf/feedback"
)

// MaxLine is the longest input line read, in bytes: a web import line's limit
// (4 MiB of payload plus room for the fields around it).
const MaxLine = 4<<20 + 64<<10

// Input is one text query read from a file, with what it takes to write it
// back for people and, when the file carries one, its known answer.
type Input struct {
	// Query is the text query; its ID is the record's query_id or "line-N".
	Query feedback.Query
	// Line is the original line for a web import line (written back verbatim
	// when deferred); nil for a preference pair.
	Line []byte
	// Gold is the known answer (a pair's chosen item, an import line's
	// "gold"); valid when HasGold.
	Gold    feedback.Choice
	HasGold bool
}

// line is any of the accepted records: a web import line (wrapped or bare
// payload) or a TRL preference pair.
type line struct {
	Run      string           `json:"run"`
	Payload  json.RawMessage  `json:"payload"`
	Gold     *feedback.Choice `json:"gold"`
	Kind     string           `json:"kind"`
	Prompt   *string          `json:"prompt"`
	Chosen   *string          `json:"chosen"`
	Rejected *string          `json:"rejected"`
	QueryID  string           `json:"query_id"`
}

// textPayload is a web text query: a prompt and 2..16 completions.
type textPayload struct {
	Kind        string   `json:"kind"`
	Prompt      string   `json:"prompt"`
	Completions []string `json:"completions"`
}

// ReadInputs reads text queries from r, one JSON object a line, in either of
// two forms, mixed freely:
//
//   - the query lines `rlhf serve -import` takes, {"run":..,"payload":{"kind":"text",
//     "prompt":..,"completions":[..]},"gold":..} or the bare payload; control
//     queries are refused;
//   - TRL preference pairs {"prompt","chosen","rejected"} as `rlhf prefs` writes
//     them; the two completions are put in an order fixed by a hash of the
//     texts (so that the known answer is item 0 or 1 about equally often) and
//     the chosen one becomes the gold answer.
//
// Blank lines are skipped; any malformed line is an error naming name and the
// line number.
func ReadInputs(r io.Reader, name string) ([]Input, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	var out []Input
	n := 0
	for sc.Scan() {
		n++
		b := bytes.TrimSpace(sc.Bytes())
		if n == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		if len(b) == 0 {
			continue
		}
		in, err := parseLine(b, n)
		if err != nil {
			return nil, fmt.Errorf("judge: %s line %d: %w", name, n, err)
		}
		out = append(out, in)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("judge: %s line %d: longer than %d bytes", name, n+1, MaxLine)
		}
		return nil, fmt.Errorf("judge: read %s: %w", name, err)
	}
	return out, nil
}

// ReadInputsFile reads the file at path with [ReadInputs].
func ReadInputsFile(path string) ([]Input, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("judge: read queries: %w", err)
	}
	defer f.Close()
	return ReadInputs(f, path)
}

func parseLine(b []byte, n int) (Input, error) {
	if b[0] != '{' {
		return Input{}, errors.New("not a JSON object")
	}
	var l line
	if err := json.Unmarshal(b, &l); err != nil {
		return Input{}, fmt.Errorf("invalid JSON: %w", err)
	}
	id := l.QueryID
	if id == "" {
		id = fmt.Sprintf("line-%d", n)
	}
	if l.Chosen != nil || l.Rejected != nil {
		if l.Chosen == nil || l.Rejected == nil {
			return Input{}, errors.New(`a preference pair needs both "chosen" and "rejected"`)
		}
		prompt := ""
		if l.Prompt != nil {
			prompt = *l.Prompt
		}
		q := feedback.TextQuery(id, prompt, *l.Chosen, *l.Rejected)
		gold := feedback.Choice(0)
		if swapPair(prompt, *l.Chosen, *l.Rejected) {
			q.Items[0], q.Items[1] = q.Items[1], q.Items[0]
			gold = 1
		}
		q.Run = l.Run
		return Input{Query: q, Gold: gold, HasGold: true}, nil
	}
	raw := l.Payload
	if raw == nil {
		if l.Kind == "" {
			return Input{}, errors.New(`neither a query ("payload" or "kind") nor a preference pair ("chosen", "rejected")`)
		}
		raw = b
	}
	var p textPayload
	if err := json.Unmarshal(raw, &p); err != nil {
		return Input{}, fmt.Errorf("payload: %w", err)
	}
	if p.Kind != string(feedback.KindText) {
		return Input{}, fmt.Errorf("payload kind %q: the judge reads text queries only", p.Kind)
	}
	if k := len(p.Completions); k < 2 || k > feedback.MaxItems {
		return Input{}, fmt.Errorf("text payload has %d completions, want 2..%d", k, feedback.MaxItems)
	}
	q := feedback.TextQuery(id, p.Prompt, p.Completions...)
	q.Run = l.Run
	in := Input{Query: q, Line: append([]byte(nil), b...)}
	if l.Gold != nil {
		if !l.Gold.IsIndex() || int(*l.Gold) >= len(p.Completions) {
			return Input{}, fmt.Errorf("gold %s is not an index of the %d completions", *l.Gold, len(p.Completions))
		}
		in.Gold, in.HasGold = *l.Gold, true
	}
	return in, nil
}

// swapPair reports whether a pair's completions are shown in swapped order:
// the low bit of an FNV-1a hash of the three texts.
func swapPair(prompt, chosen, rejected string) bool {
	h := fnv.New64a()
	for _, s := range []string{prompt, chosen, rejected} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return h.Sum64()&1 == 1
}

// WriteDeferred writes in as a line that `rlhf serve -import` takes: the
// original line verbatim for an import line, a text payload (with the record's
// run, if any) for a preference pair. The known answer is not written, so
// people label without it.
func WriteDeferred(w io.Writer, in Input) error {
	if in.Line != nil {
		if _, err := w.Write(append(in.Line[:len(in.Line):len(in.Line)], '\n')); err != nil {
			return fmt.Errorf("judge: write deferred %s: %w", in.Query.ID, err)
		}
		return nil
	}
	p := textPayload{Kind: string(feedback.KindText)}
	for _, it := range in.Query.Items {
		p.Prompt = it.Prompt
		p.Completions = append(p.Completions, it.Completion)
	}
	rec := struct {
		Run     string      `json:"run,omitempty"`
		Payload textPayload `json:"payload"`
	}{in.Query.Run, p}
	return encode(w, rec, "deferred "+in.Query.ID)
}

// PrefRecord is one line of the judge's preference output: a TRL pair with
// provenance (source "ai", the judge's name as labeler) and the judge's
// confidence in the chosen completion. `rlhf rm` reads it as a pair.
type PrefRecord struct {
	feedback.PairRecord
	Confidence float64 `json:"confidence"`
}

// PrefRecords returns the pairs that label l gives query q (none for a tie
// or an abstention; k-1 for a k-way query), each with l's confidence.
func PrefRecords(q feedback.Query, l feedback.Label) []PrefRecord {
	conf := 0.0
	if l.Confidence != nil {
		conf = *l.Confidence
	}
	var out []PrefRecord
	for _, r := range feedback.PairRecords(q, l) {
		out = append(out, PrefRecord{PairRecord: r, Confidence: conf})
	}
	return out
}

// WritePrefs writes PrefRecords(q, l) and returns how many it wrote.
func WritePrefs(w io.Writer, q feedback.Query, l feedback.Label) (int, error) {
	recs := PrefRecords(q, l)
	for _, r := range recs {
		if err := encode(w, r, "pair of "+q.ID); err != nil {
			return 0, err
		}
	}
	return len(recs), nil
}

// BestOfPrefRecord is one line of the judge's best-of-k output: an
// lm-human-preferences record with provenance and the judge's confidence in
// its choice. `rlhf rm` reads it as a best-of-k record.
type BestOfPrefRecord struct {
	feedback.BestOfRecord
	Confidence float64 `json:"confidence"`
}

// WriteBestOf writes the best-of-k record that label l gives query q (none
// for a tie or an abstention) and returns how many it wrote (0 or 1).
func WriteBestOf(w io.Writer, q feedback.Query, l feedback.Label) (int, error) {
	r, ok := feedback.BestOfRecordOf(q, l)
	if !ok {
		return 0, nil
	}
	conf := 0.0
	if l.Confidence != nil {
		conf = *l.Confidence
	}
	if err := encode(w, BestOfPrefRecord{BestOfRecord: r, Confidence: conf}, "best-of record of "+q.ID); err != nil {
		return 0, err
	}
	return 1, nil
}

// encode writes v as one JSON line, without HTML escaping.
func encode(w io.Writer, v any, what string) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("judge: encode %s: %w", what, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("judge: write %s: %w", what, err)
	}
	return nil
}
