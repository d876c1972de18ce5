package gpt

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"rlhf/ag"
)

// TestShippedTinyModel loads the pretrained checkpoint in models/tiny-gpt
// and checks that it has learned English: far lower loss than an untrained
// model (ln 4096 ≈ 8.3 nats/token) on a sentence it did not train on, and
// a sampled continuation that decodes to words.
func TestShippedTinyModel(t *testing.T) {
	dir := filepath.Join("..", "..", "models", "tiny-gpt")
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := LoadTokenizer(dir, m.Config)
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode("We must work together to make sure that every child in this country has a good school, and that every family can afford a home of their own.")
	n := len(ids) - 1
	loss := m.Loss(ag.NewNoGradTape(), ids[:n], ids[1:], 1, n, -1).Item()
	if loss > 5 {
		t.Fatalf("loss %.3f nats/token on plain English, want < 5", loss)
	}
	s, err := m.Sample(context.Background(), [][]int{tok.Encode("The people of the United States")},
		SampleConfig{MaxNewTokens: 20, Temperature: 0.8, TopK: 40, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	out := tok.Decode(s.Tokens[0])
	if len(strings.Fields(out)) < 3 {
		t.Fatalf("sample %q has too few words", out)
	}
	t.Logf("loss %.3f; sample: The people of the United States|%s", loss, out)
}
