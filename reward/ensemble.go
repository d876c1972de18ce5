package reward

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"rlhf/ag"
	"rlhf/feedback"
	"rlhf/optim"
	"rlhf/tensor"
)

// Ensemble is the control reward model of Christiano et al. 2017: several
// MLPs r(obs, action), each trained on its own bootstrap resample of the
// labelled comparisons, normalised separately to mean 0 and standard
// deviation 1 over a reference set of steps, and averaged.
//
// Comparisons arrive incrementally through Add; Train continues from the
// current weights. A share ValFraction of the comparisons is held out for
// validation, the same for every member; each member's L2 coefficient is
// adjusted so that its validation loss stays between L2Low and L2High times
// its training loss. Everything random is determined by Config.Seed and, per
// comparison, its query id (its position when it has none), so a run that
// adds the same comparisons and trains the same way reproduces exactly, and a
// saved ensemble resumes where it stopped.
//
// Step features are standardised with a per-feature mean and standard
// deviation fitted on the labelled steps at the first Train and kept fixed
// afterwards (saved with the model, applied by Reward).
//
// An Ensemble is not safe for concurrent use.
type Ensemble struct {
	Config  Config
	Members []*Member

	data  []comparison
	ref   *tensor.Tensor // (R, In) reference steps from SetReference; nil: recent labelled steps
	train *ag.Tape
	eval  *ag.Tape
	xbuf  []float32
	steps int // optimisation steps each member has taken
	// inMean and inStd (In) standardise the step features: (x - mean) / std.
	// They are fitted on the labelled steps at the first Train and fixed
	// afterwards (saved with the model); nil before.
	inMean, inStd []float64
	// evalTime and refTime accumulate the time spent evaluating the stored
	// comparisons and renormalising over the reference steps, evaluated the
	// comparisons evaluated (benchmarks report them).
	evalTime, refTime time.Duration
	evaluated         int
}

// Member is one network of the ensemble with its optimiser, regularisation
// and normaliser.
type Member struct {
	Net *MLP
	Opt *optim.AdamW
	// L2 is the current coefficient of the L2 penalty.
	L2 float64
	// Mean and Std normalise the member's per-step reward: (r - Mean) / Std.
	Mean, Std float64
	// TrainLoss and ValLoss are the data losses last measured on the member's
	// bootstrap sample and on the validation split (NaN before measuring or
	// without a validation split).
	TrainLoss, ValLoss float64

	rng *rand.PCG // minibatch sampling
}

// comparison is one labelled comparison, encoded for training.
type comparison struct {
	items  []encoded
	target []float32 // (K) soft target
	choice feedback.Choice
	val    bool
	counts []uint8 // per member: copies in the member's bootstrap resample
}

// encoded is a segment as the features of its steps (L, In), row-major.
// Padding steps after a termination (env.Cut) are encoded like live ones,
// so live == t; the two are kept apart so that sums (over live rows) and
// normalisation (over all t steps) stay distinct.
type encoded struct {
	x    []float32
	t    int // segment length T
	live int // live steps L: the rows of x
}

// Seed salts that keep the random streams independent.
const (
	saltInit  = 0x9e3779b97f4a7c15
	saltBatch = 0xbf58476d1ce4e5b9
	saltSplit = 0x94d049bb133111eb
)

// NewEnsemble returns an untrained ensemble for cfg.
func NewEnsemble(cfg Config) (*Ensemble, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Hidden = append([]int(nil), cfg.Hidden...)
	e := &Ensemble{Config: cfg, train: ag.NewTape(), eval: ag.NewNoGradTape()}
	for m := 0; m < cfg.Members; m++ {
		r := rand.New(rand.NewPCG(cfg.Seed^saltInit, uint64(m)))
		net := NewMLP(r, cfg.InDim(), cfg.Hidden, float32(cfg.Slope))
		opt := optim.NewAdamW(net.Params(), optim.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
		e.Members = append(e.Members, &Member{
			Net: net, Opt: opt, L2: cfg.L2, Mean: 0, Std: 1,
			TrainLoss: math.NaN(), ValLoss: math.NaN(),
			rng: rand.NewPCG(cfg.Seed^saltBatch, uint64(m)),
		})
	}
	return e, nil
}

// Len returns the number of comparisons added, and how many of them are held
// out for validation.
func (e *Ensemble) Len() (total, val int) {
	for i := range e.data {
		if e.data[i].val {
			val++
		}
	}
	return len(e.data), val
}

// Steps returns the number of optimisation steps each member has taken.
func (e *Ensemble) Steps() int { return e.steps }

// Add appends labelled comparisons. Records whose choice gives no training
// target (CantTell, Skip) are dropped; it returns how many were kept. Every
// segment needs States and Actions of equal, non-zero length with the
// configured dimensions; on a malformed record nothing is added.
func (e *Ensemble) Add(recs ...feedback.ControlRecord) (int, error) {
	var add []comparison
	for i, r := range recs {
		k := len(r.Segments)
		t, ok := feedback.SoftTarget(r.Choice, k)
		if !ok {
			continue
		}
		c := comparison{choice: r.Choice, target: make([]float32, k)}
		for j, v := range t {
			c.target[j] = float32(v)
		}
		for j := range r.Segments {
			enc, err := e.encodeSegment(&r.Segments[j])
			if err != nil {
				return 0, fmt.Errorf("reward: add comparison %d (query %q) segment %d: %w", i, r.QueryID, j, err)
			}
			c.items = append(c.items, enc)
		}
		id := r.QueryID
		if id == "" {
			id = "#" + strconv.Itoa(len(e.data)+len(add))
		}
		e.split(&c, id)
		add = append(add, c)
	}
	e.data = append(e.data, add...)
	return len(add), nil
}

// AddLabeled adds one labelled control query (see Add); it returns whether
// the label gave a training target.
func (e *Ensemble) AddLabeled(q feedback.Query, l feedback.Label) (bool, error) {
	rec, ok := feedback.ControlRecordOf(q, l)
	if !ok {
		return false, nil
	}
	rec.QueryID = q.ID
	n, err := e.Add(rec)
	return n == 1, err
}

// split decides from the seed and the comparison's id whether it is held out,
// and otherwise how many copies of it each member's bootstrap resample holds:
// Poisson(1) counts, the online form of sampling |D| with replacement.
func (e *Ensemble) split(c *comparison, id string) {
	h := fnv.New64a()
	h.Write([]byte(id))
	r := rand.New(rand.NewPCG(e.Config.Seed^saltSplit, h.Sum64()))
	c.val = r.Float64() < e.Config.ValFraction
	c.counts = make([]uint8, e.Config.Members)
	if c.val {
		return
	}
	for m := range c.counts {
		c.counts[m] = poisson1(r)
	}
}

// poisson1 draws from Poisson(1) (Knuth's method), capped at 255.
func poisson1(r *rand.Rand) uint8 {
	limit, p := math.Exp(-1), 1.0
	k := 0
	for {
		p *= r.Float64()
		if p <= limit || k == 255 {
			return uint8(k)
		}
		k++
	}
}

// encodeSegment checks a segment and turns it into step features.
func (e *Ensemble) encodeSegment(s *feedback.Segment) (encoded, error) {
	t := len(s.States)
	if t == 0 || len(s.Actions) != t {
		return encoded{}, fmt.Errorf("want states and actions of equal non-zero length, got %d and %d", t, len(s.Actions))
	}
	in := e.Config.InDim()
	live := t
	x := make([]float32, live*in)
	for i := 0; i < t; i++ {
		dst := make([]float32, in)
		if i < live {
			dst = x[i*in : (i+1)*in]
		}
		if err := e.encodeStep(dst, s.States[i], s.Actions[i]); err != nil {
			return encoded{}, fmt.Errorf("step %d: %w", i, err)
		}
	}
	return encoded{x: x, t: t, live: live}, nil
}

// encodeStep writes obs followed by the action encoding (and the squared
// actions with SquaredActions) into dst (In), standardised once the input
// normaliser is fitted.
func (e *Ensemble) encodeStep(dst []float32, obs, act []float64) error {
	c := &e.Config
	if len(obs) != c.ObsDim {
		return fmt.Errorf("observation of length %d, want %d", len(obs), c.ObsDim)
	}
	if len(act) != c.ActWidth() {
		return fmt.Errorf("action of length %d, want %d", len(act), c.ActWidth())
	}
	for i, v := range obs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("observation %v is not finite", obs)
		}
		dst[i] = float32(v)
	}
	a := dst[c.ObsDim:]
	if c.Discrete > 0 {
		clear(a)
		k := act[0]
		if k != math.Trunc(k) || k < 0 || int(k) >= c.Discrete {
			return fmt.Errorf("discrete action %v not in 0..%d", k, c.Discrete-1)
		}
		a[int(k)] = 1
	} else {
		for i, v := range act {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("action %v is not finite", act)
			}
			a[i] = float32(v)
			if c.SquaredActions {
				a[len(act)+i] = float32(v * v)
			}
		}
	}
	e.standardise(dst)
	return nil
}

// standardise applies the input normaliser, when fitted, to features x
// (n·In) in place.
func (e *Ensemble) standardise(x []float32) {
	if e.inMean == nil {
		return
	}
	in := len(e.inMean)
	for i := range x {
		j := i % in
		x[i] = float32((float64(x[i]) - e.inMean[j]) / e.inStd[j])
	}
}

// minInStd floors a feature's standard deviation in the input normaliser, so
// that features constant over the labelled steps stay near their raw scale.
const minInStd = 1e-3

// fitInputs fits the input normaliser to the mean and standard deviation of
// every labelled step's features and standardises the stored comparisons
// (and a reference set from SetReference) with it. Raw observations can
// differ in scale by orders of magnitude (Reacher's joint velocities reach
// ±20 while its positions stay within ±0.2); without it the first layer is
// dominated by the largest features and the summed segment rewards saturate
// the choice model.
func (e *Ensemble) fitInputs() {
	in := e.Config.InDim()
	sum := make([]float64, in)
	sq := make([]float64, in)
	n := 0
	for i := range e.data {
		for _, it := range e.data[i].items {
			for k, v := range it.x {
				sum[k%in] += float64(v)
			}
			n += it.live
		}
	}
	if n == 0 {
		return
	}
	mean := make([]float64, in)
	for j := range mean {
		mean[j] = sum[j] / float64(n)
	}
	for i := range e.data {
		for _, it := range e.data[i].items {
			for k, v := range it.x {
				d := float64(v) - mean[k%in]
				sq[k%in] += d * d
			}
		}
	}
	std := make([]float64, in)
	for j := range std {
		std[j] = max(math.Sqrt(sq[j]/float64(n)), minInStd)
	}
	e.inMean, e.inStd = mean, std
	for i := range e.data {
		for _, it := range e.data[i].items {
			e.standardise(it.x)
		}
	}
	if e.ref != nil {
		e.standardise(e.ref.Data)
	}
}

// batchOf stacks the items of comparisons cs (all with K items) into one
// Steps batch, comparison-major, with targets (N, K).
func (e *Ensemble) batchOf(cs []*comparison) Group[*Steps] {
	in := e.Config.InDim()
	k := len(cs[0].items)
	offsets := []int{0}
	rows := 0
	for _, c := range cs {
		for _, it := range c.items {
			rows += it.live
			offsets = append(offsets, rows)
		}
	}
	x := tensor.New(rows, in)
	tg := tensor.New(len(cs), k)
	at := 0
	for n, c := range cs {
		for _, it := range c.items {
			copy(x.Data[at:], it.x)
			at += len(it.x)
		}
		copy(tg.Data[n*k:], c.target)
	}
	return Group[*Steps]{Batch: &Steps{X: x, Offsets: offsets}, Targets: tg}
}

// groups splits comparisons into batches by item count, keeping first-seen order.
func (e *Ensemble) groups(cs []*comparison) []Group[*Steps] {
	var order []int
	byK := map[int][]*comparison{}
	for _, c := range cs {
		k := len(c.items)
		if _, ok := byK[k]; !ok {
			order = append(order, k)
		}
		byK[k] = append(byK[k], c)
	}
	gs := make([]Group[*Steps], 0, len(order))
	for _, k := range order {
		gs = append(gs, e.batchOf(byK[k]))
	}
	return gs
}

// TrainStats reports the state of the ensemble after Train.
type TrainStats struct {
	Steps      int       // optimisation steps each member has taken in total
	Train, Val int       // comparisons in the training and validation split
	TrainLoss  []float64 // per member: data loss on its bootstrap resample
	ValLoss    []float64 // per member: data loss on the validation split (NaN without one)
	L2         []float64 // per member: L2 coefficient after adaptation
	// Held and Fit evaluate the ensemble's prediction (the mean of normalised
	// members) on the validation and the training split.
	Held, Fit Metrics
}

// Metrics returns the stats under TRL-style names: rm/loss and rm/val_loss
// (member means of the training and validation data loss), rm/accuracy and
// rm/margin (the ensemble on held-out comparisons; margin in normalised
// reward units), rm/train_accuracy, rm/l2 (member mean) and rm/comparisons.
// Values that are undefined (no validation split yet) are left out.
func (s TrainStats) Metrics() map[string]float64 {
	m := map[string]float64{
		"rm/loss":           mean(s.TrainLoss),
		"rm/val_loss":       mean(s.ValLoss),
		"rm/train_accuracy": s.Fit.Accuracy,
		"rm/l2":             mean(s.L2),
		"rm/comparisons":    float64(s.Train + s.Val),
	}
	if s.Held.Decided > 0 {
		m["rm/accuracy"] = s.Held.Accuracy
		m["rm/margin"] = s.Held.Margin
	}
	for k, v := range m {
		if math.IsNaN(v) {
			delete(m, k)
		}
	}
	return m
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// Train takes steps optimisation steps on each member, continuing from the
// current weights. Each member's L2 coefficient is adjusted whenever the
// total step count reaches a multiple of AdaptEvery, so training in several
// calls follows the same trajectory as in one. At the end it measures the
// members' training and validation losses and renormalises them over the
// reference set. A cancelled ctx stops training between steps; the ensemble
// stays usable and the error is ctx's. Training needs at least one
// comparison outside the validation split.
//
// Every comparison is evaluated once per L2 adjustment and once at the end
// (not again when the last step adjusted); the returned stats reuse that
// evaluation.
func (e *Ensemble) Train(ctx context.Context, steps int) (TrainStats, error) {
	var err error
	if ntrain, nval := e.Len(); ntrain == nval {
		err = fmt.Errorf("reward: train: no comparisons outside the validation split (%d held out)", nval)
		return e.Stats(), err
	}
	if e.inMean == nil {
		e.fitInputs()
	}
	pools := e.pools()
	cfg := StepConfig{LR: float32(e.Config.LR), Eps: float32(e.Config.Eps), ClipNorm: e.Config.ClipNorm}
	batch := make([]*comparison, e.Config.BatchSize)
	var sums [][][]float64 // raw sums of every comparison at the current weights; nil when stale
train:
	for s := 0; s < steps; s++ {
		for m, mem := range e.Members {
			if err = ctx.Err(); err != nil {
				break train
			}
			pool := pools[m]
			if len(pool) == 0 {
				continue
			}
			r := rand.New(mem.rng)
			for i := range batch {
				batch[i] = pool[r.IntN(len(pool))]
			}
			cfg.L2 = float32(mem.L2)
			e.step(mem, e.groups(batch), cfg)
			sums = nil
		}
		e.steps++
		if e.steps%e.Config.AdaptEvery == 0 {
			sums = e.rawSums(e.all())
			e.adapt(sums, true)
		}
	}
	if sums == nil {
		// The losses adapt measured last are those of the current weights
		// when sums is still fresh; measuring again would repeat them.
		sums = e.rawSums(e.all())
		e.adapt(sums, false)
	}
	e.renormalise()
	return e.statsOf(sums), err
}

// pools returns each member's bootstrap resample: a comparison appears as
// many times as its count for the member.
func (e *Ensemble) pools() [][]*comparison {
	pools := make([][]*comparison, len(e.Members))
	for i := range e.data {
		c := &e.data[i]
		for m, n := range c.counts {
			for range n {
				pools[m] = append(pools[m], c)
			}
		}
	}
	return pools
}

// step takes one optimisation step of mem on groups with [TrainStep] on the
// ensemble's training tape (which keeps its pooled buffers between steps).
func (e *Ensemble) step(mem *Member, groups []Group[*Steps], c StepConfig) {
	TrainStep(e.train, Model[*Steps](mem.Net), mem.Opt, groups, c)
}

// adapt sets each member's training and validation loss from sums, the raw
// summed rewards of every comparison ([member][comparison][item], as
// rawSums(e.all()) returns them), and, with update, moves its L2
// coefficient to keep their ratio within [L2Low, L2High].
func (e *Ensemble) adapt(sums [][][]float64, update bool) {
	c := &e.Config
	var t []float64
	for m, mem := range e.Members {
		var tl, tw, vl float64
		nv := 0
		for i := range e.data {
			d := &e.data[i]
			if !d.val && d.counts[m] == 0 {
				continue
			}
			t = t[:0]
			for _, v := range d.target {
				t = append(t, float64(v))
			}
			l := choiceLoss(sums[m][i], t, c.Eps)
			if d.val {
				vl += l
				nv++
			} else {
				tl += float64(d.counts[m]) * l
				tw += float64(d.counts[m])
			}
		}
		mem.TrainLoss, mem.ValLoss = math.NaN(), math.NaN()
		if tw > 0 {
			mem.TrainLoss = tl / tw
		}
		if nv > 0 {
			mem.ValLoss = vl / float64(nv)
		}
		if update {
			mem.L2 = nextL2(mem.L2, mem.TrainLoss, mem.ValLoss, c)
		}
	}
}

// nextL2 is the adjustment rule: multiply the coefficient by L2Factor when
// validation loss exceeds L2High times training loss, divide it when it is
// below L2Low times, keep it otherwise (and when either loss is unknown).
func nextL2(l2, train, val float64, c *Config) float64 {
	if math.IsNaN(train) || math.IsNaN(val) || train <= 0 {
		return l2
	}
	switch ratio := val / train; {
	case ratio > c.L2High:
		l2 *= c.L2Factor
	case ratio < c.L2Low:
		l2 /= c.L2Factor
	}
	return min(max(l2, c.L2Min), c.L2Max)
}

func (e *Ensemble) all() []*comparison {
	cs := make([]*comparison, len(e.data))
	for i := range e.data {
		cs[i] = &e.data[i]
	}
	return cs
}

// chunkRows bounds the steps one evaluation forward pass takes.
const chunkRows = 8192

// rawSums returns every member's raw summed reward of every item of cs:
// [member][comparison][item].
func (e *Ensemble) rawSums(cs []*comparison) [][][]float64 {
	defer func(start time.Time) { e.evalTime += time.Since(start) }(time.Now())
	e.evaluated += len(cs)
	out := make([][][]float64, len(e.Members))
	for m := range out {
		out[m] = make([][]float64, len(cs))
	}
	for lo := 0; lo < len(cs); {
		hi, rows := lo, 0
		for hi < len(cs) && (hi == lo || rows < chunkRows) {
			for _, it := range cs[hi].items {
				rows += it.live
			}
			hi++
		}
		var segs []encoded
		for _, c := range cs[lo:hi] {
			segs = append(segs, c.items...)
		}
		sums := e.segmentSums(segs, false)
		for m := range out {
			at := 0
			for n, c := range cs[lo:hi] {
				out[m][lo+n] = sums[m][at : at+len(c.items)]
				at += len(c.items)
			}
		}
		lo = hi
	}
	return out
}

// segmentSums returns each member's summed reward of each segment,
// normalised or raw: [member][segment].
func (e *Ensemble) segmentSums(segs []encoded, normalised bool) [][]float64 {
	in := e.Config.InDim()
	offsets := []int{0}
	rows := 0
	for _, s := range segs {
		rows += s.live
		offsets = append(offsets, rows)
	}
	x := tensor.New(rows, in)
	at := 0
	for _, s := range segs {
		copy(x.Data[at:], s.x)
		at += len(s.x)
	}
	b := &Steps{X: x, Offsets: offsets}
	out := make([][]float64, len(e.Members))
	for m, mem := range e.Members {
		v := mem.Net.Score(e.eval, b).Data()
		out[m] = make([]float64, len(segs))
		for i, r := range v {
			out[m][i] = float64(r)
			if normalised {
				out[m][i] = (float64(r) - float64(segs[i].t)*mem.Mean) / mem.Std
			}
		}
		e.eval.Reset()
	}
	return out
}

// Stats evaluates the ensemble on its comparisons without training.
func (e *Ensemble) Stats() TrainStats {
	return e.statsOf(e.rawSums(e.all()))
}

// statsOf returns the stats of the ensemble from sums, the raw summed
// rewards of every comparison under the current weights
// ([member][comparison][item]); the members' normalisers apply as they are
// now.
func (e *Ensemble) statsOf(sums [][][]float64) TrainStats {
	total, val := e.Len()
	s := TrainStats{Steps: e.steps, Train: total - val, Val: val}
	for _, mem := range e.Members {
		s.TrainLoss = append(s.TrainLoss, mem.TrainLoss)
		s.ValLoss = append(s.ValLoss, mem.ValLoss)
		s.L2 = append(s.L2, mem.L2)
	}
	var held, fit []int
	for i := range e.data {
		if e.data[i].val {
			held = append(held, i)
		} else {
			fit = append(fit, i)
		}
	}
	s.Held = e.evaluate(held, sums)
	s.Fit = e.evaluate(fit, sums)
	return s
}

// evaluate computes Metrics of the ensemble prediction (the mean of the
// normalised members) on the comparisons idx, from their raw sums.
func (e *Ensemble) evaluate(idx []int, sums [][][]float64) Metrics {
	if len(idx) == 0 {
		return Metrics{}
	}
	scores := make([][]float64, len(idx))
	choices := make([]feedback.Choice, len(idx))
	for n, i := range idx {
		c := &e.data[i]
		choices[n] = c.choice
		scores[n] = make([]float64, len(c.items))
		for m, mem := range e.Members {
			for j, it := range c.items {
				scores[n][j] += (sums[m][i][j] - float64(it.t)*mem.Mean) / mem.Std / float64(len(e.Members))
			}
		}
	}
	return Evaluate(scores, choices, e.Config.Eps)
}
