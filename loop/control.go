// Package loop runs the online RLHF loop: a policy, a labeler and a reward
// model trained together.
//
// The control loop (Control) follows Christiano et al. 2017, "Deep RL from
// Human Preferences": PPO collects rollouts; finished episodes are kept in a
// pool of recent trajectories; pairs of segments (Spec.SegmentLen steps, 1-2 s
// of simulated time) are cut from it at random and asked about, uniformly or
// where the reward ensemble's members disagree most; labels arrive on a
// schedule that front-loads a quarter of the budget from the initial policy
// and then decays as c/(t+c); the reward ensemble is retrained between PPO
// iterations as labels arrive, and PPO optimises its normalised prediction
// instead of the environment's reward. The labeler may be slow: queries go
// through a Broker and training continues while they wait.
package loop

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"rlhf/env"
	"rlhf/feedback"
	"rlhf/ppo"
	"rlhf/progress"
	"rlhf/report"
	"rlhf/reward"
	"rlhf/tensor"
)

// Files and directories of a control run directory.
const (
	// StateFile holds the loop's own state (ControlConfig, label counters,
	// pending queries, generator state) as JSON.
	StateFile = "state.json"
	// PolicyDir holds the PPO checkpoint (parameters, optimiser, generator,
	// environment state).
	PolicyDir = "policy"
	// RewardDir holds the saved reward ensemble.
	RewardDir = "reward"
	// LabelsFile holds every label that gave a training target, as control
	// comparison records (JSONL, feedback.ControlRecord).
	LabelsFile = "labels.jsonl"
	// SummaryFile holds the ControlResult of a finished run as JSON.
	SummaryFile = "summary.json"
	// ReportFile is the HTML report of a finished run.
	ReportFile = "report.html"
	// CurveFile is the learning curve (true return or hidden-goal metric) as SVG.
	CurveFile = "return.svg"
)

// Seed salts of the loop's random streams.
const (
	saltLoop    = 0x10a9_c0de_0001
	saltInitial = 0x10a9_c0de_0002
	saltCorr    = 0x10a9_c0de_0003
	saltEval    = 1_000_000
)

// corrEvery is the number of iterations between two measurements of the
// reward model's correlation with the true reward.
const corrEvery = 5

// controlState is StateFile's content.
type controlState struct {
	Format int           `json:"format"`
	Config ControlConfig `json:"config"`
	// Requested counts queries posted; Received answers that came back;
	// Used answers that gave a training target (the records in LabelsFile).
	Requested int `json:"requested"`
	Received  int `json:"received"`
	Used      int `json:"used"`
	// NextQuery numbers the next query.
	NextQuery int `json:"next_query"`
	// InitialDone is set once the labels asked before training have arrived
	// and the reward model has been trained on them.
	InitialDone bool `json:"initial_done"`
	// NewLabels counts labels added since the reward model last trained.
	NewLabels int `json:"new_labels"`
	// Baseline is the reward subtracted from the ensemble's (see Control).
	Baseline float64 `json:"baseline"`
	// RNG is the loop generator's state (segment sampling).
	RNG []byte `json:"rng"`
	// Pending are the queries posted and not answered at the checkpoint.
	Pending []feedback.Query `json:"pending,omitempty"`
	// WallSeconds and RMSeconds are the wall-clock time of the run and the
	// part spent training the reward model, up to the checkpoint.
	WallSeconds float64 `json:"wall_seconds"`
	RMSeconds   float64 `json:"rm_seconds"`
}

// Control is one run of the control loop. Build it with NewControl or
// ResumeControl, then call Run.
//
// For tasks whose episodes can end early (CartPole), PPO's reward is the
// ensemble's normalised prediction minus a baseline: the predicted reward of
// the steps on which recent episodes ended, which is what the absorbing steps
// padding a terminated segment look like to the reward model. Living is then
// worth more than ending the episode exactly when the model ranks the two that
// way, as the labels taught it; without the shift a model whose normalised
// rewards are mostly negative would teach the agent to fall.
type Control struct {
	// Config is the run's configuration.
	Config ControlConfig
	// Dir is the run directory.
	Dir string
	// Labeler answers the queries; it may be slow.
	Labeler feedback.Labeler
	// Progress, if set, shows a progress bar over environment steps.
	Progress io.Writer
	// Trainer is the policy optimiser.
	Trainer *ppo.Trainer
	// Ensemble is the reward model; nil for a true-reward run.
	Ensemble *reward.Ensemble
	// Stop, if set, is asked at each PPO iteration boundary whether to halt;
	// on true Run writes a checkpoint and returns ErrStopped.
	Stop func(ctx context.Context) (bool, error)

	st     controlState
	pool   *pool
	pcg    *rand.PCG
	rng    *rand.Rand
	sched  feedback.Schedule
	rmLast map[string]float64 // metrics of the last reward-model training
	o64    []float64
	a64    []float64
	rbuf   []float64
	extra  int // labels found in LabelsFile beyond the checkpoint's count
}

// NewControl starts a fresh run in dir, which must not hold one already.
func NewControl(cfg ControlConfig, dir string, lab feedback.Labeler) (*Control, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Learned() && lab == nil {
		return nil, errors.New("loop: a learned-reward run needs a labeler")
	}
	for _, f := range []string{StateFile, LabelsFile, PolicyDir} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return nil, fmt.Errorf("loop: %s already holds a run (%s); resume it or choose another directory", dir, f)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("loop: create run directory: %w", err)
	}
	cfg = cfg.resolved()
	c := &Control{Config: cfg, Dir: dir, Labeler: lab}
	c.st = controlState{Format: 1, Config: cfg}
	c.pcg = rand.NewPCG(cfg.Seed, saltLoop)
	if err := c.build(nil); err != nil {
		return nil, err
	}
	return c, nil
}

// ResumeControl continues the run saved in dir. The labeler is given again;
// labels recorded after the last checkpoint are kept, and queries pending at
// the checkpoint are asked again. The pool of recent episodes that segments
// are cut from is restored from PoolFile.
func ResumeControl(dir string, lab feedback.Labeler) (*Control, error) {
	buf, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, fmt.Errorf("loop: resume %s: %w", dir, err)
	}
	var st controlState
	if err := json.Unmarshal(buf, &st); err != nil {
		return nil, fmt.Errorf("loop: resume %s: parse %s: %w", dir, StateFile, err)
	}
	if st.Format != 1 {
		return nil, fmt.Errorf("loop: resume %s: unknown state format %d", dir, st.Format)
	}
	if err := st.Config.Validate(); err != nil {
		return nil, fmt.Errorf("loop: resume %s: %w", dir, err)
	}
	if st.Config.Learned() && lab == nil {
		return nil, errors.New("loop: a learned-reward run needs a labeler")
	}
	c := &Control{Config: st.Config, Dir: dir, Labeler: lab, st: st}
	c.pcg = rand.NewPCG(0, 0)
	if err := c.pcg.UnmarshalBinary(st.RNG); err != nil {
		return nil, fmt.Errorf("loop: resume %s: generator state: %w", dir, err)
	}
	if err := c.build(&st); err != nil {
		return nil, fmt.Errorf("loop: resume %s: %w", dir, err)
	}
	return c, nil
}

// build makes the trainer and the ensemble, fresh or from a checkpoint.
func (c *Control) build(resume *controlState) error {
	cfg := c.Config
	c.rng = rand.New(c.pcg)
	c.pool = newPool(cfg.Env, cfg.SegmentLen, cfg.PoolSteps)
	initial := 0
	if cfg.Learned() {
		initial = int(math.Round(cfg.InitialFraction * float64(cfg.Labels)))
		if cfg.Offline {
			initial = cfg.Labels
		}
	}
	// The horizon is the steps PPO will actually take (whole iterations), so
	// that the whole budget is asked for by the last one.
	horizon := float64(cfg.PPO.Iterations() * cfg.PPO.BatchSize())
	c.sched = feedback.Schedule{Total: cfg.Labels, Initial: initial, Horizon: horizon, Scale: cfg.ScheduleScale * horizon}
	var rf ppo.RewardFunc
	if cfg.Learned() {
		rf = c.rewardFunc
	}
	var err error
	policy := filepath.Join(c.Dir, PolicyDir)
	if _, serr := os.Stat(filepath.Join(policy, ppo.StateFile)); resume != nil && serr == nil {
		c.Trainer, err = ppo.Resume(policy, rf)
	} else {
		c.Trainer, err = ppo.NewTrainer(cfg.PPO)
		if err == nil {
			c.Trainer.Reward = rf
		}
	}
	if err != nil {
		return fmt.Errorf("loop: %w", err)
	}
	c.Trainer.Env.Record = true
	if !cfg.Learned() {
		return nil
	}
	rmDir := filepath.Join(c.Dir, RewardDir)
	if _, serr := os.Stat(filepath.Join(rmDir, reward.ConfigFile)); resume != nil && serr == nil {
		c.Ensemble, err = reward.Load(rmDir)
	} else {
		c.Ensemble, err = reward.NewEnsemble(cfg.RM)
	}
	if err != nil {
		return fmt.Errorf("loop: %w", err)
	}
	if resume != nil {
		// Checkpoints before the pool was saved resume with an empty pool
		// that refills from the next iteration.
		if path := filepath.Join(c.Dir, PoolFile); fileExists(path) {
			if err := c.pool.load(path); err != nil {
				return err
			}
		}
		return c.reloadLabels()
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// reloadLabels adds the recorded labels to a resumed ensemble and accounts
// for those recorded after the checkpoint.
func (c *Control) reloadLabels() error {
	path := filepath.Join(c.Dir, LabelsFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var recs []feedback.ControlRecord
	seen := map[string]bool{}
	for rec, err := range feedback.ReadControlFile(path, &feedback.ReadOptions{SkipBad: true}) {
		if err != nil {
			return fmt.Errorf("loop: reload labels: %w", err)
		}
		recs = append(recs, rec)
		seen[rec.QueryID] = true
		if n, ok := queryNumber(rec.QueryID); ok {
			c.st.NextQuery = max(c.st.NextQuery, n+1)
		}
	}
	if _, err := c.Ensemble.Add(recs...); err != nil {
		return fmt.Errorf("loop: reload labels: %w", err)
	}
	c.extra = max(len(recs)-c.st.Used, 0)
	var pending []feedback.Query
	answered := 0
	for _, q := range c.st.Pending {
		if seen[q.ID] {
			answered++
		} else {
			pending = append(pending, q)
		}
	}
	// Labels past the checkpoint either answer a pending query or answer one
	// posted after the checkpoint, which counts as requested too.
	c.st.Requested += c.extra - answered
	c.st.Received += c.extra
	c.st.Used += c.extra
	c.st.NewLabels += c.extra
	c.st.Pending = pending
	return nil
}

// waitAll blocks until no posted query is pending and returns got plus every
// answer that arrived meanwhile, ordered by query number (the order asked).
func (c *Control) waitAll(ctx context.Context, broker *Broker, got []Answer) ([]Answer, error) {
	for broker.NumPending() > 0 {
		more, err := broker.Wait(ctx, math.MaxInt)
		if err != nil {
			// got is still returned: the caller keeps what arrived.
			return got, fmt.Errorf("loop: waiting for labels: %w", err)
		}
		got = append(got, more...)
	}
	got = append(got, broker.Poll()...)
	slices.SortStableFunc(got, func(a, b Answer) int {
		na, _ := queryNumber(a.Query.ID)
		nb, _ := queryNumber(b.Query.ID)
		return cmp.Compare(na, nb)
	})
	return got, nil
}

// queryNumber parses the number at the end of a query id made by queryID.
func queryNumber(id string) (int, bool) {
	i := strings.LastIndexByte(id, '-')
	n, err := strconv.Atoi(id[i+1:])
	return n, err == nil
}

func (c *Control) queryID() string {
	id := fmt.Sprintf("%s-s%d-%06d", c.Config.Env, c.Config.Seed, c.st.NextQuery)
	c.st.NextQuery++
	return id
}

// rewardFunc is PPO's reward: the ensemble's normalised prediction minus the
// absorbing-state baseline.
func (c *Control) rewardFunc(obs, actions, _ *tensor.Tensor) ([]float32, error) {
	c.o64 = widen(c.o64, obs.Data)
	c.a64 = widen(c.a64, actions.Data)
	c.rbuf = c.Ensemble.RewardFlat(c.rbuf, c.o64, c.a64)
	out := make([]float32, len(c.rbuf))
	for i, r := range c.rbuf {
		out[i] = float32(r - c.st.Baseline)
	}
	return out, nil
}

func widen(dst []float64, src []float32) []float64 {
	dst = dst[:0]
	for _, v := range src {
		dst = append(dst, float64(v))
	}
	return dst
}

// ControlResult summarises a finished run.
type ControlResult struct {
	Env     string `json:"env"`
	Metric  string `json:"metric"`
	Reward  string `json:"reward"`
	Queries string `json:"queries,omitempty"`
	Offline bool   `json:"offline,omitempty"`
	Labels  int    `json:"labels"`
	Seed    uint64 `json:"seed"`
	Steps   int    `json:"steps"`
	// FinalReturn and FinalReturnStd are the mean and standard deviation of
	// the true return (or hidden-goal metric) of the final policy over
	// EvalEpisodes evaluation episodes (sampled actions, fresh seeds).
	FinalReturn    float64 `json:"final_return"`
	FinalReturnStd float64 `json:"final_return_std"`
	// TrainReturn is the mean true return of training episodes over the last
	// tenth of the run.
	TrainReturn float64 `json:"train_return"`
	// LabelsRequested, LabelsReceived and LabelsUsed count queries posted,
	// answered, and answered with a training target.
	LabelsRequested int `json:"labels_requested"`
	LabelsReceived  int `json:"labels_received"`
	LabelsUsed      int `json:"labels_used"`
	// RMAccuracy is the ensemble's held-out accuracy after its last training;
	// SegmentCorr the correlation of predicted and true segment returns on
	// recent segments (NaN for true-reward runs).
	RMAccuracy  float64 `json:"rm_accuracy"`
	SegmentCorr float64 `json:"segment_corr"`
	// WallSeconds is the run's wall-clock time (all sessions of a resumed
	// run); RMSeconds the part spent training the reward model; SPS
	// environment steps per wall-clock second.
	WallSeconds float64 `json:"wall_seconds"`
	RMSeconds   float64 `json:"rm_seconds"`
	SPS         float64 `json:"sps"`
	// CPUSeconds is the CPU time (user + system) of the process that
	// finished the run, -1 where unknown: on a shared machine it measures
	// the work better than wall-clock time does. It covers the last session
	// of a resumed run only.
	CPUSeconds float64 `json:"cpu_seconds"`
}

// Run trains until Config.Steps environment steps, writes the final
// checkpoint, summary and report, and returns the summary. A cancelled ctx
// stops it after writing a checkpoint; Run on a resumed Control continues.
func (c *Control) Run(ctx context.Context) (ControlResult, error) {
	cfg := c.Config
	start := time.Now()
	wall0 := c.st.WallSeconds
	wall := func() float64 { return wall0 + time.Since(start).Seconds() }
	logger, err := report.NewLogger(c.Dir)
	if err != nil {
		return ControlResult{}, fmt.Errorf("loop: %w", err)
	}
	defer logger.Close()
	var labels *feedback.Appender[feedback.ControlRecord]
	var broker *Broker
	if cfg.Learned() {
		labels, err = feedback.OpenAppender[feedback.ControlRecord](filepath.Join(c.Dir, LabelsFile))
		if err != nil {
			return ControlResult{}, fmt.Errorf("loop: %w", err)
		}
		defer labels.Close()
		broker = NewBroker(ctx, c.Labeler, cfg.LabelWorkers)
		defer broker.Close()
		broker.Post(c.st.Pending...)
	}
	save := func() error {
		c.st.WallSeconds = wall()
		if broker != nil {
			c.st.Pending = broker.Pending()
		}
		return c.checkpoint(logger)
	}
	// On cancellation, keep what was done.
	stopped := func(err error) (ControlResult, error) {
		if ctx.Err() != nil {
			if broker != nil {
				broker.Close()
				// Answers that arrived while stopping are kept.
				if aerr := c.addAnswers(broker.Poll(), labels); aerr != nil {
					err = errors.Join(err, aerr)
				}
			}
			if serr := save(); serr != nil {
				return ControlResult{}, errors.Join(err, serr)
			}
		}
		return ControlResult{}, err
	}

	// rmFresh is set when the reward model trained since the last metrics line.
	rmFresh := false
	if cfg.Learned() && !c.st.InitialDone {
		if err := c.initialPhase(ctx, broker, labels, save); err != nil {
			return stopped(err)
		}
		if err := save(); err != nil {
			return ControlResult{}, err
		}
		rmFresh = true
	}

	total := cfg.PPO.Iterations()
	tr := c.Trainer
	var bar *progress.Bar
	if c.Progress != nil {
		bar = progress.New(c.Progress, total*cfg.PPO.BatchSize(), "control "+cfg.Env)
		bar.Set(tr.GlobalStep)
		defer bar.Finish()
	}
	step0 := tr.GlobalStep
	for tr.Iteration < total {
		if c.Stop != nil {
			halt, err := c.Stop(ctx)
			if err != nil {
				return stopped(fmt.Errorf("loop: stop check: %w", err))
			}
			if halt {
				if broker != nil {
					broker.Close()
					// Answers that arrived since the last poll are kept.
					if err := c.addAnswers(broker.Poll(), labels); err != nil {
						return ControlResult{}, err
					}
				}
				if err := save(); err != nil {
					return ControlResult{}, err
				}
				return ControlResult{}, ErrStopped
			}
		}
		stats, err := tr.Iterate(ctx)
		if err != nil {
			return stopped(fmt.Errorf("loop: %w", err))
		}
		c.pool.add(stats.Episodes)
		m := stats.Metrics()
		if cfg.Learned() {
			answers := broker.Poll()
			if cfg.WaitLabels {
				if answers, err = c.waitAll(ctx, broker, answers); err != nil {
					return stopped(errors.Join(err, c.addAnswers(answers, labels)))
				}
			}
			if err := c.addAnswers(answers, labels); err != nil {
				return stopped(err)
			}
			if !cfg.Offline {
				due := c.sched.Due(float64(tr.GlobalStep), c.st.Requested)
				if err := c.ask(broker, due, cfg.Queries == QueriesActive); err != nil {
					return stopped(err)
				}
			}
			last := tr.Iteration == total
			if c.st.NewLabels >= cfg.RetrainEvery || (last && c.st.NewLabels > 0) {
				steps := max(int(math.Ceil(cfg.RMStepsPerLabel*float64(c.st.NewLabels))), 1)
				if err := c.trainRM(ctx, steps); err != nil {
					return stopped(err)
				}
				rmFresh = true
			}
			if rmFresh {
				for k, v := range c.rmLast {
					m[k] = v
				}
				rmFresh = false
			}
			if tr.Iteration%corrEvery == 0 || last {
				stepCorr, segCorr := c.correlations(stats.Episodes, tr.Iteration)
				m["rm/corr_step"], m["rm/corr_segment"] = stepCorr, segCorr
			}
			m["rm/baseline"] = c.st.Baseline
			m["labels/requested"] = float64(c.st.Requested)
			m["labels/received"] = float64(c.st.Received)
			m["labels/used"] = float64(c.st.Used)
			m["labels/pending"] = float64(broker.NumPending())
			m["time/rm_s"] = c.st.RMSeconds
		}
		w := wall()
		m["time/wall_s"] = w
		m["charts/SPS"] = float64(tr.GlobalStep-step0) / time.Since(start).Seconds()
		if err := logger.Log(tr.GlobalStep, m); err != nil {
			return stopped(fmt.Errorf("loop: log metrics: %w", err))
		}
		if bar != nil {
			bar.Set(tr.GlobalStep)
			s := fmt.Sprintf("score %.1f", m["charts/episodic_score"])
			if cfg.Learned() {
				s += fmt.Sprintf(" labels %d", c.st.Used)
			}
			bar.SetStatus(s)
		}
		if tr.Iteration%cfg.CheckpointEvery == 0 && tr.Iteration < total {
			if err := save(); err != nil {
				return ControlResult{}, err
			}
		}
	}
	if err := save(); err != nil {
		return ControlResult{}, err
	}
	return c.finish(ctx, wall())
}

// initialPhase asks the first share of the budget (all of it offline) about
// segments of the initial policy, waits for the answers and trains the reward
// model on them.
func (c *Control) initialPhase(ctx context.Context, broker *Broker, labels *feedback.Appender[feedback.ControlRecord], save func() error) error {
	cfg := c.Config
	want := c.sched.Initial
	if n := want - c.st.Requested; n > 0 {
		p, err := c.initialPool(ctx, n)
		if err != nil {
			return err
		}
		main := c.pool
		c.pool = p
		err = c.ask(broker, n, false)
		c.pool = main
		if err != nil {
			return err
		}
		if err := save(); err != nil {
			return err
		}
	}
	for c.st.Received < c.st.Requested {
		answers, err := broker.Wait(ctx, 1)
		if err != nil {
			return fmt.Errorf("loop: waiting for the initial labels: %w", err)
		}
		if c.Config.WaitLabels {
			if answers, err = c.waitAll(ctx, broker, answers); err != nil {
				return errors.Join(err, c.addAnswers(answers, labels))
			}
		}
		if err := c.addAnswers(answers, labels); err != nil {
			return err
		}
		if broker.NumPending() == 0 && c.st.Received < c.st.Requested {
			// Answers that arrived after the Wait above are all in by now.
			if err := c.addAnswers(broker.Poll(), labels); err != nil {
				return err
			}
		}
		if broker.NumPending() == 0 && c.st.Received < c.st.Requested {
			return fmt.Errorf("loop: %d initial queries unanswered and none pending", c.st.Requested-c.st.Received)
		}
	}
	steps := cfg.RMInitSteps
	if cfg.Offline {
		// Offline gets the training steps the online schedule would spread out.
		steps += int(math.Ceil(cfg.RMStepsPerLabel * float64(cfg.Labels-int(math.Round(cfg.InitialFraction*float64(cfg.Labels))))))
	}
	if err := c.trainRM(ctx, steps); err != nil {
		return err
	}
	c.st.InitialDone = true
	return nil
}

// initialPool records episodes of the initial policy, on environments seeded
// apart from the training ones, enough for n queries.
func (c *Control) initialPool(ctx context.Context, n int) (*pool, error) {
	cfg := c.Config
	spec, _ := env.SpecOf(cfg.Env)
	need := min(max(n*cfg.SegmentLen, 4*cfg.SegmentLen), 50_000)
	venv, err := env.NewVecEnv(cfg.Env, 8, cfg.Seed^saltInitial)
	if err != nil {
		return nil, fmt.Errorf("loop: %w", err)
	}
	venv.Record = true
	r := rand.New(rand.NewPCG(cfg.Seed, saltInitial))
	p := newPool(cfg.Env, cfg.SegmentLen, need+8*spec.MaxSteps)
	obs := venv.Reset()
	for p.steps < need || !p.ready() {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("loop: initial rollouts: %w", err)
		}
		st := venv.Step(c.Trainer.Act(r, obs, false))
		p.add(st.Episodes)
		obs = st.Obs
	}
	return p, nil
}

// ask posts n queries about segment pairs from the pool, chosen by the
// ensemble's disagreement among n·Candidates candidates when active (and the
// ensemble has been trained), uniformly otherwise. With no segment to cut yet
// it posts nothing; the schedule asks again next time.
func (c *Control) ask(broker *Broker, n int, active bool) error {
	if n <= 0 || !c.pool.ready() {
		return nil
	}
	k := n
	if active && c.Ensemble.Steps() > 0 {
		k = n * c.Config.Candidates
	}
	version := fmt.Sprintf("step-%d", c.Trainer.GlobalStep)
	cands := make([]feedback.Query, k)
	for i := range cands {
		a, err := c.pool.sample(c.rng)
		if err != nil {
			return err
		}
		b, err := c.pool.sample(c.rng)
		if err != nil {
			return err
		}
		cands[i] = feedback.ControlQuery("", a, b)
		cands[i].Run = filepath.Base(c.Dir)
		cands[i].PolicyVersion = version
		cands[i].Created = time.Now().UTC()
	}
	qs := cands
	if k > n {
		var err error
		if qs, err = c.Ensemble.SelectActive(cands, n); err != nil {
			return fmt.Errorf("loop: select queries: %w", err)
		}
	}
	for i := range qs {
		qs[i].ID = c.queryID()
	}
	c.st.Requested += len(qs)
	broker.Post(qs...)
	return nil
}

// addAnswers records arrived answers and adds those with a training target
// to the ensemble. A labeler error stops the run.
func (c *Control) addAnswers(answers []Answer, labels *feedback.Appender[feedback.ControlRecord]) error {
	for _, a := range answers {
		if a.Err != nil {
			return fmt.Errorf("loop: label query %s: %w", a.Query.ID, a.Err)
		}
		if err := a.Label.Check(len(a.Query.Items)); err != nil {
			return fmt.Errorf("loop: %w", err)
		}
		c.st.Received++
		rec, ok := feedback.ControlRecordOf(a.Query, a.Label)
		if !ok {
			continue // cant_tell or skip: no training signal
		}
		if _, err := c.Ensemble.Add(rec); err != nil {
			return fmt.Errorf("loop: %w", err)
		}
		if err := labels.Append(rec); err != nil {
			return fmt.Errorf("loop: %w", err)
		}
		c.st.Used++
		c.st.NewLabels++
	}
	return nil
}

// trainRM trains the ensemble and refreshes the absorbing-state baseline.
func (c *Control) trainRM(ctx context.Context, steps int) error {
	if total, val := c.Ensemble.Len(); total == val {
		return nil // nothing to train on yet (every label held out)
	}
	start := time.Now()
	ts, err := c.Ensemble.Train(ctx, steps)
	c.st.RMSeconds += time.Since(start).Seconds()
	if err != nil {
		return fmt.Errorf("loop: train reward model: %w", err)
	}
	c.st.NewLabels = 0
	c.rmLast = ts.Metrics()
	c.st.Baseline = 0
	if len(c.pool.terminalObs) > 0 {
		r := c.Ensemble.Reward(c.pool.terminalObs, c.pool.terminalAct)
		var s float64
		for _, v := range r {
			s += v
		}
		c.st.Baseline = s / float64(len(r))
	}
	return nil
}

// correlations returns the Pearson correlation of the ensemble's reward with
// the true score over the steps of the finished episodes, and of predicted
// with true returns over 32 segments drawn from the pool. For CartPole the
// per-step score is constant and the first is NaN; the second is what the
// labels compare.
func (c *Control) correlations(eps []env.Episode, iter int) (step, seg float64) {
	var obs, act [][]float64
	var score []float64
	for _, e := range eps {
		for _, s := range e.Steps {
			if len(obs) >= 2048 {
				break
			}
			obs, act, score = append(obs, s.Obs), append(act, s.Action), append(score, s.Score)
		}
	}
	step = math.NaN()
	if len(obs) > 1 {
		step = c.Ensemble.Correlation(obs, act, score)
	}
	seg = math.NaN()
	if !c.pool.ready() {
		return step, seg
	}
	r := rand.New(rand.NewPCG(c.Config.Seed^saltCorr, uint64(iter)))
	obs, act = obs[:0], act[:0]
	var lens []int
	var trueRet []float64
	for range 32 {
		s, err := c.pool.sample(r)
		if err != nil {
			return step, seg
		}
		obs = append(obs, s.States...)
		act = append(act, s.Actions...)
		lens = append(lens, len(s.States))
		trueRet = append(trueRet, s.Return)
	}
	pred := c.Ensemble.Reward(obs, act)
	predRet := make([]float64, len(lens))
	at := 0
	for i, n := range lens {
		for _, v := range pred[at : at+n] {
			predRet[i] += v
		}
		at += n
	}
	return step, reward.Pearson(predRet, trueRet)
}

// checkpoint writes the policy, the ensemble and the loop state, in that
// order, the state last so that it never points past what is on disk.
func (c *Control) checkpoint(logger *report.Logger) error {
	if err := c.Trainer.Save(filepath.Join(c.Dir, PolicyDir)); err != nil {
		return fmt.Errorf("loop: checkpoint: %w", err)
	}
	if c.Ensemble != nil {
		if err := c.Ensemble.Save(filepath.Join(c.Dir, RewardDir)); err != nil {
			return fmt.Errorf("loop: checkpoint: %w", err)
		}
		if err := c.pool.save(filepath.Join(c.Dir, PoolFile)); err != nil {
			return fmt.Errorf("loop: checkpoint: %w", err)
		}
	}
	if err := logger.Sync(); err != nil {
		return fmt.Errorf("loop: checkpoint: %w", err)
	}
	rng, err := c.pcg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("loop: checkpoint: generator state: %w", err)
	}
	c.st.RNG = rng
	buf, err := json.MarshalIndent(c.st, "", "  ")
	if err != nil {
		return fmt.Errorf("loop: checkpoint: %w", err)
	}
	if err := writeAtomic(filepath.Join(c.Dir, StateFile), append(buf, '\n')); err != nil {
		return fmt.Errorf("loop: checkpoint: %w", err)
	}
	return nil
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// finish evaluates the final policy and writes the summary and the report.
func (c *Control) finish(ctx context.Context, wall float64) (ControlResult, error) {
	cfg := c.Config
	spec, _ := env.SpecOf(cfg.Env)
	_, scores, err := c.Trainer.Evaluate(ctx, cfg.EvalEpisodes, min(cfg.EvalEpisodes, 8), cfg.Seed+saltEval, false)
	if err != nil {
		return ControlResult{}, fmt.Errorf("loop: %w", err)
	}
	mean, std := report.Spread(scores)
	res := ControlResult{
		Env: cfg.Env, Metric: spec.Metric, Reward: cfg.Reward, Labels: cfg.Labels, Seed: cfg.Seed, Steps: c.Trainer.GlobalStep,
		FinalReturn: mean, FinalReturnStd: std,
		LabelsRequested: c.st.Requested, LabelsReceived: c.st.Received, LabelsUsed: c.st.Used,
		RMAccuracy: math.NaN(), SegmentCorr: math.NaN(),
		WallSeconds: wall, RMSeconds: c.st.RMSeconds, SPS: float64(c.Trainer.GlobalStep) / wall,
		CPUSeconds: processCPUSeconds(),
	}
	if cfg.Learned() {
		res.Queries, res.Offline = cfg.Queries, cfg.Offline
	} else {
		res.Labels = 0
	}
	m, err := report.LoadMetrics(c.Dir)
	if err != nil {
		return ControlResult{}, fmt.Errorf("loop: %w", err)
	}
	res.TrainReturn = lastTenth(m, "charts/episodic_score", c.Trainer.GlobalStep)
	if cfg.Learned() {
		res.RMAccuracy = lastValue(m, "rm/accuracy")
		res.SegmentCorr = lastTenth(m, "rm/corr_segment", c.Trainer.GlobalStep)
	}
	buf, err := json.MarshalIndent(jsonSafe(res), "", "  ")
	if err != nil {
		return ControlResult{}, fmt.Errorf("loop: summary: %w", err)
	}
	if err := writeAtomic(filepath.Join(c.Dir, SummaryFile), append(buf, '\n')); err != nil {
		return ControlResult{}, fmt.Errorf("loop: summary: %w", err)
	}
	if err := c.writeReport(m, res); err != nil {
		return ControlResult{}, err
	}
	return res, nil
}

// jsonSafe replaces NaN fields, which JSON cannot hold, by -1 markers in a
// copy: accuracy and correlation are then read as "not measured".
func jsonSafe(r ControlResult) ControlResult {
	for _, p := range []*float64{&r.RMAccuracy, &r.SegmentCorr, &r.TrainReturn, &r.FinalReturnStd, &r.CPUSeconds} {
		if math.IsNaN(*p) || math.IsInf(*p, 0) {
			*p = -1
		}
	}
	return r
}

// lastTenth is the mean of a metric over the rows of the last tenth of the run.
func lastTenth(m *report.Metrics, key string, steps int) float64 {
	xs, ys := m.Series(key)
	var s float64
	n := 0
	for i := range xs {
		if xs[i] > 0.9*float64(steps) && !math.IsNaN(ys[i]) {
			s += ys[i]
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

func lastValue(m *report.Metrics, key string) float64 {
	_, ys := m.Series(key)
	for i := len(ys) - 1; i >= 0; i-- {
		if !math.IsNaN(ys[i]) {
			return ys[i]
		}
	}
	return math.NaN()
}

func nan() float64 { return math.NaN() }

// writeReport writes the learning curve and the HTML report.
func (c *Control) writeReport(m *report.Metrics, res ControlResult) error {
	cfg := c.Config
	what := "true reward"
	if cfg.Learned() {
		mode := "online"
		if cfg.Offline {
			mode = "offline"
		}
		what = fmt.Sprintf("learned reward, %d labels, %s queries, %s", cfg.Labels, cfg.Queries, mode)
	}
	curve := m.Plot(fmt.Sprintf("%s, PPO on the %s (seed %d)", cfg.Env, what, cfg.Seed), "charts/episodic_score")
	curve.XLabel, curve.YLabel = "environment steps", res.Metric
	if err := report.WriteSVGFile(filepath.Join(c.Dir, CurveFile), curve.SVG()); err != nil {
		return fmt.Errorf("loop: %w", err)
	}
	r := &report.HTMLReport{Title: "rlhf control: " + cfg.Env}
	r.AddHeading("Run")
	r.AddParagraph(fmt.Sprintf("%s, %s, seed %d, %d environment steps.", cfg.Env, what, cfg.Seed, res.Steps))
	r.AddTable([]string{"final " + res.Metric + " (eval mean ± std)", "last-tenth training " + res.Metric, "labels used", "rm accuracy", "segment corr", "wall s", "rm s", "env steps/s"},
		[][]string{{
			fmt.Sprintf("%.1f ± %.1f", res.FinalReturn, res.FinalReturnStd), fmt.Sprintf("%.1f", res.TrainReturn),
			strconv.Itoa(res.LabelsUsed), fmt.Sprintf("%.3f", res.RMAccuracy), fmt.Sprintf("%.3f", res.SegmentCorr),
			fmt.Sprintf("%.0f", res.WallSeconds), fmt.Sprintf("%.0f", res.RMSeconds), fmt.Sprintf("%.0f", res.SPS),
		}})
	r.AddHeading("Learning curve")
	r.AddPlot(curve)
	if cfg.Learned() {
		r.AddHeading("Reward model")
		p := m.Plot("reward model on recent segments", "rm/corr_segment", "rm/accuracy")
		p.XLabel = "environment steps"
		r.AddPlot(p)
		lp := m.Plot("labels", "labels/used", "labels/pending")
		lp.XLabel = "environment steps"
		r.AddPlot(lp)
	}
	if err := r.WriteFile(filepath.Join(c.Dir, ReportFile)); err != nil {
		return fmt.Errorf("loop: %w", err)
	}
	return nil
}
