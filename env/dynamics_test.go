package env

import (
	"math"
	"testing"
)

// mustMake builds a named environment and fails the test on error.
func mustMake(t testing.TB, name string) Env {
	t.Helper()
	e, err := Make(name)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// setState puts e into state and fails the test on error.
func setState(t testing.TB, e Env, s ...float64) {
	t.Helper()
	if err := e.(StateSetter).SetState(s); err != nil {
		t.Fatal(err)
	}
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*(1+math.Abs(b)) }

func assertVec(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values %v, want %d %v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if !near(got[i], want[i], tol) {
			t.Fatalf("%s[%d]: got %.15g, want %.15g (all: %v vs %v)", what, i, got[i], want[i], got, want)
		}
	}
}

// TestCartPoleTransitions compares steps from fixed states with the
// equations of Florian (2005) as Gymnasium documents them, written out here
// in their own form: F is +-10 N, the pole's half-length is l = 0.5.
func TestCartPoleTransitions(t *testing.T) {
	e := mustMake(t, "CartPole-v1")
	e.Reset(1)
	cases := []struct {
		s      [4]float64
		action float64
	}{
		{[4]float64{0.01, -0.02, 0.03, 0.04}, 1},
		{[4]float64{-1.3, 0.7, -0.15, 1.1}, 0},
		{[4]float64{0, 0, 0, 0}, 0},
	}
	for _, c := range cases {
		x, xd, th, thd := c.s[0], c.s[1], c.s[2], c.s[3]
		F := 10.0
		if c.action == 0 {
			F = -10
		}
		mc, mp, l, g := 1.0, 0.1, 0.5, 9.8
		thAcc := (g*math.Sin(th) + math.Cos(th)*(-F-mp*l*thd*thd*math.Sin(th))/(mc+mp)) /
			(l * (4.0/3.0 - mp*math.Cos(th)*math.Cos(th)/(mc+mp)))
		xAcc := (F + mp*l*(thd*thd*math.Sin(th)-thAcc*math.Cos(th))) / (mc + mp)
		tau := 0.02
		want := []float64{x + tau*xd, xd + tau*xAcc, th + tau*thd, thd + tau*thAcc}

		setState(t, e, c.s[:]...)
		obs, r, term, trunc := e.Step([]float64{c.action})
		assertVec(t, "cartpole obs", obs, want, 1e-13)
		assertVec(t, "cartpole state", e.State(), want, 1e-13)
		if r != 1 || term || trunc {
			t.Fatalf("cartpole from %v: reward %v term %v trunc %v, want 1 false false", c.s, r, term, trunc)
		}
	}
	// Zero state pushed right: the cart accelerates right, the pole tips left.
	setState(t, e, 0, 0, 0, 0)
	e.Step([]float64{1})
	s := e.State()
	if !(s[1] > 0 && s[3] < 0) {
		t.Fatalf("push right from rest: state %v, want x_dot > 0 and theta_dot < 0", s)
	}
}

func TestCartPoleTermination(t *testing.T) {
	e := mustMake(t, "CartPole-v1")
	e.Reset(3)
	limit := 12 * 2 * math.Pi / 360
	cases := []struct {
		name string
		s    []float64
		term bool
	}{
		{"cart past +2.4", []float64{2.39, 1, 0, 0}, true},   // x -> 2.41
		{"cart inside", []float64{2.39, 0.4, 0, 0}, false},   // x -> 2.398
		{"cart past -2.4", []float64{-2.39, -1, 0, 0}, true}, // x -> -2.41
		{"pole past +12deg", []float64{0, 0, limit - 0.001, 0.1}, true},
		{"pole past -12deg", []float64{0, 0, -limit + 0.001, -0.1}, true},
		{"pole inside", []float64{0, 0, limit - 0.01, 0.1}, false},
	}
	for _, c := range cases {
		setState(t, e, c.s...)
		_, r, term, _ := e.Step([]float64{0})
		if term != c.term {
			t.Errorf("%s: terminated = %v, want %v (state after %v)", c.name, term, c.term, e.State())
		}
		if r != 1 {
			t.Errorf("%s: reward %v, want 1 (also on the terminating step)", c.name, r)
		}
	}
	// After termination further steps earn nothing.
	e.Reset(3)
	setState(t, e, 2.39, 1, 0, 0)
	if _, _, term, _ := e.Step([]float64{1}); !term {
		t.Fatal("expected termination")
	}
	if _, r, _, _ := e.Step([]float64{1}); r != 0 {
		t.Fatalf("step after termination: reward %v, want 0", r)
	}
}

// TestTruncation checks every environment truncates exactly at its limit;
// the physical state is held near rest so nothing terminates first.
func TestTruncation(t *testing.T) {
	want := map[string]int{"CartPole-v1": 500, "CartPoleLeft-v0": 500, "Acrobot-v1": 500, "Pendulum-v1": 200, "PendulumSpin-v0": 200, "Reacher2D-v0": 50}
	for _, name := range Names() {
		spec, _ := SpecOf(name)
		if spec.MaxSteps != want[name] {
			t.Errorf("%s: MaxSteps %d, want %d", name, spec.MaxSteps, want[name])
		}
		e := mustMake(t, name)
		e.Reset(5)
		rest := make([]float64, len(spec.State))
		act := make([]float64, spec.ActDim)
		if spec.Act.IsDiscrete() {
			act[0] = float64(spec.Act.Discrete / 2) // CartPole: right, Acrobot: no torque
		}
		for i := 1; i <= spec.MaxSteps; i++ {
			setState(t, e, rest...)
			_, _, term, trunc := e.Step(act)
			if term {
				t.Fatalf("%s: terminated at step %d from rest", name, i)
			}
			if trunc != (i == spec.MaxSteps) {
				t.Fatalf("%s: truncated = %v at step %d of %d", name, trunc, i, spec.MaxSteps)
			}
		}
		// Reset restarts the clock.
		e.Reset(6)
		if _, _, _, trunc := e.Step(act); trunc {
			t.Fatalf("%s: truncated on the first step after Reset", name)
		}
	}
}

func TestPendulumStepAndReward(t *testing.T) {
	e := mustMake(t, "Pendulum-v1")
	e.Reset(1)
	cases := []struct{ th, thd, u, uc float64 }{
		{1.0, 0.5, 1.5, 1.5},
		{-2.5, -3, -7, -2},             // torque clipped to -2
		{4.0, 7.9, 2, 2},               // angle normalised for the cost; speed clipped to 8
		{-7.5, 0.2, 0.3, 0.3},          // several turns away
		{math.Pi, 0, 0, 0},             // hanging down at rest
		{0.01, -7.99, -2, -2},          // speed clipped to -8
		{2 * math.Pi, 0.0, 1e-3, 1e-3}, // upright after a full turn
	}
	for _, c := range cases {
		setState(t, e, c.th, c.thd)
		obs, r, term, trunc := e.Step([]float64{c.u})
		// Cost from the documented formula, with the angle wrapped to [-pi, pi).
		n := c.th - 2*math.Pi*math.Floor((c.th+math.Pi)/(2*math.Pi))
		wantR := -(n*n + 0.1*c.thd*c.thd + 0.001*c.uc*c.uc)
		newThd := c.thd + (3*10/(2*1.0)*math.Sin(c.th)+3/(1.0*1.0*1.0)*c.uc)*0.05
		newThd = math.Max(-8, math.Min(8, newThd))
		newTh := c.th + newThd*0.05
		if !near(r, wantR, 1e-12) {
			t.Errorf("pendulum %+v: reward %.15g, want %.15g", c, r, wantR)
		}
		assertVec(t, "pendulum state", e.State(), []float64{newTh, newThd}, 1e-13)
		assertVec(t, "pendulum obs", obs, []float64{math.Cos(newTh), math.Sin(newTh), newThd}, 1e-13)
		if term || trunc {
			t.Errorf("pendulum %+v: term %v trunc %v", c, term, trunc)
		}
	}
	// The documented extremes: reward in [-16.2736044, 0].
	setState(t, e, math.Pi, 8)
	if _, r, _, _ := e.Step([]float64{2}); !near(r, -16.2736044, 1e-8) {
		t.Errorf("worst-case reward %.10g, want -16.2736044", r)
	}
	setState(t, e, 0, 0)
	if _, r, _, _ := e.Step([]float64{0}); r != 0 {
		t.Errorf("upright at rest: reward %v, want 0", r)
	}
}

// acrobotDerivRef solves the acrobot's Lagrangian equations of motion as a
// 2x2 linear system (Cramer's rule), independently of the book's closed form.
func acrobotDerivRef(s []float64, torque float64) []float64 {
	t1, t2, d1, d2 := s[0], s[1], s[2], s[3]
	m1, m2, l1, lc1, lc2, i1, i2, g := 1.0, 1.0, 1.0, 0.5, 0.5, 1.0, 1.0, 9.8
	a11 := m1*lc1*lc1 + m2*(l1*l1+lc2*lc2+2*l1*lc2*math.Cos(t2)) + i1 + i2
	a12 := m2*(lc2*lc2+l1*lc2*math.Cos(t2)) + i2
	a22 := m2*lc2*lc2 + i2
	h := m2 * l1 * lc2 * math.Sin(t2)
	g1 := (m1*lc1+m2*l1)*g*math.Sin(t1) + m2*lc2*g*math.Sin(t1+t2)
	g2 := m2 * lc2 * g * math.Sin(t1+t2)
	b1 := -(-h*d2*d2 - 2*h*d1*d2 + g1)
	b2 := torque - (h*d1*d1 + g2)
	det := a11*a22 - a12*a12
	return []float64{d1, d2, (b1*a22 - a12*b2) / det, (a11*b2 - a12*b1) / det}
}

func rk4Ref(f func([]float64) []float64, y []float64, h float64) []float64 {
	axpy := func(a float64, x, y []float64) []float64 {
		out := make([]float64, len(y))
		for i := range y {
			out[i] = y[i] + a*x[i]
		}
		return out
	}
	k1 := f(y)
	k2 := f(axpy(h/2, k1, y))
	k3 := f(axpy(h/2, k2, y))
	k4 := f(axpy(h, k3, y))
	out := make([]float64, len(y))
	for i := range y {
		out[i] = y[i] + h/6*(k1[i]+2*k2[i]+2*k3[i]+k4[i])
	}
	return out
}

func TestAcrobotTransitions(t *testing.T) {
	e := mustMake(t, "Acrobot-v1")
	e.Reset(2)
	states := [][]float64{
		{0.05, -0.08, 0.02, 0.09},
		{1.2, -0.7, 2.5, -4.0},
		{-2.9, 2.8, -6.0, 11.0},
	}
	for _, s := range states {
		for a := range 3 {
			torque := float64(a - 1)
			want := rk4Ref(func(y []float64) []float64 { return acrobotDerivRef(y, torque) }, s, 0.2)
			for i := 0; i < 2; i++ {
				for want[i] > math.Pi {
					want[i] -= 2 * math.Pi
				}
				for want[i] < -math.Pi {
					want[i] += 2 * math.Pi
				}
			}
			want[2] = math.Max(-4*math.Pi, math.Min(4*math.Pi, want[2]))
			want[3] = math.Max(-9*math.Pi, math.Min(9*math.Pi, want[3]))
			setState(t, e, s...)
			obs, r, term, _ := e.Step([]float64{float64(a)})
			assertVec(t, "acrobot state", e.State(), want, 1e-10)
			assertVec(t, "acrobot obs", obs, []float64{math.Cos(want[0]), math.Sin(want[0]), math.Cos(want[1]), math.Sin(want[1]), want[2], want[3]}, 1e-10)
			wantTerm := -math.Cos(want[0])-math.Cos(want[0]+want[1]) > 1
			if term != wantTerm || (r == 0) != wantTerm || (r != 0 && r != -1) {
				t.Errorf("acrobot from %v action %d: reward %v term %v, want term %v", s, a, r, term, wantTerm)
			}
		}
	}
	// Straight up: the tip is 2 m above the pivot, past the 1 m bar.
	setState(t, e, math.Pi, 0, 0, 0)
	if _, r, term, _ := e.Step([]float64{1}); !term || r != 0 {
		t.Errorf("acrobot upright: reward %v term %v, want 0 true", r, term)
	}
	// A single RK4 step of 0.2 s stays close to a fine integration.
	s := []float64{0.3, -0.2, 0.1, 0.4}
	fine := s
	for range 200 {
		fine = rk4Ref(func(y []float64) []float64 { return acrobotDerivRef(y, 1) }, fine, 0.001)
	}
	setState(t, e, s...)
	e.Step([]float64{2})
	assertVec(t, "acrobot coarse vs fine", e.State(), fine, 2e-3)
}

// acrobotEnergy is kinetic plus potential energy (zero at the pivot height).
func acrobotEnergy(s []float64) float64 {
	t1, t2, d1, d2 := s[0], s[1], s[2], s[3]
	a11 := 0.25 + (1 + 0.25 + math.Cos(t2)) + 2
	a12 := 0.25 + 0.5*math.Cos(t2) + 1
	a22 := 0.25 + 1.0
	kin := 0.5*a11*d1*d1 + a12*d1*d2 + 0.5*a22*d2*d2
	pot := -(0.5+1)*9.8*math.Cos(t1) - 0.5*9.8*math.Cos(t1+t2)
	return kin + pot
}

// TestAcrobotEnergy: with no torque and no damping a long rollout stays
// bounded, and its energy never grows. One classic RK4 step of 0.2 s (what
// Gymnasium takes) is slightly dissipative: from these states it loses about
// 0.5-3 J of the ~39 J between hanging and upright over 400 s.
func TestAcrobotEnergy(t *testing.T) {
	e := mustMake(t, "Acrobot-v1")
	e.Reset(1)
	for _, s0 := range [][]float64{{0.5, 0, 0, 0}, {1.0, 0.5, 0, 0}} {
		setState(t, e, s0...)
		e0 := acrobotEnergy(s0)
		rise, drop := 0.0, 0.0
		for range 2000 {
			e.Step([]float64{1})
			s := e.State()
			for i, v := range s {
				if math.IsNaN(v) || (i < 2 && math.Abs(v) > math.Pi) {
					t.Fatalf("acrobot state out of range: %v", s)
				}
			}
			if math.Abs(s[2]) >= 4*math.Pi || math.Abs(s[3]) >= 9*math.Pi {
				t.Fatalf("acrobot with no torque hit the velocity clip: %v", s)
			}
			d := acrobotEnergy(s) - e0
			rise, drop = math.Max(rise, d), math.Max(drop, -d)
		}
		if rise > 0.01 || drop > 4 {
			t.Errorf("acrobot from %v: energy rose by %.4g J and fell by %.4g J over 2000 steps (E0 = %.4g)", s0, rise, drop, e0)
		}
		t.Logf("acrobot from %v: energy rose %.3g J, fell %.3g J over 400 s", s0, rise, drop)
	}
}

func TestAcrobotTorqueDoesWork(t *testing.T) {
	// Positive torque on the elbow from rest accelerates theta2 positively.
	e := mustMake(t, "Acrobot-v1")
	e.Reset(1)
	setState(t, e, 0, 0, 0, 0)
	e.Step([]float64{2})
	if s := e.State(); !(s[3] > 0 && s[2] < 0) {
		t.Fatalf("torque +1 from rest: %v, want dtheta2 > 0 and a reaction dtheta1 < 0", s)
	}
}

// reacherMassMatrix computes M(q) from the bodies' velocity Jacobians,
// independently of the closed form: M = sum m Jv'Jv + I Jw'Jw + armature.
func reacherMassMatrix(q2 float64) [2][2]float64 {
	// Body 1: centre of mass at c1 on link 1; body 2 at c2 along link 2.
	// Velocity of a point at distance r along link 2 (in link 2's frame rotated
	// by q1) is computed at q1 = 0, which M does not depend on.
	var m [2][2]float64
	// Body 1 Jacobian: v = c1 * dq1 (perpendicular), w = dq1.
	j1 := [2][2]float64{{0, 0}, {rcC1, 0}} // rows: vx, vy; columns: dq1, dq2
	add := func(mass, inertia float64, jv [2][2]float64, jw [2]float64) {
		for a := range 2 {
			for b := range 2 {
				m[a][b] += mass*(jv[0][a]*jv[0][b]+jv[1][a]*jv[1][b]) + inertia*jw[a]*jw[b]
			}
		}
	}
	add(rcM1, rcI1, j1, [2]float64{1, 0})
	// Body 2 centre: p = (l cos q1 + c2 cos(q1+q2), l sin q1 + c2 sin(q1+q2)) at q1 = 0.
	j2 := [2][2]float64{
		{-rcC2 * math.Sin(q2), -rcC2 * math.Sin(q2)},
		{rcLink + rcC2*math.Cos(q2), rcC2 * math.Cos(q2)},
	}
	add(rcM2, rcI2, j2, [2]float64{1, 1})
	m[0][0] += 1
	m[1][1] += 1
	return m
}

// TestReacherDynamics checks the arm's accelerations against the Lagrangian
// M ddq + C dq = tau - damping dq, with C from Christoffel symbols of a
// finite-difference dM/dq2.
func TestReacherDynamics(t *testing.T) {
	// Mass properties of a capsule of radius 0.01 m, length 0.1 m, density 1000.
	wantCap := 1000 * (math.Pi*1e-4*0.1 + 4.0/3.0*math.Pi*1e-6)
	if !near(rcM1, wantCap, 1e-12) || !near(rcM2, wantCap+1000*4.0/3.0*math.Pi*1e-6, 1e-12) {
		t.Fatalf("masses %v %v, want %v and capsule+sphere", rcM1, rcM2, wantCap)
	}
	r := &reacher{}
	states := [][4]float64{{0.3, -1.2, 2, -3}, {-2, 2.5, -10, 40}, {0, 0, 0, 0}}
	taus := [][2]float64{{200, -50}, {0, 0}, {-200, 200}}
	for i, s := range states {
		r.tau = taus[i]
		got := r.deriv(s)
		q2, d1, d2 := s[1], s[2], s[3]
		m := reacherMassMatrix(q2)
		const h = 1e-6
		mp, mm := reacherMassMatrix(q2+h), reacherMassMatrix(q2-h)
		var dm [2][2]float64 // dM/dq2
		for a := range 2 {
			for b := range 2 {
				dm[a][b] = (mp[a][b] - mm[a][b]) / (2 * h)
			}
		}
		// Coriolis/centrifugal: c_k = sum_ij (dM_kj/dq_i - 1/2 dM_ij/dq_k) dq_i dq_j, only q2 matters.
		dq := [2]float64{d1, d2}
		var c [2]float64
		for k := range 2 {
			for a := range 2 {
				for b := range 2 {
					dMkb := 0.0
					if a == 1 {
						dMkb = dm[k][b]
					}
					dMab := 0.0
					if k == 1 {
						dMab = dm[a][b]
					}
					c[k] += (dMkb - 0.5*dMab) * dq[a] * dq[b]
				}
			}
		}
		f := [2]float64{taus[i][0] - d1 - c[0], taus[i][1] - d2 - c[1]}
		det := m[0][0]*m[1][1] - m[0][1]*m[1][0]
		want := []float64{d1, d2, (m[1][1]*f[0] - m[0][1]*f[1]) / det, (m[0][0]*f[1] - m[1][0]*f[0]) / det}
		assertVec(t, "reacher deriv", got[:], want, 1e-6)
	}
}

func TestReacherStepRewardAndLimits(t *testing.T) {
	e := mustMake(t, "Reacher2D-v0")
	e.Reset(4)
	setState(t, e, 0.2, -0.4, 0, 0, 0.1, 0.05)
	fx := 0.1*math.Cos(0.2) + 0.11*math.Cos(-0.2)
	fy := 0.1*math.Sin(0.2) + 0.11*math.Sin(-0.2)
	act := []float64{0.5, -2} // the cost uses the action as given
	obs, r, term, trunc := e.Step(act)
	want := -math.Hypot(fx-0.1, fy-0.05) - (0.25 + 4)
	if !near(r, want, 1e-12) || term || trunc {
		t.Fatalf("reacher reward %.15g term %v trunc %v, want %.15g", r, term, trunc, want)
	}
	s := e.State()
	if !(s[2] > 0 && s[3] < 0) {
		t.Fatalf("torques (+, -) from rest gave velocities %v", s[2:4])
	}
	// Observation layout matches the state.
	nfx := 0.1*math.Cos(s[0]) + 0.11*math.Cos(s[0]+s[1])
	nfy := 0.1*math.Sin(s[0]) + 0.11*math.Sin(s[0]+s[1])
	assertVec(t, "reacher obs", obs, []float64{math.Cos(s[0]), math.Cos(s[1]), math.Sin(s[0]), math.Sin(s[1]), 0.1, 0.05, s[2], s[3], nfx - 0.1, nfy - 0.05}, 1e-13)
	// Target does not move.
	if s[4] != 0.1 || s[5] != 0.05 {
		t.Fatalf("target moved to %v", s[4:])
	}
	// The elbow stops at 3 rad.
	setState(t, e, 0, 2.5, 0, 0, 0.1, 0.1)
	for range 30 {
		e.Step([]float64{0, 1})
	}
	if s := e.State(); s[1] != 3 {
		t.Fatalf("elbow driven by +1 for 30 steps: q2 = %v, want held at the 3 rad limit", s[1])
	}
	// Without torque the damped arm loses kinetic energy every step.
	setState(t, e, 0.3, -1, 20, -30, 0.1, 0.1)
	ke := func(s []float64) float64 {
		m := reacherMassMatrix(s[1])
		return 0.5 * (m[0][0]*s[2]*s[2] + 2*m[0][1]*s[2]*s[3] + m[1][1]*s[3]*s[3])
	}
	prev := ke(e.State())
	for range 40 {
		e.Step([]float64{0, 0})
		k := ke(e.State())
		if k >= prev {
			t.Fatalf("kinetic energy rose from %v to %v with no torque", prev, k)
		}
		prev = k
	}
}

func TestResetDistributions(t *testing.T) {
	for _, name := range Names() {
		e := mustMake(t, name)
		first := e.Reset(0)
		distinct := false
		for seed := range uint64(300) {
			obs := e.Reset(seed)
			s := e.State()
			if seed > 0 && !equalVec(obs, first) {
				distinct = true
			}
			var lo, hi []float64
			switch name {
			case "CartPole-v1", "CartPoleLeft-v0":
				lo, hi = []float64{-.05, -.05, -.05, -.05}, []float64{.05, .05, .05, .05}
			case "Acrobot-v1":
				lo, hi = []float64{-.1, -.1, -.1, -.1}, []float64{.1, .1, .1, .1}
			case "Pendulum-v1", "PendulumSpin-v0":
				lo, hi = []float64{-math.Pi, -1}, []float64{math.Pi, 1}
			case "Reacher2D-v0":
				lo, hi = []float64{-.1, -.1, -.005, -.005, -.2, -.2}, []float64{.1, .1, .005, .005, .2, .2}
				if math.Hypot(s[4], s[5]) >= 0.2 {
					t.Fatalf("reacher target %v outside the 0.2 disc", s[4:])
				}
			default:
				t.Fatalf("no reset bounds for %s", name)
			}
			for i := range s {
				if s[i] < lo[i] || s[i] > hi[i] {
					t.Fatalf("%s seed %d: state %v outside [%v, %v]", name, seed, s, lo, hi)
				}
			}
		}
		if !distinct {
			t.Fatalf("%s: every seed gave the same initial observation", name)
		}
	}
}

func equalVec(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
