package feedback

import (
	"math"
	"slices"
	"testing"
)

func TestSelectActive(t *testing.T) {
	cands := []string{"a", "b", "c", "d", "e"}
	dis := map[string]float64{"a": 0.1, "b": math.NaN(), "c": 0.3, "d": 0.1, "e": 0.2}
	f := func(s string) float64 { return dis[s] }
	if got := SelectActive(cands, 3, f); !slices.Equal(got, []string{"c", "e", "a"}) {
		t.Errorf("top 3 = %v", got)
	}
	// Equal disagreements keep candidate order; NaN comes last.
	if got := SelectActive(cands, 10, f); !slices.Equal(got, []string{"c", "e", "a", "d", "b"}) {
		t.Errorf("all = %v", got)
	}
	if got := SelectActive(cands, -1, f); len(got) != 0 {
		t.Errorf("n = -1 gave %v", got)
	}
}

func TestSelectUniform(t *testing.T) {
	cands := make([]int, 10)
	for i := range cands {
		cands[i] = i
	}
	a := SelectUniform(cands, 4, 42)
	if !slices.Equal(a, SelectUniform(cands, 4, 42)) {
		t.Error("same seed, different selection")
	}
	s := slices.Clone(a)
	slices.Sort(s)
	if len(slices.Compact(s)) != 4 {
		t.Errorf("repeats in %v", a)
	}
	// Every candidate is picked with probability n/len = 0.3; over 20k seeds
	// each count is 6000 +- 65 (sd).
	count := make([]int, 10)
	for seed := range uint64(20000) {
		for _, c := range SelectUniform(cands, 3, seed) {
			count[c]++
		}
	}
	for i, c := range count {
		if math.Abs(float64(c)-6000) > 300 {
			t.Errorf("candidate %d picked %d times of 20000, want about 6000", i, c)
		}
	}
	if got := SelectUniform(cands, 99, 1); len(got) != 10 {
		t.Errorf("n > len gave %d", len(got))
	}
}

func TestVariance(t *testing.T) {
	// Mean 0.5; squared deviations 0.09, 0.01, 0.01, 0.09: variance 0.05.
	if v := Variance([]float64{0.2, 0.4, 0.6, 0.8}); !near(v, 0.05, 1e-12) {
		t.Errorf("variance = %v, want 0.05", v)
	}
	if Variance([]float64{0.7}) != 0 || Variance(nil) != 0 {
		t.Error("variance of fewer than two values is not 0")
	}
}

func TestScheduleSumsToBudget(t *testing.T) {
	for _, s := range []Schedule{
		ChristianoSchedule(1400, 1e7),                         // MuJoCo: 700-1400 labels
		{Total: 5500, Initial: 500, Horizon: 5e7, Scale: 5e6}, // Atari: 500 up front
		{Total: 7, Initial: 0, Horizon: 100, Scale: 1},
		{Total: 0, Horizon: 1, Scale: 1},
	} {
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		if got := s.Want(0); got != s.Initial {
			t.Errorf("%+v: Want(0) = %d, want Initial %d", s, got, s.Initial)
		}
		// Request labels step by step as a training loop would: the requests
		// never go backwards and add up to exactly the budget.
		have := s.Initial
		steps := 1000
		for i := 1; i <= steps; i++ {
			tt := s.Horizon * float64(i) / float64(steps)
			d := s.Due(tt, have)
			if d < 0 {
				t.Fatalf("negative due %d", d)
			}
			have += d
		}
		if have != s.Total {
			t.Errorf("%+v: collected %d labels, want %d", s, have, s.Total)
		}
		if s.Want(2*s.Horizon) != s.Total || s.Want(-5) != s.Initial {
			t.Errorf("%+v: Want outside the run", s)
		}
	}
}

func TestScheduleShape(t *testing.T) {
	s := ChristianoSchedule(1000, 1e7)
	if s.Initial != 250 {
		t.Errorf("Christiano initial = %d, want 25%% of 1000", s.Initial)
	}
	// The rate decays as c/(t+c): at t = c it is half the rate at 0.
	if r0, r1 := s.Rate(0), s.Rate(2e6); !near(r1/r0, 0.5, 1e-12) {
		t.Errorf("rate ratio at t = 2e6: %v, want 0.5", r1/r0)
	}
	// Rate is the derivative of the (unrounded) cumulative count: integrate it
	// with the midpoint rule and compare with Want.
	sum, n := 0.0, 100000
	h := s.Horizon / float64(n)
	for i := range n {
		sum += s.Rate((float64(i)+0.5)*h) * h
	}
	if !near(sum, float64(s.Total-s.Initial), 0.01) {
		t.Errorf("integral of rate = %v, want %d", sum, s.Total-s.Initial)
	}
	// More labels early: half the post-initial labels arrive well before half the run.
	// ln(1+t/c) = ln(6)/2 at t = c*(sqrt(6)-1) = 2.9e6 for Horizon 1e7.
	if got := s.Want(2.9e6); got < 250+370 || got > 250+380 {
		t.Errorf("Want(2.9e6) = %d, want about 625", got)
	}
	for _, bad := range []Schedule{{Total: -1, Horizon: 1, Scale: 1}, {Total: 1, Initial: 2, Horizon: 1, Scale: 1}, {Total: 1, Horizon: 0, Scale: 1}, {Total: 1, Horizon: 1, Scale: math.NaN()}} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}
