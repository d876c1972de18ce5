package ppo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"rlhf/env"
	"rlhf/safetensors"
	"rlhf/tensor"
)

// sumReward is a RewardFunc that depends on every input: the sum of the
// next observation minus a tenth of the action.
func sumReward(obs, act, next *tensor.Tensor) ([]float32, error) {
	n := obs.Shape[0]
	d, ad := next.Shape[1], act.Shape[1]
	r := make([]float32, n)
	for i := range r {
		for j := 0; j < d; j++ {
			r[i] += next.Data[i*d+j] - 0.5*obs.Data[i*d+j]
		}
		for j := 0; j < ad; j++ {
			r[i] -= 0.1 * act.Data[i*ad+j]
		}
	}
	return r, nil
}

// TestInterruptedRunsAreExact: a run saved and resumed after iterations 1, 3
// and 4 (each time into a fresh trainer) gives the same metrics, episodes
// (with their recorded steps), parameters and optimiser state as a run of 6
// straight iterations, bit for bit. Pendulum runs with a RewardFunc so that
// the training-return accumulators are carried too.
func TestInterruptedRunsAreExact(t *testing.T) {
	const iters = 6
	stops := map[int]bool{1: true, 3: true, 4: true}
	for _, name := range []string{"CartPole-v1", "Pendulum-v1"} {
		t.Run(name, func(t *testing.T) {
			c := smallConfig(name)
			var rf RewardFunc
			if name == "Pendulum-v1" {
				c.NumSteps = 70 // episodes of 200 steps end mid-iteration
				rf = sumReward
			}
			build := func(tr *Trainer) *Trainer {
				tr.Reward = rf
				tr.Env.Record = true
				return tr
			}
			straight := build(mustTrainer(t, c))
			want := iterate(t, straight, iters)

			tr := build(mustTrainer(t, c))
			dir := filepath.Join(t.TempDir(), "ckpt")
			var got []Stats
			for it := 1; it <= iters; it++ {
				got = append(got, iterate(t, tr, 1)...)
				if stops[it] {
					if err := tr.Save(dir); err != nil {
						t.Fatal(err)
					}
					r, err := Resume(dir, rf)
					if err != nil {
						t.Fatal(err)
					}
					tr = build(r)
				}
			}
			episodes := 0
			for i := range want {
				w, g := want[i], got[i]
				if !reflect.DeepEqual(w.Metrics(), g.Metrics()) {
					t.Fatalf("iteration %d metrics differ:\n%v\n%v", i+1, w.Metrics(), g.Metrics())
				}
				if !reflect.DeepEqual(w.Episodes, g.Episodes) || !reflect.DeepEqual(w.TrainReturns, g.TrainReturns) {
					t.Fatalf("iteration %d episodes differ", i+1)
				}
				episodes += len(g.Episodes)
				for _, ep := range g.Episodes {
					if len(ep.Steps) != ep.Length {
						t.Fatalf("episode of %d steps has %d recorded", ep.Length, len(ep.Steps))
					}
				}
			}
			if episodes == 0 {
				t.Fatal("no episode ended: the test proves nothing about episode statistics")
			}
			sameParams(t, straight.Params(), tr.Params())
			for i := range straight.Opt.M {
				if tensor.MaxAbsDiff(straight.Opt.M[i], tr.Opt.M[i]) != 0 || tensor.MaxAbsDiff(straight.Opt.V[i], tr.Opt.V[i]) != 0 {
					t.Fatal("optimiser moments differ")
				}
			}
			ws, _ := straight.Env.State()
			gs, _ := tr.Env.State()
			if !reflect.DeepEqual(ws, gs) {
				t.Fatal("environment states differ")
			}
		})
	}
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		n += info.Size()
	}
	return n
}

// The checkpoint does not grow with the number of steps: after 12
// iterations it is the size it was after 1, up to the digits of the numbers
// it holds (an action log would have added 11·300·4 = 13200 bytes).
func TestCheckpointSizeDoesNotGrow(t *testing.T) {
	c := smallConfig("Pendulum-v1")
	c.NumSteps = 150
	tr := mustTrainer(t, c)
	dir := t.TempDir()
	iterate(t, tr, 1)
	if err := tr.Save(dir); err != nil {
		t.Fatal(err)
	}
	first := dirSize(t, dir)
	iterate(t, tr, 11)
	if err := tr.Save(dir); err != nil {
		t.Fatal(err)
	}
	last := dirSize(t, dir)
	t.Logf("checkpoint: %d bytes after 1 iteration, %d after 12", first, last)
	// About 30 floats vary in the JSON files, at most ~24 characters each.
	if last > first+800 {
		t.Fatalf("checkpoint grew from %d to %d bytes", first, last)
	}
	if _, err := os.Stat(filepath.Join(dir, ActionsFile)); err == nil {
		t.Fatal("checkpoint holds an action log")
	}
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// Checkpoints of format 1 (with an action log), written by the trainer
// before environments were saved by state, still resume: the environments
// are replayed once, to exactly the state the logged actions lead to, the
// checkpoint is rewritten in the current format, and training from the
// rewritten checkpoint equals training from the old one.
func TestResumeFormat1Checkpoint(t *testing.T) {
	for _, name := range []string{"CartPole-v1", "Pendulum-v1"} {
		t.Run(name, func(t *testing.T) {
			fixture := filepath.Join("testdata", "checkpoint-v1-"+name)
			dir := copyDir(t, fixture)
			var old checkpointState
			buf, err := os.ReadFile(filepath.Join(dir, StateFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(buf, &old); err != nil || old.Format != formatActionLog {
				t.Fatalf("fixture is not a format-1 checkpoint: %v, format %d", err, old.Format)
			}
			tr, err := Resume(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Iteration != old.Iteration || tr.GlobalStep != old.GlobalStep || old.GlobalStep == 0 {
				t.Fatalf("resumed at iteration %d step %d, saved at %d, %d", tr.Iteration, tr.GlobalStep, old.Iteration, old.GlobalStep)
			}
			model, err := safetensors.ReadFile(filepath.Join(fixture, ModelFile))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tr.Params() {
				if tensor.MaxAbsDiff(p.P.Value, model.Tensors[p.Name]) != 0 {
					t.Fatalf("parameter %s not loaded", p.Name)
				}
			}

			// The environments are where the logged actions lead.
			acts, err := safetensors.ReadFile(filepath.Join(fixture, ActionsFile))
			if err != nil {
				t.Fatal(err)
			}
			n, ad := old.Config.NumEnvs, tr.Policy.ActDim()
			ref, err := env.NewVecEnv(old.Config.Env, n, old.Config.Seed)
			if err != nil {
				t.Fatal(err)
			}
			ref.Reset()
			log := acts.Tensors["actions"].Data
			envActs := make([]float64, n*ad)
			for lo := 0; lo < len(log); lo += n * ad {
				tr.Policy.EnvActions(tensor.FromSlice(log[lo:lo+n*ad], n, ad), envActs)
				ref.Step(envActs)
			}
			want, _ := ref.State()
			got, _ := tr.Env.State()
			if !reflect.DeepEqual(want, got) || want.Steps != old.GlobalStep/n {
				t.Fatalf("replayed environments differ from the reference replay")
			}

			// The checkpoint was rewritten in the current format.
			if _, err := os.Stat(filepath.Join(dir, ActionsFile)); err == nil {
				t.Fatal("upgraded checkpoint still has its action log")
			}
			st, err := readState(dir)
			if err != nil || st.Format != formatEnvState {
				t.Fatalf("checkpoint not upgraded: %v", err)
			}
			upgraded, err := Resume(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			sameParams(t, tr.Params(), upgraded.Params())
			a, b := iterate(t, tr, 2), iterate(t, upgraded, 2)
			sameParams(t, tr.Params(), upgraded.Params())
			for i := range a {
				if !reflect.DeepEqual(a[i].Metrics(), b[i].Metrics()) || !reflect.DeepEqual(a[i].Episodes, b[i].Episodes) {
					t.Fatalf("iteration %d after resume differs between the old and the rewritten checkpoint", i+1)
				}
			}
		})
	}
}

// A corrupt format-1 action log is a clear error, and the checkpoint is left as it was.
func TestResumeFormat1RejectsBadActionLog(t *testing.T) {
	dir := copyDir(t, filepath.Join("testdata", "checkpoint-v1-CartPole-v1"))
	if err := os.WriteFile(filepath.Join(dir, ActionsFile), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Resume(dir, nil)
	if err == nil || !strings.Contains(err.Error(), "ppo: resume") {
		t.Fatalf("resumed from a corrupt action log: %v", err)
	}
	if st, err := readState(dir); err != nil || st.Format != formatActionLog {
		t.Fatalf("a failed resume rewrote the checkpoint: %v", err)
	}
}

// ctxAfter is a context whose Err reports cancellation from its (n+1)th call on.
type ctxAfter struct {
	context.Context
	n int
}

func (c *ctxAfter) Err() error {
	if c.n <= 0 {
		return context.Canceled
	}
	c.n--
	return nil
}

// An iteration cancelled in its rollout or in its update leaves the trainer
// as it was: it continues, and a checkpoint saved then resumes, exactly like
// an uninterrupted run.
func TestFailedIterationLeavesNoTrace(t *testing.T) {
	c := smallConfig("Pendulum-v1")
	c.NumSteps = 70
	straight := mustTrainer(t, c)
	straight.Env.Record = true
	want := iterate(t, straight, 4)
	// Err is checked once per rollout step, then once per minibatch.
	for _, n := range []int{0, 30, c.NumSteps + 3} {
		tr := mustTrainer(t, c)
		tr.Env.Record = true
		got := iterate(t, tr, 1)
		if _, err := tr.Iterate(&ctxAfter{Context: context.Background(), n: n}); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancel after %d checks: %v", n, err)
		}
		if tr.Iteration != 1 || tr.GlobalStep != c.BatchSize() {
			t.Fatalf("cancel after %d checks: trainer at iteration %d step %d", n, tr.Iteration, tr.GlobalStep)
		}
		dir := t.TempDir()
		if err := tr.Save(dir); err != nil {
			t.Fatal(err)
		}
		resumed, err := Resume(dir, nil)
		if err != nil {
			t.Fatalf("cancel after %d checks: %v", n, err)
		}
		resumed.Env.Record = true
		again := append(got, iterate(t, tr, 3)...)
		fromCkpt := append(got, iterate(t, resumed, 3)...)
		for i := range want {
			for _, g := range [][]Stats{again, fromCkpt} {
				if !reflect.DeepEqual(want[i].Metrics(), g[i].Metrics()) || !reflect.DeepEqual(want[i].Episodes, g[i].Episodes) {
					t.Fatalf("cancel after %d checks: iteration %d differs", n, i+1)
				}
			}
		}
		sameParams(t, straight.Params(), tr.Params())
		sameParams(t, straight.Params(), resumed.Params())
	}

	// A failing RewardFunc half-way through a rollout leaves no trace either.
	tr := mustTrainer(t, c)
	calls := 0
	tr.Reward = func(obs, act, next *tensor.Tensor) ([]float32, error) {
		if calls++; calls == 20 {
			return nil, errors.New("reward model unavailable")
		}
		return sumReward(obs, act, next)
	}
	ref := mustTrainer(t, c)
	ref.Reward = sumReward
	if _, err := tr.Iterate(context.Background()); err == nil {
		t.Fatal("a failing reward function went unnoticed")
	}
	if tr.GlobalStep != 0 {
		t.Fatalf("failed first iteration left the trainer at step %d", tr.GlobalStep)
	}
	a, b := iterate(t, tr, 2), iterate(t, ref, 2)
	if !reflect.DeepEqual(a[1].Metrics(), b[1].Metrics()) {
		t.Fatal("training after a failed iteration differs")
	}
	sameParams(t, ref.Params(), tr.Params())
}

// BenchmarkMark measures the state kept at the start of every iteration
// (parameters, moments, environments), for the default Pendulum config with
// recording on, the worst case (unfinished episodes' steps are copied).
func BenchmarkMark(b *testing.B) {
	c, _ := Default("Pendulum-v1")
	tr, err := NewTrainer(c)
	if err != nil {
		b.Fatal(err)
	}
	tr.Env.Record = true
	// Part of an episode is recorded: 2048 steps leave 48 of the current one.
	if _, err := tr.Iterate(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := tr.setMark(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSaveResume measures writing and reading back a checkpoint of
// the default Pendulum config after 1 and 8 iterations: the cost no longer
// depends on how far the run is.
func BenchmarkSaveResume(b *testing.B) {
	for _, iters := range []int{1, 8} {
		b.Run(fmt.Sprintf("iters=%d", iters), func(b *testing.B) {
			c, _ := Default("Pendulum-v1")
			tr, err := NewTrainer(c)
			if err != nil {
				b.Fatal(err)
			}
			for range iters {
				if _, err := tr.Iterate(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			dir := b.TempDir()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := tr.Save(dir); err != nil {
					b.Fatal(err)
				}
				if _, err := Resume(dir, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
