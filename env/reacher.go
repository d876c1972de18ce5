package env

import "math"

// Reacher2D-v0 is a two-link planar arm reaching for a target, built to match
// Gymnasium's MuJoCo Reacher-v4/v5 task without MuJoCo. Its model follows
// reacher.xml: links are capsules of length 0.1 m and radius 0.01 m at
// density 1000 kg/m^3, the fingertip is a sphere of radius 0.01 m at 0.11 m
// along link 2; each hinge has armature 1 and damping 1, and a motor of gear
// 200 with control in [-1, 1]; the arm lies in the horizontal plane, so gravity
// does no work. Joint 2 is limited to [-3, 3] rad.
//
// Integration: classic RK4 of the rigid two-link equations of motion at
// 0.01 s, two substeps per environment step (0.02 s), like v4's timestep 0.01
// and frame_skip 2. Episodes last 50 steps (1 s) and never terminate.
//
// Reset (as v4): q uniform in [-0.1, 0.1]^2, dq uniform in [-0.005, 0.005]^2,
// target uniform in the disc of radius 0.2 (rejection from [-0.2, 0.2]^2).
// Observation (as v5, 10 values): [cos q1, cos q2, sin q1, sin q2, target x,
// target y, dq1, dq2, fingertip x - target x, fingertip y - target y].
// Reward (as v4/v5): -|fingertip - target| - sum(action^2), the distance
// taken before the step (so the reward is a function of the observation the
// agent acted on and its action) and the control cost on the action as given,
// before it is clipped for the motors.
//
// How it differs from MuJoCo's Reacher: MuJoCo enforces the joint-2 limit as
// a soft constraint, here it is a hard stop (the angle is clamped and its
// outward velocity zeroed after each substep); MuJoCo's capsule inertias may
// differ in the last digits from the textbook capsule formula used here (they
// are ~1e-4 kg m^2 against the armature's 1, so this hardly matters); there
// are no contacts in either (the arm's geoms do not collide with anything).
// Returns are therefore close to, but not bit-identical with, Reacher-v4's.
const (
	rcDensity = 1000.0
	rcRadius  = 0.01
	rcLink    = 0.1  // link length
	rcTip     = 0.11 // fingertip distance from joint 2
	rcArm     = 1.0  // joint armature
	rcDamp    = 1.0  // joint damping
	rcGear    = 200.0
	rcQ2Limit = 3.0
	rcSubDT   = 0.01
	rcSkip    = 2
)

var reacherSpec = withDims(Spec{
	Name:        "Reacher2D-v0",
	Obs:         box(Unbounded, Unbounded, Unbounded, Unbounded, Unbounded, Unbounded, Unbounded, Unbounded, Unbounded, Unbounded),
	Act:         box(1, 1),
	MaxSteps:    50,
	DT:          rcSubDT * rcSkip,
	SegmentLen:  50, // 1 s, the whole episode
	State:       []string{"q1", "q2", "dq1", "dq2", "target_x", "target_y"},
	TrueReward:  true,
	Metric:      "return",
	Description: "move the fingertip of a two-link planar arm to a random target (after Gymnasium Reacher-v4, without MuJoCo)",
})

// Mass properties of the two bodies, about each body's own joint axis.
var (
	rcM1, rcC1, rcI1 float64 // body 1: mass, centre-of-mass distance from joint 1, inertia about its centre of mass
	rcM2, rcC2, rcI2 float64 // body 2 (link 2 and fingertip), about joint 2
)

func init() {
	// Capsule: a cylinder plus two hemispheres, inertia about its centre
	// perpendicular to its axis.
	mCyl := rcDensity * math.Pi * rcRadius * rcRadius * rcLink
	mHemi := rcDensity * 2.0 / 3.0 * math.Pi * rcRadius * rcRadius * rcRadius
	d := rcLink/2 + 3*rcRadius/8 // hemisphere centre of mass from capsule centre
	mCap := mCyl + 2*mHemi
	iCap := mCyl*(3*rcRadius*rcRadius+rcLink*rcLink)/12 +
		2*mHemi*(83.0/320.0*rcRadius*rcRadius+d*d)
	rcM1, rcC1, rcI1 = mCap, rcLink/2, iCap

	mTip := 2 * mHemi // a full sphere
	iTip := 0.4 * mTip * rcRadius * rcRadius
	rcM2 = mCap + mTip
	rcC2 = (mCap*rcLink/2 + mTip*rcTip) / rcM2
	a, b := rcLink/2-rcC2, rcTip-rcC2
	rcI2 = iCap + mCap*a*a + iTip + mTip*b*b
}

type reacher struct {
	s      [4]float64 // q1, q2, dq1, dq2
	tx, ty float64
	tau    [2]float64 // motor torques held over the step
}

func newReacher() dynamics { return &reacher{} }

func (r *reacher) reset(g *rng) {
	r.s[0] = g.uniform(-0.1, 0.1)
	r.s[1] = g.uniform(-0.1, 0.1)
	for {
		r.tx = g.uniform(-0.2, 0.2)
		r.ty = g.uniform(-0.2, 0.2)
		if math.Hypot(r.tx, r.ty) < 0.2 {
			break
		}
	}
	r.s[2] = g.uniform(-0.005, 0.005)
	r.s[3] = g.uniform(-0.005, 0.005)
}

func (r *reacher) step(a []float64) (float64, bool) {
	rew := reacherReward(r.s[0], r.s[1], r.tx, r.ty, a)
	r.tau[0] = rcGear * clip(a[0], -1, 1)
	r.tau[1] = rcGear * clip(a[1], -1, 1)
	for range rcSkip {
		r.s = rk4(r.deriv, r.s, rcSubDT)
		if r.s[1] > rcQ2Limit {
			r.s[1], r.s[3] = rcQ2Limit, math.Min(r.s[3], 0)
		} else if r.s[1] < -rcQ2Limit {
			r.s[1], r.s[3] = -rcQ2Limit, math.Max(r.s[3], 0)
		}
	}
	return rew, false
}

// reacherReward is -|fingertip - target| - sum(a^2).
func reacherReward(q1, q2, tx, ty float64, a []float64) float64 {
	fx, fy := fingertip(q1, q2)
	ctrl := 0.0
	for _, v := range a {
		ctrl += v * v
	}
	return -math.Hypot(fx-tx, fy-ty) - ctrl
}

// fingertip is the fingertip position for joint angles q1, q2.
func fingertip(q1, q2 float64) (x, y float64) {
	return rcLink*math.Cos(q1) + rcTip*math.Cos(q1+q2), rcLink*math.Sin(q1) + rcTip*math.Sin(q1+q2)
}

// deriv solves M(q) ddq = tau - damping dq - c(q, dq) for a planar two-link
// arm with armature added to the diagonal of M.
func (r *reacher) deriv(s [4]float64) [4]float64 {
	q2, d1, d2 := s[1], s[2], s[3]
	sn, c := math.Sincos(q2)
	m11 := rcI1 + rcM1*rcC1*rcC1 + rcI2 + rcM2*(rcLink*rcLink+rcC2*rcC2+2*rcLink*rcC2*c) + rcArm
	m12 := rcI2 + rcM2*(rcC2*rcC2+rcLink*rcC2*c)
	m22 := rcI2 + rcM2*rcC2*rcC2 + rcArm
	h := rcM2 * rcLink * rcC2 * sn
	f1 := r.tau[0] - rcDamp*d1 + h*(2*d1*d2+d2*d2)
	f2 := r.tau[1] - rcDamp*d2 - h*d1*d1
	det := m11*m22 - m12*m12
	return [4]float64{d1, d2, (m22*f1 - m12*f2) / det, (m11*f2 - m12*f1) / det}
}

func (r *reacher) obs(dst []float64) {
	fx, fy := fingertip(r.s[0], r.s[1])
	dst[0], dst[1] = math.Cos(r.s[0]), math.Cos(r.s[1])
	dst[2], dst[3] = math.Sin(r.s[0]), math.Sin(r.s[1])
	dst[4], dst[5] = r.tx, r.ty
	dst[6], dst[7] = r.s[2], r.s[3]
	dst[8], dst[9] = fx-r.tx, fy-r.ty
}

func (r *reacher) state(dst []float64) {
	copy(dst, r.s[:])
	dst[4], dst[5] = r.tx, r.ty
}

func (r *reacher) setState(s []float64) {
	copy(r.s[:], s[:4])
	r.tx, r.ty = s[4], s[5]
}

// reacherScore is the Reacher reward recomputed from the state before the step.
func reacherScore(state, action, next []float64) float64 {
	return reacherReward(state[0], state[1], state[4], state[5], action)
}
