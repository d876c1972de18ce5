package env

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// dynamics is the physics of one task family. Implementations keep float64
// state and never allocate in step, obs or state.
type dynamics interface {
	// reset samples an initial state.
	reset(r *rng)
	// step advances one environment step under a validated action and returns
	// the task's own reward and whether the task ends here.
	step(action []float64) (reward float64, terminated bool)
	// obs writes the observation into dst (len ObsDim).
	obs(dst []float64)
	// state writes the physical state into dst (len of Spec.State).
	state(dst []float64)
	// setState loads a physical state (len of Spec.State, checked by the caller).
	setState(s []float64)
}

// sim turns dynamics into an Env: episode clock, action checks, hidden rewards.
type sim struct {
	k     kind
	d     dynamics
	r     rng
	t     int  // steps taken this episode
	ended bool // the task has terminated this episode
	ready bool // Reset has been called
}

func newSim(k kind) *sim { return &sim{k: k, d: k.new()} }

// Spec returns the environment's Spec.
func (s *sim) Spec() Spec { return s.k.spec.clone() }

// ObsSpace returns the observation space.
func (s *sim) ObsSpace() Space { return s.k.spec.Obs.clone() }

// ActSpace returns the action space.
func (s *sim) ActSpace() Space { return s.k.spec.Act.clone() }

// Reset starts a new episode from a state drawn with seed.
func (s *sim) Reset(seed uint64) []float64 {
	s.reset(seed)
	o := make([]float64, s.k.spec.ObsDim)
	s.d.obs(o)
	return o
}

func (s *sim) reset(seed uint64) {
	s.r.seed(seed)
	s.d.reset(&s.r)
	s.t = 0
	s.ended = false
	s.ready = true
}

// Step applies one action.
func (s *sim) Step(action []float64) ([]float64, float64, bool, bool) {
	r, term, trunc := s.step(action)
	o := make([]float64, s.k.spec.ObsDim)
	s.d.obs(o)
	return o, r, term, trunc
}

func (s *sim) step(action []float64) (reward float64, terminated, truncated bool) {
	if !s.ready {
		panic(fmt.Sprintf("env: %s: Step before Reset", s.k.spec.Name))
	}
	s.checkAction(action)
	r, term := s.d.step(action)
	s.t++
	if s.ended || !s.k.spec.TrueReward {
		// Like Gymnasium's CartPole, steps after termination earn nothing;
		// hidden-goal tasks never show a reward.
		r = 0
	}
	s.ended = s.ended || term
	return r, term, s.t >= s.k.spec.MaxSteps
}

func (s *sim) checkAction(a []float64) {
	sp := &s.k.spec
	if len(a) != sp.ActDim {
		panic(fmt.Sprintf("env: %s: action has %d values, want %d", sp.Name, len(a), sp.ActDim))
	}
	for _, v := range a {
		if math.IsNaN(v) {
			panic(fmt.Sprintf("env: %s: NaN action %v", sp.Name, a))
		}
	}
	if n := sp.Act.Discrete; n > 0 {
		i := a[0]
		if i != math.Trunc(i) || i < 0 || i >= float64(n) {
			panic(fmt.Sprintf("env: %s: action %v is not a category in [0, %d)", sp.Name, i, n))
		}
	}
}

// State returns a copy of the physical state.
func (s *sim) State() []float64 {
	st := make([]float64, len(s.k.spec.State))
	s.d.state(st)
	return st
}

// SetState loads a physical state and clears the terminated flag; it does
// not change the step counter.
func (s *sim) SetState(state []float64) error {
	if err := s.checkPhysics(state); err != nil {
		return err
	}
	s.d.setState(state)
	s.ended = false
	s.ready = true
	return nil
}

// rng draws the initial states. Each Reset reseeds it from the episode seed,
// so an episode depends on its seed only.
type rng struct{ p rand.PCG }

func (r *rng) seed(seed uint64) {
	r.p.Seed(splitmix64(seed), splitmix64(seed^0x9e3779b97f4a7c15))
}

// uniform draws from [lo, hi).
func (r *rng) uniform(lo, hi float64) float64 {
	f := float64(r.p.Uint64()>>11) * 0x1p-53
	return lo + (hi-lo)*f
}

// splitmix64 is the SplitMix64 finaliser (Steele, Lea and Flood 2014).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// EpisodeSeed is the seed VecEnv passes to Reset for episode number episode
// (0, 1, ...) of its sub-environment index, so that every sub-environment has
// its own stream of episodes determined by (seed, index) alone.
func EpisodeSeed(seed uint64, index, episode int) uint64 {
	return splitmix64(splitmix64(seed^splitmix64(uint64(index)+1)) + uint64(episode))
}

// clip limits x to [lo, hi].
func clip(x, lo, hi float64) float64 {
	return math.Min(math.Max(x, lo), hi)
}
