package reward

import (
	"fmt"
	"math"
)

// TextScorer scores text completions of prompts, one reward per pair; higher
// is better. A policy optimiser takes any TextScorer: a learned reward model
// ([GPTReward]) or a programmatic goal ([GoalScorer]).
type TextScorer interface {
	ScoreText(prompts, completions []string) ([]float32, error)
}

// GoalScorer is a [TextScorer] over a programmatic goal such as
// textscore.Sentiment or textscore.Lipogram{...}.Score: the "true" reward
// that synthetic labelers compare by, usable directly as a reward or to
// measure a policy's gold score.
type GoalScorer struct {
	// Goal scores one text.
	Goal func(string) float64
	// WithPrompt scores prompt + completion instead of the completion alone.
	WithPrompt bool
}

// ScoreText returns Goal of each completion (or prompt + completion). A
// non-finite goal value is an error.
func (g GoalScorer) ScoreText(prompts, completions []string) ([]float32, error) {
	s, err := g.Scores(prompts, completions)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(v)
	}
	return out, nil
}

// Scores is ScoreText in float64: the goal's own values, exactly.
func (g GoalScorer) Scores(prompts, completions []string) ([]float64, error) {
	if g.Goal == nil {
		return nil, fmt.Errorf("reward: goal scorer has no goal")
	}
	if len(prompts) != len(completions) {
		return nil, fmt.Errorf("reward: score %d prompts with %d completions", len(prompts), len(completions))
	}
	out := make([]float64, len(completions))
	for i, c := range completions {
		if g.WithPrompt {
			c = prompts[i] + c
		}
		v := g.Goal(c)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("reward: goal of completion %d is %v", i, v)
		}
		out[i] = v
	}
	return out, nil
}
