package ppo

import "testing"

// Two environments, three steps, γ = λ = 0.5, time-major.
//
// Environment 0: step 0 ordinary, step 1 truncated (time limit; its final
// observation is worth 40), step 2 terminated.
//
//	t=2: δ = 3 + 0 - 30 = -27                         A = -27
//	t=1: δ = 2 + 0.5·40 - 20 = 2  (bootstrap, ended)   A = 2
//	t=0: δ = 1 + 0.5·20 - 10 = 1                      A = 1 + 0.25·2 = 1.5
//
// Environment 1: no episode ends; the last step bootstraps from V = 2.
//
//	t=2: δ = 1 + 0.5·2 - 1 = 1                        A = 1
//	t=1: δ = 0 + 0.5·1 - 1 = -0.5                     A = -0.5 + 0.25·1 = -0.25
//	t=0: δ = -0.5                                     A = -0.5 + 0.25·(-0.25) = -0.5625
func TestGAEHandWorked(t *testing.T) {
	rewards := []float32{1, 0, 2, 0, 3, 1}
	values := []float32{10, 1, 20, 1, 30, 1}
	next := []float32{20, 1, 40, 1, 99, 2} // 99: ignored, the task ended
	term := []bool{false, false, false, false, true, false}
	ended := []bool{false, false, true, false, true, false}
	adv, ret := GAE(rewards, values, next, term, ended, 2, 0.5, 0.5)
	wantAdv := []float64{1.5, -0.5625, 2, -0.25, -27, 1}
	for i, w := range wantAdv {
		near(t, "advantage", float64(adv[i]), w, 1e-6)
		near(t, "return", float64(ret[i]), w+float64(values[i]), 1e-5)
	}
	// Treating the truncation as a termination (the common mistake) would
	// give A_1 = 2 - 20 = -18 for environment 0: make sure the flag matters.
	term[2] = true
	adv2, _ := GAE(rewards, values, next, term, ended, 2, 0.5, 0.5)
	near(t, "advantage if terminated", float64(adv2[2]), -18, 1e-6)
}

// With λ = 1 and no episode ends, GAE is the discounted return minus the value.
func TestGAELambdaOneIsMonteCarlo(t *testing.T) {
	r := []float32{1, 2, 3}
	v := []float32{0.5, -1, 2}
	next := []float32{-1, 2, 4}
	f := []bool{false, false, false}
	adv, _ := GAE(r, v, next, f, f, 1, 0.9, 1)
	g2 := 3 + 0.9*4.0
	g1 := 2 + 0.9*g2
	g0 := 1 + 0.9*g1
	near(t, "A0", float64(adv[0]), g0-0.5, 1e-5)
	near(t, "A1", float64(adv[1]), g1+1, 1e-5)
	near(t, "A2", float64(adv[2]), g2-2, 1e-5)
}
