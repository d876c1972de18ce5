package reward

import (
	"context"
	"flag"
	"fmt"
	"math"
	"testing"
	"time"

	"rlhf/feedback"
)

var syntheticSeeds = flag.Int("synthetic-seeds", 0, "run the synthetic end-to-end task over this many seeds and report mean ± std")

// TestSyntheticSeeds repeats the end-to-end task of
// TestEnsembleLearnsSyntheticReward over several seeds (task, labels and
// ensemble all reseeded) when -synthetic-seeds is set:
//
//	go test ./reward -run TestSyntheticSeeds -synthetic-seeds 5 -v
func TestSyntheticSeeds(t *testing.T) {
	if *syntheticSeeds <= 0 {
		t.Skip("set -synthetic-seeds to run")
	}
	var accs, corrs []float64
	for seed := 1; seed <= *syntheticSeeds; seed++ {
		s := newSynth(uint64(seed)*101, 5, 3, 10)
		recs := s.records(t, "q", 600, feedback.Boltzmann{Score: feedback.SegmentReturn, Beta: 1, Seed: uint64(seed)})
		cfg := DefaultConfig(5, 3, 0)
		cfg.Seed = uint64(seed)
		e, err := NewEnsemble(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Add(recs...); err != nil {
			t.Fatal(err)
		}
		st, err := e.Train(context.Background(), 600)
		if err != nil {
			t.Fatal(err)
		}
		obs, act, trueR := s.steps(3000)
		corr := e.Correlation(obs, act, trueR)
		// The labels are noisy: how often the true returns agree with them on
		// the held-out split bounds the accuracy any model can reach.
		var truth [][]float64
		var choices []feedback.Choice
		for i := range recs {
			if e.data[i].val {
				truth = append(truth, []float64{recs[i].Segments[0].Return, recs[i].Segments[1].Return})
				choices = append(choices, recs[i].Choice)
			}
		}
		ceil := Evaluate(truth, choices, 0).Accuracy
		t.Logf("seed %d: held-out accuracy %.3f of %d (true returns: %.3f), correlation %.3f", seed, st.Held.Accuracy, st.Held.Decided, ceil, corr)
		accs, corrs = append(accs, st.Held.Accuracy), append(corrs, corr)
	}
	ma, sa := meanStd(accs)
	mc, sc := meanStd(corrs)
	t.Logf("over %d seeds: held-out accuracy %.3f ± %.3f, correlation %.3f ± %.3f", len(accs), ma, sa, mc, sc)
}

// benchEnsemble returns an ensemble with 600 labelled comparisons of
// 10-step segments (obs 5, 3 actions).
func benchEnsemble(b *testing.B) (*Ensemble, *synth) {
	s := newSynth(7, 5, 3, 10)
	recs := s.records(b, "q", 600, feedback.Oracle{Score: feedback.SegmentReturn})
	e, err := NewEnsemble(DefaultConfig(5, 3, 0))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.Add(recs...); err != nil {
		b.Fatal(err)
	}
	return e, s
}

// BenchmarkReward scores a PPO-sized batch of steps with the 3-member
// ensemble (64-64 hidden).
func BenchmarkReward(b *testing.B) {
	for _, n := range []int{256, 2048} {
		b.Run(fmt.Sprint("steps=", n), func(b *testing.B) {
			e, s := benchEnsemble(b)
			obs, act, _ := s.steps(n)
			var fo, fa []float64
			for i := range obs {
				fo, fa = append(fo, obs[i]...), append(fa, act[i]...)
			}
			dst := make([]float64, n)
			b.ResetTimer()
			for b.Loop() {
				dst = e.RewardFlat(dst, fo, fa)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "steps/s")
			if math.IsNaN(dst[0]) {
				b.Fatal("NaN reward")
			}
		})
	}
}

// BenchmarkTrain measures Train(ctx, 50): 50 optimisation steps of every
// member on minibatches of 32 pairs of 10-step segments, one L2 check (at
// the last step, so its measurement is also the final one) and the
// renormalisation; step/s counts ensemble steps.
func BenchmarkTrain(b *testing.B) {
	e, _ := benchEnsemble(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.Train(context.Background(), 50); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(50*float64(b.N)/b.Elapsed().Seconds(), "steps/s")
}

// BenchmarkOnlineTrain mimics the online loop's use of the ensemble on a
// CartPole-shaped task (obs 4, 2 actions, 50-step segments): 700 labels added
// in tenths, Train(70) after each (one step per new label, the loop's
// default). path=reference is the straightforward Train that re-evaluates
// everything at the end of every call; path=train is Train. It reports per
// label the wall time (ns/label), the process CPU time (cpu-ns/label, less
// sensitive to other load on the machine) and how many comparisons were
// evaluated with every member (evals/label); eval-share is the share of wall
// time spent evaluating stored comparisons (L2 checks, end-of-call losses,
// stats), ref-share the share spent renormalising over the reference steps.
//
//	go test ./reward -run '^$' -bench OnlineTrain -benchtime 2x
func BenchmarkOnlineTrain(b *testing.B) {
	const labels, tenths = 700, 10
	s := newSynth(11, 4, 2, 50)
	recs := s.records(b, "q", labels, feedback.Oracle{Score: feedback.SegmentReturn})
	paths := []struct {
		name  string
		train func(*Ensemble, context.Context, int) (TrainStats, error)
	}{
		{"reference", referenceTrain},
		{"train", (*Ensemble).Train},
	}
	for _, p := range paths {
		b.Run("path="+p.name, func(b *testing.B) {
			var eval, ref, total time.Duration
			evals := 0
			cpu0 := processCPU()
			for b.Loop() {
				e, err := NewEnsemble(DefaultConfig(4, 2, 0))
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				for i := 0; i < labels; i += labels / tenths {
					part := recs[i : i+labels/tenths]
					if _, err := e.Add(part...); err != nil {
						b.Fatal(err)
					}
					if _, err := p.train(e, context.Background(), len(part)); err != nil {
						b.Fatal(err)
					}
				}
				total += time.Since(start)
				eval += e.evalTime
				ref += e.refTime
				evals += e.evaluated
			}
			per := float64(b.N * labels)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/per, "ns/label")
			b.ReportMetric((processCPU()-cpu0)*1e9/per, "cpu-ns/label")
			b.ReportMetric(float64(evals)/per, "evals/label")
			b.ReportMetric(eval.Seconds()/total.Seconds(), "eval-share")
			b.ReportMetric(ref.Seconds()/total.Seconds(), "ref-share")
		})
	}
}
