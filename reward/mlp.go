package reward

import (
	"fmt"
	"math"
	"math/rand/v2"

	"rlhf/ag"
	"rlhf/nn"
	"rlhf/tensor"
)

// MLP is a per-step reward network for control, r(obs, action) -> scalar:
// Linear layers with leaky-ReLU activations between them (Christiano et al.
// 2017 use two hidden layers of 64 units and slope 0.01 for MuJoCo).
type MLP struct {
	Layers []*nn.Linear // fc.0 (In, H1), fc.1 (H1, H2), ..., last (Hn, 1)
	Slope  float32      // leaky-ReLU slope for negative inputs
}

// NewMLP returns an MLP from in features through the hidden widths to one
// output. Hidden weights are drawn from N(0, 2/fan_in) (He), the output
// layer's from N(0, 1/fan_in); biases start at 0.
func NewMLP(r *rand.Rand, in int, hidden []int, slope float32) *MLP {
	m := &MLP{Slope: slope}
	widths := append(append([]int{in}, hidden...), 1)
	for i := 0; i+1 < len(widths); i++ {
		gain := 2.0
		if i+2 == len(widths) {
			// A small output layer starts every segment's summed reward
			// near 0, so the choice model begins unsaturated.
			gain = outGain
		}
		std := float32(math.Sqrt(gain / float64(widths[i])))
		m.Layers = append(m.Layers, nn.NewLinear(r, widths[i], widths[i+1], std, true))
	}
	return m
}

// outGain is the variance gain of the output layer's initial weights.
const outGain = 0.01

// In returns the number of input features.
func (m *MLP) In() int { return m.Layers[0].W.Value.Shape[0] }

// Forward maps step features x (S, In) to per-step rewards (S).
func (m *MLP) Forward(tp *ag.Tape, x *ag.Var) *ag.Var {
	h := x
	for i, l := range m.Layers {
		h = l.Forward(tp, h)
		if i+1 < len(m.Layers) {
			h = m.leaky(tp, h)
		}
	}
	return tp.Reshape(h, -1)
}

// leaky returns the leaky ReLU max(h, slope·h) for 0 <= slope < 1.
func (m *MLP) leaky(tp *ag.Tape, h *ag.Var) *ag.Var {
	if m.Slope == 0 {
		return tp.ReLU(h)
	}
	return tp.LeakyReLU(h, m.Slope)
}

// Params returns fc.<i>.weight and fc.<i>.bias for each layer.
func (m *MLP) Params() []nn.NamedParam {
	var ps []nn.NamedParam
	for i, l := range m.Layers {
		ps = append(ps, l.Params(fmt.Sprintf("fc.%d", i))...)
	}
	return ps
}

// Steps is a batch of segments for the MLP: the features of all their steps
// stacked, and where each segment begins.
type Steps struct {
	X *tensor.Tensor // (S, In): per step, observation then action encoding
	// Offsets (N+1) bound the segments: segment n is rows Offsets[n] to
	// Offsets[n+1]-1 of X, so Offsets[0] = 0 and Offsets[N] = S.
	Offsets []int
}

// Score returns each segment's summed predicted reward: (N).
func (m *MLP) Score(tp *ag.Tape, b *Steps) *ag.Var {
	n := len(b.Offsets) - 1
	if n < 0 || b.Offsets[0] != 0 || b.Offsets[n] != b.X.Shape[0] {
		panic(fmt.Sprintf("reward: Steps offsets %v for %v features", b.Offsets, b.X.Shape))
	}
	r := m.Forward(tp, ag.Const(b.X)) // (S)
	return SegmentSums(tp, r, b.Offsets)
}

// SegmentSums sums per-step values r (S) over the segments that offsets
// (N+1) bound: (N). Equal-length segments take a reshape and a sum; ragged
// ones a product with a 0/1 selection matrix (N, S).
func SegmentSums(tp *ag.Tape, r *ag.Var, offsets []int) *ag.Var {
	n, s := len(offsets)-1, r.Value.Len()
	if n == 0 {
		return tp.Reshape(tp.Scale(tp.SumAll(r), 0), 0)
	}
	if l := offsets[1]; l > 0 && l*n == s {
		equal := true
		for i := range offsets {
			if offsets[i] != i*l {
				equal = false
				break
			}
		}
		if equal {
			return tp.Sum(tp.Reshape(r, n, l), 1, false)
		}
	}
	sel := tensor.New(n, s)
	for i := 0; i < n; i++ {
		for j := offsets[i]; j < offsets[i+1]; j++ {
			sel.Data[i*s+j] = 1
		}
	}
	return tp.Reshape(tp.MatMul(ag.Const(sel), tp.Reshape(r, s, 1), false, false), n)
}
