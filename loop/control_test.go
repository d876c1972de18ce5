package loop

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rlhf/env"
	"rlhf/feedback"
	"rlhf/ppo"
	"rlhf/report"
)

// tinyConfig is a CartPole run of a few seconds: 5 PPO iterations of 128
// steps, 24 labels, a small reward model.
func tinyConfig(t *testing.T) ControlConfig {
	t.Helper()
	cfg, err := DefaultControl("CartPole-v1")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Steps = 640
	cfg.PPO.NumEnvs, cfg.PPO.NumSteps, cfg.PPO.NumMinibatches, cfg.PPO.Epochs = 2, 64, 2, 2
	cfg.Labels = 24
	cfg.RMInitSteps = 10
	cfg.RMStepsPerLabel = 0.5
	cfg.RetrainEvery = 4
	cfg.RM.Hidden = []int{16}
	cfg.EvalEpisodes = 2
	cfg.CheckpointEvery = 2
	return cfg
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 7)) }

func oracle() feedback.Labeler { return feedback.Oracle{Score: feedback.SegmentReturn} }

func readLabels(t *testing.T, dir string) []feedback.ControlRecord {
	t.Helper()
	var recs []feedback.ControlRecord
	for rec, err := range feedback.ReadControlFile(filepath.Join(dir, LabelsFile), nil) {
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return recs
}

func TestControlConfigValidate(t *testing.T) {
	cfg := tinyConfig(t)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("tiny config invalid: %v", err)
	}
	cases := map[string]func(*ControlConfig){
		"reward":              func(c *ControlConfig) { c.Reward = "gold" },
		"queries":             func(c *ControlConfig) { c.Queries = "clever" },
		"unknown environment": func(c *ControlConfig) { c.Env = "Nope-v0" },
		"labels must be":      func(c *ControlConfig) { c.Labels = 1 },
		"hides its goal":      func(c *ControlConfig) { c.Env = "PendulumSpin-v0"; c.Reward = RewardTrue },
		"candidates":          func(c *ControlConfig) { c.Candidates = 0 },
		"initial_fraction":    func(c *ControlConfig) { c.InitialFraction = 1.5 },
		"rm dimensions":       func(c *ControlConfig) { c.Env = "Pendulum-v1" },
	}
	for want, mutate := range cases {
		c := tinyConfig(t)
		mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}

func TestSyntheticLabeler(t *testing.T) {
	if _, err := SyntheticLabeler("psychic", 1, 0, 1); err == nil || !strings.Contains(err.Error(), "oracle") {
		t.Errorf("unknown labeler: got %v, want a list of valid ones", err)
	}
	if _, err := SyntheticLabeler(LabelerOracle, 1, 2, 1); err == nil {
		t.Error("eps-random 2 accepted")
	}
	lab, err := SyntheticLabeler(LabelerBoltzmann, 0.5, 0.1, 3)
	if err != nil {
		t.Fatal(err)
	}
	a := feedback.Segment{Rewards: []float64{1, 1}, States: [][]float64{{0}, {0}}, Actions: [][]float64{{0}, {0}}}
	b := feedback.Segment{Rewards: []float64{0, 0}, States: [][]float64{{0}, {0}}, Actions: [][]float64{{0}, {0}}}
	wins := 0
	for i := range 200 {
		l, err := lab.Label(context.Background(), feedback.ControlQuery(fmt.Sprintf("q%d", i), a, b))
		if err != nil {
			t.Fatal(err)
		}
		if l.Choice == 0 {
			wins++
		}
	}
	// P(a) = 0.9·σ(2/0.5) + 0.05 ≈ 0.93.
	if wins < 170 || wins > 199 {
		t.Errorf("boltzmann+noise picked the better segment %d/200 times, want about 186", wins)
	}
}

func TestBrokerDoesNotBlockOnSlowLabeler(t *testing.T) {
	var calls atomic.Int32
	slow := feedback.LabelerFunc(func(ctx context.Context, q feedback.Query) (feedback.Label, error) {
		calls.Add(1)
		select {
		case <-ctx.Done():
			return feedback.Label{}, ctx.Err()
		case <-time.After(30 * time.Millisecond):
		}
		return feedback.Label{QueryID: q.ID, Choice: 0}, nil
	})
	b := NewBroker(context.Background(), slow, 2)
	seg := feedback.Segment{States: [][]float64{{0}}, Actions: [][]float64{{0}}}
	start := time.Now()
	for i := range 6 {
		b.Post(feedback.ControlQuery("q"+string(rune('0'+i)), seg, seg))
	}
	if d := time.Since(start); d > 20*time.Millisecond {
		t.Errorf("Post took %v with a slow labeler", d)
	}
	if got := b.Poll(); len(got) != 0 {
		t.Errorf("answers before the labeler could answer: %v", got)
	}
	if b.NumPending() != 6 {
		t.Errorf("pending %d, want 6", b.NumPending())
	}
	got, err := b.Wait(context.Background(), 4)
	if err != nil || len(got) < 4 {
		t.Fatalf("Wait(4) = %d answers, %v", len(got), err)
	}
	for _, a := range got {
		if a.Err != nil || a.Label.QueryID != a.Query.ID {
			t.Errorf("answer %+v", a)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Wait(ctx, 100); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait on a cancelled context: %v", err)
	}
	b.Close()
	if n := len(got) + len(b.Poll()) + b.NumPending(); n != 6 {
		t.Errorf("answers + pending = %d after Close, want 6", n)
	}
}

func TestBrokerReportsLabelerErrors(t *testing.T) {
	bad := feedback.LabelerFunc(func(ctx context.Context, q feedback.Query) (feedback.Label, error) {
		return feedback.Label{QueryID: "other", Choice: 0}, nil
	})
	b := NewBroker(context.Background(), bad, 1)
	defer b.Close()
	seg := feedback.Segment{States: [][]float64{{0}}, Actions: [][]float64{{0}}}
	b.Post(feedback.ControlQuery("q1", seg, seg))
	got, err := b.Wait(context.Background(), 1)
	if err != nil || len(got) != 1 || got[0].Err == nil || !strings.Contains(got[0].Err.Error(), "q1") {
		t.Fatalf("want an error for a label answering another query, got %+v, %v", got, err)
	}
}

func TestPoolSegments(t *testing.T) {
	// A terminated episode offers a segment at every step, padded with
	// absorbing steps past its end, so the failure is inside many segments.
	short, err := env.Rollout("CartPole-v1", 1, func([]float64) []float64 { return []float64{1} })
	if err != nil {
		t.Fatal(err)
	}
	if !short.Terminated || short.Length >= 50 {
		t.Fatalf("always pushing right should fall within 50 steps, got %d steps", short.Length)
	}
	p := newPool("CartPole-v1", 50, 10_000)
	if p.ready() {
		t.Fatal("empty pool ready")
	}
	p.add([]env.Episode{short})
	if !p.ready() || len(p.terminalObs) != 1 {
		t.Fatalf("ready %v, terminal steps %d", p.ready(), len(p.terminalObs))
	}
	if got := p.starts(&p.eps[0]); got != short.Length {
		t.Errorf("terminated %d-step episode offers %d starts, want one per step", short.Length, got)
	}
	r := newRand(1)
	seen := map[int]bool{}
	for range 200 {
		s, err := p.sample(r)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.States) != 50 || len(s.Actions) != 50 || s.Return != float64(short.Length-s.Start) {
			t.Fatalf("padded segment at %d: %d states, %d actions, return %v, want 50, 50, %d", s.Start, len(s.States), len(s.Actions), s.Return, short.Length-s.Start)
		}
		seen[s.Start] = true
	}
	if len(seen) < short.Length/2 {
		t.Errorf("200 draws hit %d of %d start positions", len(seen), short.Length)
	}
	// A long terminated episode: segments near the end reach past it.
	longTerm := env.Episode{Terminated: true, Steps: make([]env.StepRecord, 120)}
	for i := range longTerm.Steps {
		longTerm.Steps[i] = env.StepRecord{Obs: []float64{0, 0, 0, 0}, Action: []float64{0}, Score: 1}
	}
	longTerm.Steps[119].Terminated = true
	lp := newPool("CartPole-v1", 50, 10_000)
	lp.add([]env.Episode{longTerm})
	if got := lp.starts(&lp.eps[0]); got != 120 {
		t.Errorf("terminated 120-step episode offers %d starts, want 120", got)
	}
	short50 := 0
	for range 300 {
		s, err := lp.sample(r)
		if err != nil {
			t.Fatal(err)
		}
		if s.Return < 50 {
			short50++
		}
	}
	// 49 of 120 starts reach past the end.
	if short50 < 80 || short50 > 170 {
		t.Errorf("%d of 300 segments contain the end, want about 300*49/120", short50)
	}
	// An unterminated episode shorter than a segment gives none.
	q := newPool("Pendulum-v1", 25, 10_000)
	ep := env.Episode{Steps: make([]env.StepRecord, 10)}
	q.add([]env.Episode{ep})
	if q.ready() {
		t.Error("a truncated 10-step episode offers a 25-step segment")
	}
	// The pool keeps at most maxSteps steps, dropping the oldest episodes.
	long := env.Episode{Steps: make([]env.StepRecord, 400)}
	for i := range long.Steps {
		long.Steps[i] = env.StepRecord{Obs: []float64{0, 0, 0}, Action: []float64{0}, Score: float64(i)}
	}
	q.maxSteps = 1000
	for range 5 {
		q.add([]env.Episode{long})
	}
	if q.steps > 1000 || len(q.eps) != 2 || q.eps[0].id != 4 {
		t.Errorf("pool holds %d steps in %d episodes (first id %d), want <= 1000 in 2 from id 4", q.steps, len(q.eps), q.eps[0].id)
	}
	for range 50 {
		s, err := q.sample(r)
		if err != nil {
			t.Fatal(err)
		}
		want := 0.0
		for k := range 25 {
			want += float64(s.Start + k)
		}
		if len(s.States) != 25 || s.Return != want {
			t.Fatalf("segment at %d: %d steps, return %v, want 25, %v", s.Start, len(s.States), s.Return, want)
		}
	}
}

func TestControlRunLearnedReward(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig(t)
	c, err := NewControl(cfg, dir, oracle())
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := ppo.NewTrainer(c.Config.PPO)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 640 || c.Trainer.Iteration != 5 {
		t.Errorf("steps %d, iterations %d, want 640, 5", res.Steps, c.Trainer.Iteration)
	}
	if res.LabelsRequested != cfg.Labels {
		t.Errorf("requested %d labels, want the whole budget %d", res.LabelsRequested, cfg.Labels)
	}
	recs := readLabels(t, dir)
	if len(recs) != res.LabelsUsed || res.LabelsUsed < cfg.Labels/2 {
		t.Errorf("%d records in %s, %d used, budget %d", len(recs), LabelsFile, res.LabelsUsed, cfg.Labels)
	}
	ids := map[string]bool{}
	for _, r := range recs {
		if ids[r.QueryID] {
			t.Errorf("query %s labelled twice", r.QueryID)
		}
		ids[r.QueryID] = true
		if len(r.Segments) != 2 || len(r.Segments[0].States) != 50 {
			t.Fatalf("record %s: %d segments of %d steps", r.QueryID, len(r.Segments), len(r.Segments[0].States))
		}
	}
	// The policy moved, and PPO learned from the ensemble, not the env.
	changed := false
	for i, p := range c.Trainer.Params() {
		for j, v := range p.P.Value.Data {
			if v != fresh.Params()[i].P.Value.Data[j] {
				changed = true
			}
		}
	}
	if !changed {
		t.Error("policy parameters did not change")
	}
	if c.Ensemble.Steps() < cfg.RMInitSteps {
		t.Errorf("reward model took %d steps, want >= %d", c.Ensemble.Steps(), cfg.RMInitSteps)
	}
	m, err := report.LoadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Rows) != 5 {
		t.Fatalf("%d metric rows, want 5", len(m.Rows))
	}
	for _, k := range []string{"charts/episodic_score", "labels/used", "rm/accuracy", "rm/corr_segment", "charts/SPS", "time/wall_s", "charts/episodic_train_return"} {
		if _, v := m.Series(k); len(v) == 0 {
			t.Errorf("metric %s never logged", k)
		}
	}
	_, req := m.Series("labels/requested")
	if req[0] < float64(cfg.Labels/4) || req[len(req)-1] != float64(cfg.Labels) {
		t.Errorf("labels requested over time %v: want >= %d at first and %d at the end", req, cfg.Labels/4, cfg.Labels)
	}
	for _, f := range []string{SummaryFile, ReportFile, CurveFile, StateFile, filepath.Join(PolicyDir, ppo.ModelFile), filepath.Join(RewardDir, "model.safetensors")} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("output %s: %v", f, err)
		}
	}
	if math.IsNaN(res.FinalReturn) || res.FinalReturn <= 0 {
		t.Errorf("final return %v", res.FinalReturn)
	}
	if _, err := NewControl(cfg, dir, oracle()); err == nil {
		t.Error("NewControl reused a directory holding a run")
	}
}

func TestControlTrueRewardNeedsNoLabeler(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.Reward = RewardTrue
	dir := t.TempDir()
	c, err := NewControl(cfg, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.Ensemble != nil || res.LabelsRequested != 0 {
		t.Errorf("true-reward run built a reward model or asked %d queries", res.LabelsRequested)
	}
	if _, err := os.Stat(filepath.Join(dir, LabelsFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("true-reward run wrote %s", LabelsFile)
	}
	if _, err := NewControl(tinyConfig(t), t.TempDir(), nil); err == nil {
		t.Error("learned-reward run accepted without a labeler")
	}
}

func TestControlOfflineAsksEverythingFirst(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.Offline = true
	cfg.Queries = QueriesRandom
	dir := t.TempDir()
	c, err := NewControl(cfg, dir, oracle())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	m, err := report.LoadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, req := m.Series("labels/requested")
	_, used := m.Series("labels/used")
	if _, acc := m.Series("rm/accuracy"); len(acc) != 1 {
		t.Errorf("offline run logged rm/accuracy %d times, want once (after the up-front training)", len(acc))
	}
	for i := range req {
		if req[i] != float64(cfg.Labels) || used[i] != used[0] {
			t.Fatalf("offline run: requested %v, used %v; want the whole budget from the start and no new labels", req, used)
		}
	}
	for _, r := range readLabels(t, dir) {
		if r.Segments[0].Start < 0 || !strings.HasPrefix(r.QueryID, "CartPole-v1-s1-") {
			t.Errorf("record %+v", r.Provenance)
		}
	}
}

func TestControlSlowLabelerTrainingContinues(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.Steps = 1280 // 10 iterations
	dir := t.TempDir()
	lab := Delayed{Labeler: oracle(), Delay: 15 * time.Millisecond}
	c, err := NewControl(cfg, dir, lab)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m, err := report.LoadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, pending := m.Series("labels/pending")
	maxPending := 0.0
	for _, p := range pending {
		maxPending = max(maxPending, p)
	}
	if maxPending == 0 {
		t.Error("no iteration ran while labels were pending: the loop waited for the labeler")
	}
	if res.LabelsUsed < cfg.Labels/4 {
		t.Errorf("only %d labels used", res.LabelsUsed)
	}
}

func TestControlResume(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.Steps = 1280
	cfg.CheckpointEvery = 1
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n atomic.Int32
	// The labeler pulls the plug after a dozen labels, mid-run.
	lab := feedback.LabelerFunc(func(lctx context.Context, q feedback.Query) (feedback.Label, error) {
		if n.Add(1) == 12 {
			cancel()
		}
		return oracle().Label(context.Background(), q)
	})
	c, err := NewControl(cfg, dir, lab)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	stopped := c.Trainer.Iteration
	if stopped >= 10 {
		t.Fatalf("run was not interrupted (iteration %d)", stopped)
	}
	r, err := ResumeControl(dir, oracle())
	if err != nil {
		t.Fatal(err)
	}
	if r.Trainer.Iteration != stopped || r.Ensemble.Steps() != c.Ensemble.Steps() {
		t.Errorf("resumed at iteration %d with %d rm steps, stopped at %d with %d", r.Trainer.Iteration, r.Ensemble.Steps(), stopped, c.Ensemble.Steps())
	}
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Trainer.Iteration != 10 || res.Steps != 1280 {
		t.Errorf("resumed run ended at iteration %d, step %d", r.Trainer.Iteration, res.Steps)
	}
	recs := readLabels(t, dir)
	ids := map[string]bool{}
	for _, rec := range recs {
		if ids[rec.QueryID] {
			t.Errorf("query %s labelled twice across the resume", rec.QueryID)
		}
		ids[rec.QueryID] = true
	}
	if len(recs) != res.LabelsUsed || res.LabelsRequested > cfg.Labels || res.LabelsRequested < cfg.Labels-2 {
		t.Errorf("%d records, %d used, %d requested of %d", len(recs), res.LabelsUsed, res.LabelsRequested, cfg.Labels)
	}
	if _, err := ResumeControl(t.TempDir(), oracle()); err == nil {
		t.Error("resumed an empty directory")
	}
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte("{bad"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ResumeControl(dir, oracle()); err == nil || !strings.Contains(err.Error(), StateFile) {
		t.Errorf("corrupt state: %v", err)
	}
}

func TestControlWaitLabelsReproducible(t *testing.T) {
	// Three workers answering after random delays: without waiting, which
	// labels are in by a given iteration, and their order, would vary.
	run := func(jitter uint64) (ControlResult, []feedback.ControlRecord, []float32) {
		cfg := tinyConfig(t)
		cfg.WaitLabels = true
		cfg.LabelWorkers = 3
		dir := t.TempDir()
		r := newRand(jitter)
		var mu sync.Mutex
		lab := feedback.LabelerFunc(func(ctx context.Context, q feedback.Query) (feedback.Label, error) {
			mu.Lock()
			d := time.Duration(r.IntN(2000)) * time.Microsecond
			mu.Unlock()
			time.Sleep(d)
			return oracle().Label(ctx, q)
		})
		c, err := NewControl(cfg, dir, lab)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		m, err := report.LoadMetrics(dir)
		if err != nil {
			t.Fatal(err)
		}
		// Every label asked by an iteration is in use by the next one.
		_, req := m.Series("labels/requested")
		_, recv := m.Series("labels/received")
		for i := 1; i < len(req); i++ {
			if recv[i] != req[i-1] {
				t.Errorf("iteration %d: %v labels received, %v requested by the one before", i, recv[i], req[i-1])
			}
		}
		var w []float32
		for _, p := range c.Trainer.Params() {
			w = append(w, p.P.Value.Data...)
		}
		return res, readLabels(t, dir), w
	}
	res1, recs1, w1 := run(1)
	res2, recs2, w2 := run(2)
	if len(recs1) != len(recs2) {
		t.Fatalf("%d and %d labels", len(recs1), len(recs2))
	}
	for i := range recs1 {
		if recs1[i].QueryID != recs2[i].QueryID || recs1[i].Choice != recs2[i].Choice {
			t.Fatalf("label %d: %s/%v vs %s/%v", i, recs1[i].QueryID, recs1[i].Choice, recs2[i].QueryID, recs2[i].Choice)
		}
	}
	if !slices.Equal(w1, w2) || res1.FinalReturn != res2.FinalReturn {
		t.Errorf("runs differ: final return %v vs %v, policy equal %v", res1.FinalReturn, res2.FinalReturn, slices.Equal(w1, w2))
	}
}

func TestControlStopResumeIsUninterrupted(t *testing.T) {
	// A run stopped at an iteration boundary and resumed gives the run that
	// was never stopped: the same labels, reward model and policy.
	cfg := tinyConfig(t)
	cfg.Steps = 1280
	cfg.WaitLabels = true
	run := func(stopAt int) (*Control, ControlResult, string) {
		dir := t.TempDir()
		c, err := NewControl(cfg, dir, oracle())
		if err != nil {
			t.Fatal(err)
		}
		if stopAt > 0 {
			c.Stop = func(context.Context) (bool, error) { return c.Trainer.Iteration == stopAt, nil }
			if _, err := c.Run(context.Background()); !errors.Is(err, ErrStopped) {
				t.Fatalf("stopped run: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, PoolFile)); err != nil {
				t.Fatalf("no pool in the checkpoint: %v", err)
			}
			if c, err = ResumeControl(dir, oracle()); err != nil {
				t.Fatal(err)
			}
		}
		res, err := c.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return c, res, dir
	}
	want, wres, wdir := run(0)
	for _, at := range []int{1, 6} {
		got, gres, gdir := run(at)
		wl, gl := readLabels(t, wdir), readLabels(t, gdir)
		if len(wl) != len(gl) {
			t.Fatalf("stop at %d: %d labels, want %d", at, len(gl), len(wl))
		}
		for i := range wl {
			if wl[i].QueryID != gl[i].QueryID || wl[i].Choice != gl[i].Choice || !slices.Equal(wl[i].Segments[0].States[0], gl[i].Segments[0].States[0]) {
				t.Fatalf("stop at %d: label %d is %s/%v, want %s/%v", at, i, gl[i].QueryID, gl[i].Choice, wl[i].QueryID, wl[i].Choice)
			}
		}
		for i, p := range want.Trainer.Params() {
			if !slices.Equal(p.P.Value.Data, got.Trainer.Params()[i].P.Value.Data) {
				t.Fatalf("stop at %d: policy parameter %s differs", at, p.Name)
			}
		}
		obs := [][]float64{{0.01, -0.2, 0.03, 0.1}, {0.5, 1, -0.2, -1}}
		act := [][]float64{{0}, {1}}
		if w, g := want.Ensemble.Reward(obs, act), got.Ensemble.Reward(obs, act); !slices.Equal(w, g) {
			t.Errorf("stop at %d: reward model predicts %v, want %v", at, g, w)
		}
		if gres.FinalReturn != wres.FinalReturn {
			t.Errorf("stop at %d: final return %v, want %v", at, gres.FinalReturn, wres.FinalReturn)
		}
	}
}

func TestPoolSaveLoad(t *testing.T) {
	ep, err := env.Rollout("CartPole-v1", 3, func([]float64) []float64 { return []float64{0} })
	if err != nil {
		t.Fatal(err)
	}
	p := newPool("CartPole-v1", 50, 10_000)
	p.add([]env.Episode{ep, ep})
	path := filepath.Join(t.TempDir(), PoolFile)
	if err := p.save(path); err != nil {
		t.Fatal(err)
	}
	q := newPool("CartPole-v1", 50, 10_000)
	if err := q.load(path); err != nil {
		t.Fatal(err)
	}
	a, err := p.sample(newRand(5))
	if err != nil {
		t.Fatal(err)
	}
	b, err := q.sample(newRand(5))
	if err != nil {
		t.Fatal(err)
	}
	if q.steps != p.steps || q.next != p.next || len(q.terminalObs) != 2 || a.Start != b.Start || !slices.Equal(a.States[3], b.States[3]) {
		t.Errorf("loaded pool differs: %d/%d steps, next %d/%d, starts %d/%d", q.steps, p.steps, q.next, p.next, b.Start, a.Start)
	}
	if err := newPool("Pendulum-v1", 25, 10_000).load(path); err == nil || !strings.Contains(err.Error(), "CartPole-v1") {
		t.Errorf("pool of another task loaded: %v", err)
	}
	if err := os.WriteFile(path, []byte("not gob"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := q.load(path); err == nil {
		t.Error("corrupt pool file loaded")
	}
}
