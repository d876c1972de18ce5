package feedback

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"
)

// Labeler answers queries. Every source of labels implements it: people through
// the web app, the synthetic labelers in this package, AI judges.
// Implementations should honour ctx, since a person may take minutes to answer.
type Labeler interface {
	// Label answers one query. The label's QueryID is q.ID.
	Label(ctx context.Context, q Query) (Label, error)
}

// BatchLabeler is a Labeler that answers many queries more cheaply at once
// (an AI judge batching its forward passes, say). [LabelAll] uses it when present.
type BatchLabeler interface {
	Labeler
	// LabelBatch answers qs; the result has one label per query, in order.
	LabelBatch(ctx context.Context, qs []Query) ([]Label, error)
}

// ScoringLabeler is a BatchLabeler whose labels come from scores of the
// items (an AI judge's rewards), which it returns too: scores[i][j] is item
// j of query i, higher is better.
type ScoringLabeler interface {
	BatchLabeler
	LabelScored(ctx context.Context, qs []Query) (labels []Label, scores [][]float64, err error)
}

// LabelerFunc adapts a function to the Labeler interface.
type LabelerFunc func(ctx context.Context, q Query) (Label, error)

// Label calls f(ctx, q).
func (f LabelerFunc) Label(ctx context.Context, q Query) (Label, error) { return f(ctx, q) }

// LabelAll answers every query with l, through LabelBatch when l is a
// [BatchLabeler], and returns the labels in query order.
func LabelAll(ctx context.Context, l Labeler, qs []Query) ([]Label, error) {
	if b, ok := l.(BatchLabeler); ok {
		labels, err := b.LabelBatch(ctx, qs)
		if err != nil {
			return nil, fmt.Errorf("feedback: label batch of %d: %w", len(qs), err)
		}
		if len(labels) != len(qs) {
			return nil, fmt.Errorf("feedback: label batch of %d queries returned %d labels", len(qs), len(labels))
		}
		return labels, nil
	}
	labels := make([]Label, 0, len(qs))
	for _, q := range qs {
		lab, err := l.Label(ctx, q)
		if err != nil {
			return labels, fmt.Errorf("feedback: label query %s: %w", q.ID, err)
		}
		labels = append(labels, lab)
	}
	return labels, nil
}

// ScoreFunc is a hidden true score of an item: the true return of a control
// segment, or a programmatic goal of a text completion. Higher is better.
// Synthetic labelers compare items by it.
type ScoreFunc func(Item) float64

// SegmentReturn scores a control item by its segment's true return: the sum of
// Rewards when the segment carries them, its Return field otherwise. It is NaN
// for an item without a segment, which the synthetic labelers reject.
func SegmentReturn(it Item) float64 {
	if it.Segment == nil {
		return math.NaN()
	}
	if len(it.Segment.Rewards) == 0 {
		return it.Segment.Return
	}
	sum := 0.0
	for _, r := range it.Segment.Rewards {
		sum += r
	}
	return sum
}

// Completion scores a text item by f of its completion alone. This is the
// usual choice: all items of a query share the prompt, so only what the policy
// wrote decides the comparison.
func Completion(f func(string) float64) ScoreFunc {
	return func(it Item) float64 { return f(it.Completion) }
}

// PromptAndCompletion scores a text item by f of the prompt followed by the
// completion, for goals that depend on how the completion continues the prompt.
func PromptAndCompletion(f func(string) float64) ScoreFunc {
	return func(it Item) float64 { return f(it.Prompt + it.Completion) }
}

// scores evaluates score on every item of q and checks the result.
func scores(ctx context.Context, q *Query, score ScoreFunc) ([]float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if score == nil {
		return nil, fmt.Errorf("feedback: query %s: synthetic labeler has no score function", q.ID)
	}
	s := make([]float64, len(q.Items))
	for i, it := range q.Items {
		s[i] = score(it)
	}
	if !finite(s) {
		return nil, fmt.Errorf("feedback: query %s: item scores %v are not all finite", q.ID, s)
	}
	return s, nil
}

// best returns the index of the highest score and whether the runner-up is
// within margin of it (a tie). The first of equal scores wins.
func best(s []float64, margin float64) (int, bool) {
	bi := 0
	for i, v := range s {
		if v > s[bi] {
			bi = i
		}
	}
	for i, v := range s {
		if i != bi && s[bi]-v <= margin {
			return bi, true
		}
	}
	return bi, false
}

// queryRand returns the random stream a seeded labeler uses for one query. It
// depends only on the seed, a per-labeler-type salt and the query id, so a
// labeler's answer to a query does not depend on the order in which queries
// arrive or on concurrency, and a resumed run gets the same labels.
func queryRand(seed, salt uint64, id string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(id))
	return rand.New(rand.NewPCG(seed*0x9e3779b97f4a7c15+salt, h.Sum64()))
}

// Salts that keep the random streams of stacked labelers independent even
// when they share a seed.
const (
	saltBoltzmann = 0x2545f4914f6cdd1d
	saltNoisy     = 0x5851f42d4c957f2d
)

func synthetic(q *Query, name string, c Choice) Label {
	return Label{QueryID: q.ID, Choice: c, Labeler: name, Source: SourceSynthetic, Time: time.Now().UTC()}
}

// Oracle is the perfect synthetic labeler: it picks the item with the highest
// true score, as the synthetic oracle of Christiano et al. 2017 prefers the
// segment with the higher true reward. When the runner-up is within TieMargin
// of the best it answers Tie (so exactly equal scores are always a tie).
// It is deterministic and safe for concurrent use if Score is.
type Oracle struct {
	Score     ScoreFunc
	TieMargin float64 // scores this close to the best make a tie; 0 ties only equal scores
	Name      string  // labeler name on the labels; "oracle" if empty
}

// Label answers q.
func (o Oracle) Label(ctx context.Context, q Query) (Label, error) {
	s, err := scores(ctx, &q, o.Score)
	if err != nil {
		return Label{}, fmt.Errorf("feedback: oracle: %w", err)
	}
	name := o.Name
	if name == "" {
		name = "oracle"
	}
	i, tie := best(s, o.TieMargin)
	if tie {
		return synthetic(&q, name, Tie), nil
	}
	return synthetic(&q, name, Choice(i)), nil
}

// Boltzmann is a Boltzmann-rational synthetic labeler: it picks item i with
// probability softmax(score_i / Beta), which for two items is the
// Bradley-Terry model P(a over b) = 1 / (1 + exp(-(s_a - s_b)/Beta)) that the
// reward model assumes. Beta = 0 is the perfect [Oracle]; larger Beta is
// noisier. When the runner-up is within TieMargin of the best it answers Tie
// instead of drawing.
//
// Its draw for a query is determined by Seed and the query id (PCG from
// math/rand/v2), so it is reproducible, independent of query order, and safe
// for concurrent use if Score is. Asking the same query id twice gives the same
// answer; give repeated comparisons distinct ids.
type Boltzmann struct {
	Score     ScoreFunc
	Beta      float64 // temperature, in units of the score; >= 0
	TieMargin float64 // see Oracle.TieMargin
	Seed      uint64
	Name      string // labeler name on the labels; "boltzmann(beta=B)" if empty
}

// Probs returns the choice probabilities softmax(s/beta) for scores s, computed
// stably. beta = 0 puts all mass on the first highest score.
func Probs(s []float64, beta float64) []float64 {
	p := make([]float64, len(s))
	if len(s) == 0 {
		return p
	}
	if beta == 0 {
		i, _ := best(s, -1)
		p[i] = 1
		return p
	}
	m := s[0]
	for _, v := range s {
		m = max(m, v)
	}
	sum := 0.0
	for i, v := range s {
		p[i] = math.Exp((v - m) / beta)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// Label answers q.
func (b Boltzmann) Label(ctx context.Context, q Query) (Label, error) {
	if !(b.Beta >= 0) || math.IsInf(b.Beta, 0) {
		return Label{}, fmt.Errorf("feedback: boltzmann: beta %v, want a finite value >= 0", b.Beta)
	}
	s, err := scores(ctx, &q, b.Score)
	if err != nil {
		return Label{}, fmt.Errorf("feedback: boltzmann: %w", err)
	}
	name := b.Name
	if name == "" {
		name = fmt.Sprintf("boltzmann(beta=%g)", b.Beta)
	}
	if _, tie := best(s, b.TieMargin); tie {
		return synthetic(&q, name, Tie), nil
	}
	p := Probs(s, b.Beta)
	u := queryRand(b.Seed, saltBoltzmann, q.ID).Float64()
	c := len(p) - 1
	for i, pi := range p {
		if u < pi {
			c = i
			break
		}
		u -= pi
	}
	return synthetic(&q, name, Choice(c)), nil
}

// Noisy wraps a labeler so that with probability Epsilon the inner labeler's
// answer is replaced by an item picked uniformly at random. Christiano et al. 2017 assume
// a 10% chance that a human answers uniformly at random. Compose it with any
// labeler, e.g. Noisy{Labeler: Boltzmann{...}, Epsilon: 0.1, Seed: 2}.
//
// Its coin for a query is determined by Seed and the query id, like
// [Boltzmann]'s draw; it is safe for concurrent use if the inner labeler is.
type Noisy struct {
	Labeler Labeler
	Epsilon float64 // probability of a uniformly random answer, in [0, 1]
	Seed    uint64
}

// Label answers q: randomly with probability Epsilon, by the inner labeler
// otherwise. The inner labeler answers in both cases (its answer is replaced by
// the random one), so errors and names stay consistent; every label carries
// the inner labeler's name with the suffix "+noise(Epsilon)", and random
// answers carry the note "random".
func (n Noisy) Label(ctx context.Context, q Query) (Label, error) {
	if !(n.Epsilon >= 0 && n.Epsilon <= 1) {
		return Label{}, fmt.Errorf("feedback: noisy: epsilon %v not in [0, 1]", n.Epsilon)
	}
	if n.Labeler == nil {
		return Label{}, fmt.Errorf("feedback: noisy: no inner labeler")
	}
	if err := q.Validate(); err != nil {
		return Label{}, fmt.Errorf("feedback: noisy: %w", err)
	}
	lab, err := n.Labeler.Label(ctx, q)
	if err != nil {
		return Label{}, err
	}
	lab.Labeler += fmt.Sprintf("+noise(%g)", n.Epsilon)
	rng := queryRand(n.Seed, saltNoisy, q.ID)
	if rng.Float64() < n.Epsilon {
		lab.Choice = Choice(rng.IntN(len(q.Items)))
		lab.Note = "random"
		lab.Confidence = nil
	}
	return lab, nil
}
