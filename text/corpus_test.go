package text

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite data/tok4096 from a fresh training run")

func TestLoadCorpus(t *testing.T) {
	sotu, err := LoadCorpus("sotu")
	if err != nil {
		t.Fatal(err)
	}
	brown, err := LoadCorpus("brown")
	if err != nil {
		t.Fatal(err)
	}
	if len(sotu) != 233 || len(brown) != 500 {
		t.Fatalf("got %d sotu and %d brown documents, want 233 and 500", len(sotu), len(brown))
	}
	if sotu[0].Year != 1790 || sotu[0].President != "George Washington" || sotu[len(sotu)-1].Year != 2021 {
		t.Errorf("sotu range: first %d %s, last %d", sotu[0].Year, sotu[0].President, sotu[len(sotu)-1].Year)
	}
	all, err := LoadCorpus()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(sotu)+len(brown) {
		t.Errorf("LoadCorpus() has %d documents", len(all))
	}
	ids := map[string]bool{}
	tagged := regexp.MustCompile(`[a-z]/(at|nn|np|vbd|in|jj)\b`)
	bytesN := 0
	for _, d := range all {
		if ids[d.ID] {
			t.Errorf("duplicate id %s", d.ID)
		}
		ids[d.ID] = true
		if len(d.Text) < 1000 || d.Source == "" || !strings.HasPrefix(d.ID, d.Source+"/") {
			t.Errorf("doc %s: source %q, %d bytes", d.ID, d.Source, len(d.Text))
		}
		if d.Source == "brown" && (d.Genre == "" || tagged.MatchString(d.Text) || strings.Contains(d.Text, "``")) {
			t.Errorf("brown doc %s: genre %q or tags left in text", d.ID, d.Genre)
		}
		bytesN += len(d.Text)
	}
	if bytesN < 15e6 {
		t.Errorf("corpus holds %d bytes of text, want over 15 MB", bytesN)
	}
	// Callers may modify what they get.
	all[0].Text = "changed"
	again, _ := LoadCorpus("sotu")
	if again[0].Text == "changed" {
		t.Error("LoadCorpus returned shared documents")
	}
	if _, err := LoadCorpus("nope"); err == nil {
		t.Error("unknown corpus loaded")
	}
}

func TestSplit(t *testing.T) {
	docs, err := LoadCorpus()
	if err != nil {
		t.Fatal(err)
	}
	train, val := Split(docs, 0.1, 7)
	if len(val) != 73 || len(train)+len(val) != len(docs) {
		t.Fatalf("split %d/%d of %d", len(train), len(val), len(docs))
	}
	inVal := map[string]bool{}
	for _, d := range val {
		inVal[d.ID] = true
	}
	for _, d := range train {
		if inVal[d.ID] {
			t.Fatalf("%s in both sides", d.ID)
		}
	}
	// The split depends on ids and seed only, not on the order of docs.
	shuffled := slices.Clone(docs)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	_, val2 := Split(shuffled, 0.1, 7)
	for _, d := range val2 {
		if !inVal[d.ID] {
			t.Fatalf("shuffled input moved %s into val", d.ID)
		}
	}
	// Another seed, another split; both corpora appear in val.
	_, val3 := Split(docs, 0.1, 8)
	same, sources := 0, map[string]int{}
	for _, d := range val3 {
		if inVal[d.ID] {
			same++
		}
	}
	for _, d := range val {
		sources[d.Source]++
	}
	if same == len(val3) {
		t.Error("seeds 7 and 8 give the same split")
	}
	if sources["sotu"] == 0 || sources["brown"] == 0 {
		t.Errorf("val sources %v", sources)
	}
	if tr, v := Split(docs, -1, 1); len(v) != 0 || len(tr) != len(docs) {
		t.Error("negative fraction not clamped")
	}
	if tr, v := Split(docs, 2, 1); len(v) != len(docs) || len(tr) != 0 {
		t.Error("fraction over 1 not clamped")
	}
	if _, err := LoadSplit("test"); err == nil {
		t.Error("LoadSplit accepted an unknown split")
	}
}

func TestPrompts(t *testing.T) {
	val, err := Prompts("val")
	if err != nil {
		t.Fatal(err)
	}
	train, err := Prompts("train")
	if err != nil {
		t.Fatal(err)
	}
	if len(val) < 500 || len(train) < 5000 {
		t.Fatalf("%d val and %d train prompts", len(val), len(train))
	}
	valDocs, _ := LoadSplit("val")
	seen := map[string]bool{}
	for _, p := range val {
		if seen[p] {
			t.Errorf("duplicate prompt %q", p)
		}
		seen[p] = true
		if n := len(strings.Fields(p)); n < 6 || n > 12 {
			t.Errorf("prompt %q has %d words", p, n)
		}
		if !slices.ContainsFunc(valDocs, func(d Doc) bool { return strings.Contains(d.Text, p) }) {
			t.Errorf("prompt %q is in no val document", p)
		}
	}
	again, _ := Prompts("val")
	if !slices.Equal(val, again) {
		t.Error("Prompts is not deterministic")
	}
	if _, err := Prompts("bogus"); err == nil {
		t.Error("Prompts accepted an unknown split")
	}
}

func TestDefaultTokenizer(t *testing.T) {
	tok, err := DefaultTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 4096 || tok.EndOfText() != 4095 || tok.NumMerges() != 3839 {
		t.Fatalf("vocab %d, eot %d, merges %d", tok.VocabSize(), tok.EndOfText(), tok.NumMerges())
	}
	docs, err := LoadSplit("val")
	if err != nil {
		t.Fatal(err)
	}
	stream := TokenStream(tok, docs[:10])
	n, at := 0, 0
	for i, d := range docs[:10] {
		ids := tok.Encode(d.Text)
		n += len(d.Text)
		if !slices.Equal(stream[at:at+len(ids)], ids) || stream[at+len(ids)] != tok.EndOfText() {
			t.Fatalf("doc %d: stream does not hold its tokens followed by EOT", i)
		}
		if tok.Decode(ids) != d.Text {
			t.Fatalf("doc %s does not round trip", d.ID)
		}
		at += len(ids) + 1
	}
	if at != len(stream) {
		t.Fatalf("stream has %d tokens, want %d", len(stream), at)
	}
	// Held-out English text compresses to well over 3.5 bytes per token.
	if ratio := float64(n) / float64(len(stream)); ratio < 3.5 {
		t.Errorf("%.2f bytes per token on held-out text", ratio)
	}
}

// TestDefaultTokenizerReproducible retrains the default tokenizer and checks
// it equals the shipped files byte for byte; with -update it rewrites them.
func TestDefaultTokenizerReproducible(t *testing.T) {
	docs, err := LoadSplit("train")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Train(func(yield func(string) bool) {
		for _, d := range docs {
			if !yield(d.Text) {
				return
			}
		}
	}, 4096, TrainOptions{MinFrequency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := tok.Save("data/tok4096"); err != nil {
			t.Fatal(err)
		}
		return // the embedded files are the old ones until the next build
	}
	var e, m bytes.Buffer
	if err := tok.Write(&e, &m); err != nil {
		t.Fatal(err)
	}
	wantE, err := tokFS.ReadFile("data/tok4096/encoder.json")
	if err != nil {
		t.Fatal(err)
	}
	wantM, err := tokFS.ReadFile("data/tok4096/vocab.bpe")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.Bytes(), wantE) || !bytes.Equal(m.Bytes(), wantM) {
		t.Error("training anew does not reproduce data/tok4096 (run go test ./text -run Reproducible -update if the change is intended)")
	}
}
