// Package mlp holds the small networks that control agents are made of: a
// tanh multi-layer perceptron with orthogonal initialisation, a categorical
// policy for discrete actions, a diagonal Gaussian policy for continuous
// actions, and a value net. Everything computes through an *ag.Tape on
// batches of observations (B, ObsDim) and exposes named parameters
// (nn.NamedParam) so that it saves to safetensors.
//
// Initialisation follows the PPO "implementation details" that cleanrl
// documents: orthogonal weights with gain √2 on hidden layers, 0.01 on the
// policy head and 1 on the value head, zero biases.
package mlp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"rlhf/ag"
	"rlhf/nn"
	"rlhf/tensor"
)

// Gains used by cleanrl's PPO for orthogonal initialisation.
var (
	// HiddenGain is the gain of hidden layers, √2.
	HiddenGain = math.Sqrt2
	// PolicyGain is the gain of a policy's output layer.
	PolicyGain = 0.01
	// ValueGain is the gain of a value head.
	ValueGain = 1.0
)

// Orthogonal returns a (rows, cols) matrix with orthonormal columns (if
// rows >= cols) or orthonormal rows (otherwise), scaled by gain. It is the
// Q factor of the QR decomposition of a standard normal matrix, with signs
// chosen so that R has a positive diagonal, which makes Q uniformly (Haar)
// distributed — what torch.nn.init.orthogonal_ draws. Q comes from modified
// Gram-Schmidt in float64.
func Orthogonal(r *rand.Rand, rows, cols int, gain float64) *tensor.Tensor {
	// Work on a tall n×m matrix (n >= m) column by column, transpose at the end if needed.
	n, m := rows, cols
	if n < m {
		n, m = m, n
	}
	a := make([][]float64, m) // columns of length n
	for j := range a {
		a[j] = make([]float64, n)
		for i := range a[j] {
			a[j][i] = r.NormFloat64()
		}
	}
	for j := 0; j < m; j++ {
		for k := 0; k < j; k++ {
			var dot float64
			for i := 0; i < n; i++ {
				dot += a[k][i] * a[j][i]
			}
			for i := 0; i < n; i++ {
				a[j][i] -= dot * a[k][i]
			}
		}
		var norm float64
		for _, v := range a[j] {
			norm += v * v
		}
		norm = math.Sqrt(norm)
		if norm < 1e-12 { // a degenerate draw (probability 0): fall back to a unit vector
			clear(a[j])
			a[j][j] = 1
			norm = 1
		}
		for i := range a[j] {
			a[j][i] /= norm
		}
	}
	t := tensor.New(rows, cols)
	for j := 0; j < m; j++ {
		for i := 0; i < n; i++ {
			v := float32(gain * a[j][i])
			if rows >= cols {
				t.Data[i*cols+j] = v
			} else {
				t.Data[j*cols+i] = v
			}
		}
	}
	return t
}

// MLP is a stack of Linear layers with tanh between them and no activation
// after the last.
type MLP struct {
	Layers []*nn.Linear // layer i maps Sizes[i] -> Sizes[i+1]
}

// New returns an MLP with the given layer sizes (input, hidden..., output):
// orthogonal weights with gain hiddenGain on every layer but the last, outGain
// on the last, and zero biases. It panics on fewer than two sizes or a
// non-positive size (programmer errors).
func New(r *rand.Rand, sizes []int, hiddenGain, outGain float64) *MLP {
	if len(sizes) < 2 {
		panic(fmt.Sprintf("mlp: need at least input and output sizes, got %v", sizes))
	}
	m := &MLP{}
	for i := 0; i+1 < len(sizes); i++ {
		in, out := sizes[i], sizes[i+1]
		if in <= 0 || out <= 0 {
			panic(fmt.Sprintf("mlp: non-positive layer size in %v", sizes))
		}
		gain := hiddenGain
		if i+2 == len(sizes) {
			gain = outGain
		}
		m.Layers = append(m.Layers, &nn.Linear{
			W: ag.NewParam(Orthogonal(r, in, out, gain)),
			B: ag.NewParam(tensor.New(out)),
		})
	}
	return m
}

// In is the input width.
func (m *MLP) In() int { return m.Layers[0].W.Value.Shape[0] }

// Out is the output width.
func (m *MLP) Out() int { return m.Layers[len(m.Layers)-1].W.Value.Shape[1] }

// Forward maps x (B, In) to (B, Out).
func (m *MLP) Forward(tp *ag.Tape, x *ag.Var) *ag.Var {
	for i, l := range m.Layers {
		x = l.Forward(tp, x)
		if i+1 < len(m.Layers) {
			x = tp.Tanh(x)
		}
	}
	return x
}

// Params returns prefix.<i>.weight and prefix.<i>.bias for each layer i, in order.
func (m *MLP) Params(prefix string) []nn.NamedParam {
	var ps []nn.NamedParam
	for i, l := range m.Layers {
		ps = append(ps, l.Params(prefix+"."+strconv.Itoa(i))...)
	}
	return ps
}

// Sizes returns the layer sizes (input, hidden..., output).
func (m *MLP) Sizes() []int {
	s := []int{m.In()}
	for _, l := range m.Layers {
		s = append(s, l.W.Value.Shape[1])
	}
	return s
}

func sizes(in int, hidden []int, out int) []int {
	return append(append([]int{in}, hidden...), out)
}

// Value is a state-value network V(s).
type Value struct {
	Net *MLP // (B, ObsDim) -> (B, 1)
}

// NewValue returns a value net with tanh hidden layers of the given widths and
// a head of gain ValueGain.
func NewValue(r *rand.Rand, obsDim int, hidden []int) *Value {
	return &Value{Net: New(r, sizes(obsDim, hidden, 1), HiddenGain, ValueGain)}
}

// Forward maps obs (B, ObsDim) to values (B).
func (v *Value) Forward(tp *ag.Tape, obs *ag.Var) *ag.Var {
	out := v.Net.Forward(tp, obs)
	return tp.Reshape(out, out.Shape()[0])
}

// Params returns the net's parameters under prefix (e.g. "critic").
func (v *Value) Params(prefix string) []nn.NamedParam { return v.Net.Params(prefix) }
