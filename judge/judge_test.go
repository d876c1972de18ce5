package judge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"rlhf/feedback"
	"rlhf/model/gpt"
	"rlhf/reward"
	"rlhf/text"
)

// tinyRM saves a randomly initialised GPT reward model (width 16, 1 layer,
// the default tokenizer) to a temporary directory and returns the directory.
func tinyRM(t testing.TB, seed uint64) string {
	t.Helper()
	tok, err := text.DefaultTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	m, err := gpt.New(gpt.Config{VocabSize: tok.VocabSize(), NPositions: 32, NEmbd: 16, NLayer: 1, NHead: 2,
		LayerNormEpsilon: 1e-5, ActivationFunction: "gelu_new", EOSTokenID: tok.EndOfText(), BOSTokenID: tok.EndOfText(),
		Tokenizer: "default"}, seed)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := reward.NewGPT(m, tok, seed+1).Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func textQueries(n int) []feedback.Query {
	qs := make([]feedback.Query, n)
	for i := range qs {
		k := 2 + i%3
		cs := make([]string, k)
		for j := range cs {
			cs[j] = strings.Repeat("good ", i%4) + "news number " + string(rune('a'+j)) + strings.Repeat("!", j)
		}
		qs[i] = feedback.TextQuery("q"+string(rune('A'+i)), "Tell me about day "+string(rune('0'+i%10)), cs...)
	}
	return qs
}

func TestJudgeOnTinyRandomModelIsDeterministic(t *testing.T) {
	dir := tinyRM(t, 7)
	ctx := context.Background()
	qs := textQueries(9)
	var runs [][]feedback.Label
	for range 2 {
		m, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		m.Abstain = 0.001
		ls, err := feedback.LabelAll(ctx, m, qs)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, ls)
	}
	m, _ := Load(dir)
	m.Abstain = 0.001
	for i, q := range qs {
		one, err := m.Label(ctx, q) // one at a time equals the batch
		if err != nil {
			t.Fatal(err)
		}
		a, b := runs[0][i], runs[1][i]
		if a.Choice != b.Choice || *a.Confidence != *b.Confidence || a.Note != b.Note {
			t.Errorf("query %s: run 1 %v %v, run 2 %v %v", q.ID, a.Choice, *a.Confidence, b.Choice, *b.Confidence)
		}
		if one.Choice != a.Choice || math.Abs(*one.Confidence-*a.Confidence) > 1e-5 {
			t.Errorf("query %s: alone %v %v, in a batch %v %v", q.ID, one.Choice, *one.Confidence, a.Choice, *a.Confidence)
		}
		if a.QueryID != q.ID || a.Source != feedback.SourceAI || !strings.HasPrefix(a.Labeler, "rm:") {
			t.Errorf("query %s: provenance %+v", q.ID, a)
		}
		if err := a.Check(len(q.Items)); err != nil {
			t.Error(err)
		}
		if c := *a.Confidence; c < 1/float64(len(q.Items))-1e-12 || c > 1 {
			t.Errorf("query %s: confidence %v out of [1/k, 1]", q.ID, c)
		}
	}
	// The random head scores distinct texts differently: some answer is an index.
	picked := 0
	for _, l := range runs[0] {
		if l.Choice.IsIndex() {
			picked++
		}
	}
	if picked == 0 {
		t.Errorf("no query answered with an index: %+v", runs[0])
	}
}

func TestJudgeRefusesControlAndBadSettings(t *testing.T) {
	m := &Model{Scorer: Rewards{reward.GoalScorer{Goal: func(s string) float64 { return float64(len(s)) }}}, Temperature: 1}
	ctx := context.Background()
	cq := feedback.ControlQuery("c", feedback.Segment{Return: 1}, feedback.Segment{Return: 2})
	if _, err := m.Label(ctx, cq); err == nil || !strings.Contains(err.Error(), "compares text") {
		t.Errorf("control query: err %v", err)
	}
	m.Abstain = 0.7
	if _, err := m.Label(ctx, feedback.TextQuery("t", "p", "a", "bb")); err == nil {
		t.Error("abstain 0.7 accepted")
	}
	m.Abstain, m.Temperature = 0, 0
	if _, err := m.Label(ctx, feedback.TextQuery("t", "p", "a", "bb")); err == nil {
		t.Error("temperature 0 accepted")
	}
}

func TestDecideAndAbstain(t *testing.T) {
	d, err := Decide([]float64{0, math.Log(3)}, 1) // P = 1/4, 3/4
	if err != nil {
		t.Fatal(err)
	}
	if d.Best != 1 || math.Abs(d.Confidence-0.75) > 1e-12 || math.Abs(d.PBest-0.75) > 1e-12 {
		t.Fatalf("decision %+v, want best 1 with 0.75", d)
	}
	for _, c := range []struct {
		margin float64
		want   feedback.Choice
	}{{0, 1}, {0.2, 1}, {0.2499, 1}, {0.2501, feedback.CantTell}, {0.4, feedback.CantTell}} {
		if got := d.Choice(c.margin); got != c.want {
			t.Errorf("margin %v: %v, want %v", c.margin, got, c.want)
		}
	}
	tie, _ := Decide([]float64{2, 2}, 1)
	if tie.Choice(0) != feedback.Tie || tie.Choice(0.01) != feedback.CantTell {
		t.Errorf("equal scores: %v at 0, %v at 0.01", tie.Choice(0), tie.Choice(0.01))
	}
	// Three items: PBest compares the best with the runner-up only.
	d3, _ := Decide([]float64{1, 5, 4.5}, 1)
	if d3.Best != 1 || math.Abs(d3.PBest-sigmoid(0.5)) > 1e-12 || d3.Confidence >= d3.PBest {
		t.Errorf("three items: %+v", d3)
	}
	for _, bad := range [][]float64{{1}, {1, math.NaN()}, {math.Inf(1), 0}} {
		if _, err := Decide(bad, 1); err == nil {
			t.Errorf("scores %v accepted", bad)
		}
	}
}

// TestLabelBatchSplitsByMargin checks which queries a goal-scored judge
// answers and which it leaves to people.
func TestLabelBatchSplitsByMargin(t *testing.T) {
	// Score = the completion's length; T = 1: pairs with length gaps 0..4.
	m := &Model{Scorer: Rewards{reward.GoalScorer{Goal: func(s string) float64 { return float64(len(s)) }}}, Temperature: 1, Abstain: 0.4}
	var qs []feedback.Query
	for gap := range 5 {
		qs = append(qs, feedback.TextQuery("g"+string(rune('0'+gap)), "p", "xx", "xx"+strings.Repeat("y", gap)))
	}
	ls, err := m.LabelBatch(context.Background(), qs)
	if err != nil {
		t.Fatal(err)
	}
	// sigmoid(gap) - 0.5 >= 0.4 needs gap >= ln(9) = 2.197.
	want := []feedback.Choice{feedback.CantTell, feedback.CantTell, feedback.CantTell, 1, 1}
	for i, l := range ls {
		if l.Choice != want[i] {
			t.Errorf("gap %d: %v, want %v", i, l.Choice, want[i])
		}
		if p := sigmoid(float64(i)); math.Abs(*l.Confidence-p) > 1e-12 {
			t.Errorf("gap %d: confidence %v, want %v", i, *l.Confidence, p)
		}
	}
}

func TestFitTemperatureRecoversKnownTemperature(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, trueT := range []float64{0.4, 1, 2.5} {
		var scores [][]float64
		var labels []feedback.Choice
		for range 20000 {
			k := 2 + rng.IntN(3)
			s := make([]float64, k)
			for j := range s {
				s[j] = 2 * rng.NormFloat64()
			}
			p := feedback.Probs(s, trueT)
			u, c := rng.Float64(), 0
			for c < k-1 && u > p[c] {
				u -= p[c]
				c++
			}
			scores = append(scores, s)
			labels = append(labels, feedback.Choice(c))
		}
		labels[0] = feedback.CantTell // left out
		got, n, err := FitTemperature(scores, labels)
		if err != nil {
			t.Fatal(err)
		}
		if n != len(labels)-1 {
			t.Errorf("T=%v: used %d labels, want %d", trueT, n, len(labels)-1)
		}
		if math.Abs(got-trueT)/trueT > 0.05 {
			t.Errorf("fitted T %v, want %v within 5%%", got, trueT)
		}
		// The fit is a minimum of the NLL.
		if NLL(scores, labels, got) > NLL(scores, labels, got*1.1) || NLL(scores, labels, got) > NLL(scores, labels, got/1.1) {
			t.Errorf("T=%v: NLL at the fit is not a minimum", trueT)
		}
	}
}

func TestFitTemperatureErrors(t *testing.T) {
	// Labels against the scores: no positive temperature.
	if _, _, err := FitTemperature([][]float64{{0, 1}, {2, 0}}, []feedback.Choice{0, 1}); err == nil || !strings.Contains(err.Error(), "do not prefer") {
		t.Errorf("anti-correlated: %v", err)
	}
	// Perfect separation.
	if _, _, err := FitTemperature([][]float64{{0, 1}, {2, 0}}, []feedback.Choice{1, 0}); err == nil || !strings.Contains(err.Error(), "separate") {
		t.Errorf("separable: %v", err)
	}
	if _, _, err := FitTemperature([][]float64{{0, 1}}, []feedback.Choice{feedback.Skip}); err == nil {
		t.Error("no usable labels accepted")
	}
	if _, _, err := FitTemperature([][]float64{{0, 1}}, nil); err == nil {
		t.Error("length mismatch accepted")
	}
}

func TestReliabilityAndCoverage(t *testing.T) {
	conf := []float64{0.5, 0.6, 0.74, 0.76, 0.99, 1}
	correct := []bool{false, true, false, true, true, true}
	bins, ece, err := Reliability(conf, correct, 0.5, 2)
	if err != nil {
		t.Fatal(err)
	}
	if bins[0].N != 3 || bins[1].N != 3 || math.Abs(bins[0].Accuracy-1.0/3) > 1e-12 || bins[1].Accuracy != 1 {
		t.Errorf("bins %+v", bins)
	}
	wantECE := (3*math.Abs(1.0/3-(0.5+0.6+0.74)/3) + 3*math.Abs(1-(0.76+0.99+1)/3)) / 6
	if math.Abs(ece-wantECE) > 1e-12 {
		t.Errorf("ECE %v, want %v", ece, wantECE)
	}
	if _, _, err := Reliability([]float64{0.3}, []bool{true}, 0.5, 2); err == nil {
		t.Error("confidence below lo accepted")
	}

	ds := []Decision{{Best: 0, PBest: 0.55}, {Best: 1, PBest: 0.9}, {Best: 0, PBest: 0.7}, {Best: 1, PBest: 0.8}}
	gold := []feedback.Choice{1, 1, 0, 0}
	pts, err := Coverage(ds, gold, []float64{0, 0.1, 0.25, 0.45})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		ans int
		acc float64
	}{{4, 0.5}, {3, 2.0 / 3}, {2, 0.5}, {0, math.NaN()}}
	for i, p := range pts {
		if p.Answered != want[i].ans || p.Answered+p.Deferred != 4 || !(p.Accuracy == want[i].acc || math.IsNaN(p.Accuracy) && math.IsNaN(want[i].acc)) {
			t.Errorf("margin %v: %+v, want %d answered at %v", p.Abstain, p, want[i].ans, want[i].acc)
		}
	}
}

func TestReadInputsAndWriteBack(t *testing.T) {
	hostile := "quote \" backslash \\ newline\n tab\t <b>&amp;</b> \u2028 nul\x00 émoji 🎉 }{"
	in := strings.Join([]string{
		"\xef\xbb\xbf" + `{"run":"r1","payload":{"kind":"text","prompt":"P","completions":["a","b\u0000"]},"overlap":2}`,
		``,
		`{"kind":"text","prompt":"bare","completions":["x","y","z"],"gold":2}`,
		mustJSON(t, map[string]any{"prompt": hostile, "chosen": hostile + "1", "rejected": hostile + "2", "query_id": "pq"}),
	}, "\n")
	got, err := ReadInputs(strings.NewReader(in), "in.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d inputs, want 3", len(got))
	}
	if got[0].Query.ID != "line-1" || got[0].Query.Run != "r1" || got[0].HasGold || got[0].Query.Items[1].Completion != "b\x00" {
		t.Errorf("import line: %+v", got[0])
	}
	if got[1].Query.ID != "line-3" || !got[1].HasGold || got[1].Gold != 2 || len(got[1].Query.Items) != 3 {
		t.Errorf("bare payload: %+v", got[1])
	}
	p := got[2]
	if p.Query.ID != "pq" || !p.HasGold || p.Query.Items[p.Gold].Completion != hostile+"1" || p.Query.Items[1-p.Gold].Completion != hostile+"2" || p.Query.Items[0].Prompt != hostile {
		t.Errorf("pair: %+v", p)
	}
	var buf bytes.Buffer
	for _, x := range got {
		if err := WriteDeferred(&buf, x); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 || lines[0] != `{"run":"r1","payload":{"kind":"text","prompt":"P","completions":["a","b\u0000"]},"overlap":2}` {
		t.Fatalf("deferred lines: %q", lines)
	}
	back, err := ReadInputs(&buf, "deferred")
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		a, b := got[i].Query.Items, back[i].Query.Items
		for j := range a {
			if a[j] != b[j] {
				t.Errorf("input %d item %d: %q became %q", i, j, a[j].Completion, b[j].Completion)
			}
		}
	}
	if back[2].HasGold {
		t.Error("the deferred pair carries its answer")
	}
}

// TestPairOrderIsBalanced checks that about half the pairs show the chosen
// completion second, so agreement statistics are not one-sided.
func TestPairOrderIsBalanced(t *testing.T) {
	var sb strings.Builder
	for i := range 400 {
		sb.WriteString(mustJSON(t, map[string]any{"prompt": "p", "chosen": "c" + string(rune('a'+i%26)) + strings.Repeat("x", i), "rejected": "r"}))
		sb.WriteByte('\n')
	}
	in, err := ReadInputs(strings.NewReader(sb.String()), "pairs")
	if err != nil {
		t.Fatal(err)
	}
	second := 0
	for _, x := range in {
		second += int(x.Gold)
	}
	if second < 160 || second > 240 {
		t.Errorf("chosen second in %d of 400 pairs", second)
	}
}

func TestReadInputsBadLines(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`not json`, "line 1: not a JSON object"},
		{"{}\n{\"kind\":\"text\"", "line 1: neither a query"},
		{`{"kind":"text","prompt":"p","completions":["a"]}`, "1 completions"},
		{`{"kind":"control","segments":[]}`, "text queries only"},
		{`{"payload":{"kind":"text","completions":["a",3]}}`, "payload"},
		{`{"chosen":"a"}`, `both "chosen" and "rejected"`},
		{`{"kind":"text","completions":["a","b"],"gold":5}`, "gold 5"},
		{`{"kind":"text","completions":["a","b"],"gold":"tie"}`, "gold tie"},
		{"\n\n{\"chosen\":1,\"rejected\":\"b\"}", "line 3: invalid JSON"},
		{"{\"chosen\":\"" + strings.Repeat("a", MaxLine) + "\"}", "longer than"},
	} {
		_, err := ReadInputs(strings.NewReader(c.in), "q.jsonl")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "q.jsonl") {
			t.Errorf("%.40q: err %v, want %q", c.in, err, c.want)
		}
	}
	if _, err := ReadInputsFile("/nonexistent/q.jsonl"); err == nil {
		t.Error("missing file accepted")
	}
}

func TestWritePrefs(t *testing.T) {
	q := feedback.TextQuery("q1", "p<", "a&", "b\n", "c")
	conf := 0.8
	var buf bytes.Buffer
	n, err := WritePrefs(&buf, q, feedback.Label{QueryID: "q1", Choice: 1, Confidence: &conf, Labeler: "rm:x", Source: feedback.SourceAI})
	if err != nil || n != 2 {
		t.Fatalf("wrote %d, err %v", n, err)
	}
	var recs []feedback.PairRecord
	for r, err := range feedback.ReadPairs(&buf, nil) {
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 2 || recs[0].Chosen != "b\n" || recs[0].Rejected != "a&" || recs[1].Rejected != "c" || recs[0].Source != feedback.SourceAI || recs[0].Labeler != "rm:x" {
		t.Errorf("records %+v", recs)
	}
	if n, _ := WritePrefs(&buf, q, feedback.Label{Choice: feedback.CantTell}); n != 0 {
		t.Errorf("abstention wrote %d pairs", n)
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteBestOf(t *testing.T) {
	q := feedback.TextQuery("q1", "p", "a", "b\n", "c")
	conf := 0.6
	var buf bytes.Buffer
	n, err := WriteBestOf(&buf, q, feedback.Label{QueryID: "q1", Choice: 2, Confidence: &conf, Labeler: "rm:x", Source: feedback.SourceAI})
	if err != nil || n != 1 {
		t.Fatalf("wrote %d, err %v", n, err)
	}
	if !strings.Contains(buf.String(), `"confidence":0.6`) {
		t.Errorf("no confidence: %s", buf.String())
	}
	var recs []feedback.BestOfRecord
	for r, err := range feedback.ReadBestOf(&buf, nil) {
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 1 || recs[0].Choice != 2 || len(recs[0].Completions) != 3 || recs[0].Completions[1] != "b\n" || recs[0].QueryID != "q1" {
		t.Errorf("records %+v", recs)
	}
	if n, _ := WriteBestOf(&buf, q, feedback.Label{Choice: feedback.Tie}); n != 0 {
		t.Errorf("tie wrote %d records", n)
	}
}

func TestLabelBatchHonoursContext(t *testing.T) {
	m := &Model{Scorer: Rewards{reward.GoalScorer{Goal: func(s string) float64 { return float64(len(s)) }}}, Temperature: 1}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.LabelBatch(ctx, textQueries(3)); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("cancelled context: %v", err)
	}
}

// A weight of 2 counts a label twice, a weight of 0 leaves it out; bad
// weights are errors.
func TestFitTemperatureWeighted(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var scores [][]float64
	var labels []feedback.Choice
	for range 200 {
		s := []float64{rng.NormFloat64(), rng.NormFloat64()}
		c := feedback.Choice(0)
		if rng.Float64() > feedback.Probs(s, 0.7)[0] {
			c = 1
		}
		scores, labels = append(scores, s), append(labels, c)
	}
	weights := make([]float64, len(labels))
	var dupS [][]float64
	var dupL []feedback.Choice
	for i := range labels {
		weights[i] = float64(i % 3) // 0, 1 or 2 copies
		for range i % 3 {
			dupS, dupL = append(dupS, scores[i]), append(dupL, labels[i])
		}
	}
	got, n, err := FitTemperatureWeighted(scores, labels, weights)
	if err != nil {
		t.Fatal(err)
	}
	want, wn, err := FitTemperature(dupS, dupL)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-want) > 1e-9*want || n != len(labels)-len(labels)/3-1 || wn != len(dupL) {
		t.Errorf("weighted fit T=%v on %d labels, the same labels copied T=%v on %d", got, n, want, wn)
	}
	if plain, _, _ := FitTemperature(scores, labels); plain == got {
		t.Errorf("weights changed nothing (T=%v)", got)
	}
	for _, w := range []float64{-1, math.NaN(), math.Inf(1)} {
		bad := slices.Clone(weights)
		bad[7] = w
		if _, _, err := FitTemperatureWeighted(scores, labels, bad); err == nil || !strings.Contains(err.Error(), "weight 7") {
			t.Errorf("weight %v: %v", w, err)
		}
	}
	if _, _, err := FitTemperatureWeighted(scores, labels, weights[1:]); err == nil {
		t.Error("fewer weights than labels accepted")
	}
}

// Audited picks a fixed share of ids: the same ids on every call, none at
// share 0, all at share 1, about share of them otherwise.
func TestAudited(t *testing.T) {
	for _, share := range []float64{0, 0.1, 0.5, 1} {
		n := 0
		for i := range 20000 {
			id := fmt.Sprintf("run-r%d-%d", i%7, i)
			a := Audited(id, share)
			if a != Audited(id, share) {
				t.Fatalf("%s picked once and not again", id)
			}
			if a {
				n++
			}
		}
		if got := float64(n) / 20000; math.Abs(got-share) > 0.01 {
			t.Errorf("share %v: picked %.4f of the ids", share, got)
		}
	}
	// A smaller share picks a subset of a larger one's ids.
	for i := range 1000 {
		id := fmt.Sprint("q-", i)
		if Audited(id, 0.1) && !Audited(id, 0.3) {
			t.Fatalf("%s audited at share 0.1 but not 0.3", id)
		}
	}
}

// Labels flipped with probability eps: the plain fit takes the flips for
// the judge's errors and comes out too hot; told eps, the fit recovers the
// judge's temperature. eps 0 is the plain fit.
func TestFitTemperatureNoisy(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const trueT, eps = 0.8, 0.2
	var scores [][]float64
	var labels []feedback.Choice
	for range 20000 {
		s := []float64{2 * rng.NormFloat64(), 2 * rng.NormFloat64()}
		c := feedback.Choice(0)
		if rng.Float64() > feedback.Probs(s, trueT)[0] {
			c = 1
		}
		if rng.Float64() < eps {
			c = 1 - c
		}
		scores, labels = append(scores, s), append(labels, c)
	}
	plain, _, err := FitTemperature(scores, labels)
	if err != nil {
		t.Fatal(err)
	}
	got, n, err := FitTemperatureNoisy(scores, labels, nil, eps)
	if err != nil || n != len(labels) {
		t.Fatal(n, err)
	}
	if math.Abs(got-trueT)/trueT > 0.05 || plain < 1.5*trueT {
		t.Errorf("noisy labels: fit with their error rate T=%v, without T=%v; want %v and far above it", got, plain, trueT)
	}
	if z, _, err := FitTemperatureNoisy(scores, labels, nil, 0); err != nil || z != plain {
		t.Errorf("eps 0: T=%v (%v), want the plain fit's %v", z, err, plain)
	}
	// Weights count as copies here too.
	w := make([]float64, len(labels))
	var dupS [][]float64
	var dupL []feedback.Choice
	for i := range w {
		w[i] = float64(i % 2 * 2)
		if w[i] > 0 {
			dupS, dupL = append(dupS, scores[i], scores[i]), append(dupL, labels[i], labels[i])
		}
	}
	a, _, err1 := FitTemperatureNoisy(scores, labels, w, eps)
	b, _, err2 := FitTemperatureNoisy(dupS, dupL, nil, eps)
	if err1 != nil || err2 != nil || math.Abs(a-b) > 1e-6*b {
		t.Errorf("weighted T=%v (%v), copied T=%v (%v)", a, err1, b, err2)
	}
	for _, bad := range []float64{-0.1, 0.5, math.NaN()} {
		if _, _, err := FitTemperatureNoisy(scores, labels, nil, bad); err == nil {
			t.Errorf("error rate %v accepted", bad)
		}
	}
	// Labels against the scores, and labels the scores separate perfectly.
	if _, _, err := FitTemperatureNoisy([][]float64{{0, 1}, {2, 0}}, []feedback.Choice{0, 1}, nil, 0.1); err == nil || !strings.Contains(err.Error(), "do not prefer") {
		t.Errorf("anti-correlated: %v", err)
	}
	if _, _, err := FitTemperatureNoisy([][]float64{{0, 1}, {2, 0}}, []feedback.Choice{1, 0}, nil, 0.1); err == nil || !strings.Contains(err.Error(), "separate") {
		t.Errorf("separable: %v", err)
	}
}
