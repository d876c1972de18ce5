package env

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// EnvState is a snapshot of one environment of this package: everything
// Step depends on, so that Restore continues the episode exactly. Floats are
// kept as float64; encoding/json writes them in the shortest form that reads
// back to the same bits, so a JSON round trip is exact (they are always finite).
type EnvState struct {
	// Physics is the physical state, in the layout of Spec.State.
	Physics []float64 `json:"physics"`
	// Step is the number of steps taken this episode (the clock of truncation).
	Step int `json:"step"`
	// Ended is set once the task has terminated this episode (later steps earn nothing).
	Ended bool `json:"ended,omitempty"`
	// RNG is the binary state of the generator that draws initial states.
	RNG []byte `json:"rng"`
}

// Snapshotter is implemented by every environment of this package: Snapshot
// captures its state and Restore puts it back, after which Step behaves as
// it would have from the snapshot.
type Snapshotter interface {
	// Snapshot returns the environment's state; it fails before the first Reset.
	Snapshot() (EnvState, error)
	// Restore loads a snapshot, checking it first; on error nothing changes.
	Restore(EnvState) error
}

// Snapshot returns the environment's state.
func (s *sim) Snapshot() (EnvState, error) {
	if !s.ready {
		return EnvState{}, fmt.Errorf("env: %s: snapshot before Reset", s.k.spec.Name)
	}
	rng, err := s.r.p.MarshalBinary()
	if err != nil {
		return EnvState{}, fmt.Errorf("env: %s: snapshot generator: %w", s.k.spec.Name, err)
	}
	return EnvState{Physics: s.State(), Step: s.t, Ended: s.ended, RNG: rng}, nil
}

// Restore loads a snapshot taken by Snapshot.
func (s *sim) Restore(st EnvState) error {
	if err := s.checkPhysics(st.Physics); err != nil {
		return err
	}
	if st.Step < 0 {
		return fmt.Errorf("env: %s: restore: negative step counter %d", s.k.spec.Name, st.Step)
	}
	var p rand.PCG
	if err := p.UnmarshalBinary(st.RNG); err != nil {
		return fmt.Errorf("env: %s: restore generator: %w", s.k.spec.Name, err)
	}
	s.d.setState(st.Physics)
	s.r.p = p
	s.t, s.ended, s.ready = st.Step, st.Ended, true
	return nil
}

// checkPhysics reports whether state is a valid physical state: the right
// length and finite.
func (s *sim) checkPhysics(state []float64) error {
	if len(state) != len(s.k.spec.State) {
		return fmt.Errorf("env: %s: state has %d values, want %d %v", s.k.spec.Name, len(state), len(s.k.spec.State), s.k.spec.State)
	}
	for _, v := range state {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("env: %s: state %v is not finite", s.k.spec.Name, state)
		}
	}
	return nil
}

// VecStateFormat is the version of VecState this package writes and reads.
const VecStateFormat = 1

// VecState is a snapshot of a VecEnv between steps: each copy's environment
// state, episode number and running episode statistics. VecEnv.Restore on a
// VecEnv built with the same name, N and seed continues exactly where the
// snapshot was taken (same observations, rewards, flags and episodes). Its
// size does not depend on how long the VecEnv has run, except for the steps
// of unfinished episodes kept while recording (at most N·MaxSteps).
type VecState struct {
	// Format is VecStateFormat.
	Format int `json:"format"`
	// Env is the environment name.
	Env string `json:"env"`
	// Seed is the VecEnv's seed.
	Seed uint64 `json:"seed"`
	// Steps is the number of VecEnv steps since the last Reset.
	Steps int `json:"steps"`
	// Subs holds one entry per copy, in index order.
	Subs []SubState `json:"subs"`
}

// SubState is one copy's part of a VecState.
type SubState struct {
	EnvState
	// Episode is the number of the copy's current episode (0, 1, ...); its
	// seed is EpisodeSeed(seed, index, Episode).
	Episode int `json:"episode"`
	// Return and Score are the sums of rewards and scores of the current
	// episode so far (its length is EnvState.Step).
	Return float64 `json:"return"`
	Score  float64 `json:"score"`
	// Steps are the recorded steps of the current episode (only with
	// VecEnv.Record; fewer than EnvState.Step if recording began mid-episode).
	Steps []StepRecord `json:"steps,omitempty"`
}

// Steps is the number of steps taken since the last Reset (by each copy).
func (v *VecEnv) Steps() int { return v.steps }

// State returns a snapshot of the VecEnv (deep copies); it fails before Reset.
func (v *VecEnv) State() (VecState, error) {
	if !v.ready {
		return VecState{}, fmt.Errorf("env: vec %s: state before Reset", v.spec.Name)
	}
	st := VecState{Format: VecStateFormat, Env: v.spec.Name, Seed: v.seed, Steps: v.steps, Subs: make([]SubState, len(v.subs))}
	for i := range v.subs {
		s := &v.subs[i]
		es, err := s.sim.Snapshot()
		if err != nil {
			return VecState{}, fmt.Errorf("env: vec: copy %d: %w", i, err)
		}
		st.Subs[i] = SubState{EnvState: es, Episode: s.episode, Return: s.ep.Return, Score: s.ep.Score, Steps: cloneSteps(s.ep.Steps)}
	}
	return st, nil
}

// Restore puts the VecEnv into the snapshot st, which must come from a
// VecEnv with the same environment, N and seed. It checks the whole snapshot
// first and changes nothing on error. Recorded steps in st are kept whatever
// Record is; Record itself is left as it is.
func (v *VecEnv) Restore(st VecState) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("env: vec %s: restore: %s", v.spec.Name, fmt.Sprintf(format, a...))
	}
	switch {
	case st.Format != VecStateFormat:
		return bad("unknown state format %d (want %d)", st.Format, VecStateFormat)
	case st.Env != v.spec.Name:
		return bad("state is of environment %q", st.Env)
	case st.Seed != v.seed:
		return bad("state has seed %d, want %d", st.Seed, v.seed)
	case len(st.Subs) != len(v.subs):
		return bad("state has %d copies, want %d", len(st.Subs), len(v.subs))
	case st.Steps < 0:
		return bad("negative step count %d", st.Steps)
	}
	ns, od, ad := len(v.spec.State), v.spec.ObsDim, v.spec.ActDim
	for i, s := range st.Subs {
		switch {
		case s.Episode < 0 || s.Episode > st.Steps:
			return bad("copy %d: episode number %d outside [0, %d]", i, s.Episode, st.Steps)
		case s.Step < 0 || s.Step >= v.spec.MaxSteps || s.Step > st.Steps:
			return bad("copy %d: step counter %d outside [0, %d)", i, s.Step, min(v.spec.MaxSteps, st.Steps+1))
		case s.Ended:
			return bad("copy %d: a terminated episode is never left running", i)
		case !finite(s.Return) || !finite(s.Score):
			return bad("copy %d: episode return %v or score %v is not finite", i, s.Return, s.Score)
		case len(s.Steps) > s.Step:
			return bad("copy %d: %d recorded steps in an episode of %d", i, len(s.Steps), s.Step)
		}
		for j, r := range s.Steps {
			if len(r.State) != ns || len(r.Next) != ns || len(r.Obs) != od || len(r.Action) != ad {
				return bad("copy %d: recorded step %d has state/next/obs/action lengths %d/%d/%d/%d, want %d/%d/%d/%d",
					i, j, len(r.State), len(r.Next), len(r.Obs), len(r.Action), ns, ns, od, ad)
			}
		}
		if err := v.subs[i].sim.checkPhysics(s.Physics); err != nil {
			return bad("copy %d: %v", i, err)
		}
		var p rand.PCG
		if err := p.UnmarshalBinary(s.RNG); err != nil {
			return bad("copy %d: generator: %v", i, err)
		}
	}
	for i, s := range st.Subs {
		sub := &v.subs[i]
		es := s.EnvState
		es.Physics = append([]float64(nil), s.Physics...)
		if err := sub.sim.Restore(es); err != nil {
			panic("env: vec: restore after checking: " + err.Error()) // checked above
		}
		sub.episode = s.Episode
		sub.ep = Episode{
			Index: i, Seed: EpisodeSeed(v.seed, i, s.Episode),
			Return: s.Return, Score: s.Score, Length: s.Step, Steps: cloneSteps(s.Steps),
		}
		sub.done = nil
		sub.sim.d.obs(sub.obs)
	}
	v.steps = st.Steps
	v.ready = true
	return nil
}

// Obs returns the observations the next actions are taken on, (N, ObsDim).
func (v *VecEnv) Obs() []float64 {
	out := make([]float64, len(v.subs)*v.spec.ObsDim)
	for i := range v.subs {
		copy(out[i*v.spec.ObsDim:], v.subs[i].obs)
	}
	return out
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// cloneSteps deep-copies recorded steps (nil stays nil).
func cloneSteps(steps []StepRecord) []StepRecord {
	if steps == nil {
		return nil
	}
	out := make([]StepRecord, len(steps))
	for i, r := range steps {
		r.State = append([]float64(nil), r.State...)
		r.Obs = append([]float64(nil), r.Obs...)
		r.Action = append([]float64(nil), r.Action...)
		r.Next = append([]float64(nil), r.Next...)
		out[i] = r
	}
	return out
}
