package env

import "math"

// Pendulum-v1 as Gymnasium documents it: a rod of mass 1 kg and length 1 m,
// g = 10, torque in [-2, 2] (clipped), dt = 0.05 s, semi-implicit Euler:
// thdot += (3g/(2l) sin(th) + 3/(ml^2) u) dt, clipped to [-8, 8], then
// th += thdot dt. Reward -(angle_normalize(th)^2 + 0.1 thdot^2 + 0.001 u^2),
// from the state before the step. Never terminates; truncated at 200 steps.
// Initial state: th uniform in [-pi, pi], thdot uniform in [-1, 1].
// th = 0 is upright, counter-clockwise positive; th is not wrapped in the
// state. Observation: [cos th, sin th, thdot].
const (
	pdMaxSpeed  = 8.0
	pdMaxTorque = 2.0
	pdDT        = 0.05
	pdG         = 10.0
	pdM         = 1.0
	pdL         = 1.0
)

var pendulumSpec = withDims(Spec{
	Name:        "Pendulum-v1",
	Obs:         box(1, 1, pdMaxSpeed),
	Act:         box(pdMaxTorque),
	MaxSteps:    200,
	DT:          pdDT,
	SegmentLen:  25, // 1.25 s
	State:       []string{"theta", "theta_dot"},
	TrueReward:  true,
	Metric:      "return",
	Description: "swing a torque-limited pendulum up and hold it upright (Gymnasium Pendulum-v1)",
})

var pendulumSpinSpec = withDims(Spec{
	Name:        "PendulumSpin-v0",
	Obs:         pendulumSpec.Obs,
	Act:         pendulumSpec.Act,
	MaxSteps:    200,
	DT:          pdDT,
	SegmentLen:  25,
	State:       pendulumSpec.State,
	TrueReward:  false,
	HiddenGoal:  "spin the pendulum round and round counter-clockwise, as many turns as possible",
	Metric:      "net counter-clockwise turns",
	Description: "Pendulum-v1 dynamics, no reward: the goal is known only to the labeler",
})

type pendulum struct{ th, thDot float64 }

func newPendulum() dynamics { return &pendulum{} }

func (p *pendulum) reset(r *rng) {
	p.th = r.uniform(-math.Pi, math.Pi)
	p.thDot = r.uniform(-1, 1)
}

func (p *pendulum) step(a []float64) (float64, bool) {
	u := clip(a[0], -pdMaxTorque, pdMaxTorque)
	r := pendulumReward(p.th, p.thDot, u)
	p.thDot += (3*pdG/(2*pdL)*math.Sin(p.th) + 3/(pdM*pdL*pdL)*u) * pdDT
	p.thDot = clip(p.thDot, -pdMaxSpeed, pdMaxSpeed)
	p.th += p.thDot * pdDT
	return r, false
}

// pendulumReward is -(normalised angle^2 + 0.1 thdot^2 + 0.001 u^2) for a
// clipped torque u.
func pendulumReward(th, thDot, u float64) float64 {
	n := angleNormalize(th)
	return -(n*n + 0.1*thDot*thDot + 0.001*u*u)
}

// angleNormalize maps x into [-pi, pi) the way Python's floored modulo does.
func angleNormalize(x float64) float64 {
	m := math.Mod(x+math.Pi, 2*math.Pi)
	if m < 0 {
		m += 2 * math.Pi
	}
	return m - math.Pi
}

func (p *pendulum) obs(dst []float64) {
	dst[0], dst[1], dst[2] = math.Cos(p.th), math.Sin(p.th), p.thDot
}

func (p *pendulum) state(dst []float64)  { dst[0], dst[1] = p.th, p.thDot }
func (p *pendulum) setState(s []float64) { p.th, p.thDot = s[0], s[1] }

// pendulumScore is Pendulum's reward recomputed from the state before the step.
func pendulumScore(state, action, next []float64) float64 {
	return pendulumReward(state[0], state[1], clip(action[0], -pdMaxTorque, pdMaxTorque))
}

// pendulumSpinScore is the counter-clockwise progress of the step, in turns.
func pendulumSpinScore(state, action, next []float64) float64 {
	return (next[0] - state[0]) / (2 * math.Pi)
}
