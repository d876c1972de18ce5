package env

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// vecActions draws steps x N valid actions, (steps, N*ActDim).
func vecActions(spec Spec, n, steps int, seed uint64) [][]float64 {
	r := rand.New(rand.NewPCG(seed, 3))
	out := make([][]float64, steps)
	for s := range out {
		for range n {
			out[s] = append(out[s], randomAction(r, spec)...)
		}
	}
	return out
}

// TestVecEqualsSequential: a VecEnv of N copies steps exactly like N single
// environments reset with EpisodeSeed(seed, i, episode), including auto-reset,
// final observations and episode summaries.
func TestVecEqualsSequential(t *testing.T) {
	const n, steps, seed = 5, 700, 11
	for _, name := range Names() {
		spec, _ := SpecOf(name)
		v, err := NewVecEnv(name, n, seed)
		if err != nil {
			t.Fatal(err)
		}
		score, _ := Scorer(name)
		singles := make([]Env, n)
		obs := make([][]float64, n)
		episode := make([]int, n)
		ret := make([]float64, n)
		sc := make([]float64, n)
		length := make([]int, n)
		for i := range singles {
			singles[i] = mustMake(t, name)
			obs[i] = singles[i].Reset(EpisodeSeed(seed, i, 0))
		}
		vobs := v.Reset()
		for i := range n {
			assertVec(t, name+" reset obs", vobs[i*spec.ObsDim:(i+1)*spec.ObsDim], obs[i], 0)
		}
		ended := 0
		for s, acts := range vecActions(spec, n, steps, 5) {
			out := v.Step(acts)
			var wantEps []Episode
			for i := range n {
				a := acts[i*spec.ActDim : (i+1)*spec.ActDim]
				before := singles[i].State()
				o, r, term, trunc := singles[i].Step(a)
				ret[i] += r
				sc[i] += score(before, a, singles[i].State())
				length[i]++
				if out.Reward[i] != r || out.Terminated[i] != term || out.Truncated[i] != trunc {
					t.Fatalf("%s step %d env %d: vec (%v %v %v), single (%v %v %v)", name, s, i,
						out.Reward[i], out.Terminated[i], out.Truncated[i], r, term, trunc)
				}
				if term || trunc {
					assertVec(t, name+" final obs", out.FinalObs[i], o, 0)
					wantEps = append(wantEps, Episode{Index: i, Seed: EpisodeSeed(seed, i, episode[i]),
						Return: ret[i], Score: sc[i], Length: length[i], Terminated: term})
					episode[i]++
					ret[i], sc[i], length[i] = 0, 0, 0
					o = singles[i].Reset(EpisodeSeed(seed, i, episode[i]))
				} else if out.FinalObs[i] != nil {
					t.Fatalf("%s: FinalObs set for a live episode", name)
				}
				assertVec(t, name+" obs", out.Obs[i*spec.ObsDim:(i+1)*spec.ObsDim], o, 0)
			}
			for j := range wantEps {
				if j >= len(out.Episodes) {
					break
				}
				w, g := wantEps[j], out.Episodes[j]
				if w.Index != g.Index || w.Seed != g.Seed || w.Length != g.Length || w.Terminated != g.Terminated ||
					!near(g.Return, w.Return, 1e-12) || !near(g.Score, w.Score, 1e-12) {
					t.Fatalf("%s step %d: episode %+v, want %+v", name, s, g, w)
				}
			}
			if len(out.Episodes) != len(wantEps) {
				t.Fatalf("%s step %d: %d episodes ended, want %d", name, s, len(out.Episodes), len(wantEps))
			}
			ended += len(wantEps)
		}
		if ended < n {
			t.Fatalf("%s: only %d episodes ended in %d steps; the test does not exercise auto-reset", name, ended, steps)
		}
	}
}

// TestVecParallelDeterministic: stepping on goroutines gives exactly the
// same results, recordings included, as stepping on one.
func TestVecParallelDeterministic(t *testing.T) {
	const n, steps = 37, 210
	for _, name := range []string{"CartPole-v1", "Reacher2D-v0", "PendulumSpin-v0"} {
		spec, _ := SpecOf(name)
		acts := vecActions(spec, n, steps, 9)
		run := func(parallelMin int) []VecStep {
			v, _ := NewVecEnv(name, n, 3)
			v.ParallelMin = parallelMin
			v.Record = true
			outs := []VecStep{{Obs: v.Reset()}}
			for _, a := range acts {
				outs = append(outs, v.Step(a))
			}
			return outs
		}
		seq, par := run(1<<30), run(1)
		if !reflect.DeepEqual(seq, par) {
			t.Fatalf("%s: parallel stepping differs from sequential", name)
		}
		recorded := 0
		for _, o := range par {
			for _, ep := range o.Episodes {
				if len(ep.Steps) != ep.Length {
					t.Fatalf("%s: episode of %d steps recorded %d", name, ep.Length, len(ep.Steps))
				}
				recorded++
			}
		}
		if recorded == 0 {
			t.Fatalf("%s: no episode ended", name)
		}
	}
}

func TestVecRecordReplays(t *testing.T) {
	// Recorded steps chain (Next of one is State of the following) and replay
	// exactly through SetState.
	v, _ := NewVecEnv("Acrobot-v1", 3, 8)
	v.Record = true
	spec := v.Spec()
	v.Reset()
	var eps []Episode
	for _, a := range vecActions(spec, 3, 600, 2) {
		eps = append(eps, v.Step(a).Episodes...)
	}
	if len(eps) == 0 {
		t.Fatal("no episode ended")
	}
	e := mustMake(t, "Acrobot-v1")
	e.Reset(0)
	for _, ep := range eps {
		for j, st := range ep.Steps {
			if j > 0 && !equalVec(ep.Steps[j-1].Next, st.State) {
				t.Fatalf("step %d: state does not continue the previous step", j)
			}
			setState(t, e, st.State...)
			e.Step(st.Action)
			if !equalVec(e.State(), st.Next) {
				t.Fatalf("replay of step %d: %v, recorded %v", j, e.State(), st.Next)
			}
		}
		if last := ep.Steps[len(ep.Steps)-1]; last.Terminated != ep.Terminated {
			t.Fatalf("last step terminated %v, episode %v", last.Terminated, ep.Terminated)
		}
	}
}

func TestVecBadActionsPanic(t *testing.T) {
	v, _ := NewVecEnv("CartPole-v1", 4, 1)
	defer func() {
		if recover() == nil {
			t.Error("Step before Reset did not panic")
		}
	}()
	v.Step(make([]float64, 4))
}

func TestVecWrongActionCountPanics(t *testing.T) {
	v, _ := NewVecEnv("CartPole-v1", 4, 1)
	v.Reset()
	defer func() {
		if recover() == nil {
			t.Error("3 actions for 4 copies did not panic")
		}
	}()
	v.Step(make([]float64, 3))
}
