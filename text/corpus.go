package text

import (
	"bufio"
	"compress/gzip"
	"embed"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

//go:embed data/sotu.jsonl.gz data/brown.jsonl.gz
var corpusFS embed.FS

// Doc is one document of the corpus.
type Doc struct {
	ID        string `json:"id"`                  // unique, e.g. "sotu/1790_george_washington" or "brown/ca01"
	Source    string `json:"source"`              // corpus name: "sotu" or "brown"
	Title     string `json:"title,omitempty"`     // where known
	Year      int    `json:"year,omitempty"`      // SOTU: year of the address
	President string `json:"president,omitempty"` // SOTU: who gave it
	Genre     string `json:"genre,omitempty"`     // Brown: category such as "news" or "romance"
	Text      string `json:"text"`                // plain text; paragraphs separated by a blank line (Brown)
}

// Corpora lists the names LoadCorpus accepts, in the order it loads them by default.
var Corpora = []string{"sotu", "brown"}

var corpusCache sync.Map // name -> func() ([]Doc, error)

// LoadCorpus returns the documents of the named corpora ("sotu": State of the
// Union addresses 1790-2021, 233 documents; "brown": the Brown corpus, 500
// documents), read from the files embedded in the package. With no names it
// returns all of them. The result is a fresh slice the caller may modify.
func LoadCorpus(names ...string) ([]Doc, error) {
	if len(names) == 0 {
		names = Corpora
	}
	var docs []Doc
	for _, name := range names {
		if !slices.Contains(Corpora, name) {
			return nil, fmt.Errorf("text: unknown corpus %q (have %s)", name, strings.Join(Corpora, ", "))
		}
		load, _ := corpusCache.LoadOrStore(name, sync.OnceValues(func() ([]Doc, error) { return readCorpus(name) }))
		d, err := load.(func() ([]Doc, error))()
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	return docs, nil
}

func readCorpus(name string) ([]Doc, error) {
	path := "data/" + name + ".jsonl.gz"
	f, err := corpusFS.Open(path)
	if err != nil {
		return nil, fmt.Errorf("text: corpus %s: %w", name, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("text: corpus %s: %w", path, err)
	}
	return readJSONL(zr, path)
}

func readJSONL(r io.Reader, path string) ([]Doc, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var docs []Doc
	for line := 1; sc.Scan(); line++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var d Doc
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return nil, fmt.Errorf("text: corpus %s line %d: %w", path, line, err)
		}
		docs = append(docs, d)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("text: corpus %s: %w", path, err)
	}
	return docs, nil
}

// The split the project's models use: DefaultValFraction of the documents,
// chosen with DefaultSplitSeed, are held out for validation.
const (
	DefaultValFraction = 0.1
	DefaultSplitSeed   = 1
)

// Split divides docs by document into a training and a validation set.
// round(valFraction*len(docs)) documents go to validation: those whose ids
// hash lowest under seed, so the split depends only on the ids and the seed,
// not on the order of docs. Both results keep the input order. valFraction is
// clamped to [0, 1] (NaN counts as 0).
func Split(docs []Doc, valFraction float64, seed uint64) (train, val []Doc) {
	if !(valFraction > 0) {
		valFraction = 0
	}
	valFraction = min(valFraction, 1)
	type keyed struct {
		h  uint64
		id string
		i  int
	}
	ks := make([]keyed, len(docs))
	for i, d := range docs {
		h := fnv.New64a()
		var sb [8]byte
		binary.LittleEndian.PutUint64(sb[:], seed)
		h.Write(sb[:])
		h.Write([]byte(d.ID))
		ks[i] = keyed{h.Sum64(), d.ID, i}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if a.h != b.h {
			if a.h < b.h {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a.id, b.id); c != 0 {
			return c
		}
		return a.i - b.i
	})
	nVal := int(math.Round(valFraction * float64(len(docs))))
	isVal := make([]bool, len(docs))
	for _, k := range ks[:nVal] {
		isVal[k.i] = true
	}
	for i, d := range docs {
		if isVal[i] {
			val = append(val, d)
		} else {
			train = append(train, d)
		}
	}
	return train, val
}

// LoadSplit returns one side ("train" or "val") of the default split
// (DefaultValFraction, DefaultSplitSeed) of the named corpora (all with no names).
func LoadSplit(split string, names ...string) ([]Doc, error) {
	if split != "train" && split != "val" {
		return nil, fmt.Errorf("text: unknown split %q (want train or val)", split)
	}
	docs, err := LoadCorpus(names...)
	if err != nil {
		return nil, err
	}
	train, val := Split(docs, DefaultValFraction, DefaultSplitSeed)
	if split == "val" {
		return val, nil
	}
	return train, nil
}

// TokenStream encodes each document and concatenates them, each followed by
// the <|endoftext|> token: doc0 EOT doc1 EOT ... . Documents are encoded in
// parallel; the result is the same as encoding them one by one.
func TokenStream(tok *Tokenizer, docs []Doc) []int {
	parts := make([][]int, len(docs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				parts[i] = tok.Encode(docs[i].Text)
			}
		})
	}
	for i := range docs {
		next <- i
	}
	close(next)
	wg.Wait()
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	out := make([]int, 0, n)
	for _, p := range parts {
		out = append(out, p...)
		out = append(out, tok.EndOfText())
	}
	return out
}

// Prompt extraction: the opening words of sentences, for sentiment
// continuation (a policy continues the prompt, a sentiment score labels it).
const (
	promptMinWords   = 6
	promptMaxWords   = 12
	promptPerDoc     = 16 // at most this many prompts from one document
	promptSentLonger = 3  // a sentence must run at least this many words past its prompt
)

// Prompts returns short prompts for RLHF on text: the first 6 to 12 words of
// sentences from the documents of one side ("train" or "val") of the default
// corpus split, so that prompts from "val" come from documents no model saw
// in training. At most 16 prompts come from one document, spread over it.
// Sentences with digits, quotes or brackets in their opening are skipped.
// The list is deterministic and has no duplicates.
func Prompts(split string) ([]string, error) {
	docs, err := LoadSplit(split)
	if err != nil {
		return nil, err
	}
	var out []string
	seen := make(map[string]bool)
	for _, d := range docs {
		cands := docPrompts(d)
		step := max(1, len(cands)/promptPerDoc)
		taken := 0
		for i := 0; i < len(cands) && taken < promptPerDoc; i += step {
			if p := cands[i]; !seen[p] {
				seen[p] = true
				out = append(out, p)
				taken++
			}
		}
	}
	return out, nil
}

// docPrompts returns a candidate prompt for each suitable sentence of d.
func docPrompts(d Doc) []string {
	var out []string
	for para := range strings.SplitSeq(d.Text, "\n") {
		words := strings.Fields(para)
		start := 0
		for i, w := range words {
			if i+1 < len(words) && !endsSentence(w, words[i+1]) {
				continue
			}
			sent := words[start : i+1]
			start = i + 1
			h := fnv.New32a()
			h.Write([]byte(d.ID))
			h.Write([]byte(sent[0]))
			fmt.Fprint(h, i)
			k := promptMinWords + int(h.Sum32()%(promptMaxWords-promptMinWords+1))
			if len(sent) < k+promptSentLonger || !cleanPrompt(sent[:k]) {
				continue
			}
			p := strings.Join(sent[:k], " ")
			out = append(out, strings.TrimRight(p, ",;:-"))
		}
	}
	return out
}

// endsSentence reports whether w ends a sentence, given the word after it.
func endsSentence(w, next string) bool {
	if !strings.HasSuffix(w, ".") && !strings.HasSuffix(w, "?") && !strings.HasSuffix(w, "!") {
		return false
	}
	r, _ := utf8.DecodeRuneInString(next)
	if !unicode.IsUpper(r) {
		return false
	}
	// Abbreviations: "Mr.", "U.S.", "Jr." and single initials.
	core := strings.TrimSuffix(w, ".")
	if len(core) <= 3 && core != "" && unicode.IsUpper(rune(core[0])) || strings.Contains(core, ".") {
		return false
	}
	return true
}

// cleanPrompt reports whether words make a clean opening: a capitalised first
// word, then only letters, with apostrophes and hyphens inside words and a
// comma, semicolon or colon at the end of a word.
func cleanPrompt(words []string) bool {
	r, _ := utf8.DecodeRuneInString(words[0])
	if !unicode.IsUpper(r) {
		return false
	}
	for _, w := range words {
		last := len(w) - 1
		for j, r := range w {
			inside := j > 0 && j < last
			switch {
			case unicode.IsLetter(r):
			case (r == '\'' || r == '-') && inside:
			case strings.ContainsRune(",;:", r) && j == last && j > 0:
			default:
				return false
			}
		}
	}
	return true
}
