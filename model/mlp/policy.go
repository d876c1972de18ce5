package mlp

import (
	"fmt"
	"math"
	"math/rand/v2"

	"rlhf/ag"
	"rlhf/nn"
	"rlhf/tensor"
)

// halfLog2Pi is ½·log(2π), the per-dimension constant of a Gaussian log-density.
var halfLog2Pi = 0.5 * math.Log(2*math.Pi)

// Policy is a stochastic policy π(a|s) over a batch of observations.
//
// Actions are float32 rows (B, ActDim) in the policy's own space: the
// category index for a categorical policy, the unclipped sample for a
// Gaussian one. EnvActions maps them to what the environment is sent.
type Policy interface {
	// LogProb returns log π(a|s) (B) for obs (B, ObsDim) and actions
	// (B, ActDim), and the entropy of π(·|s): (B), or (1) when it does not
	// depend on the state. Gradients flow to the policy's parameters.
	LogProb(tp *ag.Tape, obs *ag.Var, actions *tensor.Tensor) (logp, entropy *ag.Var)
	// Sample draws one action per row of obs (B, ObsDim) using r, or takes
	// the most likely action when greedy, and returns the actions (B, ActDim)
	// and their log-probabilities (B). Run it on a no-grad tape; the results
	// are fresh and survive a Reset of tp.
	Sample(tp *ag.Tape, r *rand.Rand, obs *ag.Var, greedy bool) (actions *tensor.Tensor, logp []float32)
	// EnvActions writes the environment actions for actions (B, ActDim) into
	// dst (B·ActDim): category indices, or samples clipped to the action box.
	EnvActions(actions *tensor.Tensor, dst []float64)
	// ActDim is the width of an action row (1 for categorical policies).
	ActDim() int
	// Params returns the named parameters ("actor.*").
	Params() []nn.NamedParam
}

// Categorical is a policy over n discrete actions with logits from an MLP.
type Categorical struct {
	Net *MLP // (B, ObsDim) -> logits (B, n)
}

// NewCategorical returns a categorical policy over n actions with tanh hidden
// layers of the given widths and an output layer of gain PolicyGain.
func NewCategorical(r *rand.Rand, obsDim int, hidden []int, n int) *Categorical {
	return &Categorical{Net: New(r, sizes(obsDim, hidden, n), HiddenGain, PolicyGain)}
}

// Logits maps obs (B, ObsDim) to logits (B, n).
func (c *Categorical) Logits(tp *ag.Tape, obs *ag.Var) *ag.Var { return c.Net.Forward(tp, obs) }

// LogProb implements Policy: log-softmax picked at the action index; the
// entropy is -Σ p·log p per row (B).
func (c *Categorical) LogProb(tp *ag.Tape, obs *ag.Var, actions *tensor.Tensor) (*ag.Var, *ag.Var) {
	lp := tp.LogSoftmax(c.Logits(tp, obs)) // (B, n)
	b := lp.Shape()[0]
	if actions.Len() != b {
		panic(fmt.Sprintf("mlp: categorical LogProb with %d actions for %d observations", actions.Len(), b))
	}
	idx := make([]int, b)
	for i, a := range actions.Data {
		idx[i] = int(a)
	}
	logp := tp.TakeAlongLast(lp, idx)                        // (B)
	ent := tp.Neg(tp.Sum(tp.Mul(tp.Exp(lp), lp), -1, false)) // (B)
	return logp, ent
}

// Sample implements Policy by inverse-CDF sampling of softmax(logits), or argmax when greedy.
func (c *Categorical) Sample(tp *ag.Tape, r *rand.Rand, obs *ag.Var, greedy bool) (*tensor.Tensor, []float32) {
	lp := tp.LogSoftmax(c.Logits(tp, obs)) // (B, n)
	b, n := lp.Shape()[0], lp.Shape()[1]
	acts := tensor.New(b, 1)
	logp := make([]float32, b)
	for i := 0; i < b; i++ {
		row := lp.Data()[i*n : (i+1)*n]
		k := 0
		if greedy {
			for j, v := range row {
				if v > row[k] {
					k = j
				}
			}
		} else {
			u := r.Float64()
			k = n - 1 // rounding can leave u above the last partial sum
			var cum float64
			for j, v := range row {
				cum += math.Exp(float64(v))
				if u < cum {
					k = j
					break
				}
			}
		}
		acts.Data[i] = float32(k)
		logp[i] = row[k]
	}
	return acts, logp
}

// EnvActions implements Policy: the category indices.
func (c *Categorical) EnvActions(actions *tensor.Tensor, dst []float64) {
	for i, a := range actions.Data {
		dst[i] = float64(a)
	}
}

// ActDim implements Policy; it is 1.
func (c *Categorical) ActDim() int { return 1 }

// Params implements Policy: actor.<i>.weight, actor.<i>.bias.
func (c *Categorical) Params() []nn.NamedParam { return c.Net.Params("actor") }

// Gaussian is a diagonal Gaussian policy: the mean comes from an MLP, the log
// standard deviation is a state-independent parameter (cleanrl's
// actor_logstd). Samples are unbounded; EnvActions clips them to the action
// box, while log-probabilities are those of the unclipped sample.
type Gaussian struct {
	Mean      *MLP    // (B, ObsDim) -> (B, A)
	LogStd    *ag.Var // (A), initialised to 0
	Low, High []float64
}

// NewGaussian returns a Gaussian policy for the action box [low, high] with
// tanh hidden layers of the given widths, a mean head of gain PolicyGain and
// log-std 0.
func NewGaussian(r *rand.Rand, obsDim int, hidden []int, low, high []float64) *Gaussian {
	if len(low) != len(high) || len(low) == 0 {
		panic(fmt.Sprintf("mlp: Gaussian action box low %v high %v", low, high))
	}
	a := len(low)
	return &Gaussian{
		Mean:   New(r, sizes(obsDim, hidden, a), HiddenGain, PolicyGain),
		LogStd: ag.NewParam(tensor.New(a)),
		Low:    append([]float64(nil), low...),
		High:   append([]float64(nil), high...),
	}
}

// LogProb implements Policy:
//
//	log π(a|s) = Σ_j -½((a_j-μ_j)/σ_j)² - log σ_j - ½log 2π,   entropy = Σ_j log σ_j + ½(1 + log 2π)  (1).
func (g *Gaussian) LogProb(tp *ag.Tape, obs *ag.Var, actions *tensor.Tensor) (*ag.Var, *ag.Var) {
	return g.logProb(tp, g.Mean.Forward(tp, obs), actions)
}

// logProb is LogProb given the means mu (B, A).
func (g *Gaussian) logProb(tp *ag.Tape, mu *ag.Var, actions *tensor.Tensor) (*ag.Var, *ag.Var) {
	if !tensor.SameShape(actions.Shape, mu.Shape()) {
		panic(fmt.Sprintf("mlp: Gaussian LogProb with actions %v for means %v", actions.Shape, mu.Shape()))
	}
	a := float32(len(g.Low))
	z := tp.Mul(tp.Sub(ag.Const(actions), mu), tp.Exp(tp.Neg(g.LogStd)))       // (B, A)
	sumLogStd := tp.SumAll(g.LogStd)                                           // (1)
	logp := tp.Sub(tp.Sum(tp.Scale(tp.Square(z), -0.5), -1, false), sumLogStd) // (B)
	logp = tp.AddScalar(logp, -a*float32(halfLog2Pi))                          // (B)
	ent := tp.AddScalar(sumLogStd, a*float32(0.5+halfLog2Pi))                  // (1)
	return logp, ent
}

// Sample implements Policy: μ + σ·ε with ε ~ N(0, I), or μ when greedy.
func (g *Gaussian) Sample(tp *ag.Tape, r *rand.Rand, obs *ag.Var, greedy bool) (*tensor.Tensor, []float32) {
	mu := g.Mean.Forward(tp, obs) // (B, A)
	acts := mu.Value.Clone()
	na := len(g.Low)
	if !greedy {
		for i := range acts.Data {
			std := math.Exp(float64(g.LogStd.Value.Data[i%na]))
			acts.Data[i] += float32(std * r.NormFloat64())
		}
	}
	logp, _ := g.logProb(tp, mu, acts)
	return acts, append([]float32(nil), logp.Data()...)
}

// EnvActions implements Policy: the samples clipped to [Low, High].
func (g *Gaussian) EnvActions(actions *tensor.Tensor, dst []float64) {
	na := len(g.Low)
	for i, a := range actions.Data {
		dst[i] = min(max(float64(a), g.Low[i%na]), g.High[i%na])
	}
}

// ActDim implements Policy.
func (g *Gaussian) ActDim() int { return len(g.Low) }

// Params implements Policy: actor_mean.<i>.* then actor_logstd.
func (g *Gaussian) Params() []nn.NamedParam {
	return append(g.Mean.Params("actor_mean"), nn.NamedParam{Name: "actor_logstd", P: g.LogStd})
}
