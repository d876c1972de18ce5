package tensor

import (
	"math"
	"testing"
)

func TestFastMath(t *testing.T) {
	worst := map[string]float64{}
	check := func(name string, got float32, want, x float64) {
		den := math.Max(math.Abs(want), 1e-30)
		if name == "tanh" || name == "sigmoid" {
			den = math.Max(math.Abs(want), 1e-6)
		}
		e := math.Abs(float64(got)-want) / den
		if e > worst[name] {
			worst[name] = e
		}
		if e > 1e-6 {
			t.Errorf("%s(%g) = %g, want %g (rel err %g)", name, x, got, want, e)
		}
	}
	for x := -86.0; x <= 88.0; x += 0.0137 {
		check("exp", Exp(float32(x)), math.Exp(float64(float32(x))), x)
	}
	for x := -12.0; x <= 12.0; x += 0.00071 {
		xf := float64(float32(x))
		check("tanh", Tanh(float32(x)), math.Tanh(xf), x)
		check("sigmoid", Sigmoid(float32(x)), 1/(1+math.Exp(-xf)), x)
	}
	if Exp(100) != float32(math.Inf(1)) || Exp(-100) != 0 || Exp(0) != 1 {
		t.Errorf("Exp edge cases: %g %g %g", Exp(100), Exp(-100), Exp(0))
	}
	if v := Exp(float32(math.NaN())); v == v {
		t.Errorf("Exp(NaN) = %g", v)
	}
	if Tanh(50) != 1 || Tanh(-50) != -1 || Sigmoid(-200) != 0 || Sigmoid(200) != 1 {
		t.Errorf("saturation: %g %g %g %g", Tanh(50), Tanh(-50), Sigmoid(-200), Sigmoid(200))
	}
	t.Logf("worst relative errors: %v", worst)
}

func BenchmarkExp(b *testing.B) {
	xs := make([]float32, 1024)
	for i := range xs {
		xs[i] = float32(i)/100 - 5
	}
	var s float32
	for i := 0; i < b.N; i++ {
		for _, x := range xs {
			s += Exp(x)
		}
	}
	_ = s
}
