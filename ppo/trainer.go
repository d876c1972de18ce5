package ppo

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"rlhf/ag"
	"rlhf/env"
	"rlhf/model/mlp"
	"rlhf/nn"
	"rlhf/optim"
	"rlhf/progress"
	"rlhf/report"
	"rlhf/tensor"
)

// RewardFunc scores a batch of n transitions, replacing the environment's
// reward: obs (n, ObsDim) are the raw observations acted on, actions
// (n, ActDim) the actions as sent to the environment (clipped to the action
// box), next (n, ObsDim) the raw observations the steps led to (for a step
// that ended its episode, the episode's final observation). It returns n
// rewards. A reward model trained from preferences plugs in here.
type RewardFunc func(obs, actions, next *tensor.Tensor) ([]float32, error)

// Trainer runs step-level PPO on one vector of environments. Build it with
// NewTrainer (or Resume), then call Iterate or Train.
type Trainer struct {
	Config Config
	Spec   env.Spec
	// Env is the vector of environments. Setting Env.Record makes every
	// finished episode come back with its steps in Stats.Episodes.
	Env    *env.VecEnv
	Policy mlp.Policy
	Value  *mlp.Value
	Opt    *optim.AdamW
	// ObsNorm is the running observation statistics; nil without NormObs.
	ObsNorm *RunningMeanStd
	// Reward, if set, replaces the environment's reward.
	Reward RewardFunc

	// Iteration is the number of completed iterations; GlobalStep the number
	// of environment steps taken (all copies).
	Iteration, GlobalStep int

	params     []nn.NamedParam
	pcg        *rand.PCG // sampling and shuffling; saved with checkpoints
	rng        *rand.Rand
	obs        []float64       // (N, ObsDim) raw observations for the next actions
	retNorm    *RunningMeanStd // running variance of discounted returns (NormReward)
	retAcc     []float64       // (N) discounted return per copy, for retNorm
	trainRet   []float64       // (N) undiscounted sum of RewardFunc rewards this episode
	tape, eval *ag.Tape
	mark       mark // state at the start of the running iteration
}

// mark is the trainer's state at the start of an iteration. A failed
// iteration (cancelled, or a RewardFunc error) puts it back, so that the
// trainer is never left half-way through an iteration: Save then writes a
// consistent checkpoint and Iterate can be called again.
type mark struct {
	params, m, v     [][]float32
	optSteps         int
	rng              []byte
	env              env.VecState
	obs              []float64
	obsNorm, retNorm *RunningMeanStd
	retAcc, trainRet []float64
	globalStep       int
}

// setMark records the current state in t.mark, reusing its buffers.
func (t *Trainer) setMark() error {
	k := &t.mark
	copyInto := func(dst [][]float32, i int, src []float32) [][]float32 {
		if len(dst) <= i {
			dst = append(dst, nil)
		}
		dst[i] = append(dst[i][:0], src...)
		return dst
	}
	for i, p := range t.params {
		k.params = copyInto(k.params, i, p.P.Value.Data)
		k.m = copyInto(k.m, i, t.Opt.M[i].Data)
		k.v = copyInto(k.v, i, t.Opt.V[i].Data)
	}
	k.optSteps = t.Opt.Steps
	rng, err := t.pcg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("ppo: generator state: %w", err)
	}
	k.rng = rng
	if k.env, err = t.Env.State(); err != nil {
		return fmt.Errorf("ppo: %w", err)
	}
	k.obs = append(k.obs[:0], t.obs...)
	k.obsNorm, k.retNorm = t.ObsNorm.clone(), t.retNorm.clone()
	k.retAcc = append(k.retAcc[:0], t.retAcc...)
	k.trainRet = append(k.trainRet[:0], t.trainRet...)
	k.globalStep = t.GlobalStep
	return nil
}

// backToMark restores the state recorded by setMark.
func (t *Trainer) backToMark() {
	k := &t.mark
	for i, p := range t.params {
		copy(p.P.Value.Data, k.params[i])
		copy(t.Opt.M[i].Data, k.m[i])
		copy(t.Opt.V[i].Data, k.v[i])
	}
	t.Opt.Steps = k.optSteps
	if err := t.pcg.UnmarshalBinary(k.rng); err != nil {
		panic("ppo: restore own generator state: " + err.Error())
	}
	if err := t.Env.Restore(k.env); err != nil {
		panic("ppo: restore own environment state: " + err.Error())
	}
	t.obs = append(t.obs[:0:0], k.obs...)
	t.ObsNorm, t.retNorm = k.obsNorm.clone(), k.retNorm.clone()
	copy(t.retAcc, k.retAcc)
	copy(t.trainRet, k.trainRet)
	t.GlobalStep = k.globalStep
}

// clone deep-copies r (nil stays nil).
func (r *RunningMeanStd) clone() *RunningMeanStd {
	if r == nil {
		return nil
	}
	return &RunningMeanStd{Mean: append([]float64(nil), r.Mean...), Var: append([]float64(nil), r.Var...), Count: r.Count}
}

// NewTrainer validates cfg and builds the environments (reset), the actor
// (categorical or Gaussian by the action space), the critic and the optimiser.
func NewTrainer(cfg Config) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	venv, err := env.NewVecEnv(cfg.Env, cfg.NumEnvs, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("ppo: %w", err)
	}
	spec := venv.Spec()
	init := rand.New(rand.NewPCG(cfg.Seed, 0x5eed_0001))
	var pol mlp.Policy
	if spec.Act.IsDiscrete() {
		pol = mlp.NewCategorical(init, spec.ObsDim, cfg.Hidden, spec.Act.Discrete)
	} else {
		pol = mlp.NewGaussian(init, spec.ObsDim, cfg.Hidden, spec.Act.Low, spec.Act.High)
	}
	val := mlp.NewValue(init, spec.ObsDim, cfg.Hidden)
	params := append(pol.Params(), val.Params("critic")...)
	opt := optim.NewAdamW(params, optim.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: float32(cfg.AdamEps)})
	pcg := rand.NewPCG(cfg.Seed, 0x5eed_0002)
	t := &Trainer{
		Config: cfg, Spec: spec, Env: venv, Policy: pol, Value: val, Opt: opt,
		params: params, pcg: pcg, rng: rand.New(pcg),
		retAcc: make([]float64, cfg.NumEnvs), trainRet: make([]float64, cfg.NumEnvs),
		tape: ag.NewTape(), eval: ag.NewNoGradTape(),
	}
	if cfg.NormObs {
		t.ObsNorm = NewRunningMeanStd(spec.ObsDim)
	}
	if cfg.NormReward {
		t.retNorm = NewRunningMeanStd(1)
	}
	t.obs = venv.Reset()
	if t.ObsNorm != nil {
		t.ObsNorm.Update(t.obs)
	}
	return t, nil
}

// Params returns the trained parameters: the actor's, then "critic.*".
func (t *Trainer) Params() []nn.NamedParam { return t.params }

// NormalizeObs returns obs (n, ObsDim) as the networks see them: float32,
// normalised and clipped when NormObs is set.
func (t *Trainer) NormalizeObs(obs []float64) *tensor.Tensor {
	d := t.Spec.ObsDim
	out := tensor.New(len(obs)/d, d)
	if t.ObsNorm == nil {
		for i, v := range obs {
			out.Data[i] = float32(v)
		}
		return out
	}
	t.ObsNorm.Normalize(obs, out.Data, t.Config.ObsClip)
	return out
}

// Act returns environment actions (n·ActDim) for raw observations obs
// (n, ObsDim): sampled with r, or the most likely action when greedy.
// It leaves the training state alone.
func (t *Trainer) Act(r *rand.Rand, obs []float64, greedy bool) []float64 {
	t.eval.Reset()
	acts, _ := t.Policy.Sample(t.eval, r, ag.Const(t.NormalizeObs(obs)), greedy)
	out := make([]float64, acts.Len())
	t.Policy.EnvActions(acts, out)
	return out
}

// Stats summarises one iteration. Loss statistics are means over every
// minibatch of the update.
type Stats struct {
	Iteration  int     // 1-based number of this iteration
	GlobalStep int     // environment steps after it
	LR         float64 // learning rate used
	PolicyLoss float64
	ValueLoss  float64
	Entropy    float64
	ApproxKL   float64
	ClipFrac   float64
	// ExplainedVariance of the value predictions for the returns, over the batch.
	ExplainedVariance float64
	// Epochs actually run (fewer than Config.Epochs when TargetKL stopped them).
	Epochs int
	// Episodes finished during the rollout (with steps if Env.Record).
	Episodes []env.Episode
	// TrainReturns are, for the same episodes, the sums of the rewards the
	// agent learned from (the RewardFunc's, before normalisation); nil
	// without a RewardFunc.
	TrainReturns []float64
	// Rollout and Update are the wall-clock times of the two phases.
	Rollout, Update time.Duration
}

// Metrics returns the iteration's metrics under cleanrl's names. Episode
// metrics are present only when an episode finished.
func (s Stats) Metrics() map[string]float64 {
	m := map[string]float64{
		"charts/learning_rate":   s.LR,
		"losses/policy_loss":     s.PolicyLoss,
		"losses/value_loss":      s.ValueLoss,
		"losses/entropy":         s.Entropy,
		"policy/approxkl":        s.ApproxKL,
		"policy/clipfrac":        s.ClipFrac,
		"val/explained_variance": s.ExplainedVariance,
	}
	if n := len(s.Episodes); n > 0 {
		var ret, score, length float64
		for _, e := range s.Episodes {
			ret += e.Return
			score += e.Score
			length += float64(e.Length)
		}
		m["charts/episodic_return"] = ret / float64(n)
		m["charts/episodic_score"] = score / float64(n)
		m["charts/episodic_length"] = length / float64(n)
	}
	if n := len(s.TrainReturns); n > 0 {
		var r float64
		for _, v := range s.TrainReturns {
			r += v
		}
		m["charts/episodic_train_return"] = r / float64(n)
	}
	return m
}

// rollout is one batch, time-major (T, N) flat.
type rollout struct {
	obs        *tensor.Tensor // (T·N, ObsDim) normalised
	actions    *tensor.Tensor // (T·N, ActDim) policy actions
	logp       []float32      // (T·N)
	values     []float32      // (T·N) V(s_t)
	nextValues []float32      // (T·N) V(s'_t)
	rewards    []float32      // (T·N) after optional normalisation
	terminated []bool         // (T·N)
	ended      []bool         // (T·N)
}

// Iterate runs one iteration: a rollout of NumSteps steps of every copy,
// GAE, and Epochs passes of minibatch updates. On error (a cancelled ctx, a
// failing RewardFunc) the trainer is put back as it was before the call.
func (t *Trainer) Iterate(ctx context.Context) (st Stats, err error) {
	if err := t.setMark(); err != nil {
		return Stats{}, err
	}
	defer func() {
		if err != nil {
			t.backToMark()
		}
	}()
	c := t.Config
	st = Stats{Iteration: t.Iteration + 1}
	start := time.Now()
	ro, err := t.collect(ctx, &st)
	if err != nil {
		return st, err
	}
	st.Rollout = time.Since(start)
	start = time.Now()
	adv, ret := GAE(ro.rewards, ro.values, ro.nextValues, ro.terminated, ro.ended, c.NumEnvs, c.Gamma, c.Lambda)
	st.ExplainedVariance = ExplainedVariance(ro.values, ret)
	st.LR = c.LR
	if c.AnnealLR {
		st.LR = c.LR * max(0, 1-float64(t.Iteration)/float64(c.Iterations()))
	}
	if err := t.update(ctx, ro, adv, ret, &st); err != nil {
		return st, err
	}
	st.Update = time.Since(start)
	t.Iteration++
	st.GlobalStep = t.GlobalStep
	return st, nil
}

// collect steps every copy NumSteps times with the current policy.
func (t *Trainer) collect(ctx context.Context, st *Stats) (*rollout, error) {
	c, d, ad := t.Config, t.Spec.ObsDim, t.Policy.ActDim()
	n, T := c.NumEnvs, c.NumSteps
	ro := &rollout{
		obs:        tensor.New(T*n, d),
		actions:    tensor.New(T*n, ad),
		logp:       make([]float32, T*n),
		values:     make([]float32, T*n),
		nextValues: make([]float32, T*n),
		rewards:    make([]float32, T*n),
		terminated: make([]bool, T*n),
		ended:      make([]bool, T*n),
	}
	envActs := make([]float64, n*ad)
	next := make([]float64, n*d)
	for s := 0; s < T; s++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("ppo: rollout: %w", err)
		}
		x := t.NormalizeObs(t.obs) // (N, ObsDim)
		copy(ro.obs.Data[s*n*d:], x.Data)
		t.eval.Reset()
		xv := ag.Const(x)
		acts, logp := t.Policy.Sample(t.eval, t.rng, xv, false) // (N, ActDim), (N)
		v := t.Value.Forward(t.eval, xv)                        // (N)
		copy(ro.actions.Data[s*n*ad:], acts.Data)
		copy(ro.logp[s*n:], logp)
		copy(ro.values[s*n:], v.Data())
		if s > 0 { // V(s'_{t-1}) = V(s_t) where the previous step did not end an episode
			for e := 0; e < n; e++ {
				if i := (s-1)*n + e; !ro.ended[i] {
					ro.nextValues[i] = v.Data()[e]
				}
			}
		}
		t.Policy.EnvActions(acts, envActs)
		step := t.Env.Step(envActs)
		t.GlobalStep += n

		copy(next, step.Obs)
		var finals []int
		for e := 0; e < n; e++ {
			i := s*n + e
			ro.terminated[i] = step.Terminated[e]
			ro.ended[i] = step.Terminated[e] || step.Truncated[e]
			if ro.ended[i] {
				copy(next[e*d:(e+1)*d], step.FinalObs[e])
				if !step.Terminated[e] {
					finals = append(finals, e)
				}
			}
		}
		rew := step.Reward
		if t.Reward != nil {
			r, err := t.Reward(toTensor(t.obs, n, d), toTensor(envActs, n, ad), toTensor(next, n, d))
			if err != nil {
				return nil, fmt.Errorf("ppo: reward at step %d: %w", t.GlobalStep, err)
			}
			if len(r) != n {
				return nil, fmt.Errorf("ppo: reward function returned %d rewards for %d transitions", len(r), n)
			}
			rew = make([]float64, n)
			for e, v := range r {
				rew[e] = float64(v)
				t.trainRet[e] += rew[e]
			}
		}
		t.storeRewards(ro.rewards[s*n:(s+1)*n], rew, ro.ended[s*n:(s+1)*n])

		// Truncated copies bootstrap from the value of their final observation.
		if len(finals) > 0 {
			fo := make([]float64, 0, len(finals)*d)
			for _, e := range finals {
				fo = append(fo, step.FinalObs[e]...)
			}
			t.eval.Reset()
			fv := t.Value.Forward(t.eval, ag.Const(t.NormalizeObs(fo)))
			for k, e := range finals {
				ro.nextValues[s*n+e] = fv.Data()[k]
			}
		}
		for _, ep := range step.Episodes {
			st.Episodes = append(st.Episodes, ep)
			if t.Reward != nil {
				st.TrainReturns = append(st.TrainReturns, t.trainRet[ep.Index])
				t.trainRet[ep.Index] = 0
			}
		}
		t.obs = step.Obs
		if t.ObsNorm != nil {
			t.ObsNorm.Update(t.obs)
		}
	}
	// Bootstrap the last step from the value of the observation it led to.
	t.eval.Reset()
	v := t.Value.Forward(t.eval, ag.Const(t.NormalizeObs(t.obs)))
	for e := 0; e < n; e++ {
		if i := (T-1)*n + e; !ro.ended[i] {
			ro.nextValues[i] = v.Data()[e]
		}
	}
	return ro, nil
}

// storeRewards writes the rewards the agent learns from into dst: raw, or
// divided by the running std of the discounted return and clipped.
func (t *Trainer) storeRewards(dst []float32, rew []float64, ended []bool) {
	if t.retNorm == nil {
		for e, r := range rew {
			dst[e] = float32(r)
		}
		return
	}
	for e, r := range rew {
		t.retAcc[e] = t.retAcc[e]*t.Config.Gamma + r
	}
	t.retNorm.Update(t.retAcc)
	std := math.Sqrt(t.retNorm.Var[0] + 1e-8)
	lim := t.Config.RewardClip
	for e, r := range rew {
		dst[e] = float32(min(max(r/std, -lim), lim))
		if ended[e] {
			t.retAcc[e] = 0
		}
	}
}

func toTensor(x []float64, rows, cols int) *tensor.Tensor {
	out := tensor.New(rows, cols)
	for i, v := range x {
		out.Data[i] = float32(v)
	}
	return out
}

// update runs the minibatch epochs over one rollout.
func (t *Trainer) update(ctx context.Context, ro *rollout, adv, ret []float32, st *Stats) error {
	c := t.Config
	b, mb := c.BatchSize(), c.MinibatchSize()
	d, ad := t.Spec.ObsDim, t.Policy.ActDim()
	idx := make([]int, b)
	for i := range idx {
		idx[i] = i
	}
	obs, acts := tensor.New(mb, d), tensor.New(mb, ad)
	oldLogp, mAdv, mRet, oldV := tensor.New(mb), tensor.New(mb), tensor.New(mb), tensor.New(mb)
	var nmb int
	var pl, vl, ent, kl, cf float64
	for epoch := 0; epoch < c.Epochs; epoch++ {
		var epochKL float64
		t.rng.Shuffle(b, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		for lo := 0; lo < b; lo += mb {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("ppo: update: %w", err)
			}
			for k, i := range idx[lo : lo+mb] {
				copy(obs.Data[k*d:(k+1)*d], ro.obs.Data[i*d:(i+1)*d])
				copy(acts.Data[k*ad:(k+1)*ad], ro.actions.Data[i*ad:(i+1)*ad])
				oldLogp.Data[k], mAdv.Data[k], mRet.Data[k], oldV.Data[k] = ro.logp[i], adv[i], ret[i], ro.values[i]
			}
			if c.NormAdv {
				NormalizeAdvantages(mAdv.Data)
			}
			tp := t.tape
			tp.Reset()
			x := ag.Const(obs)
			logp, entropy := t.Policy.LogProb(tp, x, acts)
			v := t.Value.Forward(tp, x)
			pg := PolicyLoss(tp, logp, oldLogp, mAdv, float32(c.ClipCoef), nil)
			var vClip float32
			if c.ClipVLoss {
				vClip = float32(c.ClipCoef)
			}
			vloss := ValueLoss(tp, v, oldV, mRet, vClip, nil)
			eb := EntropyBonus(tp, entropy, nil)
			loss := tp.Add(tp.Sub(pg, tp.Scale(eb, float32(c.EntCoef))), tp.Scale(vloss, float32(c.VFCoef)))

			k := ApproxKL(logp.Data(), oldLogp.Data, nil)
			pl += float64(pg.Item())
			vl += float64(vloss.Item())
			ent += float64(eb.Item())
			kl += k
			epochKL += k
			cf += ClipFrac(logp.Data(), oldLogp.Data, float32(c.ClipCoef), nil)
			nmb++

			t.Opt.ZeroGrad()
			tp.Backward(loss)
			optim.ClipGradNorm(t.params, c.MaxGradNorm)
			t.Opt.Step(float32(st.LR))
		}
		st.Epochs = epoch + 1
		if c.TargetKL > 0 && epochKL/float64(b/mb) > c.TargetKL {
			break
		}
	}
	t.tape.Reset()
	f := 1 / float64(nmb)
	st.PolicyLoss, st.ValueLoss, st.Entropy, st.ApproxKL, st.ClipFrac = pl*f, vl*f, ent*f, kl*f, cf*f
	return nil
}

// TrainOptions configures Train.
type TrainOptions struct {
	// Logger, if set, receives every iteration's metrics at its global step.
	Logger *report.Logger
	// Progress, if set, shows a progress bar over environment steps.
	Progress io.Writer
	// CheckpointDir, if set, is where Save writes every CheckpointEvery
	// iterations and at the end.
	CheckpointDir string
	// CheckpointEvery is the number of iterations between checkpoints
	// (0: only at the end).
	CheckpointEvery int
	// OnIteration, if set, is called after every iteration; an error stops training.
	OnIteration func(Stats) error
}

// Train iterates until Config.TotalSteps is reached (continuing a resumed
// run where it stopped). It logs charts/SPS as environment steps per second
// of this call's wall-clock time.
func (t *Trainer) Train(ctx context.Context, o TrainOptions) error {
	total := t.Config.Iterations()
	var bar *progress.Bar
	if o.Progress != nil {
		bar = progress.New(o.Progress, total*t.Config.BatchSize(), "ppo "+t.Config.Env)
		bar.Set(t.GlobalStep)
		defer bar.Finish()
	}
	start, step0 := time.Now(), t.GlobalStep
	var lastReturn float64 = math.NaN()
	for t.Iteration < total {
		st, err := t.Iterate(ctx)
		if err != nil {
			return err
		}
		m := st.Metrics()
		m["charts/SPS"] = float64(t.GlobalStep-step0) / time.Since(start).Seconds()
		if r, ok := m["charts/episodic_return"]; ok {
			lastReturn = r
		}
		if o.Logger != nil {
			if err := o.Logger.Log(t.GlobalStep, m); err != nil {
				return fmt.Errorf("ppo: log metrics: %w", err)
			}
		}
		if bar != nil {
			bar.Set(t.GlobalStep)
			bar.SetStatus(fmt.Sprintf("return %.1f", lastReturn))
		}
		if o.OnIteration != nil {
			if err := o.OnIteration(st); err != nil {
				return err
			}
		}
		if o.CheckpointDir != "" && o.CheckpointEvery > 0 && t.Iteration%o.CheckpointEvery == 0 && t.Iteration < total {
			if err := t.Save(o.CheckpointDir); err != nil {
				return err
			}
		}
	}
	if o.CheckpointDir != "" {
		return t.Save(o.CheckpointDir)
	}
	return nil
}
