package env

import "math"

// Acrobot-v1 as Gymnasium documents it (Sutton 1996; Sutton and Barto's book
// dynamics): two links of length 1 m and mass 1 kg, centres of mass at 0.5 m,
// moments of inertia 1, g = 9.8; torque -1, 0 or +1 on the joint between the
// links (actions 0, 1, 2); one step is one classic RK4 step of dt = 0.2 s,
// after which the angles are wrapped to [-pi, pi] and the velocities clipped
// to 4 pi and 9 pi. Reward -1 per step, 0 on the step that reaches the goal;
// terminates when the tip rises above the bar: -cos(t1) - cos(t1 + t2) > 1;
// truncated at 500 steps. Initial state: all four coordinates uniform in
// [-0.1, 0.1]. theta1 = 0 hangs straight down; theta2 is relative to link 1.
// Observation: [cos t1, sin t1, cos t2, sin t2, dt1, dt2].
const (
	acL1   = 1.0
	acM1   = 1.0
	acM2   = 1.0
	acLC1  = 0.5
	acLC2  = 0.5
	acI1   = 1.0
	acI2   = 1.0
	acG    = 9.8
	acDT   = 0.2
	acVel1 = 4 * math.Pi
	acVel2 = 9 * math.Pi
)

var acrobotSpec = withDims(Spec{
	Name:        "Acrobot-v1",
	Obs:         box(1, 1, 1, 1, acVel1, acVel2),
	Act:         Space{Discrete: 3},
	MaxSteps:    500,
	DT:          acDT,
	SegmentLen:  25, // 5 s: a swing of the acrobot takes seconds, and 2 s (10 steps) rarely shows one
	State:       []string{"theta1", "theta2", "dtheta1", "dtheta2"},
	TrueReward:  true,
	Metric:      "return (minus steps to reach the bar)",
	Description: "swing the tip of a two-link underactuated arm above a bar (Gymnasium Acrobot-v1)",
})

type acrobot struct {
	s      [4]float64 // theta1, theta2, dtheta1, dtheta2
	torque float64    // held constant over the RK4 step
}

func newAcrobot() dynamics { return &acrobot{} }

func (a *acrobot) reset(r *rng) {
	for i := range a.s {
		a.s[i] = r.uniform(-0.1, 0.1)
	}
}

func (a *acrobot) step(act []float64) (float64, bool) {
	a.torque = act[0] - 1 // 0, 1, 2 -> -1, 0, +1
	ns := rk4(a.deriv, a.s, acDT)
	ns[0] = wrapAngle(ns[0])
	ns[1] = wrapAngle(ns[1])
	ns[2] = clip(ns[2], -acVel1, acVel1)
	ns[3] = clip(ns[3], -acVel2, acVel2)
	a.s = ns
	if acrobotReached(a.s[0], a.s[1]) {
		return 0, true
	}
	return -1, false
}

func acrobotReached(t1, t2 float64) bool { return -math.Cos(t1)-math.Cos(t2+t1) > 1.0 }

// deriv is the book form of the acrobot's equations of motion.
func (a *acrobot) deriv(s [4]float64) [4]float64 {
	t1, t2, d1, d2 := s[0], s[1], s[2], s[3]
	s2, c2 := math.Sincos(t2)
	// Inertia terms.
	i11 := acM1*acLC1*acLC1 + acM2*(acL1*acL1+acLC2*acLC2+2*acL1*acLC2*c2) + acI1 + acI2
	i12 := acM2*(acLC2*acLC2+acL1*acLC2*c2) + acI2
	// Gravity and velocity terms; cos(x - pi/2) = sin(x).
	phi2 := acM2 * acLC2 * acG * math.Sin(t1+t2)
	phi1 := -acM2*acL1*acLC2*d2*d2*s2 - 2*acM2*acL1*acLC2*d2*d1*s2 +
		(acM1*acLC1+acM2*acL1)*acG*math.Sin(t1) + phi2
	dd2 := (a.torque + i12/i11*phi1 - acM2*acL1*acLC2*d1*d1*s2 - phi2) /
		(acM2*acLC2*acLC2 + acI2 - i12*i12/i11)
	dd1 := -(i12*dd2 + phi1) / i11
	return [4]float64{d1, d2, dd1, dd2}
}

// rk4 takes one classic fourth-order Runge-Kutta step of length h.
func rk4(f func([4]float64) [4]float64, y [4]float64, h float64) [4]float64 {
	add := func(y, k [4]float64, c float64) [4]float64 {
		for i := range y {
			y[i] += c * k[i]
		}
		return y
	}
	k1 := f(y)
	k2 := f(add(y, k1, h/2))
	k3 := f(add(y, k2, h/2))
	k4 := f(add(y, k3, h))
	for i := range y {
		y[i] += h / 6 * (k1[i] + 2*k2[i] + 2*k3[i] + k4[i])
	}
	return y
}

// wrapAngle maps x into [-pi, pi] by whole turns. Angles far outside (only
// from a state loaded with SetState or Restore) are first reduced with
// math.Remainder, so the loops below always end.
func wrapAngle(x float64) float64 {
	if math.Abs(x) > 64*math.Pi {
		x = math.Remainder(x, 2*math.Pi)
	}
	for x > math.Pi {
		x -= 2 * math.Pi
	}
	for x < -math.Pi {
		x += 2 * math.Pi
	}
	return x
}

func (a *acrobot) obs(dst []float64) {
	dst[0], dst[1] = math.Cos(a.s[0]), math.Sin(a.s[0])
	dst[2], dst[3] = math.Cos(a.s[1]), math.Sin(a.s[1])
	dst[4], dst[5] = a.s[2], a.s[3]
}

func (a *acrobot) state(dst []float64)  { copy(dst, a.s[:]) }
func (a *acrobot) setState(s []float64) { copy(a.s[:], s) }

// acrobotScore is Acrobot's reward: 0 on reaching the bar, -1 otherwise.
func acrobotScore(state, action, next []float64) float64 {
	if acrobotReached(next[0], next[1]) {
		return 0
	}
	return -1
}
