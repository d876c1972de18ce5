package feedback

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Provenance says where a preference record came from. Every field is optional.
type Provenance struct {
	QueryID string    `json:"query_id,omitempty"`
	Labeler string    `json:"labeler,omitempty"`
	Run     string    `json:"run,omitempty"`
	Source  Source    `json:"source,omitempty"` // human, synthetic or ai
	Time    time.Time `json:"time,omitzero"`
	// PolicyVersion is the query's: which policy wrote the completions
	// (e.g. "step-120" in an online run).
	PolicyVersion string `json:"policy_version,omitempty"`
	// Confidence, if set, is the labeller's probability that the chosen
	// completion is the best of the record's (an AI judge's, say), in
	// [0, 1]; rlhf rm -soft trains toward it.
	Confidence *float64 `json:"confidence,omitempty"`
}

// checkConfidence returns an error if p states a confidence outside [0, 1].
func (p Provenance) checkConfidence() error {
	if c := p.Confidence; c != nil && !(*c >= 0 && *c <= 1) {
		return fmt.Errorf("confidence %v outside [0, 1]", *c)
	}
	return nil
}

// provenance returns the provenance of label l on query q.
func provenance(q *Query, l *Label) Provenance {
	return Provenance{QueryID: q.ID, Labeler: l.Labeler, Run: q.Run, Source: l.Source, Time: l.Time, PolicyVersion: q.PolicyVersion}
}

// PairRecord is one line of a pairwise preference file in TRL's format,
// {"prompt","chosen","rejected"}, plus provenance. "chosen" and "rejected" are
// required; "prompt" may be absent (TRL's implicit-prompt form).
type PairRecord struct {
	Prompt   string `json:"prompt"`
	Chosen   string `json:"chosen"`
	Rejected string `json:"rejected"`
	Provenance
}

// BestOfRecord is one line of a best-of-k file in lm-human-preferences' form,
// {"prompt","completions":[...],"choice":i}, plus provenance. "completions"
// (2 to [MaxItems]) and "choice" (an index into them) are required.
type BestOfRecord struct {
	Prompt      string   `json:"prompt"`
	Completions []string `json:"completions"`
	Choice      int      `json:"choice"`
	Provenance
}

// ControlRecord is one line of a control comparison file: k >= 2 trajectory
// segments (payloads, references, or both) and the answer, an index or "tie",
// plus provenance. "segments" and "choice" are required.
type ControlRecord struct {
	Segments []Segment `json:"segments"`
	Choice   Choice    `json:"choice"`
	Provenance
}

// PairRecords returns the TRL pairs that a labeled text query gives: the chosen
// completion against every other one (one pair for a two-way query, k-1 for
// best-of-k). Ties, CantTell and Skip give none, since the format cannot hold them.
func PairRecords(q Query, l Label) []PairRecord {
	if q.Kind != KindText || !l.Choice.IsIndex() || int(l.Choice) >= len(q.Items) {
		return nil
	}
	win := q.Items[l.Choice]
	var out []PairRecord
	for i, it := range q.Items {
		if i != int(l.Choice) {
			out = append(out, PairRecord{Prompt: win.Prompt, Chosen: win.Completion, Rejected: it.Completion, Provenance: provenance(&q, &l)})
		}
	}
	return out
}

// BestOfRecordOf returns the best-of-k record of a labeled text query, and
// false when the label picks no item.
func BestOfRecordOf(q Query, l Label) (BestOfRecord, bool) {
	if q.Kind != KindText || len(q.Items) == 0 || !l.Choice.IsIndex() || int(l.Choice) >= len(q.Items) {
		return BestOfRecord{}, false
	}
	r := BestOfRecord{Prompt: q.Items[0].Prompt, Choice: int(l.Choice), Provenance: provenance(&q, &l)}
	for _, it := range q.Items {
		r.Completions = append(r.Completions, it.Completion)
	}
	return r, true
}

// ControlRecordOf returns the control record of a labeled control query, and
// false when the label is neither an index nor a tie.
func ControlRecordOf(q Query, l Label) (ControlRecord, bool) {
	if q.Kind != KindControl || !(l.Choice == Tie || l.Choice.ValidFor(len(q.Items)) && l.Choice.IsIndex()) {
		return ControlRecord{}, false
	}
	r := ControlRecord{Choice: l.Choice, Provenance: provenance(&q, &l)}
	for _, it := range q.Items {
		if it.Segment == nil {
			return ControlRecord{}, false
		}
		r.Segments = append(r.Segments, *it.Segment)
	}
	return r, true
}

func labelOf(p *Provenance, c Choice) Label {
	return Label{QueryID: p.QueryID, Choice: c, Labeler: p.Labeler, Source: p.Source, Time: p.Time}
}

// Comparison returns r as a query (item 0 chosen, item 1 rejected) and its label.
func (r PairRecord) Comparison() (Query, Label) {
	q := TextQuery(r.QueryID, r.Prompt, r.Chosen, r.Rejected)
	q.Run = r.Run
	return q, labelOf(&r.Provenance, 0)
}

// Comparison returns r as a query and its label.
func (r BestOfRecord) Comparison() (Query, Label) {
	q := TextQuery(r.QueryID, r.Prompt, r.Completions...)
	q.Run = r.Run
	return q, labelOf(&r.Provenance, Choice(r.Choice))
}

// Comparison returns r as a query and its label.
func (r ControlRecord) Comparison() (Query, Label) {
	q := ControlQuery(r.QueryID, r.Segments...)
	q.Run = r.Run
	return q, labelOf(&r.Provenance, r.Choice)
}

// LineError is a malformed line in a JSONL file.
type LineError struct {
	Name string // the file's name as given in ReadOptions
	Line int    // 1-based
	Err  error
}

// Error formats the error as "feedback: NAME line N: what is wrong".
func (e *LineError) Error() string {
	return fmt.Sprintf("feedback: %s line %d: %v", e.Name, e.Line, e.Err)
}

// Unwrap returns the underlying error.
func (e *LineError) Unwrap() error { return e.Err }

// DefaultMaxLine is the longest line a reader accepts unless told otherwise.
const DefaultMaxLine = 64 << 20

// ReadOptions controls a JSONL reader. The zero value (or nil) reads strictly.
type ReadOptions struct {
	// Name appears in error messages; "input" if empty. The *File readers
	// default it to the path.
	Name string
	// SkipBad skips malformed lines, counting them in Skipped, instead of
	// yielding a *LineError for each.
	SkipBad bool
	// MaxLine is the longest line accepted, in bytes; 0 means DefaultMaxLine.
	// A longer line is malformed; reading goes on at the next line.
	MaxLine int

	// Skipped counts the malformed lines skipped so far (set while reading).
	Skipped int
	// FirstSkipped is the first skipped line's error (set while reading).
	FirstSkipped error
}

// ReadPairs streams TRL pair records from r. A malformed line yields a
// *LineError (e.g. `feedback: prefs.jsonl line 17: missing field "chosen"`)
// and reading goes on with the next line unless the caller stops; blank lines
// are ignored; a read error from r is yielded once and ends the stream.
func ReadPairs(r io.Reader, opt *ReadOptions) iter.Seq2[PairRecord, error] {
	return readJSONL(r, opt, parsePair)
}

// ReadBestOf streams best-of-k records from r, as [ReadPairs] does pairs.
func ReadBestOf(r io.Reader, opt *ReadOptions) iter.Seq2[BestOfRecord, error] {
	return readJSONL(r, opt, parseBestOf)
}

// ReadControl streams control comparison records from r, as [ReadPairs] does pairs.
func ReadControl(r io.Reader, opt *ReadOptions) iter.Seq2[ControlRecord, error] {
	return readJSONL(r, opt, parseControl)
}

// ReadPairsFile streams TRL pair records from the file at path.
func ReadPairsFile(path string, opt *ReadOptions) iter.Seq2[PairRecord, error] {
	return readFile(path, opt, parsePair)
}

// ReadBestOfFile streams best-of-k records from the file at path.
func ReadBestOfFile(path string, opt *ReadOptions) iter.Seq2[BestOfRecord, error] {
	return readFile(path, opt, parseBestOf)
}

// ReadControlFile streams control comparison records from the file at path.
func ReadControlFile(path string, opt *ReadOptions) iter.Seq2[ControlRecord, error] {
	return readFile(path, opt, parseControl)
}

// ReadJSONLFile streams the lines of the JSON Lines file at path decoded
// into T (encoding/json, unknown fields ignored), with the line handling
// of [ReadPairs].
func ReadJSONLFile[T any](path string, opt *ReadOptions) iter.Seq2[T, error] {
	return readFile(path, opt, func(b []byte) (T, error) {
		var v T
		err := json.Unmarshal(b, &v)
		return v, err
	})
}

func readFile[T any](path string, opt *ReadOptions, parse func([]byte) (T, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		f, err := os.Open(path)
		if err != nil {
			var zero T
			yield(zero, fmt.Errorf("feedback: read %s: %w", path, err))
			return
		}
		defer f.Close()
		readLines(f, opt, path, parse)(yield)
	}
}

var errTooLong = errors.New("line too long")

func readJSONL[T any](r io.Reader, opt *ReadOptions, parse func([]byte) (T, error)) iter.Seq2[T, error] {
	return readLines(r, opt, "input", parse)
}

// readLines streams the records of r; defaultName names r in errors unless
// opt.Name is set.
func readLines[T any](r io.Reader, opt *ReadOptions, defaultName string, parse func([]byte) (T, error)) iter.Seq2[T, error] {
	if opt == nil {
		opt = &ReadOptions{}
	}
	return func(yield func(T, error) bool) {
		var zero T
		name := opt.Name
		if name == "" {
			name = defaultName
		}
		maxLine := opt.MaxLine
		if maxLine <= 0 {
			maxLine = DefaultMaxLine
		}
		br := bufio.NewReaderSize(r, 64<<10)
		var buf []byte
		for lineNo := 1; ; lineNo++ {
			line, err := readLine(br, &buf, maxLine)
			if err != nil && err != io.EOF && err != errTooLong {
				yield(zero, fmt.Errorf("feedback: read %s line %d: %w", name, lineNo, err))
				return
			}
			eof := err == io.EOF
			var rec T
			var bad error
			if err == errTooLong {
				bad = fmt.Errorf("line longer than %d bytes", maxLine)
			} else {
				if lineNo == 1 {
					line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
				}
				line = bytes.TrimSpace(line)
				if len(line) == 0 {
					if eof {
						return
					}
					continue
				}
				rec, bad = parse(line)
			}
			if bad != nil {
				le := &LineError{Name: name, Line: lineNo, Err: bad}
				if opt.SkipBad {
					opt.Skipped++
					if opt.FirstSkipped == nil {
						opt.FirstSkipped = le
					}
				} else if !yield(zero, le) {
					return
				}
			} else if !yield(rec, nil) {
				return
			}
			if eof {
				return
			}
		}
	}
}

// readLine reads one line without its newline into *buf and returns it.
// It returns io.EOF with the last (possibly empty) line, and errTooLong after
// discarding the rest of a line longer than maxLine.
func readLine(br *bufio.Reader, buf *[]byte, maxLine int) ([]byte, error) {
	*buf = (*buf)[:0]
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(*buf)+len(chunk) > maxLine+1 { // +1: the newline
				tooLong = true
				*buf = (*buf)[:0]
			} else {
				*buf = append(*buf, chunk...)
			}
		}
		switch err {
		case bufio.ErrBufferFull:
			continue
		case nil:
			if tooLong {
				return nil, errTooLong
			}
			return bytes.TrimSuffix(*buf, []byte("\n")), nil
		case io.EOF:
			if tooLong {
				// Report the long line now; the next call returns EOF.
				return nil, errTooLong
			}
			return *buf, io.EOF
		default:
			return nil, err
		}
	}
}

// decodeLine unmarshals one JSON object, rewording encoding/json's errors.
func decodeLine(line []byte, v any) error {
	if len(line) == 0 || line[0] != '{' {
		return errors.New("not a JSON object")
	}
	err := json.Unmarshal(line, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Errorf("field %q: got JSON %s, want %s", te.Field, te.Value, te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se)
	}
	return fmt.Errorf("invalid record: %v", err)
}

func missing(field string) error { return fmt.Errorf("missing field %q", field) }

// queryID reads a record's "query_id": a string, or a whole number (the
// label store's ids, as rlhf serve's export writes them) taken as its
// decimal text; absent or null is "".
func queryID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err == nil {
		return strconv.FormatInt(n, 10), nil
	}
	return "", fmt.Errorf("field \"query_id\": got %.40s, want a string or a whole number", raw)
}

func parsePair(line []byte) (PairRecord, error) {
	var raw struct {
		Prompt   *string `json:"prompt"`
		Chosen   *string `json:"chosen"`
		Rejected *string `json:"rejected"`
		Provenance
		QueryID json.RawMessage `json:"query_id"` // a string, or a number as rlhf serve's export writes it
	}
	if err := decodeLine(line, &raw); err != nil {
		return PairRecord{}, err
	}
	var err error
	if raw.Provenance.QueryID, err = queryID(raw.QueryID); err != nil {
		return PairRecord{}, err
	}
	if raw.Chosen == nil {
		return PairRecord{}, missing("chosen")
	}
	if raw.Rejected == nil {
		return PairRecord{}, missing("rejected")
	}
	if err := raw.Provenance.checkConfidence(); err != nil {
		return PairRecord{}, err
	}
	r := PairRecord{Chosen: *raw.Chosen, Rejected: *raw.Rejected, Provenance: raw.Provenance}
	if raw.Prompt != nil {
		r.Prompt = *raw.Prompt
	}
	return r, nil
}

func parseBestOf(line []byte) (BestOfRecord, error) {
	var raw struct {
		Prompt      *string  `json:"prompt"`
		Completions []string `json:"completions"`
		Choice      *int     `json:"choice"`
		Provenance
		QueryID json.RawMessage `json:"query_id"` // a string, or a number as rlhf serve's export writes it
	}
	if err := decodeLine(line, &raw); err != nil {
		return BestOfRecord{}, err
	}
	var err error
	if raw.Provenance.QueryID, err = queryID(raw.QueryID); err != nil {
		return BestOfRecord{}, err
	}
	if raw.Completions == nil {
		return BestOfRecord{}, missing("completions")
	}
	if raw.Choice == nil {
		return BestOfRecord{}, missing("choice")
	}
	if n := len(raw.Completions); n < 2 || n > MaxItems {
		return BestOfRecord{}, fmt.Errorf("%d completions, want 2..%d", n, MaxItems)
	}
	if c := *raw.Choice; c < 0 || c >= len(raw.Completions) {
		return BestOfRecord{}, fmt.Errorf("choice %d out of range for %d completions", c, len(raw.Completions))
	}
	if err := raw.Provenance.checkConfidence(); err != nil {
		return BestOfRecord{}, err
	}
	r := BestOfRecord{Completions: raw.Completions, Choice: *raw.Choice, Provenance: raw.Provenance}
	if raw.Prompt != nil {
		r.Prompt = *raw.Prompt
	}
	return r, nil
}

func parseControl(line []byte) (ControlRecord, error) {
	var raw struct {
		Segments []Segment `json:"segments"`
		Choice   *Choice   `json:"choice"`
		Provenance
		QueryID json.RawMessage `json:"query_id"` // a string, or a number as rlhf serve's export writes it
	}
	if err := decodeLine(line, &raw); err != nil {
		return ControlRecord{}, err
	}
	var err error
	if raw.Provenance.QueryID, err = queryID(raw.QueryID); err != nil {
		return ControlRecord{}, err
	}
	if raw.Segments == nil {
		return ControlRecord{}, missing("segments")
	}
	if raw.Choice == nil {
		return ControlRecord{}, missing("choice")
	}
	n := len(raw.Segments)
	if n < 2 || n > MaxItems {
		return ControlRecord{}, fmt.Errorf("%d segments, want 2..%d", n, MaxItems)
	}
	if c := *raw.Choice; !(c == Tie || c.IsIndex() && int(c) < n) {
		return ControlRecord{}, fmt.Errorf("choice %s: want an index below %d or \"tie\"", c, n)
	}
	return ControlRecord{Segments: raw.Segments, Choice: *raw.Choice, Provenance: raw.Provenance}, nil
}

// newEncoder returns the JSONL encoder of the writers: one record per line,
// "<", ">" and "&" left as they are.
func newEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// WriteFile writes recs to path as JSONL, one record per line, crash-safely:
// it writes a temporary file in the same directory, syncs it, and renames it
// over path, so path holds either its old contents or all of the new ones.
// It returns the number of records written.
func WriteFile[T any](path string, recs iter.Seq[T]) (n int, err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return 0, fmt.Errorf("feedback: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 256<<10)
	enc := newEncoder(w)
	for rec := range recs {
		if err := enc.Encode(rec); err != nil {
			return n, fmt.Errorf("feedback: write %s record %d: %w", path, n+1, err)
		}
		n++
	}
	if err := w.Flush(); err != nil {
		return n, fmt.Errorf("feedback: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return n, fmt.Errorf("feedback: sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return n, fmt.Errorf("feedback: close %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return n, fmt.Errorf("feedback: chmod %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return n, fmt.Errorf("feedback: rename into %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable; best effort
		d.Sync()
		d.Close()
	}
	return n, nil
}

// Appender appends records to a JSONL file, one write per record, so each
// record reaches the operating system as soon as Append returns (and the disk
// too when Sync is set). A crash can leave at most the last line torn; the
// next OpenAppender cuts it off (readers with SkipBad skip it until then). An
// Appender is safe for concurrent use.
type Appender[T any] struct {
	// Sync makes every Append fsync the file: durable, but slower.
	Sync bool

	mu   sync.Mutex
	f    *os.File
	path string
	buf  bytes.Buffer
}

// OpenAppender opens (creating if needed) the file at path for appending records.
func OpenAppender[T any](path string) (*Appender[T], error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("feedback: open %s for append: %w", path, err)
	}
	// A file that ends inside a torn line (a crash mid-record) is cut back
	// to its last complete line: that record's Append never returned, so
	// nothing acknowledged is lost, and the file stays readable without
	// SkipBad.
	if err := trimTornLine(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("feedback: open %s for append: %w", path, err)
	}
	return &Appender[T]{f: f, path: path}, nil
}

// trimTornLine truncates f after its last newline when its last byte is not
// one (reading backwards in blocks; a file with no newline is emptied).
func trimTornLine(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	end := st.Size()
	if end == 0 {
		return nil
	}
	buf := make([]byte, 4096)
	for pos := end; pos > 0; {
		n := min(int64(len(buf)), pos)
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil {
			return err
		}
		if pos+n == end && buf[n-1] == '\n' {
			return nil // ends with a complete line
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return f.Truncate(pos + int64(i) + 1)
		}
	}
	return f.Truncate(0)
}

// Append writes rec as one line.
func (a *Appender[T]) Append(rec T) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return fmt.Errorf("feedback: append to %s: closed", a.path)
	}
	a.buf.Reset()
	if err := newEncoder(&a.buf).Encode(rec); err != nil {
		return fmt.Errorf("feedback: append to %s: %w", a.path, err)
	}
	if _, err := a.f.Write(a.buf.Bytes()); err != nil {
		return fmt.Errorf("feedback: append to %s: %w", a.path, err)
	}
	if a.Sync {
		if err := a.f.Sync(); err != nil {
			return fmt.Errorf("feedback: sync %s: %w", a.path, err)
		}
	}
	return nil
}

// Close closes the file.
func (a *Appender[T]) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	if err != nil {
		return fmt.Errorf("feedback: close %s: %w", a.path, err)
	}
	return nil
}
