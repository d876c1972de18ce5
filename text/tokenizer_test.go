package text

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// gpt2 loads GPT-2's tokenizer from $RLHF_GPT2_DIR, or from testdata/gpt2.
var gpt2 = sync.OnceValues(func() (*Tokenizer, error) {
	dir := os.Getenv("RLHF_GPT2_DIR")
	if dir == "" {
		dir = filepath.Join("testdata", "gpt2")
	}
	return Load(dir)
})

func loadGPT2(t testing.TB) *Tokenizer {
	t.Helper()
	tok, err := gpt2()
	if err != nil {
		t.Fatalf("load GPT-2 tokenizer: %v", err)
	}
	return tok
}

func TestGPT2Vectors(t *testing.T) {
	tok := loadGPT2(t)
	if tok.VocabSize() != 50257 || tok.EndOfText() != 50256 || tok.NumMerges() != 50000 {
		t.Fatalf("GPT-2: vocab %d, eot %d, merges %d; want 50257, 50256, 50000",
			tok.VocabSize(), tok.EndOfText(), tok.NumMerges())
	}
	b, err := os.ReadFile("testdata/gpt2_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vecs []struct {
		Text string `json:"text"`
		IDs  []int  `json:"ids"`
	}
	if err := json.Unmarshal(b, &vecs); err != nil {
		t.Fatal(err)
	}
	if len(vecs) < 40 {
		t.Fatalf("only %d vectors", len(vecs))
	}
	for _, v := range vecs {
		got := tok.Encode(v.Text)
		if !slices.Equal(got, v.IDs) && !(len(got) == 0 && len(v.IDs) == 0) {
			t.Errorf("Encode(%q)\n got %v\nwant %v", v.Text, got, v.IDs)
		}
		if d := tok.Decode(v.IDs); d != v.Text {
			t.Errorf("Decode(%v) = %q, want %q", v.IDs, d, v.Text)
		}
	}
}

func TestPretokenize(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		{"a  b", []string{"a", " ", " b"}},
		{"a   ", []string{"a", "   "}},
		{"a \n b", []string{"a", " \n", " b"}},
		{"a\nb", []string{"a", "\n", "b"}},
		{"a\n\nb", []string{"a", "\n", "\n", "b"}},
		{"don't", []string{"don", "'t"}},
		{"DON'T", []string{"DON", "'", "T"}},
		{"we'll 're", []string{"we", "'ll", " '", "re"}},
		{"x 123abc", []string{"x", " 123", "abc"}},
		{"hi!!! ?", []string{"hi", "!!!", " ?"}},
		{"!'s", []string{"!'", "s"}},
		{"日本 語", []string{"日本", " 語"}},
		{"a\u00a0\u00a0b", []string{"a", "\u00a0", "\u00a0", "b"}},
		{"\xff\xfe ab", []string{"\xff\xfe", " ab"}},
		{" ", []string{" "}},
	}
	for _, c := range cases {
		var got []string
		pieces(c.in, func(p string) bool { got = append(got, p); return true })
		if !slices.Equal(got, c.want) {
			t.Errorf("pieces(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestByteMap(t *testing.T) {
	seen := map[rune]bool{}
	for b := range 256 {
		r := byteToRune[b]
		if seen[r] {
			t.Fatalf("rune %q used twice", r)
		}
		seen[r] = true
	}
	// Values GPT-2 uses: space -> Ġ (U+0120), newline -> Ċ (U+010A), 'A' stays.
	if byteToRune[' '] != 'Ġ' || byteToRune['\n'] != 'Ċ' || byteToRune['A'] != 'A' {
		t.Errorf("byte map: space %q newline %q A %q", byteToRune[' '], byteToRune['\n'], byteToRune['A'])
	}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	back, ok := gpt2ToBytes(bytesToGPT2(all))
	if !ok || !bytes.Equal(back, all) {
		t.Errorf("byte map does not round trip")
	}
	if _, ok := gpt2ToBytes("a\u4e00"); ok {
		t.Errorf("gpt2ToBytes accepted a character that stands for no byte")
	}
}

var trainTexts = []string{
	"the cat sat on the mat. the cat ate the rat.",
	"The theory of the thing: there, then, these, those; the end!",
	"Numbers 123 1234 and 12 and words words words.",
	"naïve café — ünïcode wörds wörds wörds 日本語 日本語",
}

func TestTrainSmall(t *testing.T) {
	tok, err := Train(slices.Values(trainTexts), 300, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() > 300 || tok.VocabSize() <= 257 {
		t.Fatalf("vocab size %d, want in (257, 300]", tok.VocabSize())
	}
	if tok.EndOfText() != tok.VocabSize()-1 || string(tok.TokenBytes(tok.EndOfText())) != EndOfText {
		t.Errorf("eot id %d, bytes %q", tok.EndOfText(), tok.TokenBytes(tok.EndOfText()))
	}
	// The most frequent pair is merged first: " t" + "he" happen often; the
	// first rule must be a pair occurring in the text at least twice.
	first := tok.ranked[0]
	firstTok := string(tok.vocab[first[0]]) + string(tok.vocab[first[1]])
	if strings.Count(strings.Join(trainTexts, "\n"), firstTok) < 2 {
		t.Errorf("first merge %q is not frequent", firstTok)
	}
	// Frequent words become single tokens.
	for _, w := range []string{" the", " words"} {
		if ids := tok.Encode(w); len(ids) != 1 {
			t.Errorf("Encode(%q) = %v, want one token", w, ids)
		}
	}
	for _, s := range append(trainTexts, "unseen text \xff\xfe bytes", "") {
		if got := tok.Decode(tok.Encode(s)); got != s {
			t.Errorf("round trip %q -> %q", s, got)
		}
	}
	// Training is deterministic.
	tok2, err := Train(slices.Values(trainTexts), 300, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tok.ranked, tok2.ranked) {
		t.Errorf("two trainings on the same text learned different merges")
	}
}

func TestTrainBadSize(t *testing.T) {
	if _, err := Train(slices.Values(trainTexts), 256, TrainOptions{}); err == nil {
		t.Error("Train with vocab 256 succeeded")
	}
}

// TestTrainMinFrequency: with a high MinFrequency training stops early.
func TestTrainMinFrequency(t *testing.T) {
	tok, err := Train(slices.Values(trainTexts), 1000, TrainOptions{MinFrequency: 5})
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() >= 1000 || tok.NumMerges() == 0 {
		t.Errorf("vocab %d, merges %d: want an early stop after some merges", tok.VocabSize(), tok.NumMerges())
	}
}

// TestTrainMatchesEncode: encoding the training text with the learned rules
// gives the segmentation training ended with, so the rules replay training.
func TestTrainMatchesEncode(t *testing.T) {
	docs, err := LoadCorpus("brown")
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{docs[0].Text, docs[1].Text}
	tok, err := Train(slices.Values(texts), 600, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range texts {
		n += len(tok.Encode(s))
	}
	raw := len(texts[0]) + len(texts[1])
	if n >= raw/2 {
		t.Errorf("600-token vocab encodes %d bytes into %d tokens; want under half", raw, n)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	tok, err := Train(slices.Values(trainTexts), 320, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.VocabSize() != tok.VocabSize() || back.EndOfText() != tok.EndOfText() || !slices.Equal(back.ranked, tok.ranked) {
		t.Fatalf("loaded tokenizer differs: vocab %d/%d eot %d/%d", back.VocabSize(), tok.VocabSize(), back.EndOfText(), tok.EndOfText())
	}
	for id := range tok.VocabSize() {
		if !bytes.Equal(back.TokenBytes(id), tok.TokenBytes(id)) {
			t.Fatalf("token %d: %q vs %q", id, back.TokenBytes(id), tok.TokenBytes(id))
		}
	}
	for _, s := range trainTexts {
		if !slices.Equal(back.Encode(s), tok.Encode(s)) {
			t.Errorf("Encode(%q) differs after Save/Load", s)
		}
	}
	// Saving the loaded tokenizer reproduces the files byte for byte.
	var e1, m1, e2, m2 bytes.Buffer
	if err := tok.Write(&e1, &m1); err != nil {
		t.Fatal(err)
	}
	if err := back.Write(&e2, &m2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e1.Bytes(), e2.Bytes()) || !bytes.Equal(m1.Bytes(), m2.Bytes()) {
		t.Error("Write after Load differs from the original")
	}
	if !strings.HasPrefix(m1.String(), "#version: 0.2\n") {
		t.Errorf("vocab.bpe starts %q", m1.String()[:20])
	}
}

// TestGPT2WriteMatchesFiles: writing GPT-2's loaded tokenizer gives back the
// merges file exactly.
func TestGPT2WriteMatchesFiles(t *testing.T) {
	tok := loadGPT2(t)
	var e, m bytes.Buffer
	if err := tok.Write(&e, &m); err != nil {
		t.Fatal(err)
	}
	back, err := Read(&e, &m)
	if err != nil {
		t.Fatal(err)
	}
	s := "GPT-2 writes and reads back: 123, ünïcode 😀\n"
	if !slices.Equal(back.Encode(s), tok.Encode(s)) {
		t.Error("re-read GPT-2 tokenizer encodes differently")
	}
}

func TestDecodeOutOfRange(t *testing.T) {
	tok := loadGPT2(t)
	if got := tok.Decode([]int{15496, -1, 1 << 30}); got != "Hello\uFFFD\uFFFD" {
		t.Errorf("Decode = %q", got)
	}
	if tok.TokenBytes(-1) != nil || tok.TokenBytes(tok.VocabSize()) != nil {
		t.Error("TokenBytes out of range is not nil")
	}
}

func TestInvalidUTF8RoundTrip(t *testing.T) {
	tok := loadGPT2(t)
	for _, s := range []string{"\xff", "a\xc3", "\xe6\x97", "ok \xf0\x9f\x98 broken emoji", "\x00\x01\x7f"} {
		ids := tok.Encode(s)
		if got := tok.Decode(ids); got != s {
			t.Errorf("round trip %q -> %q", s, got)
		}
	}
	// A multi-byte character split over two tokens: each alone is invalid
	// UTF-8, together they decode to the character.
	ids := tok.Encode("😀")
	if len(ids) < 2 {
		t.Fatalf("expected the emoji to take several tokens, got %v", ids)
	}
	if got := tok.Decode(ids[:1]) + tok.Decode(ids[1:]); got != "😀" {
		t.Errorf("split decode = %q", got)
	}
}

func TestEncodeConcurrent(t *testing.T) {
	tok := loadGPT2(t)
	want := tok.Encode(trainTexts[1])
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if got := tok.Encode(trainTexts[1]); !slices.Equal(got, want) {
					errs <- "concurrent Encode differs"
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestReadMalformed(t *testing.T) {
	tok, err := Train(slices.Values(trainTexts), 270, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var e, m bytes.Buffer
	if err := tok.Write(&e, &m); err != nil {
		t.Fatal(err)
	}
	enc, mer := e.String(), m.String()
	firstMerge := strings.SplitN(mer, "\n", 3)[1]
	cases := []struct{ name, enc, mer string }{
		{"empty encoder", "", mer},
		{"not json", "{", mer},
		{"json array", "[1,2]", mer},
		{"too small", `{"a": 0}`, mer},
		{"id out of range", strings.Replace(enc, ": 0,", ": 99999,", 1), mer},
		{"id repeated", strings.Replace(enc, ": 1,", ": 0,", 1), mer},
		{"no eot", strings.Replace(enc, EndOfText, "<|other|>", 1), mer},
		{"bad merge line", enc, mer + "a b c\n"},
		{"unknown merge token", enc, mer + "zzzq ywv\n"},
		{"repeated merge", enc, mer + firstMerge + "\n"},
		{"one token line", enc, mer + "abc\n"},
		{"huge line", enc, mer + strings.Repeat("a", 2<<20) + "\n"},
	}
	for _, c := range cases {
		if _, err := Read(strings.NewReader(c.enc), strings.NewReader(c.mer)); err == nil {
			t.Errorf("%s: Read succeeded", c.name)
		}
	}
	if _, err := Read(strings.NewReader(enc), strings.NewReader(mer)); err != nil {
		t.Errorf("valid files: %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Error("Load of an empty directory succeeded")
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, s := range append(trainTexts, "", " ", "\xff\xfe", "a  b\n\n", "'s'S 're", "😀\u00a0\u2003x") {
		f.Add(s)
	}
	small, err := Train(slices.Values(trainTexts), 400, TrainOptions{})
	if err != nil {
		f.Fatal(err)
	}
	g, err := gpt2()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range []*Tokenizer{small, g} {
			ids := tok.Encode(s)
			if got := tok.Decode(ids); got != s {
				t.Fatalf("Decode(Encode(%q)) = %q", s, got)
			}
			for _, id := range ids {
				if id < 0 || id >= tok.VocabSize() || id == tok.EndOfText() {
					t.Fatalf("Encode(%q) gave id %d", s, id)
				}
			}
		}
		for _, tok := range []*Tokenizer{small, g} {
			if a, b := tok.bpeShort(s, nil), tok.bpeLong(s, nil); !slices.Equal(a, b) {
				t.Fatalf("bpe of %q: short %v, long %v", s, a, b)
			}
		}
		var got []string
		pieces(s, func(p string) bool { got = append(got, p); return true })
		if strings.Join(got, "") != s {
			t.Fatalf("pieces of %q do not concatenate back", s)
		}
	})
}

func FuzzRead(f *testing.F) {
	tok, err := Train(slices.Values(trainTexts), 262, TrainOptions{})
	if err != nil {
		f.Fatal(err)
	}
	var e, m bytes.Buffer
	if err := tok.Write(&e, &m); err != nil {
		f.Fatal(err)
	}
	f.Add(e.Bytes(), m.Bytes())
	f.Add([]byte(`{"a":0}`), []byte("#version: 0.2\na b\n"))
	f.Add([]byte(`{}`), []byte(""))
	f.Fuzz(func(t *testing.T, enc, mer []byte) {
		tok, err := Read(bytes.NewReader(enc), bytes.NewReader(mer))
		if err != nil {
			return
		}
		// Whatever loads must encode and decode without panicking.
		s := "fuzz text: the cat 123 \xff"
		if got := tok.Decode(tok.Encode(s)); got != s {
			t.Fatalf("loaded tokenizer does not round trip: %q", got)
		}
	})
}

// TestBPELongMatchesShort: the heap algorithm for long pieces and the direct
// loop agree, on both vocabularies, for pieces of every length.
func TestBPELongMatchesShort(t *testing.T) {
	def, err := DefaultTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	docs, err := LoadSplit("val")
	if err != nil {
		t.Fatal(err)
	}
	var ps []string
	pieces(docs[0].Text[:min(20000, len(docs[0].Text))], func(p string) bool { ps = append(ps, p); return true })
	ps = append(ps, strings.Repeat("a", 200), strings.Repeat("ab", 77), strings.Repeat("the", 50),
		strings.Repeat("!?", 40), strings.Repeat("😀", 30), " "+strings.Repeat("x", 63),
		"Supercalifragilisticexpialidociousandantidisestablishmentarianismwithoutanyspaces")
	for _, tok := range []*Tokenizer{def, loadGPT2(t)} {
		for _, p := range ps {
			short := tok.bpeShort(p, nil)
			long := tok.bpeLong(p, nil)
			if !slices.Equal(short, long) {
				t.Fatalf("piece %q: short %v, long %v", p, short, long)
			}
		}
	}
}

func TestEncodeLongPiece(t *testing.T) {
	tok := loadGPT2(t)
	// One piece of a million letters: the heap path keeps this fast.
	s := strings.Repeat("abcdefghij", 100000)
	ids := tok.Encode(s)
	if tok.Decode(ids) != s || len(ids) >= len(s)/2 {
		t.Fatalf("%d tokens for %d bytes", len(ids), len(s))
	}
}
