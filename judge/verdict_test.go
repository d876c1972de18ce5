package judge

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"rlhf/feedback"
	"rlhf/model/gpt"
	"rlhf/text"
)

// tinyLM saves a randomly initialised GPT language model and returns its directory.
func tinyLM(t testing.TB) string {
	t.Helper()
	tok, err := text.DefaultTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	m, err := gpt.New(gpt.Config{VocabSize: tok.VocabSize(), NPositions: 64, NEmbd: 16, NLayer: 1, NHead: 2,
		LayerNormEpsilon: 1e-5, ActivationFunction: "gelu_new", EOSTokenID: tok.EndOfText(), BOSTokenID: tok.EndOfText(),
		Tokenizer: "default"}, 9)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "lm")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestVerdictIsOrderFreeAndMatchesLogLikelihoods(t *testing.T) {
	dir := tinyLM(t)
	m, err := LoadVerdict(dir)
	if err != nil {
		t.Fatal(err)
	}
	v := m.Scorer.(*Verdict)
	ctx := context.Background()
	qs := []feedback.Query{
		feedback.TextQuery("a", "Say something.", "What a wonderful day.", "This is awful."),
		feedback.TextQuery("b", "Say something.", "This is awful.", "What a wonderful day."),
		feedback.TextQuery("c", strings.Repeat("long prompt ", 40), "x", "y"),
	}
	s, err := m.Scores(ctx, qs)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(s[0][0]+s[1][0]) > 1e-4 || s[0][0] != -s[0][1] {
		t.Errorf("swapping the items does not negate the score: %v, %v", s[0], s[1])
	}
	// Against a direct computation, one row at a time.
	lp := func(prompt, first, second, ans string) float64 {
		ids := v.Tok.Encode(strings.NewReplacer("%[1]s", prompt, "%[2]s", first, "%[3]s", second).Replace(DefaultVerdictTemplate))
		out, err := v.LM.TokenLogProbs([][]int{ids}, [][]int{v.Tok.Encode(ans)})
		if err != nil {
			t.Fatal(err)
		}
		sum := 0.0
		for _, x := range out[0] {
			sum += float64(x)
		}
		return sum
	}
	a, b := qs[0].Items[0].Completion, qs[0].Items[1].Completion
	one, two := DefaultVerdictAnswers[0], DefaultVerdictAnswers[1]
	want := 0.5 * (lp("Say something.", a, b, one) - lp("Say something.", a, b, two) + lp("Say something.", b, a, two) - lp("Say something.", b, a, one))
	if math.Abs(s[0][0]-want) > 1e-4 {
		t.Errorf("score %v, want %v", s[0][0], want)
	}
	if s[0][0] == 0 {
		t.Error("the random model scores the pair exactly 0")
	}
	if _, err := m.Scores(ctx, []feedback.Query{feedback.TextQuery("k", "p", "a", "b", "c")}); err == nil || !strings.Contains(err.Error(), "compares two") {
		t.Errorf("three items: %v", err)
	}
	v.Template = "no slots"
	if _, err := m.Scores(ctx, qs[:1]); err == nil {
		t.Error("template without slots accepted")
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "reward head") {
		t.Errorf("a language model loaded as a reward model: %v", err)
	}
}
