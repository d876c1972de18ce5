package nn_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"rlhf/ag"
	"rlhf/nn"
	"rlhf/tensor"
)

// gptReference is testdata/gpt_reference.json, written by
// testdata/gen_gpt_reference.py (PyTorch, float64).
type gptReference struct {
	Config  nn.GPTConfig
	Batch   int
	Seq     int
	Ignore  int
	IDs     []int
	Targets []int
	Loss    float64
	Logits  []float64
	Params  map[string]struct {
		Shape []int
		Value []float64
		Grad  []float64
	}
}

// The GPT's logits, loss and every parameter gradient equal PyTorch's
// float64 computation of the same network: max |Δ| <= 2e-5 for logits and
// loss, and <= 1e-6 + 1e-4·max|grad| per gradient tensor (float32 rounding
// through two blocks gives ~6e-7 relative).
func TestGPTMatchesPyTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/gpt_reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref gptReference
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	m, err := nn.NewGPT(ref.Config, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	ps := m.Params()
	if len(ps) != len(ref.Params) {
		t.Fatalf("model has %d parameters, reference %d", len(ps), len(ref.Params))
	}
	for _, p := range ps {
		rp, ok := ref.Params[p.Name]
		if !ok {
			t.Fatalf("reference lacks %s", p.Name)
		}
		if !tensor.SameShape(rp.Shape, p.P.Value.Shape) {
			t.Fatalf("%s: shape %v, reference %v", p.Name, p.P.Value.Shape, rp.Shape)
		}
		for i, v := range rp.Value {
			p.P.Value.Data[i] = float32(v)
		}
	}
	tp := ag.NewTape()
	logits := m.Forward(tp, ref.IDs, ref.Batch, ref.Seq)
	for i, v := range ref.Logits {
		if d := math.Abs(float64(logits.Value.Data[i]) - v); d > 2e-5 {
			t.Fatalf("logit %d = %g, PyTorch %g", i, logits.Value.Data[i], v)
		}
	}
	tp.Reset()
	loss := m.Loss(tp, ref.IDs, ref.Targets, ref.Batch, ref.Seq, ref.Ignore)
	if d := math.Abs(float64(loss.Item()) - ref.Loss); d > 2e-5 {
		t.Errorf("loss %g, PyTorch %g", loss.Item(), ref.Loss)
	}
	tp.Backward(loss)
	worstAll := 0.0
	for _, p := range ps {
		g := ref.Params[p.Name].Grad
		scale := 0.0
		for _, v := range g {
			scale = math.Max(scale, math.Abs(v))
		}
		worst := 0.0
		for i, v := range g {
			worst = math.Max(worst, math.Abs(float64(p.P.Grad.Data[i])-v))
		}
		worstAll = math.Max(worstAll, worst/scale)
		if worst > 1e-6+1e-4*scale {
			t.Errorf("%s: gradient differs by %g (max |grad| %g)", p.Name, worst, scale)
		}
	}
	t.Logf("loss %g vs %g; worst gradient difference relative to its tensor's max: %.2g", loss.Item(), ref.Loss, worstAll)
}
