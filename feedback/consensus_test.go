package feedback

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// simulate has every labeler in acc answer each of n groups of k items
// whose right item is truth[g], picking it with their accuracy and
// otherwise one of the others at random; each group goes to the first
// overlap labelers of a rotation, so every labeler meets every other.
func simulate(rng *rand.Rand, acc map[string]float64, names []string, n, k, overlap int) ([]Answer, []int) {
	var as []Answer
	truth := make([]int, n)
	for g := range n {
		truth[g] = rng.IntN(k)
		for j := range overlap {
			l := names[(g+j)%len(names)]
			pick := truth[g]
			if rng.Float64() >= acc[l] {
				pick = (truth[g] + 1 + rng.IntN(k-1)) % k
			}
			as = append(as, Answer{Group: fmt.Sprint("g", g), Labeler: l, Pick: pick, K: k})
		}
	}
	return as, truth
}

// TestConsensusRecoversAccuracies: three labelers of different accuracy
// answer every group; the fit finds each one's accuracy and its decisions
// are right more often than the best single labeler (a majority of three
// of these is right 0.88 of the time over two items).
func TestConsensusRecoversAccuracies(t *testing.T) {
	for _, k := range []int{2, 4} {
		rng := rand.New(rand.NewPCG(1, uint64(k)))
		acc := map[string]float64{"ann": 0.85, "bob": 0.8, "cy": 0.7}
		names := []string{"ann", "bob", "cy"}
		as, truth := simulate(rng, acc, names, 4000, k, 3)
		c, err := EstimateConsensus(as, ConsensusOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for l, want := range acc {
			if got := c.Accuracy[l]; math.Abs(got-want) > 0.03 {
				t.Errorf("k=%d: %s's accuracy %.3f, want %.2f", k, l, got, want)
			}
		}
		if c.Groups != 4000 || c.Answers != 12000 || c.Overlapped != 12000 {
			t.Errorf("k=%d: counts %d groups, %d answers, %d overlapped", k, c.Groups, c.Answers, c.Overlapped)
		}
		right := 0
		for g, z := range truth {
			if pick, _, ok := c.Decide(fmt.Sprint("g", g)); ok && pick == z {
				right++
			}
		}
		if share := float64(right) / 4000; share <= 0.87 {
			t.Errorf("k=%d: consensus right on %.3f of groups, not clearly better than ann alone (0.85)", k, share)
		}
	}
}

// TestConsensusPooledOverlapTwo: with two answers per group from
// interchangeable people wrong 20% of the time, the pooled error rate is
// read back from their agreement alone ((1-e)^2 + e^2 = 0.68 for pairs).
func TestConsensusPooledOverlapTwo(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	names := []string{"a", "b", "c", "d"}
	acc := map[string]float64{"a": 0.8, "b": 0.8, "c": 0.8, "d": 0.8}
	as, _ := simulate(rng, acc, names, 5000, 2, 2)
	c, err := EstimateConsensus(as, ConsensusOptions{Pooled: true})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(c.ErrorRate()-0.2) > 0.015 {
		t.Errorf("error rate %.4f, want 0.2", c.ErrorRate())
	}
	if math.Abs(c.Agreement-0.68) > 0.015 {
		t.Errorf("agreement %.4f, want 0.68", c.Agreement)
	}
	// The fixed point is the agreement's inverse: (1 + sqrt(2p - 1)) / 2.
	if want := (1 + math.Sqrt(2*c.Agreement-1)) / 2; math.Abs(c.Pooled-want) > 1e-4 {
		t.Errorf("pooled accuracy %.5f, agreement's inverse %.5f", c.Pooled, want)
	}
	for l, a := range c.Accuracy {
		if a != c.Pooled {
			t.Errorf("pooled fit: %s has %.4f, not the pooled %.4f", l, a, c.Pooled)
		}
	}
	// A split pair is no decision; a group with one answer follows it.
	split, err := EstimateConsensus(append(as, Answer{"x", "a", 0, 2}, Answer{"x", "b", 1, 2}, Answer{"y", "a", 1, 2}), ConsensusOptions{Pooled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := split.Decide("x"); ok {
		t.Error("a 1-1 split between equally accurate people was decided")
	}
	if pick, p, ok := split.Decide("y"); !ok || pick != 1 || math.Abs(p-split.Pooled) > 1e-12 {
		t.Errorf("one answer: Decide = %d, %.4f, %v; want 1, %.4f", pick, p, ok, split.Pooled)
	}
	if _, _, ok := split.Decide("nope"); ok {
		t.Error("an unknown group was decided")
	}
}

// TestConsensusPosterior: with pooled accuracy a, a 2-1 vote of three
// people over two items leaves the majority item with probability a, and
// a 3-0 vote with a^3 / (a^3 + (1-a)^3).
func TestConsensusPosterior(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	names := []string{"a", "b", "c"}
	as, _ := simulate(rng, map[string]float64{"a": 0.8, "b": 0.8, "c": 0.8}, names, 2000, 2, 3)
	c, err := EstimateConsensus(as, ConsensusOptions{Pooled: true})
	if err != nil {
		t.Fatal(err)
	}
	a := c.Pooled
	votes := map[string][2]int{}
	for _, x := range as {
		v := votes[x.Group]
		v[x.Pick]++
		votes[x.Group] = v
	}
	checked := map[int]bool{}
	for g, v := range votes {
		pick, p, ok := c.Decide(g)
		if !ok {
			t.Fatalf("group %s (%v) undecided", g, v)
		}
		top := max(v[0], v[1])
		if v[pick] != top {
			t.Fatalf("group %s: votes %v, decided %d", g, v, pick)
		}
		want := a
		if top == 3 {
			want = a * a * a / (a*a*a + (1-a)*(1-a)*(1-a))
		}
		if math.Abs(p-want) > 1e-9 {
			t.Fatalf("group %s: votes %v, p %.6f, want %.6f", g, v, p, want)
		}
		checked[top] = true
	}
	if !checked[2] || !checked[3] {
		t.Errorf("only votes %v occurred", checked)
	}
}

func TestConsensusErrors(t *testing.T) {
	ok := []Answer{{"g", "a", 0, 2}, {"g", "b", 1, 2}}
	for _, c := range []struct {
		as   []Answer
		want string
	}{
		{[]Answer{{"", "a", 0, 2}}, "no group or no labeler"},
		{[]Answer{{"g", "", 0, 2}}, "no group or no labeler"},
		{[]Answer{{"g", "a", 0, 1}}, "1 items"},
		{[]Answer{{"g", "a", 2, 2}}, "pick 2 outside 0..1"},
		{[]Answer{{"g", "a", -1, 2}}, "pick -1"},
		{append(ok, Answer{"g", "a", 1, 2}), `"a" answered group "g" twice`},
		{append(ok, Answer{"g", "c", 1, 3}), "over 2 and over 3 items"},
	} {
		_, err := EstimateConsensus(c.as, ConsensusOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.as, err, c.want)
		}
	}
	if _, err := EstimateConsensus([]Answer{{"g", "a", 0, 2}, {"h", "b", 1, 2}}, ConsensusOptions{}); !errors.Is(err, ErrNoOverlap) {
		t.Errorf("no overlap: error %v", err)
	}
	if _, err := EstimateConsensus(nil, ConsensusOptions{}); !errors.Is(err, ErrNoOverlap) {
		t.Errorf("no answers: error %v", err)
	}
	if _, err := EstimateConsensus(ok, ConsensusOptions{Shrink: -1}); err == nil {
		t.Error("negative shrink accepted")
	}
}
