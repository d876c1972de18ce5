package env

import (
	"fmt"
)

// StepRecord is one recorded step: enough to replay it, draw it, and score it
// again with the environment's ScoreFunc.
type StepRecord struct {
	// State is the physical state before the action (layout: Spec.State).
	State []float64 `json:"state"`
	// Obs is the observation the agent acted on.
	Obs []float64 `json:"obs"`
	// Action is the action taken (for discrete actions, [index]).
	Action []float64 `json:"action"`
	// Next is the physical state after the action.
	Next []float64 `json:"next"`
	// Reward is the reward the agent was given (0 for hidden-goal tasks).
	Reward float64 `json:"reward"`
	// Score is the true reward, or the hidden goal's score: what a synthetic
	// labeler compares.
	Score float64 `json:"score"`
	// Terminated and Truncated are the flags Step returned.
	Terminated bool `json:"terminated,omitempty"`
	Truncated  bool `json:"truncated,omitempty"`
	// Absorbing marks a padding step after termination (see Cut): the system
	// rests in its final state and the step scores 0.
	Absorbing bool `json:"absorbing,omitempty"`
}

// Segment is a run of consecutive steps of one episode, the unit a labeler
// compares.
type Segment struct {
	// Env is the environment name.
	Env string `json:"env"`
	// DT is the simulated time of one step, in seconds.
	DT float64 `json:"dt"`
	// Start is the index in its episode of the first step.
	Start int `json:"start"`
	// Steps are the recorded steps, in order.
	Steps []StepRecord `json:"steps"`
}

// Return is the segment's true return: the sum of its scores (true rewards,
// or hidden-goal scores for hidden-goal tasks).
func (s Segment) Return() float64 {
	var r float64
	for _, st := range s.Steps {
		r += st.Score
	}
	return r
}

// Duration is the segment's simulated time in seconds.
func (s Segment) Duration() float64 { return float64(len(s.Steps)) * s.DT }

// Cut splits one episode's steps into consecutive segments of k steps
// (k <= 0 means the environment's Spec.SegmentLen). A final piece shorter than
// k is dropped, except when the episode terminated and padTerminal is set:
// then it is padded to k with absorbing steps (the final state held, the last
// action repeated, Score and Reward 0), so that short episodes, such as an
// early CartPole failure, still yield a segment whose return counts only the
// steps actually lived. Segments share the memory of steps.
func Cut(envName string, steps []StepRecord, k int, padTerminal bool) ([]Segment, error) {
	spec, err := SpecOf(envName)
	if err != nil {
		return nil, fmt.Errorf("env: cut: %w", err)
	}
	if k <= 0 {
		k = spec.SegmentLen
	}
	var segs []Segment
	for start := 0; start < len(steps); start += k {
		seg, ok := segmentAt(spec, steps, start, k, padTerminal)
		if !ok {
			break
		}
		segs = append(segs, seg)
	}
	return segs, nil
}

// SegmentAt cuts the segment of k steps (k <= 0: Spec.SegmentLen) starting at
// step start of one episode, for sampling segments at random offsets. It pads
// like Cut and reports false when fewer than k steps remain and the episode
// cannot be padded.
func SegmentAt(envName string, steps []StepRecord, start, k int, padTerminal bool) (Segment, bool, error) {
	spec, err := SpecOf(envName)
	if err != nil {
		return Segment{}, false, fmt.Errorf("env: segment: %w", err)
	}
	if start < 0 || start >= len(steps) {
		return Segment{}, false, fmt.Errorf("env: segment %s: start %d outside an episode of %d steps", envName, start, len(steps))
	}
	if k <= 0 {
		k = spec.SegmentLen
	}
	seg, ok := segmentAt(spec, steps, start, k, padTerminal)
	return seg, ok, nil
}

func segmentAt(spec Spec, steps []StepRecord, start, k int, padTerminal bool) (Segment, bool) {
	end := start + k
	if end <= len(steps) {
		return Segment{Env: spec.Name, DT: spec.DT, Start: start, Steps: steps[start:end:end]}, true
	}
	last := steps[len(steps)-1]
	if !padTerminal || !last.Terminated {
		return Segment{}, false
	}
	piece := make([]StepRecord, 0, k)
	piece = append(piece, steps[start:]...)
	for len(piece) < k {
		piece = append(piece, StepRecord{
			State:     last.Next,
			Obs:       last.Obs,
			Action:    last.Action,
			Next:      last.Next,
			Absorbing: true,
		})
	}
	return Segment{Env: spec.Name, DT: spec.DT, Start: start, Steps: piece}, true
}

// Rescore recomputes every step's Score with the environment's ScoreFunc
// (absorbing steps score 0). It checks the state lengths.
func Rescore(seg *Segment) error {
	spec, err := SpecOf(seg.Env)
	if err != nil {
		return fmt.Errorf("env: rescore: %w", err)
	}
	score, _ := Scorer(seg.Env)
	for i := range seg.Steps {
		st := &seg.Steps[i]
		if len(st.State) != len(spec.State) || len(st.Next) != len(spec.State) || len(st.Action) != spec.ActDim {
			return fmt.Errorf("env: rescore %s: step %d has state/next/action lengths %d/%d/%d, want %d/%d/%d",
				seg.Env, i, len(st.State), len(st.Next), len(st.Action), len(spec.State), len(spec.State), spec.ActDim)
		}
		if st.Absorbing {
			st.Score = 0
			continue
		}
		st.Score = score(st.State, st.Action, st.Next)
	}
	return nil
}

// Recorder wraps an Env of this package and records every step since the
// last Reset.
type Recorder struct {
	env   Env
	score ScoreFunc
	obs   []float64
	steps []StepRecord
}

// NewRecorder wraps e, which must be an environment named name.
func NewRecorder(e Env, name string) (*Recorder, error) {
	score, err := Scorer(name)
	if err != nil {
		return nil, fmt.Errorf("env: recorder: %w", err)
	}
	return &Recorder{env: e, score: score}, nil
}

// Reset resets the wrapped environment and clears the recording.
func (r *Recorder) Reset(seed uint64) []float64 {
	r.obs = r.env.Reset(seed)
	r.steps = nil
	return append([]float64(nil), r.obs...)
}

// Step steps the wrapped environment and records the step.
func (r *Recorder) Step(action []float64) ([]float64, float64, bool, bool) {
	before := r.env.State()
	act := append([]float64(nil), action...)
	obs, rew, term, trunc := r.env.Step(action)
	next := r.env.State()
	r.steps = append(r.steps, StepRecord{
		State: before, Obs: r.obs, Action: act, Next: next,
		Reward: rew, Score: r.score(before, act, next),
		Terminated: term, Truncated: trunc,
	})
	r.obs = obs
	return append([]float64(nil), obs...), rew, term, trunc
}

// ObsSpace is the wrapped environment's observation space.
func (r *Recorder) ObsSpace() Space { return r.env.ObsSpace() }

// ActSpace is the wrapped environment's action space.
func (r *Recorder) ActSpace() Space { return r.env.ActSpace() }

// State is the wrapped environment's physical state.
func (r *Recorder) State() []float64 { return r.env.State() }

// Steps returns the steps recorded since the last Reset. The slice is shared
// with the recorder until the next Reset.
func (r *Recorder) Steps() []StepRecord { return r.steps }

// Episode is a finished episode's summary, and its steps when recorded.
type Episode struct {
	// Index is the sub-environment of a VecEnv that ran it (0 for Rollout).
	Index int `json:"index"`
	// Seed is the seed its Reset got.
	Seed uint64 `json:"seed"`
	// Return is the sum of rewards the agent was given.
	Return float64 `json:"return"`
	// Score is the sum of scores: the true return, or the hidden goal's
	// behaviour metric (Spec.Metric).
	Score float64 `json:"score"`
	// Length is the number of steps.
	Length int `json:"length"`
	// Terminated is true when the task ended it, false when it was truncated.
	Terminated bool `json:"terminated"`
	// Steps are the recorded steps (nil unless recording).
	Steps []StepRecord `json:"steps,omitempty"`
}

// Rollout runs one recorded episode of a named environment from seed,
// choosing actions with policy.
func Rollout(name string, seed uint64, policy func(obs []float64) []float64) (Episode, error) {
	e, err := Make(name)
	if err != nil {
		return Episode{}, fmt.Errorf("env: rollout: %w", err)
	}
	rec, _ := NewRecorder(e, name)
	obs := rec.Reset(seed)
	ep := Episode{Seed: seed}
	for {
		o, r, term, trunc := rec.Step(policy(obs))
		obs = o
		ep.Return += r
		ep.Length++
		if term || trunc {
			ep.Terminated = term
			break
		}
	}
	ep.Steps = rec.Steps()
	for _, s := range ep.Steps {
		ep.Score += s.Score
	}
	return ep, nil
}
