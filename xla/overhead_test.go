package xla

import (
	"math/rand/v2"
	"testing"

	"rlhf/ag"
	"rlhf/nn"
	"rlhf/optim"
)

func gptTrainer(tb testing.TB, cfg nn.GPTConfig) (*Trainer, *nn.GPT) {
	tb.Helper()
	b, err := Open("go")
	if err != nil {
		tb.Fatal(err)
	}
	m, err := nn.NewGPT(cfg, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		tb.Fatal(err)
	}
	ac := optim.AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, NoDecay: optim.MatricesOnly}
	tr, err := NewTrainer(b, m.Params(), Config{AdamW: ac, ClipNorm: 1})
	if err != nil {
		tb.Fatal(err)
	}
	return tr, m
}

func randomLoss(m *nn.GPT, r *rand.Rand, batch, seq int) Func {
	ids := make([]int, batch*seq)
	for i := range ids {
		ids[i] = r.IntN(m.Config.Vocab)
	}
	return func(tp *ag.Tape) *ag.Var { return m.Loss(tp, ids, ids, batch, seq, -1) }
}

// BenchmarkReplayGPT2 measures the host work that precedes every cached
// training step of GPT-2 small (12 layers, d 768, T 1024, batch 8): re-running
// the model code against the cached trace to collect the token ids, plus
// turning them into backend inputs. The executable itself is not compiled.
func BenchmarkReplayGPT2(b *testing.B) {
	tr, m := gptTrainer(b, nn.GPTConfig{Vocab: 50257, Ctx: 1024, Layers: 12, Heads: 12, Dim: 768})
	r := rand.New(rand.NewPCG(3, 4))
	e, _, _, err := tr.graph(kindStep, randomLoss(m, r, 8, 1024))
	if err != nil {
		b.Fatal(err)
	}
	tr.cache[kindStep] = []*entry{e}
	f := randomLoss(m, r, 8, 1024)
	for b.Loop() {
		c, feeds, err := tr.replay(kindStep, f)
		if err != nil || c != e || len(feeds) != 3 {
			b.Fatalf("replay: entry %v, %d feeds, %v", c == e, len(feeds), err)
		}
		for _, x := range feeds {
			d, err := donate(x, tr.Backend)
			if err != nil || d == nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(e.st.Ops), "ops")
}

// BenchmarkStepOverhead runs whole training steps of a GPT-2-shaped model
// with 2 layers (d 768, 12 heads, context 1024; vocab 4096 to keep the pure-Go
// arithmetic short) on 2 sequences of 16 tokens on the pure-Go backend and
// reports the host overhead per step (replay, feeds, fetch) apart from the
// execution. The overhead depends on the op and parameter counts, which
// match GPT-2's per layer, not on the arithmetic.
func BenchmarkStepOverhead(b *testing.B) {
	tr, m := gptTrainer(b, nn.GPTConfig{Vocab: 4096, Ctx: 1024, Layers: 2, Heads: 12, Dim: 768})
	r := rand.New(rand.NewPCG(3, 4))
	if _, _, err := tr.Step(3e-4, randomLoss(m, r, 2, 16)); err != nil {
		b.Fatal(err)
	}
	tr.ResetTimings()
	for b.Loop() {
		if _, _, err := tr.Step(3e-4, randomLoss(m, r, 2, 16)); err != nil {
			b.Fatal(err)
		}
	}
	tm := tr.Timings()
	if tm.Builds != 0 {
		b.Fatalf("%d rebuilds", tm.Builds)
	}
	n := float64(tm.Calls)
	b.ReportMetric(float64(tm.Host().Microseconds())/n, "host-µs/step")
	b.ReportMetric(float64(tm.Replay.Microseconds())/n, "replay-µs/step")
	b.ReportMetric(float64(tm.Feed.Microseconds())/n, "feed-µs/step")
	b.ReportMetric(float64(tm.Fetch.Microseconds())/n, "fetch-µs/step")
	b.ReportMetric(float64(tm.Run.Milliseconds())/n, "run-ms/step")
}
