package env_test

import (
	"fmt"

	"rlhf/env"
)

// A recorded CartPole episode under a simple hand-written controller, cut
// into 1 s comparison segments.
func Example() {
	ep, err := env.Rollout("CartPole-v1", 1, func(obs []float64) []float64 {
		// Push towards the side the pole is falling to.
		if obs[2]+0.5*obs[3] > 0 {
			return []float64{1}
		}
		return []float64{0}
	})
	if err != nil {
		panic(err)
	}
	segs, _ := env.Cut("CartPole-v1", ep.Steps, 0, true)
	fmt.Println("length:", ep.Length, "return:", ep.Return, "truncated:", !ep.Terminated)
	fmt.Println("segments:", len(segs), "of", segs[0].Duration(), "s, first return", segs[0].Return())
	// Output:
	// length: 500 return: 500 truncated: true
	// segments: 10 of 1 s, first return 50
}

func ExampleMake() {
	e, err := env.Make("Pendulum-v1")
	if err != nil {
		panic(err)
	}
	obs := e.Reset(7)
	fmt.Println(len(obs), e.ActSpace().Low, e.ActSpace().High)
	_, err = env.Make("Pendulum-v0")
	fmt.Println(err)
	// Output:
	// 3 [-2] [2]
	// env: unknown environment "Pendulum-v0" (valid: Acrobot-v1, CartPole-v1, CartPoleLeft-v0, Pendulum-v1, PendulumSpin-v0, Reacher2D-v0)
}

func ExampleVecEnv() {
	v, _ := env.NewVecEnv("CartPole-v1", 4, 42)
	obs := v.Reset() // (4, 4)
	actions := make([]float64, v.N())
	episodes := 0
	for range 1000 {
		for i := range actions {
			// Balance with the same controller in every copy.
			o := obs[i*4 : i*4+4]
			actions[i] = 0
			if o[2]+0.5*o[3] > 0 {
				actions[i] = 1
			}
		}
		out := v.Step(actions)
		obs = out.Obs
		episodes += len(out.Episodes)
	}
	fmt.Println("episodes finished:", episodes)
	// Output:
	// episodes finished: 8
}
