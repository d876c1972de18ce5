package ppo

import (
	"context"
	"fmt"
	"math/rand/v2"

	"rlhf/env"
)

// Evaluate plays episodes full episodes of the trainer's environment with
// the current policy on n fresh copies seeded by seed (independent of the
// training environments) and returns each episode's return and score, in
// the order they finished. greedy takes the most likely action instead of
// sampling. Observation statistics are used but not updated.
func (t *Trainer) Evaluate(ctx context.Context, episodes, n int, seed uint64, greedy bool) (returns, scores []float64, err error) {
	if episodes < 1 || n < 1 {
		return nil, nil, fmt.Errorf("ppo: evaluate: need at least one episode and one copy, got %d and %d", episodes, n)
	}
	venv, err := env.NewVecEnv(t.Config.Env, n, seed)
	if err != nil {
		return nil, nil, fmt.Errorf("ppo: evaluate: %w", err)
	}
	obs := venv.Reset()
	// Count only the first episodes each copy starts, so that short episodes
	// do not bias the mean towards themselves.
	started := min(n, episodes)
	r := rand.New(rand.NewPCG(seed, 0xe7a1))
	live := make([]bool, n)
	for i := range live {
		live[i] = i < episodes
	}
	for len(returns) < episodes {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("ppo: evaluate: %w", err)
		}
		step := venv.Step(t.Act(r, obs, greedy))
		for _, ep := range step.Episodes {
			if !live[ep.Index] {
				continue
			}
			returns = append(returns, ep.Return)
			scores = append(scores, ep.Score)
			live[ep.Index] = started < episodes
			started++
		}
		obs = step.Obs
	}
	return returns, scores, nil
}
