package text

import (
	"strings"
	"testing"
)

func trainTextsForBench(b *testing.B) ([]string, int64) {
	b.Helper()
	docs, err := LoadSplit("train")
	if err != nil {
		b.Fatal(err)
	}
	texts := make([]string, len(docs))
	var n int64
	for i, d := range docs {
		texts[i] = d.Text
		n += int64(len(d.Text))
	}
	return texts, n
}

// BenchmarkTrain4096 trains the default tokenizer's vocabulary on the train
// split (about 15 MB of text), one core.
func BenchmarkTrain4096(b *testing.B) {
	texts, n := trainTextsForBench(b)
	b.SetBytes(n)
	for b.Loop() {
		if _, err := Train(func(yield func(string) bool) {
			for _, s := range texts {
				if !yield(s) {
					return
				}
			}
		}, 4096, TrainOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func valSample(b *testing.B) string {
	b.Helper()
	docs, err := LoadSplit("val")
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	for _, d := range docs {
		sb.WriteString(d.Text)
		sb.WriteString("\n\n")
	}
	return sb.String()
}

// BenchmarkEncode measures encode throughput on the validation split (about
// 1.7 MB), one goroutine: "warm" keeps the piece cache between iterations,
// "cold" empties it before each.
func BenchmarkEncode(b *testing.B) {
	s := valSample(b)
	def, err := DefaultTokenizer()
	if err != nil {
		b.Fatal(err)
	}
	g := loadGPT2(b)
	for _, tc := range []struct {
		name string
		tok  *Tokenizer
	}{{"tok4096", def}, {"gpt2", g}} {
		for _, cold := range []bool{false, true} {
			name := tc.name + "/warm"
			if cold {
				name = tc.name + "/cold"
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(len(s)))
				for b.Loop() {
					if cold {
						tc.tok.mu.Lock()
						tc.tok.cache = nil
						tc.tok.mu.Unlock()
					}
					tc.tok.Encode(s)
				}
			})
		}
	}
}

// BenchmarkDecode measures decode throughput in bytes of text produced.
func BenchmarkDecode(b *testing.B) {
	s := valSample(b)
	tok, err := DefaultTokenizer()
	if err != nil {
		b.Fatal(err)
	}
	ids := tok.Encode(s)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		tok.Decode(ids)
	}
}

// BenchmarkPretokenize measures the GPT-2 pre-tokenisation scanner alone.
func BenchmarkPretokenize(b *testing.B) {
	s := valSample(b)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		n := 0
		pieces(s, func(string) bool { n++; return true })
	}
}

// BenchmarkTokenStream encodes the validation documents in parallel with the
// default tokenizer, cache cold.
func BenchmarkTokenStream(b *testing.B) {
	docs, err := LoadSplit("val")
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, d := range docs {
		n += int64(len(d.Text))
	}
	tok, err := DefaultTokenizer()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n)
	for b.Loop() {
		tok.mu.Lock()
		tok.cache = nil
		tok.mu.Unlock()
		TokenStream(tok, docs)
	}
}
