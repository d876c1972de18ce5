package loop

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"rlhf/feedback"
	"rlhf/model/gpt"
	"rlhf/ppo"
	"rlhf/reward"
	"rlhf/text"
)

func TestTextGoal(t *testing.T) {
	prefers := func(g reward.TextScorer, better, worse string) bool {
		s, err := GoalScores(g, []string{"", ""}, []string{better, worse})
		if err != nil {
			t.Fatal(err)
		}
		return s[0] > s[1]
	}
	s, err := TextGoal(GoalSentiment, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !prefers(s, "what a wonderful, happy day", "a terrible, sad failure") {
		t.Error("sentiment does not prefer the positive text")
	}
	l, err := TextGoal(GoalLipogram, 'e')
	if err != nil {
		t.Fatal(err)
	}
	if !prefers(l, "a cat sat on a mat with a dog", "the seventeen eerie trees") {
		t.Error("lipogram does not prefer the text without e")
	}
	if _, err := TextGoal(GoalLipogram, 0); err == nil {
		t.Error("lipogram without a letter accepted")
	}
	if _, err := TextGoal("joy", 0); err == nil || !strings.Contains(err.Error(), "sentiment") {
		t.Errorf("unknown goal: %v", err)
	}
}

func TestTextLabeler(t *testing.T) {
	goal, _ := TextGoal(GoalSentiment, 0)
	q := feedback.TextQuery("q1", "Today", " was awful and sad.", " was a great joy.")
	for _, beta := range []float64{0, 0.01} {
		lab, err := TextLabeler(goal, beta, 0, 0, 3)
		if err != nil {
			t.Fatal(err)
		}
		l, err := lab.Label(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if l.Choice != 1 {
			t.Errorf("beta %g chose %v, want the positive completion", beta, l.Choice)
		}
	}
	if _, err := TextLabeler(goal, -1, 0, 0, 1); err == nil {
		t.Error("negative temperature accepted")
	}
	if _, err := TextLabeler(goal, 0.1, 0, 2, 1); err == nil {
		t.Error("random-answer probability 2 accepted")
	}
}

func toyTextModel(t *testing.T) (*gpt.Model, *text.Tokenizer) {
	t.Helper()
	tok, err := text.DefaultTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	cfg := gpt.TinyConfig()
	cfg.NEmbd, cfg.NLayer, cfg.NHead, cfg.NPositions = 16, 1, 2, 32
	m, err := gpt.New(cfg, 11)
	if err != nil {
		t.Fatal(err)
	}
	return m, tok
}

func TestTokenComparisonsAndPairAccuracy(t *testing.T) {
	_, tok := toyTextModel(t)
	qs := []feedback.Query{
		feedback.TextQuery("a", "It was", " good", " bad", " fine"),
		feedback.TextQuery("b", "It was", " good", " bad"),
	}
	labels := []feedback.Label{{QueryID: "a", Choice: 0}, {QueryID: "b", Choice: feedback.Skip}}
	cs, err := TokenComparisons(tok, qs, labels, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || len(cs[0].Completions) != 3 || cs[0].Choice != 0 {
		t.Fatalf("comparisons %+v, want the labelled 3-way one only", cs)
	}
	if tok.Decode(cs[0].Completions[1]) != " bad" {
		t.Fatalf("completion decodes to %q", tok.Decode(cs[0].Completions[1]))
	}
	if withEOS, _ := TokenComparisons(tok, qs, labels, true); len(withEOS[0].Completions[2]) != len(cs[0].Completions[2])+1 ||
		withEOS[0].Completions[2][len(cs[0].Completions[2])] != tok.EndOfText() {
		t.Error("eos=true did not end the completions with <|endoftext|>")
	}
	if _, err := TokenComparisons(tok, qs, labels[:1], false); err == nil {
		t.Error("queries and labels of different lengths accepted")
	}
	goal := func(s string) float64 { return map[string]float64{" good": 1, " bad": -1, " fine": 0.5}[s] }
	acc, n, err := PairAccuracy(tok, cs, reward.GoalScorer{Goal: goal}, reward.GoalScorer{Goal: goal}, 0)
	if err != nil || acc != 1 || n != 3 {
		t.Fatalf("perfect scorer: accuracy %v on %d pairs (%v)", acc, n, err)
	}
	neg := func(s string) float64 { return -goal(s) }
	if acc, _, _ := PairAccuracy(tok, cs, reward.GoalScorer{Goal: neg}, reward.GoalScorer{Goal: goal}, 0); acc != 0 {
		t.Fatalf("reversed scorer: accuracy %v, want 0", acc)
	}
}

func TestTrainTextRMLearnsAPreference(t *testing.T) {
	m, tok := toyTextModel(t)
	rm := reward.NewGPT(m, tok, 1)
	words := []string{" good", " great", " fine", " happy"}
	var cs []reward.TokenComparison
	for i := range 64 {
		w := words[i%len(words)]
		p := tok.Encode(fmt.Sprintf("Prompt %d was", i%7))
		c := reward.TokenComparison{Prompt: p, Completions: [][]int{tok.Encode(" bad" + w), tok.Encode(w + w)}, Choice: 1}
		if i%2 == 0 {
			c.Completions[0], c.Completions[1], c.Choice = c.Completions[1], c.Completions[0], 0
		}
		cs = append(cs, c)
	}
	before, err := rm.Evaluate(cs, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultTextRMConfig()
	cfg.Epochs, cfg.LR = 8, 3e-3
	steps := 0
	after, err := TrainTextRM(context.Background(), rm, cs, cs, cfg, func(step, total int, loss float64) { steps = step })
	if err != nil {
		t.Fatal(err)
	}
	if steps != 8*4 {
		t.Errorf("%d steps, want 32", steps)
	}
	if after.Loss >= before.Loss || after.Accuracy < 0.9 {
		t.Fatalf("reward model did not learn: loss %.3f -> %.3f, accuracy %.2f -> %.2f", before.Loss, after.Loss, before.Accuracy, after.Accuracy)
	}
	if _, err := TrainTextRM(context.Background(), rm, nil, nil, cfg, nil); err == nil {
		t.Error("training on no comparisons accepted")
	}
}

func TestTextQueriesAndEval(t *testing.T) {
	m, tok := toyTextModel(t)
	s := TextSampling{MaxNewTokens: 5, Temperature: 1, StopAtEOS: false, PromptEOS: true}
	prompts := []string{"One day", "The nation", "We will"}
	qs, err := TextQueries(context.Background(), m, tok, prompts, 3, s, 4, "x")
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 3 || qs[2].ID != "x-2" || len(qs[1].Items) != 3 || qs[1].Items[0].Prompt != "The nation" {
		t.Fatalf("queries %+v", qs)
	}
	for _, q := range qs {
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	again, _ := TextQueries(context.Background(), m, tok, prompts, 3, s, 4, "x")
	if again[2].Items[1].Completion != qs[2].Items[1].Completion {
		t.Error("same seed gave different completions")
	}
	if _, err := TextQueries(context.Background(), m, tok, prompts, 1, s, 4, "x"); err == nil {
		t.Error("1 completion per query accepted")
	}
	goal := reward.GoalScorer{Goal: func(c string) float64 { return float64(len(c)) }}
	ev, err := EvalText(context.Background(), m, m, tok, prompts, goal, s, 9)
	if err != nil {
		t.Fatal(err)
	}
	if ev.N != 3 || len(ev.Samples) != 3 || ev.KL != 0 || ev.Gold <= 0 || math.IsNaN(ev.GoldStd) {
		t.Fatalf("eval %+v", ev)
	}
	// A changed policy has positive sampled KL to the original.
	moved, _ := ppo.CloneGPT(m)
	for _, p := range moved.Params() {
		for i := range p.P.Value.Data {
			p.P.Value.Data[i] *= 3
		}
	}
	ev2, err := EvalText(context.Background(), moved, m, tok, prompts, goal, s, 9)
	if err != nil {
		t.Fatal(err)
	}
	if !(ev2.KL > 0) {
		t.Fatalf("KL of a changed policy %v", ev2.KL)
	}
	if _, err := EvalText(context.Background(), m, nil, tok, nil, goal, s, 1); err == nil {
		t.Error("evaluation on no prompts accepted")
	}
}

func TestTextConfigValidate(t *testing.T) {
	if err := DefaultTextConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultTextConfig()
	c.Queries, c.K, c.Goal, c.PPO.BatchSize = 0, 1, "joy", 0
	err := c.Validate()
	for _, want := range []string{"label budget", "completions per comparison", "unknown goal", "batch size"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}

func TestTextRMAppendsEOSAndRoundTrips(t *testing.T) {
	m, tok := toyTextModel(t)
	rm := TextRM{reward.NewGPT(m, tok, 2)}
	got, err := rm.ScoreText([]string{"It was"}, []string{" good"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := rm.Score([][]int{tok.Encode("It was")}, [][]int{append(tok.Encode(" good"), tok.EndOfText())})
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := rm.GPTReward.ScoreText([]string{"It was"}, []string{" good"})
	if got[0] != want[0] || got[0] == plain[0] {
		t.Fatalf("TextRM score %v, with EOS %v, without %v", got[0], want[0], plain[0])
	}
	if _, err := rm.ScoreText([]string{"a"}, nil); err == nil {
		t.Error("mismatched lengths accepted")
	}
	dir := t.TempDir()
	if err := SaveTextRM(rm, dir); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadTextRM(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := loaded.ScoreText([]string{"It was"}, []string{" good"})
	if err != nil || again[0] != got[0] {
		t.Fatalf("loaded reward model scores %v (%v), saved one %v", again, err, got[0])
	}
	if _, ok := loaded.(TextRM); !ok {
		t.Fatalf("loaded %T, want TextRM", loaded)
	}
}

// lenScorer scores len(prompt) - len(completion); it fails on an empty
// completion.
type lenScorer struct{}

func (lenScorer) ScoreText(ps, cs []string) ([]float32, error) {
	out := make([]float32, len(cs))
	for i, c := range cs {
		if c == "" {
			return nil, errors.New("empty completion")
		}
		out[i] = float32(len(ps[i]) - len(c))
	}
	return out, nil
}

// A goal that is not a programmatic function (a reward model) scores the
// prompt with the completion, in labels, evaluations and pair accuracy.
func TestGoalOfScorer(t *testing.T) {
	g, err := GoalScores(lenScorer{}, []string{"abcd", "ab"}, []string{"x", "xy"})
	if err != nil || g[0] != 3 || g[1] != 0 {
		t.Fatalf("GoalScores = %v, %v", g, err)
	}
	if _, err := GoalScores(lenScorer{}, []string{"a"}, []string{""}); err == nil {
		t.Error("scorer error not returned")
	}
	if _, err := GoalScores(lenScorer{}, []string{"a"}, nil); err == nil {
		t.Error("mismatched lengths accepted")
	}
	lab, err := TextLabeler(lenScorer{}, 0, 0, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Label(context.Background(), feedback.TextQuery("q", "prompt", " long one", " b"))
	if err != nil || l.Choice != 1 {
		t.Errorf("labeler chose %v (%v), want the shorter completion", l.Choice, err)
	}
	if _, err := lab.Label(context.Background(), feedback.TextQuery("q", "prompt", "", " b")); err == nil {
		t.Error("a failing goal labelled a query")
	}
	if _, err := TextGoal(GoalRM, 0); err == nil {
		t.Error("rm: with no directory accepted")
	}
	if _, err := TextGoal(GoalRM+t.TempDir(), 0); err == nil || !strings.Contains(err.Error(), "rm:") {
		t.Errorf("rm: of a directory without a reward model: %v", err)
	}
}

// selectQueries by margin keeps, per prompt, the candidate comparison
// whose completions the scorer tells apart least (lenScorer: by length); by
// disagreement, the one two opposed scorers dispute most.
func TestSelectQueries(t *testing.T) {
	first := []feedback.Query{
		feedback.TextQuery("q-0", "p", " a", " aaaaaa"),   // spread 5
		feedback.TextQuery("q-1", "p", " bb", " bb"),      // spread 0: kept
		feedback.TextQuery("q-2", "p", " c", " cccccccc"), // spread 7
	}
	second := []feedback.Query{
		feedback.TextQuery("q-0", "p", " aaa", " aaaa"), // spread 1: kept
		feedback.TextQuery("q-1", "p", " b", " bbbb"),   // spread 3
		feedback.TextQuery("q-2", "p", " cc", " ccccc"), // spread 3
	}
	third := []feedback.Query{
		feedback.TextQuery("q-0", "p", " a", " aaa"), // spread 2
		feedback.TextQuery("q-1", "p", " b", " bbb"), // spread 2
		feedback.TextQuery("q-2", "p", " cc", " cc"), // spread 0: kept
	}
	for _, q := range [][]feedback.Query{first, second, third} {
		for i := range q {
			q[i].Sampler = map[string]any{"seed": 1}
		}
	}
	calls := 0
	got, err := selectQueries(context.Background(), SelectMargin, []reward.TextScorer{lenScorer{}}, first, 3, func(j int) ([]feedback.Query, error) {
		calls++
		return [][]feedback.Query{nil, second, third}[j], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{" aaa", " bb", " cc"}
	for i, q := range got {
		if q.Items[0].Completion != want[i] || q.ID != fmt.Sprintf("q-%d", i) || q.Sampler["selected_from"] != 3 {
			t.Errorf("prompt %d: kept %q (%s, sampler %v), want the candidate starting %q", i, q.Items[0].Completion, q.ID, q.Sampler, want[i])
		}
	}
	if calls != 2 || first[0].Sampler["selected_from"] != nil {
		t.Errorf("%d candidate draws (want 2), or the input's sampler was changed: %v", calls, first[0].Sampler)
	}
	if _, err := selectQueries(context.Background(), SelectMargin, []reward.TextScorer{lenScorer{}}, first, 2, func(int) ([]feedback.Query, error) { return second[:1], nil }); err == nil {
		t.Error("a short candidate set was accepted")
	}
	// lenScorer and its negation agree only where lengths are equal, and
	// dispute most where they differ most.
	opposed := []reward.TextScorer{lenScorer{}, reward.GoalScorer{Goal: func(c string) float64 { return float64(len(c)) }}}
	got, err = selectQueries(context.Background(), SelectDisagree, opposed, first, 3, func(j int) ([]feedback.Query, error) {
		return [][]feedback.Query{nil, second, third}[j], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{" a", " b", " c"} // spreads 5 (first), 3 (second), 7 (first)
	for i, q := range got {
		if q.Items[0].Completion != want[i] || q.Sampler["selected_by"] != SelectDisagree {
			t.Errorf("prompt %d: kept %q (sampler %v), want the candidate starting %q", i, q.Items[0].Completion, q.Sampler, want[i])
		}
	}
	if _, err := selectQueries(context.Background(), SelectDisagree, opposed[:1], first, 3, nil); err == nil {
		t.Error("disagreement of one model accepted")
	}
}

// countingScorer is lenScorer that counts its calls.
type countingScorer struct{ calls, rows *int }

func (c countingScorer) ScoreText(ps, cs []string) ([]float32, error) {
	*c.calls++
	*c.rows += len(cs)
	return lenScorer{}.ScoreText(ps, cs)
}

// GoalItemsOf scores every item of the queries in one call and gives the
// same scores as GoalItems; an item it has not seen is scored on its own.
func TestGoalItemsOf(t *testing.T) {
	var calls, rows int
	goal := countingScorer{&calls, &rows}
	qs := []feedback.Query{feedback.TextQuery("a", "pp", " x", " xyz"), feedback.TextQuery("b", "p", " yy", " y")}
	score, err := GoalItemsOf(goal, qs)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || rows != 4 {
		t.Fatalf("%d calls for %d rows, want 1 for 4", calls, rows)
	}
	one := GoalItems(lenScorer{})
	for _, q := range qs {
		for _, it := range q.Items {
			if got, want := score(it), one(it); got != want {
				t.Errorf("%+v: %v, one at a time %v", it, got, want)
			}
		}
	}
	if calls != 1 {
		t.Errorf("known items scored again: %d calls", calls)
	}
	if got := score(feedback.Item{Prompt: "pppp", Completion: " z"}); got != 2 || calls != 2 {
		t.Errorf("unseen item scored %v in %d calls, want 2 in 2", got, calls)
	}
	if _, err := GoalItemsOf(goal, []feedback.Query{feedback.TextQuery("c", "p", "", " y")}); err == nil {
		t.Error("a failing goal gave no error")
	}
}

// "ens:MODE:DIR1,DIR2" loads each reward model and combines their scores;
// malformed ensembles are refused before anything loads.
func TestEnsembleGoal(t *testing.T) {
	var dirs []string
	var members []reward.TextScorer
	for seed := range uint64(2) {
		m, tok := toyTextModel(t)
		rm := TextRM{reward.NewGPT(m, tok, seed+2)}
		dir := filepath.Join(t.TempDir(), "rm")
		if err := SaveTextRM(rm, dir); err != nil {
			t.Fatal(err)
		}
		dirs, members = append(dirs, dir), append(members, rm)
	}
	ps, cs := []string{"It was", "We had"}, []string{" good", " a bad day"}
	a, _ := members[0].ScoreText(ps, cs)
	b, _ := members[1].ScoreText(ps, cs)
	for mode, want := range map[string]func(x, y float32) float32{
		"mean": func(x, y float32) float32 { return (x + y) / 2 },
		"min":  func(x, y float32) float32 { return min(x, y) },
	} {
		g, err := TextGoal(GoalEnsemble+mode+":"+strings.Join(dirs, ","), 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := g.ScoreText(ps, cs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if w := want(a[i], b[i]); math.Abs(float64(got[i]-w)) > 1e-6 {
				t.Errorf("%s: score %d is %v, want %v (members %v, %v)", mode, i, got[i], w, a[i], b[i])
			}
		}
	}
	if a[0] == b[0] {
		t.Fatal("the members score alike: the test cannot tell mean from min")
	}
	policy := t.TempDir()
	if m, _ := toyTextModel(t); m.Save(policy) != nil {
		t.Fatal("saving the policy failed")
	}
	for spec, want := range map[string]string{
		GoalEnsemble + "max:" + dirs[0] + "," + dirs[1]:   "ensemble mode",
		GoalEnsemble + "mean:" + dirs[0]:                  "at least two",
		GoalEnsemble + "mean:" + dirs[0] + ",":            "at least two",
		GoalEnsemble + "mean":                             "at least two",
		GoalEnsemble + "min:" + dirs[0] + "," + policy:    "no reward head",
		GoalEnsemble + "min:" + dirs[0] + ",/nonexistent": "nonexistent",
	} {
		if err := CheckTextGoal(spec, 0); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("goal %q: %v, want an error mentioning %q", spec, err, want)
		}
	}
}

func TestTextRMConfigSteps(t *testing.T) {
	c := TextRMConfig{Epochs: 2, Batch: 4}
	for n, want := range map[int]int{0: 0, 1: 2, 4: 2, 5: 4, 10: 6} {
		if got := c.Steps(n); got != want {
			t.Errorf("2 epochs in batches of 4 over %d comparisons: %d steps, want %d", n, got, want)
		}
	}
	if got := (TextRMConfig{Epochs: 2}).Steps(10); got != 0 {
		t.Errorf("batch 0: %d steps, want 0", got)
	}
}
