package reward

import (
	"math/rand/v2"
	"testing"

	"rlhf/ag"
	"rlhf/feedback"
	"rlhf/nn"
	"rlhf/optim"
	"rlhf/tensor"
)

// bagModel scores a token sequence by the sum of learned per-token values:
// a stand-in for a language reward model, with a batch type of its own.
type bagModel struct{ table *nn.Embedding }

type bagBatch struct {
	ids     []int // all tokens, item after item
	offsets []int // item bounds, (N+1)
}

func (m *bagModel) Score(tp *ag.Tape, b *bagBatch) *ag.Var {
	v := tp.Reshape(m.table.Forward(tp, b.ids), -1) // (S)
	return SegmentSums(tp, v, b.offsets)
}

func (m *bagModel) Params() []nn.NamedParam { return m.table.Params("wte") }

// The generic training step fits a model with a non-control batch type on
// best-of-4 comparisons (Ziegler et al. 2019's setting).
func TestTrainStepGenericBestOfFour(t *testing.T) {
	const vocab, k, length = 20, 4, 6
	r := rand.New(rand.NewPCG(4, 5))
	truth := make([]float64, vocab)
	for i := range truth {
		truth[i] = r.NormFloat64()
	}
	sample := func(n int) (*bagBatch, []feedback.Choice, [][]float64) {
		b := &bagBatch{offsets: []int{0}}
		var choices []feedback.Choice
		var trueScores [][]float64
		for range n {
			best, bestS := 0, -1e9
			var ss []float64
			for i := range k {
				s := 0.0
				for range length {
					id := r.IntN(vocab)
					b.ids = append(b.ids, id)
					s += truth[id]
				}
				b.offsets = append(b.offsets, len(b.ids))
				if s > bestS {
					best, bestS = i, s
				}
				ss = append(ss, s)
			}
			choices = append(choices, feedback.Choice(best))
			trueScores = append(trueScores, ss)
		}
		return b, choices, trueScores
	}
	m := &bagModel{table: nn.NewEmbedding(r, vocab, 1, 0.01)}
	opt := optim.NewAdamW(m.Params(), optim.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	tp := ag.NewTape()
	evalB, evalC, _ := sample(200)
	evalT, _ := Targets(evalC, k)
	evalLoss := func() float64 {
		l, _ := ComparisonLoss(ag.NewNoGradTape(), Model[*bagBatch](m), evalB, evalT, 0)
		return float64(l.Item())
	}
	before := evalLoss()
	for range 300 {
		b, c, _ := sample(16)
		tg, err := Targets(c, k)
		if err != nil {
			t.Fatal(err)
		}
		TrainStep(tp, Model[*bagBatch](m), opt, []Group[*bagBatch]{{Batch: b, Targets: tg}}, StepConfig{LR: 0.05, L2: 1e-4, ClipNorm: 5})
	}
	after := evalLoss()
	_, scores := ComparisonLoss(ag.NewNoGradTape(), Model[*bagBatch](m), evalB, evalT, 0)
	rows := make([][]float64, len(evalC))
	for n := range rows {
		for i := range k {
			rows[n] = append(rows[n], float64(scores.Data()[n*k+i]))
		}
	}
	acc := Evaluate(rows, evalC, 0).Accuracy
	t.Logf("best-of-4 loss %.3f -> %.3f, accuracy %.3f", before, after, acc)
	if !(after < 0.5*before) || acc < 0.8 {
		t.Errorf("loss %.3f -> %.3f, accuracy %.3f: want loss halved and accuracy >= 0.8", before, after, acc)
	}
	// The per-token values track the truth.
	learned := make([]float64, vocab)
	for i, v := range m.table.W.Value.Data {
		learned[i] = float64(v)
	}
	if c := Pearson(learned, truth); c < 0.9 {
		t.Errorf("learned token values correlate %.3f with the truth", c)
	}
}

// L2Penalty sums squares of weight matrices only.
func TestL2Penalty(t *testing.T) {
	w := ag.NewParam(tensor.FromSlice([]float32{1, 2, 3, 4}, 2, 2))
	b := ag.NewParam(tensor.FromSlice([]float32{10}, 1))
	tp := ag.NewTape()
	p := L2Penalty(tp, []nn.NamedParam{{Name: "w", P: w}, {Name: "b", P: b}}, 0.5)
	near(t, "penalty", float64(p.Item()), 0.5*30, 1e-6)
	tp.Backward(p)
	for i, v := range w.Value.Data {
		near(t, "grad", float64(w.Grad.Data[i]), float64(v), 1e-6)
	}
	if b.Grad != nil && b.Grad.Data[0] != 0 {
		t.Error("bias got an L2 gradient")
	}
}
