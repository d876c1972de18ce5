package loop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rlhf/env"
	"rlhf/feedback"
	"rlhf/store"
)

func openTestStore(t *testing.T) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "labels.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// recordingLabeler remembers every query it is asked, so simulated people can
// look up the segments' true returns (which the store does not hold).
type recordingLabeler struct {
	feedback.Labeler
	seen *sync.Map // loop query id -> feedback.Query
	// onAsk, if set, is called with the number of queries asked so far.
	onAsk func(n int64)
	asked atomic.Int64
}

func (r *recordingLabeler) Label(ctx context.Context, q feedback.Query) (feedback.Label, error) {
	r.seen.Store(q.ID, q)
	if n := r.asked.Add(1); r.onAsk != nil {
		r.onAsk(n)
	}
	return r.Labeler.Label(ctx, q)
}

// person is a simulated labeler using the store API as the web app does:
// Lease, then Submit the segment with the larger true return. Every
// cantTellEvery-th answer is "cant_tell", every skipEvery-th lease is skipped.
func person(ctx context.Context, t *testing.T, s store.Store, runID, name string, rec *recordingLabeler, cantTellEvery, skipEvery int, answered *atomic.Int64) {
	id, err := s.CreateLabeler(ctx, store.Labeler{Username: name, Role: store.RoleLabeler, PasswordHash: []byte("x")})
	if err != nil {
		t.Errorf("create labeler %s: %v", name, err)
		return
	}
	n := 0
	for ctx.Err() == nil {
		a, err := s.Lease(ctx, id, runID, time.Minute)
		if errors.Is(err, store.ErrNoWork) {
			time.Sleep(3 * time.Millisecond)
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("lease: %v", err)
			}
			return
		}
		n++
		var sm humanSampler
		if err := json.Unmarshal(a.Query.Sampler, &sm); err != nil {
			t.Errorf("query %d provenance: %v", a.Query.ID, err)
			return
		}
		v, ok := rec.seen.Load(sm.QueryID)
		if !ok {
			t.Errorf("store query %d (loop %q) was never asked by the loop", a.Query.ID, sm.QueryID)
			return
		}
		q := v.(feedback.Query)
		choice := store.Choice(0)
		switch {
		case skipEvery > 0 && n%skipEvery == 0:
			choice = store.Skip
		case cantTellEvery > 0 && n%cantTellEvery == 0:
			choice = store.CantTell
		case q.Items[1].Segment.Return > q.Items[0].Segment.Return:
			choice = 1
		case q.Items[1].Segment.Return == q.Items[0].Segment.Return:
			choice = store.Tie
		}
		_, _, err = s.Submit(ctx, store.Submission{
			QueryID: a.Query.ID, Slot: a.Slot, LabelerID: id, Choice: choice,
			ClientKey: fmt.Sprintf("%s-%08d", name, n),
		})
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("submit: %v", err)
			}
			return
		}
		if choice != store.Skip {
			answered.Add(1)
		}
	}
}

// startPeople runs two simulated labelers until the test ends.
func startPeople(t *testing.T, s store.Store, runID string, rec *recordingLabeler, answered *atomic.Int64) func() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { person(ctx, t, s, runID, "ann", rec, 7, 0, answered) })
	wg.Go(func() { person(ctx, t, s, runID, "bob", rec, 0, 5, answered) })
	return func() { cancel(); wg.Wait() }
}

// probe returns fixed CartPole inputs to read the reward model on.
func probe() (obs, act [][]float64) {
	r := rand.New(rand.NewPCG(3, 3))
	for range 32 {
		obs = append(obs, []float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64() * 0.1, r.NormFloat64()})
		act = append(act, []float64{float64(r.IntN(2))})
	}
	return obs, act
}

func liveSetup(t *testing.T, cfg ControlConfig) (store.Store, string, *HumanLabeler, *recordingLabeler, *Control) {
	t.Helper()
	s := openTestStore(t)
	dir := filepath.Join(t.TempDir(), "live-run")
	h, err := NewHumanLabeler(context.Background(), s, filepath.Base(dir), "live", "pick the pole that stays up")
	if err != nil {
		t.Fatal(err)
	}
	h.Poll = 5 * time.Millisecond
	rec := &recordingLabeler{Labeler: h, seen: &sync.Map{}}
	c, err := NewControl(cfg, dir, rec)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir, h, rec, c
}

// checkStoreLabels checks that every query got at most one non-skip label and
// that the loop's counts match the store's.
//
// With exact (a run halted by a stop request) every label in the store on a
// query not pending at the checkpoint reached the loop. Without (a finished
// run), answers may arrive after the loop's last look (they stay in the store).
func checkStoreLabels(t *testing.T, s store.Store, runID string, c *Control, exact bool) {
	t.Helper()
	requested, received, used := c.st.Requested, c.st.Received, c.st.Used
	ctx := context.Background()
	dir := c.Dir
	pending := map[string]bool{}
	for _, q := range c.st.Pending {
		pending[q.ID] = true
	}
	storeToLoop := map[int64]string{}
	qs, err := s.Queries(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	loopIDs := map[string]bool{}
	for _, q := range qs {
		var sm humanSampler
		if err := json.Unmarshal(q.Sampler, &sm); err != nil || sm.QueryID == "" {
			t.Fatalf("query %d has no loop id: %s", q.ID, q.Sampler)
		}
		if loopIDs[sm.QueryID] {
			t.Errorf("loop query %s posted twice", sm.QueryID)
		}
		loopIDs[sm.QueryID] = true
		storeToLoop[q.ID] = sm.QueryID
		if q.PolicyVersion == "" || q.Kind != store.KindControl {
			t.Errorf("query %d: policy version %q, kind %q", q.ID, q.PolicyVersion, q.Kind)
		}
	}
	// Queries still queued in the loop when it ended never reached the store.
	if len(qs) > requested || len(qs) < requested-len(pending) {
		t.Errorf("%d queries in the store, loop requested %d, %d pending at the end", len(qs), requested, len(pending))
	}
	ls, err := s.Labels(ctx, store.LabelFilter{RunID: runID})
	if err != nil {
		t.Fatal(err)
	}
	per := map[int64]int{}
	cantTell, late := 0, 0
	dropped := map[string]bool{}
	for _, l := range ls {
		if l.Choice == store.Skip {
			continue
		}
		per[l.QueryID]++
		if per[l.QueryID] > 1 {
			t.Errorf("query %d has %d labels", l.QueryID, per[l.QueryID])
		}
		if pending[storeToLoop[l.QueryID]] {
			late++ // answered after the loop ended: kept in the store, asked again on resume
			continue
		}
		if l.Choice == store.CantTell {
			cantTell++
			dropped[storeToLoop[l.QueryID]] = true
		}
	}
	if got := len(per) - late; got < received || (exact && got != received) {
		t.Errorf("%d queries labelled in the store (%d pending at the end), loop received %d", len(per), late, received)
	}
	recs := readLabels(t, dir)
	for _, r := range recs {
		if dropped[r.QueryID] {
			t.Errorf("query %s was answered cant_tell but trained on", r.QueryID)
		}
	}
	if len(recs) != used || used > received || received-used > cantTell {
		t.Errorf("%d training records, %d used, %d received, %d cant_tell", len(recs), used, received, cantTell)
	}
}

func TestHumanLabelerLiveRun(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.Steps = 2560 // 20 iterations: time for the people to answer while PPO trains
	cfg.LabelWorkers = 4
	s, _, h, rec, c := liveSetup(t, cfg)
	var answered atomic.Int64
	stop := startPeople(t, s, h.RunID, rec, &answered)
	obs, act := probe()
	before := c.Ensemble.MemberRewards(obs, act)
	res, err := h.RunLive(context.Background(), c)
	stop()
	if err != nil {
		t.Fatal(err)
	}
	// Training does not wait for people after the initial batch (6 labels),
	// so how many of the later answers arrive in time depends on their speed;
	// the first retraining needs RetrainEvery (4) more.
	if res.LabelsRequested != cfg.Labels || res.LabelsReceived < 10 {
		t.Errorf("requested %d, received %d of a budget of %d", res.LabelsRequested, res.LabelsReceived, cfg.Labels)
	}
	if c.Ensemble.Steps() <= cfg.RMInitSteps {
		t.Errorf("reward model took %d steps: not retrained after the initial %d", c.Ensemble.Steps(), cfg.RMInitSteps)
	}
	after := c.Ensemble.MemberRewards(obs, act)
	changed := false
	for m := range before {
		for i := range before[m] {
			if math.Abs(before[m][i]-after[m][i]) > 1e-9 {
				changed = true
			}
		}
	}
	if !changed {
		t.Error("reward model parameters did not change")
	}
	checkStoreLabels(t, s, h.RunID, c, false)
	r, err := s.Run(context.Background(), h.RunID)
	if err != nil || r.State != store.RunStopped {
		t.Errorf("finished run in state %q (%v), want stopped", r.State, err)
	}
}

func TestHumanLabelerStopAndResume(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.Steps = 2560 // 20 iterations
	cfg.LabelWorkers = 4
	cfg.CheckpointEvery = 100
	s, dir, h, rec, c := liveSetup(t, cfg)
	var answered atomic.Int64
	stopPeople := startPeople(t, s, h.RunID, rec, &answered)
	defer stopPeople()
	// The admin presses stop when the loop asks its seventh query: the first
	// asked during training (the 6 before are the initial batch, all answered
	// before the first iteration, so a worker takes it at once).
	rec.onAsk = func(n int64) {
		if n == 7 {
			if err := s.SetRunState(context.Background(), h.RunID, store.RunStopRequested); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
	}
	_, err := h.RunLive(context.Background(), c)
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped run returned %v, want ErrStopped", err)
	}
	halted := c.Trainer.Iteration
	if halted >= 20 {
		t.Fatalf("run was not halted (iteration %d)", halted)
	}
	if _, err := os.Stat(filepath.Join(dir, StateFile)); err != nil {
		t.Fatalf("no checkpoint after the stop: %v", err)
	}
	if r, err := s.Run(context.Background(), h.RunID); err != nil || r.State != store.RunStopped {
		t.Fatalf("run state %q (%v) after the stop, want stopped", r.State, err)
	}
	checkStoreLabels(t, s, h.RunID, c, true)
	// Resume with a labeler on the same store: the run is marked running again
	// and the queries pending at the stop are not posted twice.
	h2, err := NewHumanLabeler(context.Background(), s, h.RunID, "live", "")
	if err != nil {
		t.Fatal(err)
	}
	h2.Poll = 5 * time.Millisecond
	if h2.Posted() != h.Posted() {
		t.Errorf("resumed labeler knows %d queries, the first posted %d", h2.Posted(), h.Posted())
	}
	if r, _ := s.Run(context.Background(), h.RunID); r.State != store.RunRunning {
		t.Errorf("resumed run in state %q, want running", r.State)
	}
	// Both recorders share what the simulated people look up.
	rec2 := &recordingLabeler{Labeler: h2, seen: rec.seen}
	r, err := ResumeControl(dir, rec2)
	if err != nil {
		t.Fatal(err)
	}
	if r.Trainer.Iteration != halted {
		t.Errorf("resumed at iteration %d, halted at %d", r.Trainer.Iteration, halted)
	}
	res, err := h2.RunLive(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if r.Trainer.Iteration != 20 || res.Steps != 2560 {
		t.Errorf("resumed run ended at iteration %d, step %d", r.Trainer.Iteration, res.Steps)
	}
	stopPeople()
	checkStoreLabels(t, s, h.RunID, r, false)
}

// TestControlPayloadPhysicalStates checks that a control query's payload holds
// the recorded physical states (env.StepRecord.State) of the right width.
func TestControlPayloadPhysicalStates(t *testing.T) {
	for _, tc := range []struct {
		env   string
		drawn string
		width int
	}{{"CartPole-v1", "CartPole-v1", 4}, {"Pendulum-v1", "Pendulum-v1", 2}, {"Acrobot-v1", "Acrobot-v1", 4}, {"Reacher2D-v0", "Reacher", 6}} {
		t.Run(tc.env, func(t *testing.T) {
			spec, err := env.SpecOf(tc.env)
			if err != nil {
				t.Fatal(err)
			}
			v, err := env.NewVecEnv(tc.env, 1, 5)
			if err != nil {
				t.Fatal(err)
			}
			v.Record = true
			v.Reset()
			p := newPool(tc.env, spec.SegmentLen, 100000)
			r := rand.New(rand.NewPCG(1, 2))
			act := make([]float64, spec.ActDim)
			for !p.ready() {
				for i := range act {
					if spec.Act.IsDiscrete() {
						act[i] = float64(r.IntN(spec.Act.Discrete))
					} else {
						act[i] = r.Float64()*2 - 1
					}
				}
				p.add(v.Step(act).Episodes)
			}
			// The episodes' recorded physical states, by (episode, start).
			a, err := p.sample(r)
			if err != nil {
				t.Fatal(err)
			}
			b, err := p.sample(r)
			if err != nil {
				t.Fatal(err)
			}
			q := feedback.ControlQuery("q-1", a, b)
			q.PolicyVersion = "step-0"
			sq, err := StoreQuery(q, "run")
			if err != nil {
				t.Fatal(err)
			}
			kind, arity, err := store.ParsePayload(sq.Payload)
			if err != nil || kind != store.KindControl || arity != 2 {
				t.Fatalf("payload rejected by the store: %s %d %v", kind, arity, err)
			}
			var pl store.ControlPayload
			if err := json.Unmarshal(sq.Payload, &pl); err != nil {
				t.Fatal(err)
			}
			if pl.Env != tc.drawn || pl.DT != spec.DT {
				t.Errorf("payload env %q dt %v, want %q %v", pl.Env, pl.DT, tc.drawn, spec.DT)
			}
			for si, seg := range []feedback.Segment{a, b} {
				var steps []env.StepRecord
				for _, e := range p.eps {
					if e.id == seg.Episode {
						steps = e.steps
					}
				}
				got := pl.Segments[si].States
				if len(got) != len(seg.States) {
					t.Fatalf("segment %d: %d states, want %d", si, len(got), len(seg.States))
				}
				for ti, st := range got {
					if len(st) != tc.width {
						t.Fatalf("segment %d state %d has width %d, want %d", si, ti, len(st), tc.width)
					}
					k := min(seg.Start+ti, len(steps)-1) // absorbing padding repeats the end
					if seg.Start+ti >= len(steps) {
						continue
					}
					want := steps[k].State
					for j := range st {
						d := math.Mod(math.Abs(st[j]-want[j]), 2*math.Pi)
						d = math.Min(d, 2*math.Pi-d) // angles compare modulo 2π
						if d > 1e-9 {
							t.Fatalf("segment %d step %d: state %v, recorded %v", si, ti, st, want)
						}
					}
				}
			}
		})
	}
	if _, err := PhysicalState("CartPole-v1", []float64{1, 2}); err == nil {
		t.Error("short observation accepted")
	}
	if _, err := PhysicalState("Pendulum-v1", []float64{math.NaN(), 0, 0}); err == nil {
		t.Error("NaN observation accepted")
	}
	if _, err := DrawnEnv("Nope-v0"); err == nil {
		t.Error("unknown env accepted")
	}
}

func TestStoreQueryText(t *testing.T) {
	q := feedback.TextQuery("t-1", "Once", " upon", " a time")
	q.PolicyVersion = "iter-3"
	sq, err := StoreQuery(q, "run")
	if err != nil {
		t.Fatal(err)
	}
	kind, arity, err := store.ParsePayload(sq.Payload)
	if err != nil || kind != store.KindText || arity != 2 || sq.PolicyVersion != "iter-3" {
		t.Errorf("text payload: %s %d %v %q", kind, arity, err, sq.PolicyVersion)
	}
	if _, err := StoreQuery(feedback.Query{ID: "x", Kind: feedback.KindControl}, "run"); err == nil {
		t.Error("invalid query accepted")
	}
}

func TestHumanLabelerLabel(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	h, err := NewHumanLabeler(ctx, s, "unit", "unit", "")
	if err != nil {
		t.Fatal(err)
	}
	h.Poll = 2 * time.Millisecond
	if _, err := NewHumanLabeler(ctx, s, "", "x", ""); err == nil {
		t.Error("empty run id accepted")
	}
	uid, err := s.CreateLabeler(ctx, store.Labeler{Username: "dan", Role: store.RoleLabeler, PasswordHash: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	answer := func(c store.Choice, key string) {
		for {
			a, err := s.Lease(ctx, uid, "unit", time.Minute)
			if errors.Is(err, store.ErrNoWork) {
				time.Sleep(time.Millisecond)
				continue
			}
			if err != nil {
				t.Error(err)
				return
			}
			if _, _, err := s.Submit(ctx, store.Submission{QueryID: a.Query.ID, Slot: a.Slot, LabelerID: uid, Choice: c, ClientKey: key}); err != nil {
				t.Error(err)
			}
			return
		}
	}
	// A cant_tell answer comes back as feedback.CantTell, with the labeler's name.
	go answer(store.CantTell, "key-cant-tell")
	q := feedback.TextQuery("t-1", "Hello", " there", " you")
	l, err := h.Label(ctx, q)
	if err != nil || l.Choice != feedback.CantTell || l.QueryID != "t-1" || l.Labeler != "dan" {
		t.Errorf("label %+v, %v", l, err)
	}
	// Asking again about the same loop query does not post it twice and
	// returns the recorded answer.
	if l, err := h.Label(ctx, q); err != nil || l.Choice != feedback.CantTell || h.Posted() != 1 {
		t.Errorf("repeat: %+v, %v, %d posted", l, err, h.Posted())
	}
	// With nobody answering, Label ends with its context.
	tctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := h.Label(tctx, feedback.TextQuery("t-2", "Hi", " a", " b")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("unanswered query: %v", err)
	}
	// After a stop request it waits for its context instead of failing the run.
	if err := s.SetRunState(ctx, "unit", store.RunStopRequested); err != nil {
		t.Fatal(err)
	}
	sctx, cancel2 := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel2()
	if _, err := h.Label(sctx, feedback.TextQuery("t-3", "Yo", " a", " b")); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, store.ErrStopRequested) {
		t.Errorf("label during a stop: %v, want the context's deadline", err)
	}
}
