package reward

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"rlhf/feedback"
)

// synth is a control task with a random linear true reward
// r(o, a) = w·o + u[a] over N(0, 1) observations and uniform discrete actions.
type synth struct {
	obsDim, acts, segLen int
	w, u                 []float64
	r                    *rand.Rand
}

func newSynth(seed uint64, obsDim, acts, segLen int) *synth {
	s := &synth{obsDim: obsDim, acts: acts, segLen: segLen, r: rand.New(rand.NewPCG(seed, 99))}
	for range obsDim {
		s.w = append(s.w, s.r.NormFloat64())
	}
	for range acts {
		s.u = append(s.u, s.r.NormFloat64())
	}
	return s
}

func (s *synth) step() (obs, act []float64, r float64) {
	obs = make([]float64, s.obsDim)
	for i := range obs {
		obs[i] = s.r.NormFloat64()
		r += s.w[i] * obs[i]
	}
	a := s.r.IntN(s.acts)
	return obs, []float64{float64(a)}, r + s.u[a]
}

func (s *synth) segment() feedback.Segment {
	var seg feedback.Segment
	for range s.segLen {
		o, a, r := s.step()
		seg.States = append(seg.States, o)
		seg.Actions = append(seg.Actions, a)
		seg.Rewards = append(seg.Rewards, r)
		seg.Return += r
	}
	return seg
}

// records labels n random pairs with l.
func (s *synth) records(t testing.TB, prefix string, n int, l feedback.Labeler) []feedback.ControlRecord {
	t.Helper()
	var recs []feedback.ControlRecord
	for i := range n {
		q := feedback.ControlQuery(fmt.Sprintf("%s%d", prefix, i), s.segment(), s.segment())
		lab, err := l.Label(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		rec, ok := feedback.ControlRecordOf(q, lab)
		if !ok {
			t.Fatalf("no record for label %v", lab.Choice)
		}
		rec.QueryID = q.ID
		recs = append(recs, rec)
	}
	return recs
}

func (s *synth) steps(n int) (obs, act [][]float64, r []float64) {
	for range n {
		o, a, v := s.step()
		obs, act, r = append(obs, o), append(act, a), append(r, v)
	}
	return
}

// The end-to-end check of the control reward model: an ensemble of 3 learns
// a random linear reward from Boltzmann-rational labels on segment returns.
func TestEnsembleLearnsSyntheticReward(t *testing.T) {
	s := newSynth(7, 5, 3, 10)
	recs := s.records(t, "q", 600, feedback.Boltzmann{Score: feedback.SegmentReturn, Beta: 1, Seed: 3})
	cfg := DefaultConfig(5, 3, 0)
	cfg.Seed = 11
	cfg.RefSteps = 1000 // the steps of the last 50 comparisons
	e, err := NewEnsemble(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.Add(recs...); err != nil || n != len(recs) {
		t.Fatalf("Add = %d, %v", n, err)
	}
	start := time.Now()
	st, err := e.Train(context.Background(), 600)
	if err != nil {
		t.Fatal(err)
	}
	obs, act, trueR := s.steps(3000)
	corr := e.Correlation(obs, act, trueR)
	t.Logf("train %v: %d train / %d held-out comparisons, held-out accuracy %.3f, train accuracy %.3f, margin %.2f, loss %.3f val %.3f, l2 %v, correlation %.3f",
		time.Since(start).Round(time.Millisecond), st.Train, st.Val, st.Held.Accuracy, st.Fit.Accuracy, st.Held.Margin,
		mean(st.TrainLoss), mean(st.ValLoss), st.L2, corr)
	if st.Held.Accuracy <= 0.85 {
		t.Errorf("held-out accuracy %.3f, want > 0.85", st.Held.Accuracy)
	}
	if corr <= 0.8 {
		t.Errorf("correlation with the true reward %.3f, want > 0.8", corr)
	}
	// The ensemble's reward is normalised over the reference steps.
	var ro, ra [][]float64
	for i := range recs[len(recs)-50:] {
		for _, seg := range recs[len(recs)-50+i].Segments {
			ro, ra = append(ro, seg.States...), append(ra, seg.Actions...)
		}
	}
	for m, rs := range e.MemberRewards(ro, ra) {
		mu, sd := meanStd(rs)
		near(t, fmt.Sprint("member ", m, " mean"), mu, 0, 1e-4)
		near(t, fmt.Sprint("member ", m, " std"), sd, 1, 1e-4)
	}
	// SetReference renormalises over the given steps instead.
	if err := e.SetReference(obs[:500], act[:500]); err != nil {
		t.Fatal(err)
	}
	mu, sd := meanStd(e.Reward(obs[:500], act[:500]))
	near(t, "ensemble mean over the new reference", mu, 0, 1e-4)
	if sd > 1+1e-4 || sd < 0.8 {
		t.Errorf("ensemble std over the new reference %.4f, want just under 1 (mean of unit-std members)", sd)
	}
	near(t, "correlation after renormalising", e.Correlation(obs, act, trueR), corr, 0.01)
	metrics := st.Metrics()
	for _, k := range []string{"rm/accuracy", "rm/margin", "rm/loss", "rm/val_loss", "rm/l2"} {
		if _, ok := metrics[k]; !ok {
			t.Errorf("Metrics lacks %s: %v", k, metrics)
		}
	}
}

func meanStd(xs []float64) (float64, float64) {
	m := mean(xs)
	v := 0.0
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return m, math.Sqrt(v / float64(len(xs)))
}

func TestBootstrapAndSplit(t *testing.T) {
	s := newSynth(1, 2, 2, 3)
	recs := s.records(t, "b", 2000, feedback.Oracle{Score: feedback.SegmentReturn})
	e, err := NewEnsemble(DefaultConfig(2, 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Add(recs...); err != nil {
		t.Fatal(err)
	}
	total, val := e.Len()
	frac := float64(val) / float64(total)
	if math.Abs(frac-1/math.E) > 0.04 {
		t.Errorf("held-out share %.3f, want about 1/e", frac)
	}
	sums := make([]int, e.Config.Members)
	differ := 0
	for _, c := range e.data {
		if c.val {
			if slices.ContainsFunc(c.counts, func(n uint8) bool { return n != 0 }) {
				t.Fatal("a held-out comparison is in a training resample")
			}
			continue
		}
		for m, n := range c.counts {
			sums[m] += int(n)
		}
		if c.counts[0] != c.counts[1] || c.counts[1] != c.counts[2] {
			differ++
		}
	}
	ntrain := total - val
	for m, n := range sums {
		// a bootstrap resample has as many draws as the training set, on average
		if math.Abs(float64(n)/float64(ntrain)-1) > 0.1 {
			t.Errorf("member %d resample holds %d copies of %d comparisons", m, n, ntrain)
		}
	}
	if differ < ntrain/3 {
		t.Errorf("resamples differ on only %d of %d comparisons", differ, ntrain)
	}
	// The split depends on the query id, not on the order of arrival.
	e2, _ := NewEnsemble(DefaultConfig(2, 2, 0))
	rev := slices.Clone(recs)
	slices.Reverse(rev)
	if _, err := e2.Add(rev...); err != nil {
		t.Fatal(err)
	}
	for i := range e.data {
		a, b := e.data[i], e2.data[len(e2.data)-1-i]
		if a.val != b.val || !slices.Equal(a.counts, b.counts) {
			t.Fatalf("comparison %d split differently when added in reverse", i)
		}
	}
}

func TestNextL2(t *testing.T) {
	c := DefaultConfig(1, 2, 0)
	for _, tc := range []struct{ train, val, want float64 }{
		{1, 3, c.L2 * c.L2Factor}, // overfitting: more regularisation
		{1, 1.3, c.L2},            // inside the band
		{1, 1.0, c.L2 / c.L2Factor},
		{1, math.NaN(), c.L2},
	} {
		near(t, fmt.Sprintf("nextL2(%v, %v)", tc.train, tc.val), nextL2(c.L2, tc.train, tc.val, &c), tc.want, 1e-15)
	}
	near(t, "clamped", nextL2(c.L2Max, 1, 10, &c), c.L2Max, 0)
}

// With few comparisons and a weak penalty a member overfits (validation loss
// far above training loss) and adaptation raises its L2 coefficient.
func TestL2RisesWhenOverfitting(t *testing.T) {
	s := newSynth(5, 6, 2, 5)
	recs := s.records(t, "o", 40, feedback.Boltzmann{Score: feedback.SegmentReturn, Beta: 3, Seed: 1})
	cfg := DefaultConfig(6, 2, 0)
	cfg.L2 = 1e-6
	cfg.AdaptEvery = 25
	e, err := NewEnsemble(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Add(recs...); err != nil {
		t.Fatal(err)
	}
	st, err := e.Train(context.Background(), 300)
	if err != nil {
		t.Fatal(err)
	}
	for m := range st.L2 {
		t.Logf("member %d: train loss %.3f val loss %.3f l2 %.3g", m, st.TrainLoss[m], st.ValLoss[m], st.L2[m])
		if !(st.L2[m] > cfg.L2*10) {
			t.Errorf("member %d: l2 %.3g did not rise from %.3g (train %.3f, val %.3f)", m, st.L2[m], cfg.L2, st.TrainLoss[m], st.ValLoss[m])
		}
	}
}

func trainedSmall(t *testing.T, seed uint64) (*Ensemble, []feedback.ControlRecord, *synth) {
	t.Helper()
	s := newSynth(9, 3, 0, 4)
	s.acts = 0
	// continuous 2-d actions
	cont := func() feedback.Segment {
		var seg feedback.Segment
		for range s.segLen {
			o := []float64{s.r.NormFloat64(), s.r.NormFloat64(), s.r.NormFloat64()}
			a := []float64{s.r.Float64()*2 - 1, s.r.Float64()*2 - 1}
			r := o[0] - 0.5*o[1] + a[0]*a[1]
			seg.States, seg.Actions, seg.Rewards = append(seg.States, o), append(seg.Actions, a), append(seg.Rewards, r)
		}
		return seg
	}
	var recs []feedback.ControlRecord
	or := feedback.Oracle{Score: feedback.SegmentReturn}
	for i := range 80 {
		q := feedback.ControlQuery(fmt.Sprint("s", i), cont(), cont())
		l, err := or.Label(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := feedback.ControlRecordOf(q, l)
		rec.QueryID = q.ID
		recs = append(recs, rec)
	}
	cfg := DefaultConfig(3, 0, 2)
	cfg.Hidden = []int{16, 16}
	cfg.Members = 2
	cfg.AdaptEvery = 7
	cfg.Seed = seed
	e, err := NewEnsemble(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Add(recs...); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Train(context.Background(), 20); err != nil {
		t.Fatal(err)
	}
	return e, recs, s
}

func probe(e *Ensemble) []float64 {
	r := rand.New(rand.NewPCG(1, 2))
	var obs, act [][]float64
	for range 64 {
		obs = append(obs, []float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64()})
		act = append(act, []float64{r.Float64(), -r.Float64()})
	}
	return e.Reward(obs, act)
}

func TestSaveLoadRoundTripAndResume(t *testing.T) {
	e, recs, _ := trainedSmall(t, 4)
	dir := t.TempDir()
	if err := e.Save(dir); err != nil {
		t.Fatal(err)
	}
	l, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(probe(e), probe(l)) {
		t.Fatal("loaded ensemble predicts differently")
	}
	if l.Steps() != e.Steps() || l.Members[1].L2 != e.Members[1].L2 || l.Members[0].Std != e.Members[0].Std {
		t.Fatalf("state differs after load: steps %d/%d", l.Steps(), e.Steps())
	}
	// Resuming: the loaded copy, given the same comparisons, trains exactly
	// like the original.
	if _, err := l.Add(recs...); err != nil {
		t.Fatal(err)
	}
	s1, err1 := e.Train(context.Background(), 15)
	s2, err2 := l.Train(context.Background(), 15)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !slices.Equal(probe(e), probe(l)) || !slices.Equal(s1.L2, s2.L2) {
		t.Fatal("resumed training diverges from uninterrupted training")
	}
}

func TestDeterministicUnderSeed(t *testing.T) {
	a, _, _ := trainedSmall(t, 8)
	b, _, _ := trainedSmall(t, 8)
	c, _, _ := trainedSmall(t, 9)
	pa, pb, pc := probe(a), probe(b), probe(c)
	if !slices.Equal(pa, pb) {
		t.Fatal("same seed, different predictions")
	}
	if slices.Equal(pa, pc) {
		t.Fatal("different seeds, identical predictions")
	}
}

func TestLoadRejectsBadFiles(t *testing.T) {
	e, _, _ := trainedSmall(t, 4)
	dir := t.TempDir()
	if err := e.Save(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Error("Load of an empty directory gave no error")
	}
	for name, body := range map[string]string{
		ConfigFile: `{"format":"rlhf-reward-ensemble","config":{"obs_dim":-1}}`,
		ModelFile:  "garbage",
	} {
		d := t.TempDir()
		if err := e.Save(d); err != nil {
			t.Fatal(err)
		}
		if err := writeFileAtomic(d+"/"+name, []byte(body)); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(d); err == nil {
			t.Errorf("Load with a bad %s gave no error", name)
		}
	}
}

func TestAddRejectsMalformedAndDropsUntrainable(t *testing.T) {
	e, err := NewEnsemble(DefaultConfig(2, 3, 0))
	if err != nil {
		t.Fatal(err)
	}
	good := feedback.Segment{States: [][]float64{{0, 1}}, Actions: [][]float64{{2}}}
	for name, seg := range map[string]feedback.Segment{
		"no steps":       {},
		"short obs":      {States: [][]float64{{0}}, Actions: [][]float64{{1}}},
		"action range":   {States: [][]float64{{0, 1}}, Actions: [][]float64{{3}}},
		"fractional":     {States: [][]float64{{0, 1}}, Actions: [][]float64{{0.5}}},
		"nan obs":        {States: [][]float64{{math.NaN(), 1}}, Actions: [][]float64{{0}}},
		"missing action": {States: [][]float64{{0, 1}}},
	} {
		if _, err := e.Add(feedback.ControlRecord{Segments: []feedback.Segment{good, seg}, Choice: 0}); err == nil {
			t.Errorf("%s: Add gave no error", name)
		}
	}
	n, err := e.Add(
		feedback.ControlRecord{Segments: []feedback.Segment{good, good}, Choice: feedback.CantTell},
		feedback.ControlRecord{Segments: []feedback.Segment{good, good}, Choice: feedback.Tie},
	)
	if err != nil || n != 1 {
		t.Fatalf("Add = %d, %v; want 1 kept", n, err)
	}
	if _, err := NewEnsemble(Config{}); err == nil {
		t.Error("NewEnsemble of a zero Config gave no error")
	}
	empty, _ := NewEnsemble(DefaultConfig(2, 3, 0))
	if _, err := empty.Train(context.Background(), 1); err == nil {
		t.Error("Train without comparisons gave no error")
	}
}

func TestDisagreements(t *testing.T) {
	s := newSynth(2, 3, 2, 6)
	cfg := DefaultConfig(3, 2, 0)
	e, err := NewEnsemble(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, b := s.segment(), s.segment()
	qs := []feedback.Query{
		feedback.ControlQuery("same", a, a),
		feedback.ControlQuery("diff", a, b),
		feedback.ControlQuery("three", a, b, s.segment()),
	}
	d, err := e.Disagreements(qs)
	if err != nil {
		t.Fatal(err)
	}
	if d[0] != 0 || !(d[1] > 0) || !(d[2] > 0) {
		t.Fatalf("disagreements %v: want 0 for identical segments and > 0 otherwise", d)
	}
	// For a pair it is the variance of P(first preferred) across members.
	var ps []float64
	for _, rs := range e.MemberRewards(append(a.States, b.States...), append(a.Actions, b.Actions...)) {
		var ra, rb float64
		for i := range a.States {
			ra += rs[i]
			rb += rs[len(a.States)+i]
		}
		ps = append(ps, 1/(1+math.Exp(rb-ra)))
	}
	near(t, "pair disagreement", d[1], feedback.Variance(ps), 1e-6)
	picked, err := e.SelectActive(qs, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(picked) != 2 || slices.ContainsFunc(picked, func(q feedback.Query) bool { return q.ID == "same" }) {
		t.Errorf("active selection picked %v, want the two queries the members disagree on", []string{picked[0].ID, picked[1].ID})
	}
	if _, err := e.Disagreements([]feedback.Query{feedback.TextQuery("t", "p", "a", "b")}); err == nil {
		t.Error("Disagreements of a text query gave no error")
	}
}

func TestRewardFlatMatchesReward(t *testing.T) {
	e, _, _ := trainedSmall(t, 4)
	r := rand.New(rand.NewPCG(5, 6))
	var obs, act [][]float64
	var fo, fa []float64
	for range 33 {
		o := []float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64()}
		a := []float64{r.Float64(), r.Float64()}
		obs, act = append(obs, o), append(act, a)
		fo, fa = append(fo, o...), append(fa, a...)
	}
	want := e.Reward(obs, act)
	got := e.RewardFlat(make([]float64, 0, 64), fo, fa)
	if !slices.Equal(got, want) {
		t.Fatalf("RewardFlat %v != Reward %v", got[:3], want[:3])
	}
	// The ensemble reward is the mean of the members' normalised rewards.
	ms := e.MemberRewards(obs, act)
	for i := range want {
		near(t, "mean of members", want[i], (ms[0][i]+ms[1][i])/2, 1e-5)
	}
}

func TestTrainHonoursContext(t *testing.T) {
	e, _, _ := trainedSmall(t, 4)
	before := e.Steps()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Train(ctx, 100); err == nil {
		t.Fatal("Train with a cancelled context gave no error")
	}
	if e.Steps() != before {
		t.Fatalf("steps moved from %d to %d under a cancelled context", before, e.Steps())
	}
}

// Training in several calls follows the same trajectory as in one call.
func TestTrainInChunksEqualsOneCall(t *testing.T) {
	a, recs, _ := trainedSmall(t, 6)
	b, err := NewEnsemble(a.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Add(recs...); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{3, 9, 8} { // 20 steps, across AdaptEvery = 7 boundaries
		if _, err := b.Train(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(probe(a), probe(b)) {
		t.Fatal("chunked training diverges from one call")
	}
	for m := range a.Members {
		if a.Members[m].L2 != b.Members[m].L2 {
			t.Fatalf("member %d l2 %v vs %v", m, a.Members[m].L2, b.Members[m].L2)
		}
	}
}

// Pairs and 3-way comparisons with segments of different lengths train
// together (one minibatch group per item count, ragged segment sums).
func TestTrainMixedComparisons(t *testing.T) {
	s := newSynth(3, 3, 2, 4)
	or := feedback.Oracle{Score: feedback.SegmentReturn}
	var recs []feedback.ControlRecord
	for i := range 120 {
		segs := []feedback.Segment{s.segment(), s.segment()}
		if i%2 == 0 {
			segs = append(segs, s.segment())
		}
		if i%3 == 0 { // a longer segment
			long := s.segment()
			more := s.segment()
			long.States = append(long.States, more.States...)
			long.Actions = append(long.Actions, more.Actions...)
			long.Rewards = append(long.Rewards, more.Rewards...)
			segs[0] = long
		}
		q := feedback.ControlQuery(fmt.Sprint("m", i), segs...)
		l, err := or.Label(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := feedback.ControlRecordOf(q, l)
		rec.QueryID = q.ID
		recs = append(recs, rec)
	}
	e, err := NewEnsemble(DefaultConfig(3, 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Add(recs...); err != nil {
		t.Fatal(err)
	}
	before := e.Stats().Fit.Loss
	st, err := e.Train(context.Background(), 150)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fit loss %.3f -> %.3f, held-out accuracy %.3f", before, st.Fit.Loss, st.Held.Accuracy)
	if !(st.Fit.Loss < 0.7*before) || st.Held.Accuracy < 0.75 {
		t.Errorf("fit loss %.3f -> %.3f, held-out accuracy %.3f", before, st.Fit.Loss, st.Held.Accuracy)
	}
}
