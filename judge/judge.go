// Package judge is an AI judge: a [feedback.Labeler] for text queries backed
// by a learned reward model, calibrated on labelled pairs, that abstains when
// it is unsure so that people label only the hard comparisons.
//
// The judge scores every completion of a query with a reward model (a
// [reward.TextScorer], usually a [reward.GPTReward] as `rlhf rm` writes it)
// and turns the scores into choice probabilities with a softmax at
// temperature T, the Bradley-Terry choice model the reward model was trained
// under:
//
//	P(item i) = exp(s_i / T) / sum_j exp(s_j / T)
//
// It picks the item with the highest score. Its confidence is that item's
// probability. It answers [feedback.CantTell] (abstains) when the pairwise
// probability that its pick beats the runner-up is within Abstain of 0.5.
// [FitTemperature] fits T by maximum likelihood on labelled comparisons, so
// that a stated confidence of 0.8 is right about 80% of the time on data like
// the labels; [Reliability] and [Coverage] measure how well that holds.
//
// A second, pairwise scorer, [Verdict], asks a GPT language model instead:
// it compares the log-likelihoods of two verdicts ("reply one", "reply two")
// after a fixed prompt holding both completions, in both orders.
package judge

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"path/filepath"

	"rlhf/feedback"
	"rlhf/reward"
)

// Model is an AI judge backed by a reward model (or a [Verdict]). It is a
// [feedback.BatchLabeler] for text queries.
type Model struct {
	// Scorer scores the items of queries; higher is better.
	Scorer Scorer
	// Name identifies the judge in labels' provenance, e.g. "rm:runs/rm".
	Name string
	// Temperature is T of the choice model softmax(s/T), in score units; it
	// must be positive. Load sets it to the reward model's normaliser gain,
	// which makes the choice probabilities the Bradley-Terry probabilities of
	// the raw rewards the model was trained on; [FitTemperature] refits it.
	Temperature float64
	// Abstain is the margin around 0.5: the judge answers CantTell when the
	// probability that its pick beats the runner-up is below 0.5 + Abstain.
	// 0 never abstains (exactly equal scores answer Tie).
	Abstain float64
}

// Load returns a judge backed by the GPT reward model in dir (as `rlhf rm`
// writes it), with the temperature at which its probabilities are the model's
// own Bradley-Terry probabilities, and abstain margin 0.
func Load(dir string) (*Model, error) {
	rm, err := reward.LoadGPT(dir)
	if err != nil {
		return nil, fmt.Errorf("judge: load %s: %w", dir, err)
	}
	return &Model{Scorer: Rewards{rm}, Name: "rm:" + filepath.Base(filepath.Clean(dir)), Temperature: rm.Norm.Gain}, nil
}

// Decision is what the judge makes of one query's scores.
type Decision struct {
	// Best is the index of the highest score (the first of equal ones).
	Best int
	// Confidence is Best's choice probability, softmax(s/T)[Best]; (k items)
	// at least 1/k.
	Confidence float64
	// PBest is the pairwise probability that Best beats the runner-up,
	// sigmoid((s_best - s_second)/T), in [0.5, 1]; it equals Confidence for
	// two items.
	PBest float64
}

// Choice returns the judge's answer at abstain margin abstain: Best when
// PBest - 0.5 >= abstain and the scores differ, Tie when they are equal and
// abstain is 0, CantTell otherwise.
func (d Decision) Choice(abstain float64) feedback.Choice {
	switch {
	case abstain > 0 && d.PBest-0.5 < abstain:
		return feedback.CantTell
	case d.PBest == 0.5:
		return feedback.Tie
	}
	return feedback.Choice(d.Best)
}

// Decide turns one query's scores (k >= 2, finite) into a decision at
// temperature t > 0.
func Decide(scores []float64, t float64) (Decision, error) {
	if len(scores) < 2 {
		return Decision{}, fmt.Errorf("judge: decide on %d scores, want at least 2", len(scores))
	}
	if !(t > 0) || math.IsInf(t, 0) {
		return Decision{}, fmt.Errorf("judge: temperature %v, want a finite positive number", t)
	}
	best, second := -1, -1
	for i, s := range scores {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return Decision{}, fmt.Errorf("judge: score %d is %v", i, s)
		}
		switch {
		case best < 0 || s > scores[best]:
			best, second = i, best
		case second < 0 || s > scores[second]:
			second = i
		}
	}
	p := feedback.Probs(scores, t)
	return Decision{Best: best, Confidence: p[best], PBest: sigmoid((scores[best] - scores[second]) / t)}, nil
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// Scorer scores every item of text queries at once: out[i][j] is item j of
// query i, higher is better, (len(qs), k_i).
type Scorer interface {
	ScoreQueries(ctx context.Context, qs []feedback.Query) ([][]float64, error)
}

// Rewards scores each completion on its own with a reward model, all of a
// batch's completions in one call so that a GPT reward model batches its
// forward passes.
type Rewards struct{ reward.TextScorer }

// ScoreQueries returns the reward of every item of qs.
func (r Rewards) ScoreQueries(ctx context.Context, qs []feedback.Query) ([][]float64, error) {
	var prompts, completions []string
	for i := range qs {
		for _, it := range qs[i].Items {
			prompts = append(prompts, it.Prompt)
			completions = append(completions, it.Completion)
		}
	}
	if len(prompts) == 0 {
		return nil, nil
	}
	if r.TextScorer == nil {
		return nil, errors.New("judge: no reward model")
	}
	flat, err := r.ScoreText(prompts, completions)
	if err != nil {
		return nil, fmt.Errorf("judge: score %d completions: %w", len(completions), err)
	}
	if len(flat) != len(completions) {
		return nil, fmt.Errorf("judge: scorer returned %d scores for %d completions", len(flat), len(completions))
	}
	out := make([][]float64, len(qs))
	at := 0
	for i := range qs {
		out[i] = make([]float64, len(qs[i].Items))
		for j := range out[i] {
			out[i][j] = float64(flat[at])
			at++
		}
	}
	return out, nil
}

// Scores validates qs (text queries only) and returns the scores of every
// item, (len(qs), k_i).
func (m *Model) Scores(ctx context.Context, qs []feedback.Query) ([][]float64, error) {
	if m.Scorer == nil {
		return nil, errors.New("judge: model has no scorer")
	}
	for i := range qs {
		q := &qs[i]
		if err := q.Validate(); err != nil {
			return nil, fmt.Errorf("judge: %w", err)
		}
		if q.Kind != feedback.KindText {
			return nil, fmt.Errorf("judge: query %s is a %s query; the judge compares text", q.ID, q.Kind)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("judge: %w", err)
	}
	if len(qs) == 0 {
		return nil, nil
	}
	out, err := m.Scorer.ScoreQueries(ctx, qs)
	if err != nil {
		return nil, err
	}
	if len(out) != len(qs) {
		return nil, fmt.Errorf("judge: scorer returned %d score rows for %d queries", len(out), len(qs))
	}
	for i := range out {
		if len(out[i]) != len(qs[i].Items) {
			return nil, fmt.Errorf("judge: scorer returned %d scores for the %d items of query %s", len(out[i]), len(qs[i].Items), qs[i].ID)
		}
	}
	return out, nil
}

// LabelBatch answers qs with one batched scoring pass. Each label carries the
// judge's name, source "ai", its confidence (the chosen item's probability,
// or for an abstention the probability of the item it leans to) and a note
// with the pairwise probability and temperature.
func (m *Model) LabelBatch(ctx context.Context, qs []feedback.Query) ([]feedback.Label, error) {
	labels, _, err := m.LabelScored(ctx, qs)
	return labels, err
}

// LabelScored is [Model.LabelBatch] that also returns the scores the labels
// come from, (len(qs), k_i): a [feedback.ScoringLabeler].
func (m *Model) LabelScored(ctx context.Context, qs []feedback.Query) ([]feedback.Label, [][]float64, error) {
	if m.Abstain < 0 || m.Abstain > 0.5 || math.IsNaN(m.Abstain) {
		return nil, nil, fmt.Errorf("judge: abstain margin %v, want [0, 0.5]", m.Abstain)
	}
	scores, err := m.Scores(ctx, qs)
	if err != nil {
		return nil, nil, err
	}
	labels := make([]feedback.Label, len(qs))
	for i, s := range scores {
		d, err := Decide(s, m.Temperature)
		if err != nil {
			return nil, nil, fmt.Errorf("judge: query %s: %w", qs[i].ID, err)
		}
		labels[i] = m.LabelFor(qs[i].ID, d)
	}
	return labels, scores, nil
}

// LabelFor returns the label the judge gives query id on decision d, at its
// abstain margin, with its provenance; LabelBatch labels through it.
func (m *Model) LabelFor(id string, d Decision) feedback.Label {
	conf := d.Confidence
	name := m.Name
	if name == "" {
		name = "judge"
	}
	return feedback.Label{
		QueryID: id, Choice: d.Choice(m.Abstain), Confidence: &conf,
		Labeler: name, Source: feedback.SourceAI,
		Note: fmt.Sprintf("p_best=%.4f T=%.4g abstain=%g", d.PBest, m.Temperature, m.Abstain),
	}
}

// Label answers one query; see [Model.LabelBatch].
func (m *Model) Label(ctx context.Context, q feedback.Query) (feedback.Label, error) {
	ls, err := m.LabelBatch(ctx, []feedback.Query{q})
	if err != nil {
		return feedback.Label{}, err
	}
	return ls[0], nil
}

// Audited reports whether the query with id is one of a share of the
// judge's answers that people answer too (an audit): a fixed pseudo-random
// pick by id (FNV-1a), so that asking again picks the same queries and
// share 0.1 picks about one in ten of any set of ids.
func Audited(id string, share float64) bool {
	if share <= 0 {
		return false
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	// Mix the bits: FNV's low and high bits vary little between ids that
	// differ only in their last characters (round-1-17, round-1-18).
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return float64(x>>11)/(1<<53) < share
}

var (
	_ feedback.BatchLabeler   = (*Model)(nil)
	_ feedback.ScoringLabeler = (*Model)(nil)
)
