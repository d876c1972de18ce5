package dpo

import (
	"math"
	"strings"
	"testing"

	"rlhf/ag"
	"rlhf/tensor"
)

func param(v ...float32) *ag.Var { return ag.NewParam(tensor.FromSlice(v, len(v))) }

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// One pair: the policy gained 1 nat on the chosen completion and lost 1 on
// the rejected one, so h = 2.
func TestSigmoidLossHandNumbers(t *testing.T) {
	for _, tc := range []struct {
		beta, eps, want, grad float64
	}{
		// -log σ(0.2) = log(1 + e^-0.2); d/dπw = -β·σ(-βh).
		{0.1, 0, 0.5981388693815918, -0.1 * 0.45016600268752216},
		// -(0.9·log σ(0.2) + 0.1·log σ(-0.2)); d/dπw = -β·(0.9·σ(-0.2) - 0.1·σ(0.2)).
		{0.1, 0.1, 0.9*0.5981388693815918 + 0.1*0.7981388693815918, -0.1 * (0.9*0.45016600268752216 - 0.1*0.5498339973124778)},
		// β = 1: -log σ(2).
		{1, 0, 0.12692801104297263, -0.11920292202211755},
	} {
		tp := ag.NewTape()
		piW, piL := param(-10), param(-12)
		loss := Loss(tp, Config{Loss: LossSigmoid, Beta: tc.beta, LabelSmoothing: tc.eps}, piW, piL, []float32{-11}, []float32{-11})
		tp.Backward(loss)
		if !near(float64(loss.Item()), tc.want, 1e-6) {
			t.Errorf("β=%g ε=%g: loss %.7f, want %.7f", tc.beta, tc.eps, loss.Item(), tc.want)
		}
		if !near(float64(piW.Grad.Data[0]), tc.grad, 1e-6) || !near(float64(piL.Grad.Data[0]), -tc.grad, 1e-6) {
			t.Errorf("β=%g ε=%g: gradients %v %v, want ±%v", tc.beta, tc.eps, piW.Grad.Data[0], piL.Grad.Data[0], tc.grad)
		}
	}
}

func TestSigmoidLossIsStableForHugeMargins(t *testing.T) {
	tp := ag.NewTape()
	loss := SigmoidLoss(tp, param(5000, -5000), 1, 0)
	// -log σ(5000) ≈ 0, -log σ(-5000) = 5000: the mean is 2500.
	if !near(float64(loss.Item()), 2500, 1e-2) {
		t.Errorf("loss %v, want 2500", loss.Item())
	}
}

func TestIPOLossHandNumbers(t *testing.T) {
	tp := ag.NewTape()
	// Margins h = 2 and 5 with τ = 0.1 (target 1/(2τ) = 5): ((2-5)² + 0²)/2 = 4.5.
	piW, piL := param(-10, -3), param(-12, -8)
	loss := Loss(tp, Config{Loss: LossIPO, Beta: 0.1}, piW, piL, []float32{-11, -4}, []float32{-11, -4})
	tp.Backward(loss)
	if !near(float64(loss.Item()), 4.5, 1e-5) {
		t.Errorf("IPO loss %v, want 4.5", loss.Item())
	}
	// d/dπw = 2(h - 5)/N: -3 and 0.
	if g := piW.Grad.Data; !near(float64(g[0]), -3, 1e-5) || !near(float64(g[1]), 0, 1e-5) {
		t.Errorf("IPO gradients %v, want [-3 0]", g)
	}
}

func TestComputeStats(t *testing.T) {
	s := ComputeStats([]float32{-10, -20}, []float32{-12, -18}, []float32{-11, -20}, []float32{-11, -20}, 0.5)
	// Rewards: chosen 0.5·1 = 0.5 and 0; rejected 0.5·(-1) = -0.5 and 0.5·2 = 1.
	want := Stats{Chosen: 0.25, Rejected: 0.25, Accuracy: 0.5, Margin: 0, LogPChosen: -15, LogPReject: -15, KL: 0.5, N: 2}
	if s != want {
		t.Errorf("stats %+v, want %+v", s, want)
	}
	m := s.Map("eval/")
	for _, k := range []string{"eval/rewards/chosen", "eval/rewards/rejected", "eval/rewards/accuracies", "eval/rewards/margins", "eval/kl/implicit"} {
		if _, ok := m[k]; !ok {
			t.Errorf("metric %s missing from %v", k, m)
		}
	}
	if ComputeStats(nil, nil, nil, nil, 1).N != 0 {
		t.Error("empty stats")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c := DefaultConfig(); c.Beta != 0.1 || c.Loss != LossSigmoid {
		t.Errorf("defaults %+v: want DPO with β = 0.1", c)
	}
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Loss = "hinge" }, "loss"},
		{func(c *Config) { c.Beta = 0 }, "beta"},
		{func(c *Config) { c.Beta = math.Inf(1) }, "beta"},
		{func(c *Config) { c.LabelSmoothing = 0.5 }, "label smoothing"},
		{func(c *Config) { c.Loss, c.LabelSmoothing = LossIPO, 0.1 }, "label smoothing"},
		{func(c *Config) { c.LR = -1 }, "learning rate"},
		{func(c *Config) { c.Batch = 0 }, "batch"},
		{func(c *Config) { c.Epochs = 0 }, "epochs"},
		{func(c *Config) { c.Warmup = -1 }, "warm-up"},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error about %s", c, err, tc.want)
		}
	}
}

func TestSFTLossHandNumbers(t *testing.T) {
	tp := ag.NewTape()
	// Completions of 2 and 4 tokens with summed log-probs -3 and -8: per-token
	// NLL 1.5 and 2, mean 1.75; d/dπw_i = -1/(N·len_i): -1/4 and -1/8.
	piW := param(-3, -8)
	loss := SFTLoss(tp, piW, []int{2, 4})
	tp.Backward(loss)
	if !near(float64(loss.Item()), 1.75, 1e-6) {
		t.Errorf("SFT loss %v, want 1.75", loss.Item())
	}
	if g := piW.Grad.Data; !near(float64(g[0]), -0.25, 1e-6) || !near(float64(g[1]), -0.125, 1e-6) {
		t.Errorf("SFT gradients %v, want [-0.25 -0.125]", g)
	}
	defer func() {
		if recover() == nil {
			t.Error("Loss with LossSFT (no lengths): no panic")
		}
	}()
	Loss(ag.NewTape(), Config{Loss: LossSFT, Beta: 0.1}, piW, piW, []float32{0, 0}, []float32{0, 0})
}
