package feedback

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"
)

// scoreByCompletion reads a text item's score from its completion, a number.
var scoreByCompletion = Completion(func(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return v
})

func numQuery(id string, scores ...float64) Query {
	c := make([]string, len(scores))
	for i, s := range scores {
		c[i] = strconv.FormatFloat(s, 'g', -1, 64)
	}
	return TextQuery(id, "p", c...)
}

func TestOraclePicksBest(t *testing.T) {
	ctx := context.Background()
	o := Oracle{Score: scoreByCompletion}
	cases := []struct {
		scores []float64
		want   Choice
	}{{[]float64{1, 2}, 1}, {[]float64{2, 1}, 0}, {[]float64{0.3, -1, 5, 4.9}, 2}, {[]float64{3, 3}, Tie}}
	for _, tc := range cases {
		l, err := o.Label(ctx, numQuery("q", tc.scores...))
		if err != nil {
			t.Fatal(err)
		}
		if l.Choice != tc.want {
			t.Errorf("oracle on %v chose %v, want %v", tc.scores, l.Choice, tc.want)
		}
		if l.QueryID != "q" || l.Source != SourceSynthetic || l.Labeler != "oracle" || l.Time.IsZero() {
			t.Errorf("label provenance %+v", l)
		}
	}
}

func TestOracleTieMargin(t *testing.T) {
	ctx := context.Background()
	o := Oracle{Score: scoreByCompletion, TieMargin: 0.1}
	for _, tc := range []struct {
		scores []float64
		want   Choice
	}{{[]float64{1, 1.05}, Tie}, {[]float64{1, 1.2}, 1}, {[]float64{0, 2, 1.95, -3}, Tie}, {[]float64{0, 2, 1.5, -3}, 1}} {
		l, err := o.Label(ctx, numQuery("q", tc.scores...))
		if err != nil {
			t.Fatal(err)
		}
		if l.Choice != tc.want {
			t.Errorf("margin 0.1 on %v: %v, want %v", tc.scores, l.Choice, tc.want)
		}
	}
}

func TestSegmentReturnOracle(t *testing.T) {
	q := ControlQuery("c1", Segment{Rewards: []float64{1, 1, 1}}, Segment{Return: 2.5})
	l, err := Oracle{Score: SegmentReturn}.Label(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if l.Choice != 0 {
		t.Errorf("rewards sum 3 vs return 2.5: chose %v", l.Choice)
	}
	if !math.IsNaN(SegmentReturn(Item{Completion: "x"})) {
		t.Error("SegmentReturn of a text item is not NaN")
	}
	if _, err := (Oracle{Score: SegmentReturn}).Label(context.Background(), TextQuery("t", "p", "a", "b")); err == nil {
		t.Error("oracle accepted NaN scores")
	}
}

func TestProbs(t *testing.T) {
	p := Probs([]float64{0, 1}, 1)
	want := 1 / (1 + math.Exp(-1)) // Bradley-Terry: P(second) = sigmoid(1-0)
	if math.Abs(p[1]-want) > 1e-12 || math.Abs(p[0]+p[1]-1) > 1e-12 {
		t.Errorf("Probs([0 1], 1) = %v, want [%v %v]", p, 1-want, want)
	}
	// Large scores must not overflow.
	p = Probs([]float64{1000, 1001, 999}, 0.5)
	if math.IsNaN(p[0]) || math.Abs(p[0]+p[1]+p[2]-1) > 1e-12 || !(p[1] > p[0] && p[0] > p[2]) {
		t.Errorf("Probs large = %v", p)
	}
	if p := Probs([]float64{1, 3, 3}, 0); p[1] != 1 || p[0] != 0 || p[2] != 0 {
		t.Errorf("Probs beta 0 = %v", p)
	}
}

// freq labels n distinct queries with the same item scores and returns the
// share of each answer, indexed by choice (Tie at the end).
func freq(t *testing.T, l Labeler, n int, scores ...float64) (share []float64, labels []Label) {
	t.Helper()
	share = make([]float64, len(scores)+1)
	for i := range n {
		lab, err := l.Label(context.Background(), numQuery(fmt.Sprintf("q%d", i), scores...))
		if err != nil {
			t.Fatal(err)
		}
		labels = append(labels, lab)
		if lab.Choice == Tie {
			share[len(scores)]++
		} else {
			share[lab.Choice]++
		}
	}
	for i := range share {
		share[i] /= float64(n)
	}
	return share, labels
}

func TestBoltzmannFrequencies(t *testing.T) {
	const n = 20000
	// Pairwise: Bradley-Terry. Standard error of a share near 0.5 over 20k
	// draws is sqrt(0.25/20000) = 0.0035; allow 4.5 of them.
	const tol = 0.016
	for _, beta := range []float64{0.5, 1, 2} {
		b := Boltzmann{Score: scoreByCompletion, Beta: beta, Seed: 7}
		got, _ := freq(t, b, n, 0, 1)
		want := Probs([]float64{0, 1}, beta)
		for i := range want {
			if math.Abs(got[i]-want[i]) > tol {
				t.Errorf("beta %v: share of %d = %.4f, want %.4f", beta, i, got[i], want[i])
			}
		}
	}
	// Best of 4 (Ziegler et al. 2019).
	scores := []float64{0.2, -0.5, 1.1, 0.7}
	got, _ := freq(t, Boltzmann{Score: scoreByCompletion, Beta: 0.8, Seed: 3}, n, scores...)
	want := Probs(scores, 0.8)
	for i := range want {
		if math.Abs(got[i]-want[i]) > tol {
			t.Errorf("best of 4: share of %d = %.4f, want %.4f", i, got[i], want[i])
		}
	}
	if got[4] != 0 {
		t.Errorf("ties without a margin: %v", got[4])
	}
}

func TestBoltzmannDeterministic(t *testing.T) {
	b := Boltzmann{Score: scoreByCompletion, Beta: 1, Seed: 11}
	_, first := freq(t, b, 500, 0, 0.3)
	// Same seed, reverse order, concurrently: the same answers.
	got := make([]Choice, 500)
	var wg sync.WaitGroup
	for i := 499; i >= 0; i-- {
		wg.Go(func() {
			l, err := b.Label(context.Background(), numQuery(fmt.Sprintf("q%d", i), 0, 0.3))
			if err != nil {
				t.Error(err)
			}
			got[i] = l.Choice
		})
	}
	wg.Wait()
	for i := range got {
		if got[i] != first[i].Choice {
			t.Fatalf("query %d: %v then %v", i, first[i].Choice, got[i])
		}
	}
	// Another seed gives other answers somewhere.
	_, other := freq(t, Boltzmann{Score: scoreByCompletion, Beta: 1, Seed: 12}, 500, 0, 0.3)
	diff := 0
	for i := range other {
		if other[i].Choice != first[i].Choice {
			diff++
		}
	}
	if diff == 0 {
		t.Error("seeds 11 and 12 gave identical answers to 500 queries")
	}
}

func TestBoltzmannEdgeCases(t *testing.T) {
	ctx := context.Background()
	// Beta 0 is the oracle.
	got, _ := freq(t, Boltzmann{Score: scoreByCompletion}, 200, 0.1, 0.2)
	if got[1] != 1 {
		t.Errorf("beta 0 shares %v", got)
	}
	// Ties by margin, before drawing.
	got, _ = freq(t, Boltzmann{Score: scoreByCompletion, Beta: 1, TieMargin: 0.05}, 200, 1, 1.04)
	if got[2] != 1 {
		t.Errorf("tie margin shares %v", got)
	}
	for _, beta := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, err := (Boltzmann{Score: scoreByCompletion, Beta: beta}).Label(ctx, numQuery("q", 0, 1)); err == nil {
			t.Errorf("beta %v accepted", beta)
		}
	}
	if _, err := (Boltzmann{Beta: 1}).Label(ctx, numQuery("q", 0, 1)); err == nil {
		t.Error("nil score accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := (Boltzmann{Score: scoreByCompletion, Beta: 1}).Label(cctx, numQuery("q", 0, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestNoisyRate(t *testing.T) {
	const n = 20000
	for _, eps := range []float64{0, 0.1, 0.5, 1} {
		l := Noisy{Labeler: Oracle{Score: scoreByCompletion}, Epsilon: eps, Seed: 5}
		share, labels := freq(t, l, n, 0, 1, 2, 3)
		random := 0
		for _, lab := range labels {
			if lab.Note == "random" {
				random++
			}
			if want := fmt.Sprintf("oracle+noise(%g)", eps); lab.Labeler != want {
				t.Fatalf("labeler %q, want %q", lab.Labeler, want)
			}
		}
		// Share random ~ eps (sd <= 0.0035); a random answer is uniform over 4,
		// so the best item gets 1 - eps + eps/4 and each other item eps/4.
		if r := float64(random) / n; math.Abs(r-eps) > 0.015 {
			t.Errorf("eps %v: random share %.4f", eps, r)
		}
		for i, want := range []float64{eps / 4, eps / 4, eps / 4, 1 - 3*eps/4} {
			if math.Abs(share[i]-want) > 0.015 {
				t.Errorf("eps %v: share of %d = %.4f, want %.4f", eps, i, share[i], want)
			}
		}
	}
	if _, err := (Noisy{Labeler: Oracle{Score: scoreByCompletion}, Epsilon: 1.5}).Label(context.Background(), numQuery("q", 0, 1)); err == nil {
		t.Error("epsilon 1.5 accepted")
	}
}

func TestNoisyBoltzmannComposes(t *testing.T) {
	// P(second) = (1-eps) * sigmoid(1) + eps/2.
	const eps = 0.1
	l := Noisy{Labeler: Boltzmann{Score: scoreByCompletion, Beta: 1, Seed: 1}, Epsilon: eps, Seed: 1}
	share, _ := freq(t, l, 20000, 0, 1)
	want := (1-eps)/(1+math.Exp(-1)) + eps/2
	if math.Abs(share[1]-want) > 0.016 {
		t.Errorf("noisy boltzmann share %.4f, want %.4f", share[1], want)
	}
}

type batchCounter struct {
	Oracle
	batches int
}

func (b *batchCounter) LabelBatch(ctx context.Context, qs []Query) ([]Label, error) {
	b.batches++
	out := make([]Label, len(qs))
	for i, q := range qs {
		l, err := b.Oracle.Label(ctx, q)
		if err != nil {
			return nil, err
		}
		out[i] = l
	}
	return out, nil
}

func TestLabelAll(t *testing.T) {
	qs := []Query{numQuery("a", 1, 0), numQuery("b", 0, 1), numQuery("c", 2, 2)}
	bc := &batchCounter{Oracle: Oracle{Score: scoreByCompletion}}
	labels, err := LabelAll(context.Background(), bc, qs)
	if err != nil {
		t.Fatal(err)
	}
	if bc.batches != 1 {
		t.Errorf("LabelAll made %d batch calls, want 1", bc.batches)
	}
	want := []Choice{0, 1, Tie}
	for i, l := range labels {
		if l.Choice != want[i] || l.QueryID != qs[i].ID {
			t.Errorf("label %d = %v for %s", i, l.Choice, l.QueryID)
		}
	}
	// A plain labeler is called once per query; errors name the query.
	calls := 0
	f := LabelerFunc(func(ctx context.Context, q Query) (Label, error) {
		calls++
		if q.ID == "c" {
			return Label{}, errors.New("boom")
		}
		return Label{QueryID: q.ID}, nil
	})
	got, err := LabelAll(context.Background(), f, qs)
	if err == nil || len(got) != 2 || calls != 3 || err.Error() != "feedback: label query c: boom" {
		t.Errorf("LabelAll error path: %d labels, %d calls, err %v", len(got), calls, err)
	}
}

func BenchmarkBoltzmannBestOf4(b *testing.B) {
	l := Boltzmann{Score: scoreByCompletion, Beta: 1, Seed: 1}
	q := numQuery("q", 0.1, 0.5, -0.2, 0.3)
	ctx := context.Background()
	for b.Loop() {
		if _, err := l.Label(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}
