package env

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestUnknownNameListsValidNames(t *testing.T) {
	_, err := Make("CartPole-v0")
	if err == nil {
		t.Fatal("Make of an unknown name succeeded")
	}
	for _, n := range Names() {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not list %s", err, n)
		}
	}
	if _, err := SpecOf("nope"); err == nil || !strings.Contains(err.Error(), "Pendulum-v1") {
		t.Errorf("SpecOf: %v", err)
	}
	if _, err := Scorer("nope"); err == nil {
		t.Error("Scorer of an unknown name succeeded")
	}
	if _, err := NewVecEnv("nope", 2, 1); err == nil || !strings.Contains(err.Error(), "Acrobot-v1") {
		t.Errorf("NewVecEnv: %v", err)
	}
	if _, err := NewVecEnv("Pendulum-v1", 0, 1); err == nil {
		t.Error("NewVecEnv with 0 copies succeeded")
	}
}

func TestSpecsConsistent(t *testing.T) {
	want := []string{"Acrobot-v1", "CartPole-v1", "CartPoleLeft-v0", "Pendulum-v1", "PendulumSpin-v0", "Reacher2D-v0"}
	if got := Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	dims := map[string][2]int{ // obs, act
		"CartPole-v1": {4, 1}, "CartPoleLeft-v0": {4, 1}, "Acrobot-v1": {6, 1},
		"Pendulum-v1": {3, 1}, "PendulumSpin-v0": {3, 1}, "Reacher2D-v0": {10, 2},
	}
	for _, name := range Names() {
		spec, _ := SpecOf(name)
		e := mustMake(t, name)
		if spec.ObsDim != dims[name][0] || spec.ActDim != dims[name][1] {
			t.Errorf("%s: dims %d/%d, want %v", name, spec.ObsDim, spec.ActDim, dims[name])
		}
		if e.ObsSpace().Dim() != spec.ObsDim || e.ActSpace().Dim() != spec.ActDim {
			t.Errorf("%s: spaces disagree with spec", name)
		}
		if got := e.(Specced).Spec(); got.Name != name {
			t.Errorf("%s: Spec().Name = %s", name, got.Name)
		}
		if spec.TrueReward == (spec.HiddenGoal != "") {
			t.Errorf("%s: TrueReward %v with HiddenGoal %q", name, spec.TrueReward, spec.HiddenGoal)
		}
		if spec.DT <= 0 || spec.SegmentLen <= 0 || spec.Metric == "" || spec.Description == "" {
			t.Errorf("%s: incomplete spec %+v", name, spec)
		}
		obs := e.Reset(9)
		if len(obs) != spec.ObsDim || len(e.State()) != len(spec.State) {
			t.Errorf("%s: obs %d values, state %d values", name, len(obs), len(e.State()))
		}
		if _, err := json.Marshal(spec); err != nil {
			t.Errorf("%s: spec does not marshal: %v", name, err)
		}
		// A copy from SpecOf is not shared with the package.
		spec.State[0] = "changed"
		if again, _ := SpecOf(name); again.State[0] == "changed" {
			t.Errorf("%s: SpecOf returns shared slices", name)
		}
	}
	if s, _ := SpecOf("Acrobot-v1"); s.Act.Discrete != 3 || s.DT != 0.2 {
		t.Errorf("Acrobot spec %+v", s)
	}
	if s, _ := SpecOf("Pendulum-v1"); s.Act.Low[0] != -2 || s.Act.High[0] != 2 || s.Obs.High[2] != 8 {
		t.Errorf("Pendulum spec %+v", s)
	}
}

// randomAction draws a valid action for spec.
func randomAction(r *rand.Rand, spec Spec) []float64 {
	if spec.Act.IsDiscrete() {
		return []float64{float64(r.IntN(spec.Act.Discrete))}
	}
	a := make([]float64, spec.ActDim)
	for i := range a {
		// Some actions outside the box, to exercise clipping.
		a[i] = (r.Float64()*2.4 - 1.2) * spec.Act.High[i]
	}
	return a
}

type stepOut struct {
	obs         []float64
	r           float64
	term, trunc bool
}

func runEpisodes(t *testing.T, name string, seed uint64, steps int) []stepOut {
	spec, _ := SpecOf(name)
	e := mustMake(t, name)
	r := rand.New(rand.NewPCG(seed, 1))
	out := []stepOut{{obs: e.Reset(seed)}}
	ep := uint64(0)
	for range steps {
		o, rew, term, trunc := e.Step(randomAction(r, spec))
		out = append(out, stepOut{o, rew, term, trunc})
		if term || trunc {
			ep++
			out = append(out, stepOut{obs: e.Reset(seed + ep)})
		}
	}
	return out
}

func TestDeterminism(t *testing.T) {
	for _, name := range Names() {
		a := runEpisodes(t, name, 42, 600)
		b := runEpisodes(t, name, 42, 600)
		c := runEpisodes(t, name, 43, 600)
		same := func(x, y []stepOut) bool {
			if len(x) != len(y) {
				return false
			}
			for i := range x {
				if !equalVec(x[i].obs, y[i].obs) || x[i].r != y[i].r || x[i].term != y[i].term || x[i].trunc != y[i].trunc {
					return false
				}
			}
			return true
		}
		if !same(a, b) {
			t.Errorf("%s: two runs with seed 42 differ", name)
		}
		if same(a, c) {
			t.Errorf("%s: seeds 42 and 43 gave identical runs", name)
		}
	}
}

// TestScorerMatchesReward: for tasks with a true reward, the ScoreFunc
// recomputes from recorded states exactly the reward Step returned; for
// hidden-goal tasks Step returns 0.
func TestScorerMatchesReward(t *testing.T) {
	for _, name := range Names() {
		spec, _ := SpecOf(name)
		score, _ := Scorer(name)
		e := mustMake(t, name)
		r := rand.New(rand.NewPCG(7, 7))
		e.Reset(7)
		for i := range 1500 {
			before := e.State()
			a := randomAction(r, spec)
			_, rew, term, trunc := e.Step(a)
			got := score(before, a, e.State())
			if spec.TrueReward && got != rew {
				t.Fatalf("%s step %d: score %v, reward %v", name, i, got, rew)
			}
			if !spec.TrueReward && rew != 0 {
				t.Fatalf("%s step %d: hidden-goal task gave reward %v", name, i, rew)
			}
			if math.IsNaN(got) {
				t.Fatalf("%s: NaN score", name)
			}
			if term || trunc {
				e.Reset(uint64(i))
			}
		}
	}
}

func TestPendulumSpinGoal(t *testing.T) {
	// Pump energy along the velocity: the pendulum ends up spinning, in one
	// direction or the other.
	pump := func(obs []float64) []float64 {
		if obs[2] >= 0 {
			return []float64{2}
		}
		return []float64{-2}
	}
	for seed := range uint64(4) {
		ep, err := Rollout("PendulumSpin-v0", seed, pump)
		if err != nil {
			t.Fatal(err)
		}
		first, last := ep.Steps[0].State[0], ep.Steps[len(ep.Steps)-1].Next[0]
		want := (last - first) / (2 * math.Pi)
		if !near(ep.Score, want, 1e-9) || ep.Return != 0 || ep.Length != 200 || ep.Terminated {
			t.Fatalf("seed %d: score %v (want net turns %v), return %v, length %d", seed, ep.Score, want, ep.Return, ep.Length)
		}
		if math.Abs(ep.Score) < 2 {
			t.Fatalf("seed %d: energy pumping made only %.2f net turns", seed, ep.Score)
		}
	}
	// Without torque a pendulum starting below the upright position's energy
	// (thdd = 15 sin th, so E = thd^2/2 + 15 cos th < 15) cannot make a turn.
	ep, _ := Rollout("PendulumSpin-v0", 1, func([]float64) []float64 { return []float64{0} })
	if s := ep.Steps[0].State; s[1]*s[1]/2+15*math.Cos(s[0]) >= 14 {
		t.Fatalf("seed 1 starts near the top (%v); pick another seed", s)
	}
	if math.Abs(ep.Score) >= 1 {
		t.Fatalf("unactuated pendulum made %.2f net turns", ep.Score)
	}
}

func TestCartPoleLeftGoal(t *testing.T) {
	// Always pushing left drives the cart left (x < 0) until it fails.
	ep, err := Rollout("CartPoleLeft-v0", 3, func([]float64) []float64 { return []float64{0} })
	if err != nil {
		t.Fatal(err)
	}
	left := 0
	for _, s := range ep.Steps {
		if s.Next[0] < 0 {
			left++
		}
		if s.Reward != 0 {
			t.Fatalf("hidden-goal task gave reward %v", s.Reward)
		}
	}
	if ep.Score != float64(left) || ep.Return != 0 || !ep.Terminated {
		t.Fatalf("score %v, want %d steps on the left; return %v terminated %v", ep.Score, left, ep.Return, ep.Terminated)
	}
	// Pushing right scores nothing once the cart is right of centre.
	ep, _ = Rollout("CartPoleLeft-v0", 3, func([]float64) []float64 { return []float64{1} })
	if ep.Score > 3 {
		t.Fatalf("pushing right scored %v steps on the left", ep.Score)
	}
}

func TestBadActionsPanic(t *testing.T) {
	cases := []struct {
		name string
		act  []float64
	}{
		{"CartPole-v1", []float64{2}},
		{"CartPole-v1", []float64{0.5}},
		{"CartPole-v1", []float64{-1}},
		{"CartPole-v1", []float64{0, 1}},
		{"Acrobot-v1", []float64{3}},
		{"Pendulum-v1", []float64{math.NaN()}},
		{"Reacher2D-v0", []float64{0.1}},
	}
	for _, c := range cases {
		e := mustMake(t, c.name)
		e.Reset(1)
		func() {
			defer func() {
				p := recover()
				if p == nil {
					t.Errorf("%s: action %v did not panic", c.name, c.act)
				} else if !strings.Contains(p.(string), c.name) {
					t.Errorf("%s: panic %q does not name the env", c.name, p)
				}
			}()
			e.Step(c.act)
		}()
	}
	// Step before Reset is a programmer error too.
	e := mustMake(t, "Pendulum-v1")
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Step before Reset did not panic")
			}
		}()
		e.Step([]float64{0})
	}()
	// SetState rejects bad states with an error.
	if err := mustMake(t, "Pendulum-v1").(StateSetter).SetState([]float64{1}); err == nil {
		t.Error("SetState with a short state succeeded")
	}
	if err := mustMake(t, "Pendulum-v1").(StateSetter).SetState([]float64{math.Inf(1), 0}); err == nil {
		t.Error("SetState with an infinite state succeeded")
	}
}

func TestEpisodeSeedsDistinct(t *testing.T) {
	seen := map[uint64]bool{}
	for i := range 50 {
		for ep := range 50 {
			s := EpisodeSeed(1, i, ep)
			if seen[s] {
				t.Fatalf("EpisodeSeed(1, %d, %d) repeats", i, ep)
			}
			seen[s] = true
		}
	}
	if EpisodeSeed(1, 0, 0) == EpisodeSeed(2, 0, 0) {
		t.Fatal("EpisodeSeed ignores the seed")
	}
}
