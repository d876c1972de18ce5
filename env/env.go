package env

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Unbounded stands for an unbounded coordinate in a Box space. It is the
// largest float32, as Gymnasium uses, so that spaces stay valid JSON.
const Unbounded = math.MaxFloat32

// Space describes an observation or action space.
//
// A categorical space has Discrete > 0 and nil bounds; a Box space has
// Discrete == 0 and Low, High of equal length.
type Space struct {
	// Discrete is the number of categories of a categorical space, 0 for a Box.
	Discrete int `json:"discrete,omitempty"`
	// Low is the lower bound of each coordinate of a Box.
	Low []float64 `json:"low,omitempty"`
	// High is the upper bound of each coordinate of a Box.
	High []float64 `json:"high,omitempty"`
}

// IsDiscrete reports whether the space is categorical.
func (s Space) IsDiscrete() bool { return s.Discrete > 0 }

// Dim is the length of a vector in the space: 1 for a categorical space
// (the category index), len(Low) for a Box.
func (s Space) Dim() int {
	if s.Discrete > 0 {
		return 1
	}
	return len(s.Low)
}

// Env is one simulated environment. Discrete actions are passed as
// action[0] = category index. Step panics on an action of the wrong length,
// a non-integer or out-of-range category, or a NaN: those are programmer
// errors. Continuous actions outside the Box are clipped by the dynamics.
//
// Step reports terminated when the task itself ends the episode and
// truncated when the episode reaches its step limit (both may be true on the
// same step, as with Gymnasium's TimeLimit). Returned slices are fresh.
type Env interface {
	// Reset starts an episode whose initial state is a function of seed only,
	// and returns the first observation.
	Reset(seed uint64) (obs []float64)
	// Step applies an action and returns the next observation, the reward the
	// agent sees (0 for hidden-goal tasks) and the end-of-episode flags.
	Step(action []float64) (obs []float64, reward float64, terminated, truncated bool)
	// ObsSpace is the observation space.
	ObsSpace() Space
	// ActSpace is the action space.
	ActSpace() Space
	// State is a copy of the physical state, in the layout documented on Spec.State.
	State() []float64
}

// StateSetter is implemented by every environment of this package: it puts
// the simulation into a given physical state (same layout as State), for
// replay and tests. The episode step counter is left unchanged; a terminated
// episode counts as live again.
type StateSetter interface {
	SetState(state []float64) error
}

// Specced is implemented by every environment of this package.
type Specced interface {
	Spec() Spec
}

// Spec describes one named environment.
type Spec struct {
	// Name is the name Make accepts, e.g. "CartPole-v1".
	Name string `json:"name"`
	// Obs is the observation space.
	Obs Space `json:"obs"`
	// Act is the action space.
	Act Space `json:"act"`
	// ObsDim is Obs.Dim().
	ObsDim int `json:"obs_dim"`
	// ActDim is Act.Dim() (1 for discrete actions).
	ActDim int `json:"act_dim"`
	// MaxSteps is the episode limit after which Step reports truncated.
	MaxSteps int `json:"max_steps"`
	// DT is the simulated time of one Step, in seconds.
	DT float64 `json:"dt"`
	// SegmentLen is the default number of steps in a comparison segment
	// (1-2 s of simulated time where the dynamics allow, as in Christiano et al. 2017).
	SegmentLen int `json:"segment_len"`
	// State names the coordinates of State(), in order.
	State []string `json:"state"`
	// TrueReward is false for tasks whose goal is hidden from the agent
	// (Step returns reward 0); only the score function knows it.
	TrueReward bool `json:"true_reward"`
	// HiddenGoal is a one-line description of the hidden goal, empty when TrueReward.
	HiddenGoal string `json:"hidden_goal,omitempty"`
	// Metric names what the per-episode sum of scores measures, for plots.
	Metric string `json:"metric"`
	// Description is a one-line description of the task.
	Description string `json:"description"`
}

// ScoreFunc scores one step from the physical state before it, the action and
// the physical state after it. For tasks with a true reward it recomputes that
// reward exactly; for hidden-goal tasks it is the hidden goal's per-step score.
// Summed over an episode it is the behaviour metric (Spec.Metric).
type ScoreFunc func(state, action, next []float64) float64

// kind bundles what Make needs for one name.
type kind struct {
	spec  Spec
	new   func() dynamics
	score ScoreFunc
}

// kinds lists every environment, keyed by name.
var kinds = map[string]kind{
	"CartPole-v1":     {cartPoleSpec, newCartPole, cartPoleScore},
	"CartPoleLeft-v0": {cartPoleLeftSpec, newCartPole, cartPoleLeftScore},
	"Acrobot-v1":      {acrobotSpec, newAcrobot, acrobotScore},
	"Pendulum-v1":     {pendulumSpec, newPendulum, pendulumScore},
	"PendulumSpin-v0": {pendulumSpinSpec, newPendulum, pendulumSpinScore},
	"Reacher2D-v0":    {reacherSpec, newReacher, reacherScore},
}

func init() {
	for name, k := range kinds {
		if k.spec.Name != name {
			panic("env: spec name mismatch for " + name)
		}
	}
}

// Names lists the names Make accepts, sorted.
func Names() []string {
	names := make([]string, 0, len(kinds))
	for n := range kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func lookup(name string) (kind, error) {
	k, ok := kinds[name]
	if !ok {
		return kind{}, fmt.Errorf("env: unknown environment %q (valid: %s)", name, strings.Join(Names(), ", "))
	}
	return k, nil
}

// SpecOf returns the Spec of a named environment.
func SpecOf(name string) (Spec, error) {
	k, err := lookup(name)
	if err != nil {
		return Spec{}, err
	}
	return k.spec.clone(), nil
}

// Scorer returns the score function of a named environment: its true reward
// recomputed from states, or its hidden goal's score.
func Scorer(name string) (ScoreFunc, error) {
	k, err := lookup(name)
	if err != nil {
		return nil, err
	}
	return k.score, nil
}

// Make builds a named environment. Call Reset before Step.
func Make(name string) (Env, error) {
	k, err := lookup(name)
	if err != nil {
		return nil, err
	}
	return newSim(k), nil
}

func (s Spec) clone() Spec {
	c := s
	c.Obs = s.Obs.clone()
	c.Act = s.Act.clone()
	c.State = append([]string(nil), s.State...)
	return c
}

func (s Space) clone() Space {
	return Space{
		Discrete: s.Discrete,
		Low:      append([]float64(nil), s.Low...),
		High:     append([]float64(nil), s.High...),
	}
}

// box builds a Box space with the same bounds [-h, h] per coordinate.
func box(high ...float64) Space {
	lo := make([]float64, len(high))
	for i, h := range high {
		lo[i] = -h
	}
	return Space{Low: lo, High: append([]float64(nil), high...)}
}

// withDims fills ObsDim and ActDim from the spaces.
func withDims(s Spec) Spec {
	s.ObsDim = s.Obs.Dim()
	s.ActDim = s.Act.Dim()
	return s
}
