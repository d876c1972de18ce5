package feedback

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Combining several people's answers to the same group. Each person is
// taken to pick the group's right item with their own probability a (their
// accuracy) and otherwise one of the other K-1 items at random (the
// "one-coin" form of Dawid and Skene, 1979). The accuracies and, for every
// group, the probability of each item being the right one are fitted
// together by expectation-maximisation from how often people agree; no
// known answer is needed, only groups that two or more people answered.

// An Answer is one person's pick among the K items of one group.
type Answer struct {
	Group   string // the group's id (a query id)
	Labeler string // who answered
	Pick    int    // the item picked, 0..K-1
	K       int    // the group's number of items, >= 2
}

// ConsensusOptions tune EstimateConsensus. The zero value is the default.
type ConsensusOptions struct {
	// Pooled gives every labeler one shared accuracy (people taken as
	// interchangeable). Otherwise each labeler has their own, pulled toward
	// the pooled one by Shrink pseudo-answers.
	Pooled bool
	// Shrink is how many answers at the pooled accuracy each labeler's own
	// estimate starts from (default 10): a labeler with few overlapped
	// answers stays near everyone's accuracy.
	Shrink float64
	// MaxIter bounds the EM iterations (default 500); Tol is the largest
	// change of an accuracy at which they stop (default 1e-9).
	MaxIter int
	Tol     float64
}

// Consensus is the one-coin model fitted to a set of answers.
type Consensus struct {
	// Accuracy is each labeler's estimated probability of picking the right
	// item; Pooled is the share of all overlapped answers estimated right
	// (1 - Pooled: people's error rate).
	Accuracy map[string]float64
	Pooled   float64
	// Posterior gives, for every group, the probability of each item being
	// the right one given all the group's answers.
	Posterior map[string][]float64
	// Answers is the number of answers fitted, Overlapped those on groups
	// that two or more labelers answered (only these inform the
	// accuracies), Groups the number of groups.
	Answers, Overlapped, Groups int
	// Agreement is the share of pairs of answers to the same group that
	// pick the same item (NaN without overlap).
	Agreement float64
	// Iterations is how many EM steps the fit took.
	Iterations int
}

// ErrNoOverlap is returned by EstimateConsensus when no group has answers
// from two labelers: people's accuracy cannot be told from their answers.
var ErrNoOverlap = errors.New("feedback: consensus: no group was answered by two or more people, so their accuracy cannot be estimated")

// EstimateConsensus fits the one-coin model to answers. It is an error if
// an answer is malformed (K < 2, a pick outside 0..K-1, no group or
// labeler), a group's answers disagree on K, a labeler answers one group
// twice, or no group has two answers (ErrNoOverlap).
func EstimateConsensus(answers []Answer, opt ConsensusOptions) (*Consensus, error) {
	if opt.Shrink == 0 {
		opt.Shrink = 10
	}
	if opt.MaxIter == 0 {
		opt.MaxIter = 500
	}
	if opt.Tol == 0 {
		opt.Tol = 1e-9
	}
	if opt.Shrink < 0 || opt.MaxIter < 0 || !(opt.Tol > 0) {
		return nil, fmt.Errorf("feedback: consensus: bad options %+v", opt)
	}
	type group struct {
		k       int
		answers []int // indexes into answers
	}
	groups := map[string]*group{}
	var order []string
	seen := map[[2]string]bool{}
	for i, a := range answers {
		switch {
		case a.Group == "" || a.Labeler == "":
			return nil, fmt.Errorf("feedback: consensus: answer %d has no group or no labeler", i)
		case a.K < 2:
			return nil, fmt.Errorf("feedback: consensus: answer %d (group %q): %d items, want >= 2", i, a.Group, a.K)
		case a.Pick < 0 || a.Pick >= a.K:
			return nil, fmt.Errorf("feedback: consensus: answer %d (group %q): pick %d outside 0..%d", i, a.Group, a.Pick, a.K-1)
		case seen[[2]string{a.Group, a.Labeler}]:
			return nil, fmt.Errorf("feedback: consensus: %q answered group %q twice", a.Labeler, a.Group)
		}
		seen[[2]string{a.Group, a.Labeler}] = true
		g := groups[a.Group]
		if g == nil {
			g = &group{k: a.K}
			groups[a.Group] = g
			order = append(order, a.Group)
		} else if g.k != a.K {
			return nil, fmt.Errorf("feedback: consensus: group %q has answers over %d and over %d items", a.Group, g.k, a.K)
		}
		g.answers = append(g.answers, i)
	}
	c := &Consensus{Accuracy: map[string]float64{}, Posterior: make(map[string][]float64, len(groups)),
		Answers: len(answers), Groups: len(groups)}
	agree, pairs := 0, 0
	var over []string // groups with >= 2 answers
	for _, id := range order {
		g := groups[id]
		if len(g.answers) < 2 {
			continue
		}
		over = append(over, id)
		c.Overlapped += len(g.answers)
		for x, i := range g.answers {
			for _, j := range g.answers[x+1:] {
				pairs++
				if answers[i].Pick == answers[j].Pick {
					agree++
				}
			}
		}
	}
	if len(over) == 0 {
		return nil, ErrNoOverlap
	}
	c.Agreement = float64(agree) / float64(pairs)

	// Start from the vote shares of each overlapped group (Dawid and
	// Skene's start), then alternate: accuracies from the posteriors (M),
	// posteriors from the accuracies (E).
	post := make(map[string][]float64, len(over))
	for _, id := range over {
		g := groups[id]
		p := make([]float64, g.k)
		for _, i := range g.answers {
			p[answers[i].Pick] += 1 / float64(len(g.answers))
		}
		post[id] = p
	}
	for _, id := range order {
		for _, i := range groups[id].answers {
			if _, ok := c.Accuracy[answers[i].Labeler]; !ok {
				c.Accuracy[answers[i].Labeler] = math.NaN()
			}
		}
	}
	const lo, hi = 1e-6, 1 - 1e-6
	for c.Iterations = 1; c.Iterations <= opt.MaxIter; c.Iterations++ {
		right, n := map[string]float64{}, map[string]float64{}
		var sumRight float64
		for _, id := range over {
			for _, i := range groups[id].answers {
				a := answers[i]
				right[a.Labeler] += post[id][a.Pick]
				n[a.Labeler]++
				sumRight += post[id][a.Pick]
			}
		}
		c.Pooled = sumRight / float64(c.Overlapped)
		change := 0.0
		for l, old := range c.Accuracy {
			acc := c.Pooled
			if !opt.Pooled {
				acc = (right[l] + opt.Shrink*c.Pooled) / (n[l] + opt.Shrink)
			}
			acc = min(max(acc, lo), hi)
			if math.IsNaN(old) {
				change = math.Inf(1)
			} else {
				change = max(change, math.Abs(acc-old))
			}
			c.Accuracy[l] = acc
		}
		for _, id := range over {
			c.posterior(answers, groups[id].answers, post[id])
		}
		if change < opt.Tol {
			break
		}
	}
	c.Iterations = min(c.Iterations, opt.MaxIter)
	for _, id := range order {
		g := groups[id]
		p := make([]float64, g.k)
		c.posterior(answers, g.answers, p)
		c.Posterior[id] = p
	}
	return c, nil
}

// posterior sets p (one entry per item) to the probability of each item
// being right given the answers at indexes idx, under c's accuracies and a
// uniform prior over items.
func (c *Consensus) posterior(answers []Answer, idx []int, p []float64) {
	k := len(p)
	logp := make([]float64, k)
	for _, i := range idx {
		a := answers[i]
		acc := c.Accuracy[a.Labeler]
		wrong := math.Log((1 - acc) / float64(k-1))
		for z := range logp {
			if z == a.Pick {
				logp[z] += math.Log(acc)
			} else {
				logp[z] += wrong
			}
		}
	}
	m := slices.Max(logp)
	var sum float64
	for z, l := range logp {
		p[z] = math.Exp(l - m)
		sum += p[z]
	}
	for z := range p {
		p[z] /= sum
	}
}

// ErrorRate is people's estimated error rate, 1 - Pooled.
func (c *Consensus) ErrorRate() float64 { return 1 - c.Pooled }

// Decide returns a group's most probable item and its probability; ok is
// false for an unknown group or where two items are equally probable (a
// split vote among equally accurate people).
func (c *Consensus) Decide(group string) (pick int, p float64, ok bool) {
	post, found := c.Posterior[group]
	if !found {
		return 0, 0, false
	}
	pick = 0
	for z, q := range post {
		if q > post[pick] {
			pick = z
		}
	}
	for z, q := range post {
		if z != pick && math.Abs(q-post[pick]) <= 1e-9 {
			return 0, 0, false
		}
	}
	return pick, post[pick], true
}
