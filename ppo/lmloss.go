package ppo

import (
	"fmt"
	"math"
)

// KLController holds β, the weight of the KL penalty of token-level PPO.
// With Target = 0 β stays fixed. Otherwise it follows the proportional
// controller of Ziegler et al. 2019 (section 2.2), in the form of their
// code (lm-human-preferences) and TRL:
//
//	e = clip(KL/Target - 1, -0.2, 0.2)
//	β ← β·(1 + e·n/Horizon)
//
// after each batch of n episodes whose mean KL (nats per completion) was KL.
// The paper writes the gain as K_β (0.1); the code's n/Horizon is that gain
// spread over Horizon episodes, so that β can change by at most 20% per
// Horizon episodes and the controller ignores the noise of a single batch.
//
// Because log β moves by an amount proportional to the error, β is the
// integral of the error over time: when the policy moves slowly at first,
// β drifts down for as long as the KL stays below the target, and once the
// policy moves β needs as long again to come back, so the KL overshoots.
// Gain > 0 adds a term that answers at once: the β used is
//
//	β = β_I · (KL/Target)^Gain,   KL/Target clipped to [1/e, e]
//
// where β_I (Base) follows the update above. With Gain 1 a batch at twice
// the target doubles the penalty of the next batch; as the KL returns to
// the target the factor returns to 1. The term has no memory, so it adds
// no drift of its own.
type KLController struct {
	Value   float64 `json:"value"`   // β now
	Target  float64 `json:"target"`  // KL target in nats; 0: fixed β
	Horizon float64 `json:"horizon"` // episodes over which β changes by at most 20%
	// Min is the lowest β the adaptive controller goes to (0: none). A
	// policy that moves slowly at first lets β fall far below what holds
	// the KL once it moves; a floor keeps β within reach.
	Min float64 `json:"min,omitempty"`
	// Gain is the exponent of the immediate term (0: none, Ziegler et
	// al.'s controller alone).
	Gain float64 `json:"gain,omitempty"`
	// Base is β_I, the slowly adapted part of β when Gain > 0 (0 before
	// the first update: it starts at Value).
	Base float64 `json:"base,omitempty"`
}

// Update moves β after a batch of n episodes with mean KL kl and returns
// the new β. A fixed controller ignores it; so does an adaptive one for a
// non-finite kl (a broken batch must not wreck β).
func (c *KLController) Update(kl float64, n int) float64 {
	if c.Target <= 0 || math.IsNaN(kl) || math.IsInf(kl, 0) || n <= 0 {
		return c.Value
	}
	e := min(max(kl/c.Target-1, -0.2), 0.2)
	if c.Gain <= 0 {
		c.Value = max(c.Value*(1+e*float64(n)/c.Horizon), c.Min)
		return c.Value
	}
	if c.Base == 0 {
		c.Base = c.Value
	}
	c.Base = max(c.Base*(1+e*float64(n)/c.Horizon), c.Min)
	r := min(max(kl/c.Target, 1/math.E), math.E) // kl <= 0 gives 1/e
	c.Value = max(c.Base*math.Pow(r, c.Gain), c.Min)
	return c.Value
}

// Slow returns β_I, the slowly adapted part of β: Base with a gain (Value
// before the first update), Value without one.
func (c KLController) Slow() float64 {
	if c.Gain > 0 && c.Base > 0 {
		return c.Base
	}
	return c.Value
}

// TokenRewards returns the per-token rewards of one completion of n tokens:
// r_t = -β·(logp_t - refLogp_t) at every token, plus score at the last, and
// the KL estimate Σ_t (logp_t - refLogp_t) of the completion (nats). logp
// are the log-probabilities of the sampled tokens under the policy that
// sampled them, refLogp under the frozen reference. An empty completion
// gets no rewards and KL 0.
func TokenRewards(logp, refLogp []float32, score, beta float64) (rewards []float32, kl float64) {
	if len(logp) != len(refLogp) {
		panic(fmt.Sprintf("ppo: token rewards of %d log-probs and %d reference log-probs", len(logp), len(refLogp)))
	}
	rewards = make([]float32, len(logp))
	for t := range logp {
		d := float64(logp[t]) - float64(refLogp[t])
		kl += d
		rewards[t] = float32(-beta * d)
	}
	if n := len(rewards); n > 0 {
		rewards[n-1] += float32(score)
	}
	return rewards, kl
}

// LeaveOneOut returns REINFORCE leave-one-out advantages: rewards[i] are
// episode i's per-token rewards, and episodes come in consecutive groups of
// k completions of one prompt (len(rewards) a multiple of k >= 2). Episode
// i's return R_i is the sum of its rewards; its advantage, at every one of
// its tokens, is R_i minus the mean return of the other k-1 episodes of its
// group.
func LeaveOneOut(rewards [][]float32, k int) [][]float32 {
	if k < 2 || len(rewards)%k != 0 {
		panic(fmt.Sprintf("ppo: leave-one-out over %d episodes in groups of %d", len(rewards), k))
	}
	ret := make([]float64, len(rewards))
	for i, r := range rewards {
		for _, x := range r {
			ret[i] += float64(x)
		}
	}
	adv := make([][]float32, len(rewards))
	for g := 0; g < len(rewards); g += k {
		var sum float64
		for _, r := range ret[g : g+k] {
			sum += r
		}
		for i := g; i < g+k; i++ {
			a := float32(ret[i] - (sum-ret[i])/float64(k-1))
			adv[i] = make([]float32, len(rewards[i]))
			for t := range adv[i] {
				adv[i][t] = a
			}
		}
	}
	return adv
}

// GroupNormalized returns GRPO's advantages (Shao et al. 2024, outcome
// supervision): scores come in consecutive groups of k >= 2 completions of
// one prompt (len(scores) a multiple of k), and completion i's advantage,
// at every one of its n[i] tokens, is its score minus the mean of its
// group, divided by the group's standard deviation (k-1 in its
// denominator) plus 1e-4, so that a group of equal scores teaches nothing.
// With meanOnly the division is left out.
func GroupNormalized(scores []float64, n []int, k int, meanOnly bool) [][]float32 {
	if k < 2 || len(scores)%k != 0 || len(n) != len(scores) {
		panic(fmt.Sprintf("ppo: group-normalised advantages of %d scores (%d lengths) in groups of %d", len(scores), len(n), k))
	}
	adv := make([][]float32, len(scores))
	for g := 0; g < len(scores); g += k {
		var mean, ss float64
		for _, s := range scores[g : g+k] {
			mean += s
		}
		mean /= float64(k)
		for _, s := range scores[g : g+k] {
			ss += (s - mean) * (s - mean)
		}
		scale := 1 / (math.Sqrt(ss/float64(k-1)) + 1e-4)
		if meanOnly {
			scale = 1
		}
		for i := g; i < g+k; i++ {
			a := float32((scores[i] - mean) * scale)
			adv[i] = make([]float32, n[i])
			for t := range adv[i] {
				adv[i][t] = a
			}
		}
	}
	return adv
}

// TokenGAE runs GAE(γ, λ) over episodes of different lengths: rewards[i]
// and values[i] are episode i's per-token rewards and values V(s_t) (the
// value of the prefix before token t). Each episode ends after its last
// token (the value after it is 0). It returns advantages and returns
// (advantages + values) shaped like the inputs.
func TokenGAE(rewards, values [][]float32, gamma, lambda float64) (adv, returns [][]float32) {
	if len(rewards) != len(values) {
		panic(fmt.Sprintf("ppo: token GAE of %d reward rows and %d value rows", len(rewards), len(values)))
	}
	n := len(rewards)
	T := 0
	for i := range rewards {
		if len(rewards[i]) != len(values[i]) {
			panic(fmt.Sprintf("ppo: token GAE row %d has %d rewards and %d values", i, len(rewards[i]), len(values[i])))
		}
		T = max(T, len(rewards[i]))
	}
	adv = make([][]float32, n)
	returns = make([][]float32, n)
	if T == 0 || n == 0 {
		for i := range adv {
			adv[i], returns[i] = []float32{}, []float32{}
		}
		return adv, returns
	}
	// Lay the episodes out time-major (T, n) for GAE; positions past an
	// episode's end are terminal no-ops with zero reward and value.
	r := make([]float32, T*n)
	v := make([]float32, T*n)
	next := make([]float32, T*n)
	term := make([]bool, T*n)
	for i := range rewards {
		L := len(rewards[i])
		for t := range T {
			k := t*n + i
			if t >= L {
				term[k] = true
				continue
			}
			r[k], v[k] = rewards[i][t], values[i][t]
			if t+1 < L {
				next[k] = values[i][t+1]
			} else {
				term[k] = true
			}
		}
	}
	a, ret := GAE(r, v, next, term, term, n, gamma, lambda)
	for i := range rewards {
		L := len(rewards[i])
		adv[i] = make([]float32, L)
		returns[i] = make([]float32, L)
		for t := range L {
			adv[i][t], returns[i][t] = a[t*n+i], ret[t*n+i]
		}
	}
	return adv, returns
}

// WhitenRows normalises the values of every row together to mean 0 and
// standard deviation 1 (NormalizeAdvantages over the concatenation), in place.
func WhitenRows(rows [][]float32) {
	var flat []float32
	for _, r := range rows {
		flat = append(flat, r...)
	}
	NormalizeAdvantages(flat)
	k := 0
	for _, r := range rows {
		k += copy(r, flat[k:k+len(r)])
	}
}
