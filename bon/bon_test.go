package bon

import (
	"context"
	"math"
	"strings"
	"testing"

	"rlhf/model/gpt"
	"rlhf/reward"
	"rlhf/text"
)

func TestKL(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want float64
	}{
		{1, 0},
		{2, math.Ln2 - 0.5},          // 0.1931
		{4, 2*math.Ln2 - 0.75},       // 0.6363
		{16, 4*math.Ln2 - 15.0/16.0}, // 1.8351
		{64, 6*math.Ln2 - 63.0/64.0}, // 3.1745
	} {
		if got := KL(tc.n); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("KL(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
	if !math.IsNaN(KL(0)) {
		t.Error("KL(0) should be NaN")
	}
	for n := 1; n < 100; n++ {
		if KL(n+1) <= KL(n) {
			t.Fatalf("KL not increasing at n = %d", n)
		}
	}
}

func TestBest(t *testing.T) {
	nan := float32(math.NaN())
	got, err := Best([]float32{1, 3, 3, 0, nan, 2, -1, -5, -1}, 3)
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 0 {
		t.Errorf("Best = %v, %v; want [1 2 0]", got, err)
	}
	if _, err := Best([]float32{1, 2, 3}, 2); err == nil {
		t.Error("ragged groups should be an error")
	}
	// Worst: the first of equal lowest scores, NaN never (row 2: 3 NaN 3).
	got, err = Worst([]float32{1, 0, 0, nan, 2, 5, 3, nan, 3}, 3)
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 1 || got[2] != 0 {
		t.Errorf("Worst = %v, %v; want [1 1 0]", got, err)
	}
	if _, err := Worst([]float32{1, 2, 3}, 2); err == nil {
		t.Error("ragged groups should be an error")
	}
}

// evens scores a completion by how many of its tokens are even.
type evens struct{}

func (evens) Score(prompts, completions [][]int) ([]float32, error) {
	out := make([]float32, len(completions))
	for i, c := range completions {
		for _, id := range c {
			if id%2 == 0 {
				out[i]++
			}
		}
	}
	return out, nil
}

func TestSampleKeepsTheBest(t *testing.T) {
	m, err := gpt.New(gpt.Config{VocabSize: 64, NPositions: 32, NEmbd: 16, NLayer: 1, NHead: 2,
		LayerNormEpsilon: 1e-5, EOSTokenID: 63}, 1)
	if err != nil {
		t.Fatal(err)
	}
	prompts := [][]int{{1, 2}, {3}, {4, 5, 6}}
	sc := gpt.SampleConfig{MaxNewTokens: 8, Temperature: 1, Seed: 9}
	ctx := context.Background()
	r1, err := Sample(ctx, m, prompts, 1, sc, evens{})
	if err != nil {
		t.Fatal(err)
	}
	r8, err := Sample(ctx, m, prompts, 8, sc, evens{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r8.All) != 24 || len(r8.Best) != 3 || r8.KL != KL(8) || r1.KL != 0 {
		t.Fatalf("result sizes %d, %d, KL %v", len(r8.All), len(r8.Best), r8.KL)
	}
	for i := range prompts {
		for j := range 8 {
			if r8.Scores[i*8+j] > r8.BestScores[i] {
				t.Errorf("prompt %d: sample %d scores %v above the kept %v", i, j, r8.Scores[i*8+j], r8.BestScores[i])
			}
		}
	}
	if !(r8.MeanBest() > r8.MeanAll()) {
		t.Errorf("best-of-8 mean %v not above the sample mean %v", r8.MeanBest(), r8.MeanAll())
	}
	// Sample j of prompt i does not depend on n or batching: best-of-1 is
	// the first of the 8.
	for i := range prompts {
		if !equal(r1.Best[i], r8.All[i*8]) {
			t.Errorf("prompt %d: best-of-1 %v differs from sample 0 of 8 %v", i, r1.Best[i], r8.All[i*8])
		}
	}
	best, all, err := Gold(r8, prompts, evens{})
	if err != nil || float32(best) != float32(r8.MeanBest()) || float32(all) != float32(r8.MeanAll()) {
		t.Errorf("gold with the proxy itself: %v %v (%v), want %v %v", best, all, err, r8.MeanBest(), r8.MeanAll())
	}
	if _, err := Sample(ctx, m, prompts, 0, sc, evens{}); err == nil {
		t.Error("n = 0 should be an error")
	}
	if _, err := Sample(ctx, m, nil, 2, sc, evens{}); err == nil {
		t.Error("no prompts should be an error")
	}
	if _, _, err := Gold(r8, prompts[:1], evens{}); err == nil {
		t.Error("gold with the wrong prompts should be an error")
	}
}

func TestTextScorerAdapter(t *testing.T) {
	tok, err := text.DefaultTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	ts := TextScorer{Scorer: reward.GoalScorer{Goal: func(s string) float64 { return float64(strings.Count(s, "good")) }}, Tok: tok}
	got, err := ts.Score([][]int{tok.Encode("x"), tok.Encode("y")}, [][]int{tok.Encode(" good good"), tok.Encode(" bad")})
	if err != nil || got[0] != 2 || got[1] != 0 {
		t.Errorf("scores %v, %v", got, err)
	}
	// The end-of-text token that ends a stopped completion (or starts a
	// prompt) is not part of the text scored: a goal that counts the letter
	// e scores " good" with and without it alike.
	eot := tok.EndOfText()
	var seen []string
	es := TextScorer{Scorer: reward.GoalScorer{Goal: func(s string) float64 {
		seen = append(seen, s)
		return float64(strings.Count(s, "e"))
	}}, Tok: tok}
	got, err = es.Score([][]int{tok.Encode("x"), append([]int{eot}, tok.Encode("x")...)},
		[][]int{append(tok.Encode(" good"), eot), tok.Encode(" good")})
	if err != nil || got[0] != 0 || got[1] != 0 {
		t.Errorf("e-count scores %v (%v), want 0 0", got, err)
	}
	for _, s := range seen {
		if strings.Contains(s, "endoftext") {
			t.Errorf("scored text %q holds the end-of-text token", s)
		}
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
