package text

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// EndOfText is the text of the special token that separates documents.
const EndOfText = "<|endoftext|>"

// maxCache bounds the number of pieces the encode cache holds; it is emptied
// when full.
const maxCache = 1 << 17

// merge is one learned rule: the pair (a, b) becomes token id, tried in rank order.
type merge struct {
	rank int32
	id   int32
}

// pairKey packs two token ids into a map key.
func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// Tokenizer is a byte-level BPE tokenizer (GPT-2 style). Every byte string
// encodes, and Decode returns exactly the bytes that were encoded.
// A Tokenizer is safe for concurrent use.
type Tokenizer struct {
	vocab   [][]byte         // id -> the bytes it stands for
	special []bool           // id -> true for special tokens such as <|endoftext|>
	byteID  [256]int32       // byte -> id of its single-byte token
	merges  map[uint64]merge // (a, b) -> rule
	ranked  [][2]int32       // rank -> (a, b)
	eot     int32            // id of <|endoftext|>

	mu    sync.RWMutex
	cache map[string][]int32
}

// VocabSize returns the number of token ids, special tokens included;
// ids run from 0 to VocabSize()-1.
func (t *Tokenizer) VocabSize() int { return len(t.vocab) }

// NumMerges returns the number of merge rules.
func (t *Tokenizer) NumMerges() int { return len(t.ranked) }

// EndOfText returns the id of the <|endoftext|> token.
func (t *Tokenizer) EndOfText() int { return int(t.eot) }

// TokenBytes returns the bytes token id stands for (a copy), or nil if id is
// out of range.
func (t *Tokenizer) TokenBytes(id int) []byte {
	if id < 0 || id >= len(t.vocab) {
		return nil
	}
	return slices.Clone(t.vocab[id])
}

// Encode returns the token ids of s. Special-token text such as
// "<|endoftext|>" inside s is encoded as ordinary text, as GPT-2 does; append
// EndOfText() yourself to separate documents.
func (t *Tokenizer) Encode(s string) []int {
	out := make([]int, 0, len(s)/3+1)
	var scratch []int32
	pieces(s, func(p string) bool {
		ids := t.encodePiece(p, &scratch)
		for _, id := range ids {
			out = append(out, int(id))
		}
		return true
	})
	return out
}

// encodePiece returns the ids of one pre-token, from the cache when it is there.
// The result may alias *scratch and is valid until the next call.
func (t *Tokenizer) encodePiece(p string, scratch *[]int32) []int32 {
	if len(p) == 1 {
		*scratch = append((*scratch)[:0], t.byteID[p[0]])
		return *scratch
	}
	t.mu.RLock()
	ids, ok := t.cache[p]
	t.mu.RUnlock()
	if ok {
		return ids
	}
	ids = t.bpe(p, (*scratch)[:0])
	*scratch = ids
	cached := slices.Clone(ids)
	t.mu.Lock()
	if t.cache == nil || len(t.cache) >= maxCache {
		t.cache = make(map[string][]int32, 1024)
	}
	t.cache[strings.Clone(p)] = cached
	t.mu.Unlock()
	return ids
}

// bpe applies the merge rules to the bytes of p: repeatedly the adjacent pair
// with the lowest rank is merged at every non-overlapping occurrence, left to
// right, until no adjacent pair has a rule.
func (t *Tokenizer) bpe(p string, syms []int32) []int32 {
	if len(p) >= longPiece {
		return t.bpeLong(p, syms)
	}
	return t.bpeShort(p, syms)
}

// bpeShort is bpe by the direct loop, for short pieces.
func (t *Tokenizer) bpeShort(p string, syms []int32) []int32 {
	for i := 0; i < len(p); i++ {
		syms = append(syms, t.byteID[p[i]])
	}
	for len(syms) > 1 {
		best := merge{rank: -1}
		var ba, bb int32
		for i := 0; i+1 < len(syms); i++ {
			m, ok := t.merges[pairKey(syms[i], syms[i+1])]
			if ok && (best.rank < 0 || m.rank < best.rank) {
				best, ba, bb = m, syms[i], syms[i+1]
			}
		}
		if best.rank < 0 {
			break
		}
		w := 0
		for r := 0; r < len(syms); {
			if r+1 < len(syms) && syms[r] == ba && syms[r+1] == bb {
				syms[w] = best.id
				r += 2
			} else {
				syms[w] = syms[r]
				r++
			}
			w++
		}
		syms = syms[:w]
	}
	return syms
}

// Decode returns the text of ids: the concatenation of the bytes of each
// token, so Decode(Encode(s)) == s for every byte string s, valid UTF-8 or not.
// Special tokens decode to their text; ids outside the vocabulary decode to
// U+FFFD.
func (t *Tokenizer) Decode(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		if id < 0 || id >= len(t.vocab) {
			b.WriteRune(utf8.RuneError)
			continue
		}
		b.Write(t.vocab[id])
	}
	return b.String()
}

// Save writes the tokenizer to dir as GPT-2's encoder.json and vocab.bpe,
// creating dir if needed.
func (t *Tokenizer) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("text: save tokenizer: %w", err)
	}
	var enc, mer bytes.Buffer
	if err := t.Write(&enc, &mer); err != nil {
		return err
	}
	for name, buf := range map[string]*bytes.Buffer{"encoder.json": &enc, "vocab.bpe": &mer} {
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("text: save tokenizer: %w", err)
		}
	}
	return nil
}

// Write writes the vocabulary in GPT-2's encoder.json form (a JSON object
// from token string to id, in id order, each byte shown through GPT-2's
// byte-to-unicode table) and the merges in vocab.bpe form (a "#version: 0.2"
// line, then one "a b" line per rule in rank order).
func (t *Tokenizer) Write(encoderJSON, vocabBPE io.Writer) error {
	ew := bufio.NewWriter(encoderJSON)
	ew.WriteString("{")
	for id := range t.vocab {
		key := t.tokenString(id)
		kb, err := marshalString(key)
		if err != nil {
			return fmt.Errorf("text: write encoder.json: %w", err)
		}
		if id > 0 {
			ew.WriteString(", ")
		}
		ew.Write(kb)
		fmt.Fprintf(ew, ": %d", id)
	}
	ew.WriteString("}\n")
	if err := ew.Flush(); err != nil {
		return fmt.Errorf("text: write encoder.json: %w", err)
	}
	mw := bufio.NewWriter(vocabBPE)
	mw.WriteString("#version: 0.2\n")
	for _, p := range t.ranked {
		mw.WriteString(t.tokenString(int(p[0])))
		mw.WriteByte(' ')
		mw.WriteString(t.tokenString(int(p[1])))
		mw.WriteByte('\n')
	}
	if err := mw.Flush(); err != nil {
		return fmt.Errorf("text: write vocab.bpe: %w", err)
	}
	return nil
}

// tokenString is the GPT-2 file form of token id.
func (t *Tokenizer) tokenString(id int) string {
	if t.special[id] {
		return string(t.vocab[id])
	}
	return bytesToGPT2(t.vocab[id])
}

func marshalString(s string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// Load reads a tokenizer saved in GPT-2's format from dir: encoder.json and
// vocab.bpe, or their gzipped forms encoder.json.gz and vocab.bpe.gz.
func Load(dir string) (*Tokenizer, error) {
	return LoadFS(os.DirFS(dir), ".")
}

// LoadFS is Load reading from a file system, such as an embed.FS.
func LoadFS(fsys fs.FS, dir string) (*Tokenizer, error) {
	enc, err := readMaybeGzip(fsys, dir, "encoder.json")
	if err != nil {
		return nil, err
	}
	mer, err := readMaybeGzip(fsys, dir, "vocab.bpe")
	if err != nil {
		return nil, err
	}
	return Read(bytes.NewReader(enc), bytes.NewReader(mer))
}

func readMaybeGzip(fsys fs.FS, dir, name string) ([]byte, error) {
	p := dir + "/" + name
	if dir == "." {
		p = name
	}
	b, err := fs.ReadFile(fsys, p)
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("text: load tokenizer: %w", err)
	}
	f, gzErr := fsys.Open(p + ".gz")
	if gzErr != nil {
		return nil, fmt.Errorf("text: load tokenizer: %s: %w", p, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("text: load tokenizer %s.gz: %w", p, err)
	}
	b, err = io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("text: load tokenizer %s.gz: %w", p, err)
	}
	return b, nil
}

// Read builds a tokenizer from the contents of GPT-2's encoder.json and
// vocab.bpe. It checks that the ids are 0..n-1 without gaps, that every byte
// and every merge (both halves and the result) has an id, and that the
// vocabulary has <|endoftext|>. Entries that are neither a byte nor the result
// of a merge are special tokens and decode to their literal text.
func Read(encoderJSON, vocabBPE io.Reader) (*Tokenizer, error) {
	var enc map[string]int
	dec := json.NewDecoder(encoderJSON)
	if err := dec.Decode(&enc); err != nil {
		return nil, fmt.Errorf("text: read encoder.json: %w", err)
	}
	n := len(enc)
	if n < 257 {
		return nil, fmt.Errorf("text: read encoder.json: %d entries, want at least 257 (256 bytes and %s)", n, EndOfText)
	}
	t := &Tokenizer{
		vocab:   make([][]byte, n),
		special: make([]bool, n),
		merges:  make(map[uint64]merge),
	}
	names := make([]string, n)
	seen := make([]bool, n)
	for s, id := range enc {
		if id < 0 || id >= n {
			return nil, fmt.Errorf("text: read encoder.json: id %d of %q outside 0..%d", id, s, n-1)
		}
		if seen[id] {
			return nil, fmt.Errorf("text: read encoder.json: id %d used twice", id)
		}
		seen[id] = true
		names[id] = s
	}
	for b := range 256 {
		id, ok := enc[string(byteToRune[b])]
		if !ok {
			return nil, fmt.Errorf("text: read encoder.json: no token for byte 0x%02x (%q)", b, byteToRune[b])
		}
		t.byteID[b] = int32(id)
		t.vocab[id] = []byte{byte(b)}
	}

	sc := bufio.NewScanner(vocabBPE)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		l := strings.TrimRight(sc.Text(), "\r")
		if l == "" || line == 1 && strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Split(l, " ")
		if len(f) != 2 || f[0] == "" || f[1] == "" {
			return nil, fmt.Errorf("text: read vocab.bpe line %d: want two tokens separated by one space, got %q", line, l)
		}
		a, okA := enc[f[0]]
		b, okB := enc[f[1]]
		id, okM := enc[f[0]+f[1]]
		if !okA || !okB || !okM {
			return nil, fmt.Errorf("text: read vocab.bpe line %d: %q, %q or their merge is not in encoder.json", line, f[0], f[1])
		}
		bs, ok := gpt2ToBytes(f[0] + f[1])
		if !ok {
			return nil, fmt.Errorf("text: read vocab.bpe line %d: %q holds a character that stands for no byte", line, l)
		}
		key := pairKey(int32(a), int32(b))
		if _, dup := t.merges[key]; dup {
			return nil, fmt.Errorf("text: read vocab.bpe line %d: merge %q repeated", line, l)
		}
		if len(bs) < 2 {
			return nil, fmt.Errorf("text: read vocab.bpe line %d: merge %q is shorter than two bytes", line, l)
		}
		t.merges[key] = merge{rank: int32(len(t.ranked)), id: int32(id)}
		t.ranked = append(t.ranked, [2]int32{int32(a), int32(b)})
		if t.vocab[id] == nil {
			t.vocab[id] = bs
		} else if !bytes.Equal(t.vocab[id], bs) {
			return nil, fmt.Errorf("text: read vocab.bpe line %d: merge %q conflicts with token %d", line, l, id)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("text: read vocab.bpe: %w", err)
	}
	for id := range t.vocab {
		if t.vocab[id] == nil {
			t.vocab[id] = []byte(names[id])
			t.special[id] = true
		}
	}
	// A merge must be built from tokens the rules can produce: no special
	// token as a half.
	for _, p := range t.ranked {
		if t.special[p[0]] || t.special[p[1]] {
			return nil, fmt.Errorf("text: read vocab.bpe: merge %q %q uses a token no rule produces", names[p[0]], names[p[1]])
		}
	}
	eot, ok := enc[EndOfText]
	if !ok || !t.special[eot] {
		return nil, fmt.Errorf("text: read encoder.json: no special %s token", EndOfText)
	}
	t.eot = int32(eot)
	return t, nil
}
