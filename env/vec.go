package env

import (
	"fmt"
	"runtime"
	"sync"
)

// DefaultParallelMin is the number of sub-environments from which VecEnv
// steps them on several goroutines by default. A step costs 50-500 ns, so
// below a few hundred copies the goroutine hand-off costs more than it saves;
// on a loaded 2-core machine spreading rarely helped at any N
// (BenchmarkVecStep), so the default leaves small and medium vectors on one
// goroutine and lets the policy network have the other cores.
const DefaultParallelMin = 512

// VecEnv steps N copies of one environment in lockstep, resetting each as
// soon as its episode ends. Sub-environment i plays episodes seeded
// EpisodeSeed(seed, i, 0), EpisodeSeed(seed, i, 1), ..., so results depend on
// (seed, actions) only, never on how the work is spread over goroutines.
type VecEnv struct {
	// Record, when set before stepping, keeps every step and returns the
	// finished episodes with their Steps.
	Record bool
	// ParallelMin is the smallest N stepped on several goroutines
	// (0 means DefaultParallelMin).
	ParallelMin int

	spec  Spec
	score ScoreFunc
	seed  uint64
	subs  []vecSub
	steps int // Step calls since Reset
	ready bool
}

type vecSub struct {
	sim     *sim
	episode int
	ep      Episode
	obs     []float64 // observation the next action is taken on
	before  []float64 // scratch: state before the step
	after   []float64 // scratch: state after the step
	done    *Episode  // set when the last step ended an episode
}

// VecStep is the result of one VecEnv step.
type VecStep struct {
	// Obs are the observations for the next actions, (N, ObsDim) row-major;
	// for a sub-environment whose episode just ended, the first observation
	// of its next episode.
	Obs []float64
	// Reward are the rewards of this step, (N).
	Reward []float64
	// Terminated and Truncated are the flags of this step, (N).
	Terminated, Truncated []bool
	// FinalObs, (N), holds for each sub-environment whose episode ended this
	// step its last observation (for bootstrapping truncated episodes); nil
	// for the others.
	FinalObs [][]float64
	// Episodes are the episodes that ended this step, by increasing Index.
	Episodes []Episode
}

// NewVecEnv builds n copies of a named environment; seed fixes every episode.
func NewVecEnv(name string, n int, seed uint64) (*VecEnv, error) {
	k, err := lookup(name)
	if err != nil {
		return nil, fmt.Errorf("env: vec: %w", err)
	}
	if n <= 0 {
		return nil, fmt.Errorf("env: vec %s: need at least one copy, got %d", name, n)
	}
	v := &VecEnv{spec: k.spec.clone(), score: k.score, seed: seed, subs: make([]vecSub, n)}
	ns := len(k.spec.State)
	for i := range v.subs {
		v.subs[i] = vecSub{
			sim:    newSim(k),
			obs:    make([]float64, k.spec.ObsDim),
			before: make([]float64, ns),
			after:  make([]float64, ns),
		}
	}
	return v, nil
}

// N is the number of copies.
func (v *VecEnv) N() int { return len(v.subs) }

// Spec is the environment's Spec.
func (v *VecEnv) Spec() Spec { return v.spec.clone() }

// Reset starts episode 0 of every copy and returns the observations, (N, ObsDim).
func (v *VecEnv) Reset() []float64 {
	for i := range v.subs {
		s := &v.subs[i]
		s.episode = 0
		v.startEpisode(i)
	}
	v.steps = 0
	v.ready = true
	return v.Obs()
}

func (v *VecEnv) startEpisode(i int) {
	s := &v.subs[i]
	seed := EpisodeSeed(v.seed, i, s.episode)
	s.sim.reset(seed)
	s.sim.d.obs(s.obs)
	s.ep = Episode{Index: i, Seed: seed}
}

// Step applies actions, (N, ActDim) row-major, to every copy. It panics on a
// wrong number of actions or an invalid action (programmer errors).
func (v *VecEnv) Step(actions []float64) VecStep {
	if !v.ready {
		panic("env: vec " + v.spec.Name + ": Step before Reset")
	}
	n, ad, od := len(v.subs), v.spec.ActDim, v.spec.ObsDim
	if len(actions) != n*ad {
		panic(fmt.Sprintf("env: vec %s: got %d action values, want N*ActDim = %d*%d", v.spec.Name, len(actions), n, ad))
	}
	out := VecStep{
		Obs:        make([]float64, n*od),
		Reward:     make([]float64, n),
		Terminated: make([]bool, n),
		Truncated:  make([]bool, n),
		FinalObs:   make([][]float64, n),
	}
	work := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v.stepOne(i, actions[i*ad:(i+1)*ad], &out)
		}
	}
	minPar := v.ParallelMin
	if minPar <= 0 {
		minPar = DefaultParallelMin
	}
	workers := runtime.GOMAXPROCS(0)
	if n < minPar || workers < 2 {
		work(0, n)
	} else {
		chunk := (n + workers - 1) / workers
		var wg sync.WaitGroup
		for lo := 0; lo < n; lo += chunk {
			hi := min(lo+chunk, n)
			wg.Go(func() { work(lo, hi) })
		}
		wg.Wait()
	}
	v.steps++
	for i := range v.subs {
		if s := &v.subs[i]; s.done != nil {
			out.Episodes = append(out.Episodes, *s.done)
			s.done = nil
		}
	}
	return out
}

// stepOne steps copy i and writes its slots of out; it touches nothing shared.
func (v *VecEnv) stepOne(i int, action []float64, out *VecStep) {
	s := &v.subs[i]
	s.sim.d.state(s.before)
	r, term, trunc := s.sim.step(action)
	s.sim.d.state(s.after)
	score := v.score(s.before, action, s.after)
	if v.Record {
		s.ep.Steps = append(s.ep.Steps, StepRecord{
			State:      append([]float64(nil), s.before...),
			Obs:        append([]float64(nil), s.obs...),
			Action:     append([]float64(nil), action...),
			Next:       append([]float64(nil), s.after...),
			Reward:     r,
			Score:      score,
			Terminated: term,
			Truncated:  trunc,
		})
	}
	s.ep.Return += r
	s.ep.Score += score
	s.ep.Length++
	s.sim.d.obs(s.obs)
	out.Reward[i], out.Terminated[i], out.Truncated[i] = r, term, trunc
	if term || trunc {
		out.FinalObs[i] = append([]float64(nil), s.obs...)
		s.ep.Terminated = term
		done := s.ep
		s.done = &done
		s.episode++
		v.startEpisode(i)
	}
	copy(out.Obs[i*v.spec.ObsDim:], s.obs)
}
