package env_test

import (
	"encoding/json"
	"fmt"
	"reflect"

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

// A VecEnv saved as JSON mid-episode and restored into a fresh one continues
// exactly like the original.
func ExampleVecEnv_Restore() {
	a, _ := env.NewVecEnv("Pendulum-v1", 2, 7)
	a.Reset()
	push := []float64{1, -1}
	for range 150 {
		a.Step(push)
	}
	st, _ := a.State()
	buf, _ := json.Marshal(st)

	var loaded env.VecState
	if err := json.Unmarshal(buf, &loaded); err != nil {
		panic(err)
	}
	b, _ := env.NewVecEnv("Pendulum-v1", 2, 7)
	if err := b.Restore(loaded); err != nil {
		panic(err)
	}
	same := true
	var ended int
	for range 100 {
		x, y := a.Step(push), b.Step(push)
		same = same && reflect.DeepEqual(x, y)
		ended += len(y.Episodes)
	}
	fmt.Println("steps:", b.Steps(), "same:", same, "episodes ended:", ended)
	// Output:
	// steps: 250 same: true episodes ended: 2
}
