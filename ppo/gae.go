package ppo

import "fmt"

// GAE computes generalised advantage estimates (Schulman et al. 2016) and
// the value targets (returns = advantages + values) for a rollout of T steps
// of n environments, every slice time-major (T, n), flat:
//
//	δ_t = r_t + γ·V(s'_t)·(1 - terminated_t) - V(s_t)
//	A_t = δ_t + γλ·(1 - ended_t)·A_{t+1},   A_T = 0
//
// values are V(s_t); nextValues are V(s'_t), the value of the observation the
// step led to — for a step that ended its episode, the episode's final
// observation, not the first one of the next episode. terminated marks steps
// where the task itself ended (no bootstrap: the future is worth 0); ended
// marks terminated or truncated steps (the advantage recursion stops there).
// A truncated step thus bootstraps from the value of its final observation,
// which is the correct target for a time limit that the state does not show.
func GAE(rewards, values, nextValues []float32, terminated, ended []bool, n int, gamma, lambda float64) (adv, returns []float32) {
	m := len(rewards)
	if n <= 0 || m%n != 0 || len(values) != m || len(nextValues) != m || len(terminated) != m || len(ended) != m {
		panic(fmt.Sprintf("ppo: GAE lengths rewards %d values %d next %d terminated %d ended %d for %d envs",
			m, len(values), len(nextValues), len(terminated), len(ended), n))
	}
	adv = make([]float32, m)
	returns = make([]float32, m)
	last := make([]float64, n) // A_{t+1} per environment
	for t := m/n - 1; t >= 0; t-- {
		for e := 0; e < n; e++ {
			i := t*n + e
			next := float64(nextValues[i])
			if terminated[i] {
				next = 0
			}
			delta := float64(rewards[i]) + gamma*next - float64(values[i])
			carry := last[e]
			if ended[i] {
				carry = 0
			}
			a := delta + gamma*lambda*carry
			last[e] = a
			adv[i] = float32(a)
			returns[i] = float32(a + float64(values[i]))
		}
	}
	return adv, returns
}
