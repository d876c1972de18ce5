package reward

import (
	"fmt"
	"math"
	"time"

	"rlhf/ag"
	"rlhf/feedback"
	"rlhf/tensor"
)

// Reward returns the ensemble's per-step reward for each (obs[i], act[i]):
// the mean over members of their normalised predictions. It is the reward a
// policy trainer optimises. Actions are as the environment takes them
// ([index] for a discrete space). Rows of the wrong length or discrete
// actions out of range are a programmer error and panic.
func (e *Ensemble) Reward(obs, act [][]float64) []float64 {
	if len(obs) != len(act) {
		panic(fmt.Sprintf("reward: Reward of %d observations with %d actions", len(obs), len(act)))
	}
	x := e.features(len(obs))
	in := e.Config.InDim()
	for i := range obs {
		if err := e.encodeStep(x.Data[i*in:(i+1)*in], obs[i], act[i]); err != nil {
			panic(fmt.Sprintf("reward: Reward step %d: %v", i, err))
		}
	}
	return e.rewardOf(x, nil)
}

// RewardFlat is Reward over row-major batches: obs (N·ObsDim) and act
// (N·ActWidth). It writes the N rewards into dst when it has room and
// returns them.
func (e *Ensemble) RewardFlat(dst, obs, act []float64) []float64 {
	od, aw, in := e.Config.ObsDim, e.Config.ActWidth(), e.Config.InDim()
	n := len(obs) / od
	if n*od != len(obs) || n*aw != len(act) {
		panic(fmt.Sprintf("reward: RewardFlat of %d observation and %d action values (dims %d, %d)", len(obs), len(act), od, aw))
	}
	x := e.features(n)
	for i := 0; i < n; i++ {
		if err := e.encodeStep(x.Data[i*in:(i+1)*in], obs[i*od:(i+1)*od], act[i*aw:(i+1)*aw]); err != nil {
			panic(fmt.Sprintf("reward: RewardFlat step %d: %v", i, err))
		}
	}
	return e.rewardOf(x, dst)
}

// features returns the reusable input buffer viewed as (n, In).
func (e *Ensemble) features(n int) *tensor.Tensor {
	in := e.Config.InDim()
	if cap(e.xbuf) < n*in {
		e.xbuf = make([]float32, n*in)
	}
	return tensor.FromSlice(e.xbuf[:n*in], n, in)
}

// rewardOf runs every member once over x (N, In) on the no-grad tape and
// averages the normalised outputs: Σ_m (r_m - Mean_m) / (Std_m · M).
func (e *Ensemble) rewardOf(x *tensor.Tensor, dst []float64) []float64 {
	tp := e.eval
	defer tp.Reset()
	in := ag.Const(x)
	var sum *ag.Var
	k := float32(len(e.Members))
	for _, mem := range e.Members {
		r := tp.Scale(tp.AddScalar(mem.Net.Forward(tp, in), float32(-mem.Mean)), 1/(float32(mem.Std)*k))
		if sum == nil {
			sum = r
		} else {
			sum = tp.Add(sum, r)
		}
	}
	n := x.Shape[0]
	if cap(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	for i, v := range sum.Data() {
		dst[i] = float64(v)
	}
	return dst
}

// MemberRewards returns each member's normalised per-step reward,
// [member][step], for the same inputs as Reward.
func (e *Ensemble) MemberRewards(obs, act [][]float64) [][]float64 {
	if len(obs) != len(act) {
		panic(fmt.Sprintf("reward: MemberRewards of %d observations with %d actions", len(obs), len(act)))
	}
	x := e.features(len(obs))
	in := e.Config.InDim()
	for i := range obs {
		if err := e.encodeStep(x.Data[i*in:(i+1)*in], obs[i], act[i]); err != nil {
			panic(fmt.Sprintf("reward: MemberRewards step %d: %v", i, err))
		}
	}
	out := make([][]float64, len(e.Members))
	for m, mem := range e.Members {
		r := mem.Net.Forward(e.eval, ag.Const(x)).Data()
		out[m] = make([]float64, len(r))
		for i, v := range r {
			out[m][i] = (float64(v) - mem.Mean) / mem.Std
		}
		e.eval.Reset()
	}
	return out
}

// Correlation returns the Pearson correlation between the ensemble's reward
// and the true per-step rewards trueR over the given steps: how well the
// learned reward tracks the real one, up to scale and shift.
func (e *Ensemble) Correlation(obs, act [][]float64, trueR []float64) float64 {
	return Pearson(e.Reward(obs, act), trueR)
}

// Disagreements returns, for each control query, how much the members
// disagree on its outcome: the variance across members of the predicted
// probability that each item is preferred (softmax of the members' normalised
// segment returns), averaged over the items. For a pair that is the variance
// of P(first preferred), the criterion Christiano et al. 2017 select queries
// by; use it with feedback.SelectActive.
func (e *Ensemble) Disagreements(qs []feedback.Query) ([]float64, error) {
	var segs []encoded
	for _, q := range qs {
		if len(q.Items) < 2 {
			return nil, fmt.Errorf("reward: disagreement of query %s: %d items, want >= 2", q.ID, len(q.Items))
		}
		for j, it := range q.Items {
			if it.Segment == nil {
				return nil, fmt.Errorf("reward: disagreement of query %s: item %d has no segment", q.ID, j)
			}
			enc, err := e.encodeSegment(it.Segment)
			if err != nil {
				return nil, fmt.Errorf("reward: disagreement of query %s item %d: %w", q.ID, j, err)
			}
			segs = append(segs, enc)
		}
	}
	sums := make([][]float64, len(e.Members))
	for lo := 0; lo < len(segs); {
		hi, rows := lo, 0
		for hi < len(segs) && (hi == lo || rows < chunkRows) {
			rows += segs[hi].t
			hi++
		}
		part := e.segmentSums(segs[lo:hi], true)
		for m := range sums {
			sums[m] = append(sums[m], part[m]...)
		}
		lo = hi
	}
	out := make([]float64, len(qs))
	at := 0
	for n, q := range qs {
		k := len(q.Items)
		probs := make([][]float64, len(e.Members)) // [member][item]
		for m := range e.Members {
			probs[m] = feedback.Probs(sums[m][at:at+k], 1)
		}
		v := 0.0
		ps := make([]float64, len(e.Members))
		for i := 0; i < k; i++ {
			for m := range e.Members {
				ps[m] = probs[m][i]
			}
			v += feedback.Variance(ps)
		}
		out[n] = v / float64(k)
		at += k
	}
	return out, nil
}

// SelectActive returns the n candidate queries with the highest
// disagreement, highest first (see Disagreements and feedback.SelectActive).
func (e *Ensemble) SelectActive(cands []feedback.Query, n int) ([]feedback.Query, error) {
	d, err := e.Disagreements(cands)
	if err != nil {
		return nil, err
	}
	idx := make([]int, len(cands))
	for i := range idx {
		idx[i] = i
	}
	idx = feedback.SelectActive(idx, n, func(i int) float64 { return d[i] })
	out := make([]feedback.Query, len(idx))
	for k, i := range idx {
		out[k] = cands[i]
	}
	return out, nil
}

// SetReference fixes the steps the members are normalised over (typically
// recent steps of the current policy) and renormalises now. Without it, the
// reference set is the RefSteps most recent labelled steps.
func (e *Ensemble) SetReference(obs, act [][]float64) error {
	if len(obs) != len(act) || len(obs) == 0 {
		return fmt.Errorf("reward: reference of %d observations and %d actions, want equal non-zero counts", len(obs), len(act))
	}
	in := e.Config.InDim()
	x := tensor.New(len(obs), in)
	for i := range obs {
		if err := e.encodeStep(x.Data[i*in:(i+1)*in], obs[i], act[i]); err != nil {
			return fmt.Errorf("reward: reference step %d: %w", i, err)
		}
	}
	e.ref = x
	e.renormalise()
	return nil
}

// reference returns the reference steps (R, In), or nil when there are none.
func (e *Ensemble) reference() *tensor.Tensor {
	if e.ref != nil {
		return e.ref
	}
	in := e.Config.InDim()
	var rows [][]float32
	n := 0
	for i := len(e.data) - 1; i >= 0 && n < e.Config.RefSteps; i-- {
		for _, it := range e.data[i].items {
			take := min(it.live, e.Config.RefSteps-n)
			rows = append(rows, it.x[:take*in])
			n += take
		}
	}
	if n == 0 {
		return nil
	}
	x := tensor.New(n, in)
	at := 0
	for _, r := range rows {
		copy(x.Data[at:], r)
		at += len(r)
	}
	return x
}

// renormalise sets each member's Mean and Std to those of its raw per-step
// reward over the reference steps (Std 1 when the output is constant).
func (e *Ensemble) renormalise() {
	defer func(start time.Time) { e.refTime += time.Since(start) }(time.Now())
	x := e.reference()
	if x == nil {
		return
	}
	for _, mem := range e.Members {
		r := mem.Net.Forward(e.eval, ag.Const(x)).Data()
		var s, ss float64
		for _, v := range r {
			s += float64(v)
		}
		mu := s / float64(len(r))
		for _, v := range r {
			d := float64(v) - mu
			ss += d * d
		}
		sd := math.Sqrt(ss / float64(len(r)))
		if !(sd > 1e-8) {
			sd = 1
		}
		mem.Mean, mem.Std = mu, sd
		e.eval.Reset()
	}
}
