// Package bon is best-of-n sampling: draw n completions of each prompt from
// a policy and keep the one a reward model (or any scorer) rates highest.
// It needs no training, and its distance from the policy is known in closed
// form (see KL), which makes it the baseline that RL fine-tuning is measured
// against (Stiennon et al. 2020; Gao et al. 2022 on reward over-optimisation).
package bon

import (
	"context"
	"fmt"
	"math"

	"rlhf/model/gpt"
	"rlhf/ppo"
	"rlhf/reward"
	"rlhf/text"
)

// KL returns the KL divergence of the best-of-n distribution from the
// policy it samples, log n - (n-1)/n nats (Stiennon et al. 2020, appendix;
// derived by Hilton). It is exact for a scorer without ties and an upper
// bound otherwise; NaN for n < 1.
func KL(n int) float64 {
	if n < 1 {
		return math.NaN()
	}
	return math.Log(float64(n)) - float64(n-1)/float64(n)
}

// Scorer rates token completions of prompts, one reward each; higher is
// better. *reward.GPTReward is one; [TextScorer] adapts a text scorer.
type Scorer interface {
	Score(prompts, completions [][]int) ([]float32, error)
}

// TextScorer adapts a reward.TextScorer (a programmatic goal, or a text
// reward model such as loop.TextRM) to a Scorer: it decodes each prompt
// without a leading end-of-text token and each completion without a final
// one, the text the text loop and PPO score, so that a completion that
// stopped at the end-of-text token is scored as its words, not as its words
// followed by the token's spelling.
type TextScorer struct {
	Scorer reward.TextScorer
	Tok    *text.Tokenizer
}

// Score decodes prompts and completions and scores the text.
func (t TextScorer) Score(prompts, completions [][]int) ([]float32, error) {
	eot := t.Tok.EndOfText()
	ps, cs := make([]string, len(prompts)), make([]string, len(completions))
	for i, p := range prompts {
		if len(p) > 0 && p[0] == eot {
			p = p[1:]
		}
		ps[i] = t.Tok.Decode(p)
	}
	for i, c := range completions {
		cs[i] = ppo.DecodeCompletion(t.Tok, c)
	}
	return t.Scorer.ScoreText(ps, cs)
}

// Best returns the index within each group of the highest score, for scores
// laid out group-major in groups of n (len(scores) a multiple of n); the
// first of equal scores wins. NaN scores never win unless all are NaN.
func Best(scores []float32, n int) ([]int, error) {
	if n < 1 || len(scores)%n != 0 {
		return nil, fmt.Errorf("bon: %d scores are not groups of %d", len(scores), n)
	}
	out := make([]int, len(scores)/n)
	for g := range out {
		row := scores[g*n : (g+1)*n]
		bi := 0
		for i, v := range row {
			if v > row[bi] || math.IsNaN(float64(row[bi])) && !math.IsNaN(float64(v)) {
				bi = i
			}
		}
		out[g] = bi
	}
	return out, nil
}

// Worst is Best for the lowest score of each group: the first of equal
// scores wins, and NaN scores never win unless all are NaN.
func Worst(scores []float32, n int) ([]int, error) {
	neg := make([]float32, len(scores))
	for i, v := range scores {
		neg[i] = -v
	}
	return Best(neg, n)
}

// Result is the outcome of best-of-n sampling.
type Result struct {
	N int
	// Best holds the chosen completion of each prompt and BestScores their
	// scores.
	Best       [][]int
	BestScores []float32
	// All holds every sample, prompt-major (n per prompt), and Scores theirs.
	All    [][]int
	Scores []float32
	// KL is the analytic KL(best-of-n ‖ policy), KL(N).
	KL float64
}

// MeanBest returns the mean score of the chosen completions.
func (r *Result) MeanBest() float64 { return mean(r.BestScores) }

// MeanAll returns the mean score of all samples: the policy's own expected
// score, best-of-1.
func (r *Result) MeanAll() float64 { return mean(r.Scores) }

func mean(v []float32) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range v {
		s += float64(x)
	}
	return s / float64(len(v))
}

// maxRows is the most rows sampled in one batch.
const maxRows = 64

// Sampler draws completions of prompts: a *gpt.Model on the CPU engine, or a
// sampler on a device (xla.Sampler) that returns the same *gpt.Samples.
type Sampler interface {
	Sample(ctx context.Context, prompts [][]int, cfg gpt.SampleConfig) (*gpt.Samples, error)
}

// Sample draws n completions of each prompt from policy with sc (sample j
// of prompt i is seeded by sc.Seed, i and j alone, so results do not depend
// on batching), scores them with scorer and keeps the best of each prompt.
func Sample(ctx context.Context, policy Sampler, prompts [][]int, n int, sc gpt.SampleConfig, scorer Scorer) (*Result, error) {
	if n < 1 {
		return nil, fmt.Errorf("bon: n = %d, want >= 1", n)
	}
	if len(prompts) == 0 {
		return nil, fmt.Errorf("bon: no prompts")
	}
	rows := make([][]int, 0, len(prompts)*n)
	seeds := make([]uint64, 0, len(prompts)*n)
	for i, p := range prompts {
		for j := range n {
			rows = append(rows, p)
			seeds = append(seeds, sc.Seed*0x9e3779b97f4a7c15+uint64(i)*1_000_003+uint64(j))
		}
	}
	res := &Result{N: n, KL: KL(n), All: make([][]int, 0, len(rows))}
	for lo := 0; lo < len(rows); lo += maxRows {
		hi := min(lo+maxRows, len(rows))
		c := sc
		c.Seeds = seeds[lo:hi]
		s, err := policy.Sample(ctx, rows[lo:hi], c)
		if err != nil {
			return nil, fmt.Errorf("bon: sample: %w", err)
		}
		if len(s.Tokens) != hi-lo {
			return nil, fmt.Errorf("bon: sampler returned %d completions for %d prompts", len(s.Tokens), hi-lo)
		}
		res.All = append(res.All, s.Tokens...)
	}
	scores, err := scorer.Score(rows, res.All)
	if err != nil {
		return nil, fmt.Errorf("bon: score: %w", err)
	}
	if len(scores) != len(rows) {
		return nil, fmt.Errorf("bon: scorer returned %d scores for %d samples", len(scores), len(rows))
	}
	res.Scores = scores
	best, err := Best(scores, n)
	if err != nil {
		return nil, err
	}
	for i, b := range best {
		res.Best = append(res.Best, res.All[i*n+b])
		res.BestScores = append(res.BestScores, scores[i*n+b])
	}
	return res, nil
}

// Gold scores a best-of-n result with a second scorer, the "gold" reward
// (the true goal, when the proxy is a learned reward model): it returns the
// gold score's mean over the chosen completions and over all samples
// (best-of-1). Over-optimisation of the proxy shows as a falling gold score
// as n grows.
func Gold(r *Result, prompts [][]int, gold Scorer) (best, all float64, err error) {
	ps := make([][]int, 0, len(r.All))
	for _, p := range prompts {
		for range r.N {
			ps = append(ps, p)
		}
	}
	if len(ps) != len(r.All) {
		return 0, 0, fmt.Errorf("bon: gold of %d samples with %d prompts of %d", len(r.All), len(prompts), r.N)
	}
	g, err := gold.Score(ps, r.All)
	if err != nil {
		return 0, 0, fmt.Errorf("bon: gold score: %w", err)
	}
	if len(g) != len(ps) {
		return 0, 0, fmt.Errorf("bon: gold scorer returned %d scores for %d samples", len(g), len(ps))
	}
	idx, err := Best(r.Scores, r.N)
	if err != nil {
		return 0, 0, err
	}
	chosen := make([]float32, len(idx))
	for i, b := range idx {
		chosen[i] = g[i*r.N+b]
	}
	return mean(chosen), mean(g), nil
}
