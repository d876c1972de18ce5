package ppo

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rlhf/nn"
	"rlhf/tensor"
)

func smallConfig(envName string) Config {
	c, _ := Default(envName)
	c.NumEnvs, c.NumSteps, c.NumMinibatches, c.Epochs = 2, 64, 4, 2
	c.TotalSteps = 10 * c.BatchSize()
	c.Hidden = []int{16, 16}
	return c
}

func mustTrainer(t *testing.T, c Config) *Trainer {
	t.Helper()
	tr, err := NewTrainer(c)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func iterate(t *testing.T, tr *Trainer, n int) []Stats {
	t.Helper()
	var out []Stats
	for i := 0; i < n; i++ {
		st, err := tr.Iterate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, st)
	}
	return out
}

func sameParams(t *testing.T, a, b []nn.NamedParam) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d vs %d parameters", len(a), len(b))
	}
	for i := range a {
		if a[i].Name != b[i].Name {
			t.Fatalf("parameter %d: %s vs %s", i, a[i].Name, b[i].Name)
		}
		if d := tensor.MaxAbsDiff(a[i].P.Value, b[i].P.Value); d != 0 {
			t.Fatalf("parameter %s differs by %g", a[i].Name, d)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, name := range []string{"CartPole-v1", "Pendulum-v1", "Acrobot-v1", "Reacher2D-v0"} {
		c, err := Default(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%s default: %v", name, err)
		}
	}
	c := DefaultClassic("NoSuchEnv-v0")
	c.NumMinibatches = 3 // 512 % 3 != 0
	c.Gamma = 1.5
	c.Hidden = nil
	c.LR = 0
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"unknown environment", "not divisible by num_minibatches 3", "gamma", "hidden", "lr must be > 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := Default("nope"); err == nil {
		t.Fatal("Default accepted an unknown environment")
	}
	if _, err := NewTrainer(c); err == nil {
		t.Fatal("NewTrainer accepted an invalid config")
	}
}

func TestDeterministicUnderSeed(t *testing.T) {
	for _, name := range []string{"CartPole-v1", "Pendulum-v1"} {
		c := smallConfig(name)
		a, b := mustTrainer(t, c), mustTrainer(t, c)
		sa, sb := iterate(t, a, 2), iterate(t, b, 2)
		sameParams(t, a.Params(), b.Params())
		if sa[1].PolicyLoss != sb[1].PolicyLoss || sa[1].ApproxKL != sb[1].ApproxKL {
			t.Fatalf("%s: statistics differ under one seed", name)
		}
		c.Seed++
		d := mustTrainer(t, c)
		iterate(t, d, 2)
		if tensor.MaxAbsDiff(a.Params()[0].P.Value, d.Params()[0].P.Value) == 0 {
			t.Fatalf("%s: different seeds gave the same parameters", name)
		}
	}
}

// Train 2 iterations, save, resume and train 1, against 3 straight: the
// parameters, optimiser state and statistics must be identical. Pendulum
// exercises observation and reward normalisation and truncation bootstraps.
func TestCheckpointResumeIsExact(t *testing.T) {
	for _, name := range []string{"CartPole-v1", "Pendulum-v1"} {
		t.Run(name, func(t *testing.T) {
			c := smallConfig(name)
			if name == "Pendulum-v1" {
				// Episodes are truncated at 200 steps: one before the
				// checkpoint (at step 300 of each copy), one after.
				c.NumSteps = 150
			}
			straight := mustTrainer(t, c)
			want := iterate(t, straight, 3)

			first := mustTrainer(t, c)
			iterate(t, first, 2)
			dir := filepath.Join(t.TempDir(), "ckpt")
			if err := first.Save(dir); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{ModelFile, OptimFile, EnvFile, StateFile} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Fatalf("checkpoint lacks %s: %v", f, err)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, ActionsFile)); err == nil {
				t.Fatalf("checkpoint still has an action log")
			}
			resumed, err := Resume(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resumed.Iteration != 2 || resumed.GlobalStep != 2*c.BatchSize() {
				t.Fatalf("resumed at iteration %d step %d", resumed.Iteration, resumed.GlobalStep)
			}
			sameParams(t, first.Params(), resumed.Params())
			got := iterate(t, resumed, 1)
			sameParams(t, straight.Params(), resumed.Params())
			if got[0].PolicyLoss != want[2].PolicyLoss || got[0].ExplainedVariance != want[2].ExplainedVariance {
				t.Fatalf("third iteration statistics differ: %+v vs %+v", got[0], want[2])
			}
			for i := range straight.Opt.M {
				if tensor.MaxAbsDiff(straight.Opt.M[i], resumed.Opt.M[i]) != 0 || tensor.MaxAbsDiff(straight.Opt.V[i], resumed.Opt.V[i]) != 0 {
					t.Fatal("optimiser moments differ")
				}
			}
			if c.NormObs {
				for j := range straight.ObsNorm.Mean {
					if straight.ObsNorm.Mean[j] != resumed.ObsNorm.Mean[j] || straight.ObsNorm.Var[j] != resumed.ObsNorm.Var[j] {
						t.Fatal("observation statistics differ")
					}
				}
			}
		})
	}
}

// A checkpoint of a trainer that has not stepped yet resumes too.
func TestCheckpointAtStepZero(t *testing.T) {
	c := smallConfig("Pendulum-v1")
	a := mustTrainer(t, c)
	dir := t.TempDir()
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	b, err := Resume(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	iterate(t, a, 1)
	iterate(t, b, 1)
	sameParams(t, a.Params(), b.Params())
}

func TestResumeRejectsBadCheckpoints(t *testing.T) {
	c := smallConfig("CartPole-v1")
	tr := mustTrainer(t, c)
	iterate(t, tr, 1)
	dir := t.TempDir()
	if err := tr.Save(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := Resume(filepath.Join(dir, "missing"), nil); err == nil {
		t.Fatal("resumed from a missing directory")
	}
	corrupt := func(file string, data []byte) string {
		d := t.TempDir()
		for _, f := range []string{ModelFile, OptimFile, EnvFile, StateFile} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if f == file {
				b = data
			}
			if err := os.WriteFile(filepath.Join(d, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	state, _ := os.ReadFile(filepath.Join(dir, StateFile))
	envState, _ := os.ReadFile(filepath.Join(dir, EnvFile))
	if !strings.Contains(string(envState), `"steps":64,`) || !strings.Contains(string(envState), `"seed":1,`) {
		t.Fatalf("env.json layout changed: %s", envState)
	}
	cases := map[string]string{
		"state not JSON":  corrupt(StateFile, []byte("{not json")),
		"bad step":        corrupt(StateFile, []byte(strings.Replace(string(state), `"global_step": 128`, `"global_step": 129`, 1))),
		"bad config":      corrupt(StateFile, []byte(strings.Replace(string(state), `"num_envs": 2`, `"num_envs": 0`, 1))),
		"truncated model": corrupt(ModelFile, []byte{1, 2, 3}),
		"no env state":    corrupt(EnvFile, nil),
		"env not JSON":    corrupt(EnvFile, []byte(`{"format":1,"env":`)),
		"env other step":  corrupt(EnvFile, []byte(strings.Replace(string(envState), `"steps":64,`, `"steps":63,`, 1))),
		"env other seed":  corrupt(EnvFile, []byte(strings.Replace(string(envState), `"seed":1,`, `"seed":2,`, 1))),
		"env other name":  corrupt(EnvFile, []byte(strings.Replace(string(envState), `"CartPole-v1"`, `"Acrobot-v1"`, 1))),
		"optimiser junk":  corrupt(OptimFile, []byte("xxxxxxxxxxxxxxxxxxxx")),
	}
	if !strings.Contains(string(state), `"global_step": 128`) {
		t.Fatalf("state.json layout changed: %s", state)
	}
	for name, d := range cases {
		_, err := Resume(d, nil)
		if err == nil {
			t.Errorf("%s: resumed without error", name)
		} else if !strings.HasPrefix(err.Error(), "ppo: ") {
			t.Errorf("%s: error lacks context: %v", name, err)
		}
	}
}

// A short seeded CartPole run must learn: the mean return of the last
// iterations is far above that of the first (about 20 for a random policy).
func TestCartPoleImproves(t *testing.T) {
	c := DefaultClassic("CartPole-v1")
	c.TotalSteps = 60 * c.BatchSize()
	if testing.Short() {
		c.TotalSteps = 30 * c.BatchSize()
	}
	tr := mustTrainer(t, c)
	var first, last []float64
	err := tr.Train(context.Background(), TrainOptions{OnIteration: func(s Stats) error {
		for _, e := range s.Episodes {
			if s.Iteration <= 3 {
				first = append(first, e.Return)
			} else if s.Iteration > c.Iterations()-5 {
				last = append(last, e.Return)
			}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	f, l := mean64(first), mean64(last)
	t.Logf("return: first iterations %.1f, last iterations %.1f", f, l)
	if !(l > 3*f && l > 80) {
		t.Fatalf("return did not improve: %.1f -> %.1f", f, l)
	}
	rets, _, err := tr.Evaluate(context.Background(), 8, 4, 99, true)
	if err != nil || len(rets) != 8 {
		t.Fatalf("evaluate: %v, %d returns", err, len(rets))
	}
	if m := mean64(rets); !(m > 80) {
		t.Fatalf("greedy evaluation return %.1f", m)
	}
}

func mean64(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(max(len(x), 1))
}

// A RewardFunc replaces the environment's reward. Rewarding action 0 alone
// on CartPole must teach the policy to push left nearly always.
func TestRewardFuncReplacesEnvReward(t *testing.T) {
	c := smallConfig("CartPole-v1")
	c.EntCoef = 0
	c.LR = 3e-3
	tr := mustTrainer(t, c)
	calls := 0
	tr.Reward = func(obs, act, next *tensor.Tensor) ([]float32, error) {
		calls++
		if obs.Shape[0] != c.NumEnvs || obs.Shape[1] != 4 || act.Shape[1] != 1 || next.Shape[1] != 4 {
			t.Fatalf("reward shapes obs %v act %v next %v", obs.Shape, act.Shape, next.Shape)
		}
		r := make([]float32, act.Shape[0])
		for i, a := range act.Data {
			if a == 0 {
				r[i] = 1
			}
			// CartPole moves by at most a few hundredths of a unit per step:
			// next must be the successor of obs, even at episode ends.
			for j := 0; j < 4; j++ {
				if d := math.Abs(float64(next.Data[i*4+j] - obs.Data[i*4+j])); d > 1 {
					t.Fatalf("next obs %v is no successor of %v", next.Data[i*4:i*4+4], obs.Data[i*4:i*4+4])
				}
			}
		}
		return r, nil
	}
	stats := iterate(t, tr, 8)
	if calls != 8*c.NumSteps {
		t.Fatalf("reward called %d times, want %d", calls, 8*c.NumSteps)
	}
	var sawTrain bool
	for _, s := range stats {
		if len(s.TrainReturns) != len(s.Episodes) {
			t.Fatalf("%d train returns for %d episodes", len(s.TrainReturns), len(s.Episodes))
		}
		if _, ok := s.Metrics()["charts/episodic_train_return"]; ok {
			sawTrain = true
		}
	}
	if !sawTrain {
		t.Fatal("no episodic train return logged")
	}
	obs := make([]float64, 400)
	for i := range obs {
		obs[i] = 0.05 * math.Sin(float64(i)) // varied states near upright
	}
	acts := tr.Act(nil, obs, true)
	left := 0
	for _, a := range acts {
		if a == 0 {
			left++
		}
	}
	if left != 100 {
		t.Fatalf("greedy policy pushes left in %d of 100 states", left)
	}

	tr.Reward = func(obs, act, next *tensor.Tensor) ([]float32, error) { return make([]float32, 1), nil }
	if _, err := tr.Iterate(context.Background()); err == nil {
		t.Fatal("a reward function returning the wrong count was accepted")
	}
}
