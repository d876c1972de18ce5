package feedback_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"rlhf/feedback"
)

func ExampleOracle() {
	// Two CartPole segments; the synthetic oracle prefers the higher true return.
	q := feedback.ControlQuery("c1",
		feedback.Segment{Env: "CartPole-v1", Rewards: []float64{1, 1, 1}},
		feedback.Segment{Env: "CartPole-v1", Rewards: []float64{1, 1, 1, 1, 1}},
	)
	l, _ := feedback.Oracle{Score: feedback.SegmentReturn}.Label(context.Background(), q)
	p, _ := feedback.Target(l.Choice)
	fmt.Println(l.Choice, l.Source, p)
	// Output: 1 synthetic 0
}

func ExampleNoisy() {
	// A Boltzmann-rational labeler (beta 0.5) that also answers at random 10%
	// of the time, as Christiano et al. 2017 model human error.
	score := feedback.Completion(func(s string) float64 { return float64(len(s)) })
	labeler := feedback.Noisy{
		Labeler: feedback.Boltzmann{Score: score, Beta: 0.5, Seed: 1},
		Epsilon: 0.1,
		Seed:    2,
	}
	chosen := make([]int, 4)
	for i := range 1000 {
		q := feedback.TextQuery(fmt.Sprint("q", i), "Say:", "a", "abc", "ab", "abcd")
		l, err := labeler.Label(context.Background(), q)
		if err != nil {
			fmt.Println(err)
			return
		}
		chosen[l.Choice]++
	}
	fmt.Println(chosen[3] > 800, chosen[0] < 40) // mostly the longest, rarely the shortest
	// Output: true true
}

func ExampleSoftTarget() {
	for _, c := range []feedback.Choice{0, 1, feedback.Tie, feedback.CantTell} {
		t, ok := feedback.SoftTarget(c, 2)
		fmt.Println(c, t, ok)
	}
	// Output:
	// 0 [1 0] true
	// 1 [0 1] true
	// tie [0.5 0.5] true
	// cant_tell [] false
}

func ExampleReadPairs() {
	in := `{"prompt":"It was","chosen":" lovely.","rejected":" awful.","labeler":"ann","source":"human"}
{"prompt":"It was","rejected":" bad."}
`
	for rec, err := range feedback.ReadPairs(strings.NewReader(in), &feedback.ReadOptions{Name: "prefs.jsonl"}) {
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%q > %q by %s\n", rec.Chosen, rec.Rejected, rec.Labeler)
	}
	// Output:
	// " lovely." > " awful." by ann
	// feedback: prefs.jsonl line 2: missing field "chosen"
}

func ExampleWriteFile() {
	dir, _ := os.MkdirTemp("", "prefs")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "best_of_4.jsonl")

	q := feedback.TextQuery("q1", "The day", " was grim.", " was great!", " was.", " was long.")
	l, _ := feedback.Oracle{Score: feedback.Completion(func(s string) float64 {
		return float64(strings.Count(s, "!"))
	})}.Label(context.Background(), q)
	rec, _ := feedback.BestOfRecordOf(q, l)
	feedback.WriteFile(path, slices.Values([]feedback.BestOfRecord{rec}))

	for r, err := range feedback.ReadBestOfFile(path, nil) {
		fmt.Println(r.Completions[r.Choice], r.Labeler, r.QueryID, err)
	}
	// Output:  was great! oracle q1 <nil>
}

func ExampleSelectActive() {
	// Candidate pairs with the predicted preference probabilities of a
	// three-member reward ensemble; ask about the ones it disagrees on most.
	type cand struct {
		id string
		ps []float64
	}
	cands := []cand{
		{"p1", []float64{0.9, 0.88, 0.91}},
		{"p2", []float64{0.2, 0.8, 0.5}},
		{"p3", []float64{0.5, 0.6, 0.4}},
	}
	for _, c := range feedback.SelectActive(cands, 2, func(c cand) float64 { return feedback.Variance(c.ps) }) {
		fmt.Println(c.id)
	}
	// Output:
	// p2
	// p3
}

func ExampleSchedule() {
	// 1000 labels over 10M timesteps, Christiano et al.'s MuJoCo schedule:
	// 25% before training, then a rate decaying as 2e6/(t+2e6).
	s := feedback.ChristianoSchedule(1000, 1e7)
	for _, t := range []float64{0, 1e6, 2e6, 5e6, 1e7} {
		fmt.Println(t, s.Want(t))
	}
	// Want(t) = 250 + 750*ln(1+t/2e6)/ln(6), e.g. 250 + 750*ln(1.5)/ln(6) = 419.7 at t = 1e6.
	// Output:
	// 0 250
	// 1e+06 419
	// 2e+06 540
	// 5e+06 774
	// 1e+07 1000
}

func ExampleKrippendorffAlpha() {
	labels := []feedback.Label{
		{QueryID: "q1", Labeler: "ann", Choice: 0}, {QueryID: "q1", Labeler: "bob", Choice: 0}, {QueryID: "q1", Labeler: "cy", Choice: 0},
		{QueryID: "q2", Labeler: "ann", Choice: 1}, {QueryID: "q2", Labeler: "bob", Choice: 1},
		{QueryID: "q3", Labeler: "ann", Choice: 0}, {QueryID: "q3", Labeler: "cy", Choice: 1},
	}
	// Units: {0 0 0}, {1 1}, {0 1}. Coincidences: o00 = 3*2/2 = 3, o11 = 2,
	// o01 = o10 = 1; n0 = 4, n1 = 3, n = 7; alpha = 1 - 6*2/(2*4*3) = 0.5.
	alpha, _ := feedback.KrippendorffAlpha(feedback.Units(labels))
	kappa, _ := feedback.CohenKappa(feedback.Paired(labels, "ann", "bob"))
	fmt.Printf("alpha %.3f, kappa(ann, bob) %.3f\n", alpha, kappa)
	// Output: alpha 0.500, kappa(ann, bob) 1.000
}
