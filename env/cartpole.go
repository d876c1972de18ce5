package env

import "math"

// CartPole-v1 as Gymnasium documents it (Barto, Sutton and Anderson 1983):
// a pole hinged on a cart on a frictionless track; push left (0) or right (1)
// with a force of 10 N; explicit Euler with tau = 0.02 s; reward +1 per step,
// including the step that ends the episode; the episode terminates when
// |x| > 2.4 or |theta| > 12 degrees, and is truncated at 500 steps.
// Initial state: each of the four coordinates uniform in [-0.05, 0.05].
// Observation = state = [x, x_dot, theta, theta_dot], theta 0 upright,
// positive when the pole leans towards +x.
const (
	cpGravity   = 9.8
	cpMassCart  = 1.0
	cpMassPole  = 0.1
	cpTotalMass = cpMassCart + cpMassPole
	cpHalfLen   = 0.5 // half the pole's length
	cpPoleML    = cpMassPole * cpHalfLen
	cpForce     = 10.0
	cpTau       = 0.02
	cpXLimit    = 2.4
)

// cpThetaLimit is 12 degrees in radians.
var cpThetaLimit = 12 * 2 * math.Pi / 360

var cartPoleSpec = withDims(Spec{
	Name:        "CartPole-v1",
	Obs:         box(2*cpXLimit, Unbounded, 2*cpThetaLimit, Unbounded),
	Act:         Space{Discrete: 2},
	MaxSteps:    500,
	DT:          cpTau,
	SegmentLen:  50, // 1 s
	State:       []string{"x", "x_dot", "theta", "theta_dot"},
	TrueReward:  true,
	Metric:      "return (steps balanced)",
	Description: "balance a pole on a cart by pushing it left or right (Gymnasium CartPole-v1)",
})

var cartPoleLeftSpec = withDims(Spec{
	Name:        "CartPoleLeft-v0",
	Obs:         cartPoleSpec.Obs,
	Act:         cartPoleSpec.Act,
	MaxSteps:    500,
	DT:          cpTau,
	SegmentLen:  50,
	State:       cartPoleSpec.State,
	TrueReward:  false,
	HiddenGoal:  "keep the pole balanced with the cart in the left half of the track (x < 0)",
	Metric:      "steps with the cart in the left half",
	Description: "CartPole-v1 dynamics and termination, no reward: the goal is known only to the labeler",
})

type cartPole struct{ x, xDot, th, thDot float64 }

func newCartPole() dynamics { return &cartPole{} }

func (c *cartPole) reset(r *rng) {
	c.x = r.uniform(-0.05, 0.05)
	c.xDot = r.uniform(-0.05, 0.05)
	c.th = r.uniform(-0.05, 0.05)
	c.thDot = r.uniform(-0.05, 0.05)
}

func (c *cartPole) step(a []float64) (float64, bool) {
	force := -cpForce
	if a[0] == 1 {
		force = cpForce
	}
	cos, sin := math.Cos(c.th), math.Sin(c.th)
	temp := (force + cpPoleML*c.thDot*c.thDot*sin) / cpTotalMass
	thAcc := (cpGravity*sin - cos*temp) / (cpHalfLen * (4.0/3.0 - cpMassPole*cos*cos/cpTotalMass))
	xAcc := temp - cpPoleML*thAcc*cos/cpTotalMass
	// Explicit Euler: positions advance with the old velocities.
	c.x += cpTau * c.xDot
	c.xDot += cpTau * xAcc
	c.th += cpTau * c.thDot
	c.thDot += cpTau * thAcc
	return 1, cartPoleFailed(c.x, c.th)
}

func cartPoleFailed(x, th float64) bool {
	return x < -cpXLimit || x > cpXLimit || th < -cpThetaLimit || th > cpThetaLimit
}

func (c *cartPole) obs(dst []float64)   { c.state(dst) }
func (c *cartPole) state(dst []float64) { dst[0], dst[1], dst[2], dst[3] = c.x, c.xDot, c.th, c.thDot }
func (c *cartPole) setState(s []float64) {
	c.x, c.xDot, c.th, c.thDot = s[0], s[1], s[2], s[3]
}

// cartPoleScore is CartPole's reward: +1 for every step taken.
func cartPoleScore(state, action, next []float64) float64 { return 1 }

// cartPoleLeftScore is 1 for every step that leaves the cart left of centre.
func cartPoleLeftScore(state, action, next []float64) float64 {
	if next[0] < 0 {
		return 1
	}
	return 0
}
