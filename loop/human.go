package loop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"rlhf/feedback"
	"rlhf/store"
)

// LabelerHuman is the -labeler value of a run whose queries go to people
// through the label store and the web app.
const LabelerHuman = "human"

// ErrStopped is returned by Control.Run when its Stop hook asked it to halt
// (an admin pressed stop); the run was checkpointed and can be resumed.
var ErrStopped = errors.New("loop: run stopped on request")

// HumanLabeler is a feedback.Labeler backed by the label store: Label posts the
// query (with its provenance) for people to answer in the web app, waits for
// their label and returns it. Queries already in the store under the same
// loop query id (a resumed run asking again about its pending queries) are not
// posted twice. It is safe for concurrent use.
type HumanLabeler struct {
	// Store holds the run, its queries and the labels.
	Store store.Store
	// RunID is the store's run id (the run directory's base name).
	RunID string
	// Poll is how often to look for new labels (default 1 s).
	Poll time.Duration
	// Overlap is how many people label each query (default 1). Label
	// returns the first non-skip label; AskText yields every person's.
	Overlap int
	// Judge, if set, answers a text loop's comparisons before people
	// (RunTextWith): those it labels CantTell go to people, the others
	// are its answers (an AI judge such as judge.Model that abstains
	// when unsure).
	Judge feedback.BatchLabeler
	// Audit is the share of the judge's answers that people answer too
	// (judge.Audited picks them by query id): people's answers replace the
	// judge's there, and the run counts how often they agree with it.
	Audit float64

	mu    sync.Mutex
	known map[string]int64 // loop query id -> store query id
}

// humanSampler is the provenance stored with each query (Query.Sampler).
type humanSampler struct {
	QueryID string `json:"query_id"`       // the loop's query id
	Env     string `json:"env,omitempty"`  // the environment, as the loop names it
	Kind    string `json:"kind,omitempty"` // "control" or "text"
}

// NewHumanLabeler registers the run in the store (or takes over an existing
// one, for a resumed run, marking it running again) and returns a labeler
// posting to it.
func NewHumanLabeler(ctx context.Context, s store.Store, runID, name, instructions string) (*HumanLabeler, error) {
	if runID == "" {
		return nil, errors.New("loop: human labeler: empty run id")
	}
	err := s.CreateRun(ctx, store.Run{ID: runID, Name: name, Instructions: instructions, State: store.RunRunning})
	if errors.Is(err, store.ErrConflict) {
		err = s.SetRunState(ctx, runID, store.RunRunning)
	}
	if err != nil {
		return nil, fmt.Errorf("loop: human labeler: register run %s: %w", runID, err)
	}
	h := &HumanLabeler{Store: s, RunID: runID, known: map[string]int64{}}
	qs, err := s.Queries(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("loop: human labeler: queries of run %s: %w", runID, err)
	}
	for _, q := range qs {
		var sm humanSampler
		if len(q.Sampler) > 0 && json.Unmarshal(q.Sampler, &sm) == nil && sm.QueryID != "" {
			h.known[sm.QueryID] = q.ID
		}
	}
	return h, nil
}

// Label posts q (unless already posted) and waits for a person's answer. When
// an admin requests a stop while it waits, it keeps waiting until ctx ends, so
// the loop halts at its own step boundary and asks again after a resume.
func (h *HumanLabeler) Label(ctx context.Context, q feedback.Query) (feedback.Label, error) {
	id, err := h.post(ctx, q)
	if err != nil {
		return feedback.Label{}, err
	}
	poll := h.Poll
	if poll <= 0 {
		poll = time.Second
	}
	ls, err := store.WaitLabels(ctx, h.Store, []int64{id}, poll)
	if errors.Is(err, store.ErrStopRequested) {
		<-ctx.Done()
		return feedback.Label{}, fmt.Errorf("loop: human label for %s: %w", q.ID, ctx.Err())
	}
	if err != nil {
		return feedback.Label{}, fmt.Errorf("loop: human label for %s: %w", q.ID, err)
	}
	if len(ls) == 0 {
		return feedback.Label{}, fmt.Errorf("loop: human label for %s: no label returned", q.ID)
	}
	l := ls[0]
	return feedback.Label{
		QueryID: q.ID, Choice: l.Choice, Confidence: l.Confidence, Note: l.Note,
		Labeler: l.Labeler, Time: l.CreatedAt, Duration: l.Duration,
	}, nil
}

// post stores q once and returns its store id.
func (h *HumanLabeler) post(ctx context.Context, q feedback.Query) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.known == nil {
		h.known = map[string]int64{}
	}
	if id, ok := h.known[q.ID]; ok {
		return id, nil
	}
	sq, err := StoreQuery(q, h.RunID)
	if err != nil {
		return 0, err
	}
	sq.Overlap = max(h.Overlap, 1)
	ids, err := h.Store.AddQueries(ctx, []store.Query{sq})
	if err != nil {
		return 0, fmt.Errorf("loop: post query %s: %w", q.ID, err)
	}
	h.known[q.ID] = ids[0]
	return ids[0], nil
}

// Posted returns the number of distinct queries this labeler has in the store.
func (h *HumanLabeler) Posted() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.known)
}

// StoreQuery converts a loop query to the store's form: the payload people see
// (for control queries the segments' physical states, see ControlPayload) and
// the provenance (run, policy version, the loop's query id).
func StoreQuery(q feedback.Query, runID string) (store.Query, error) {
	if err := q.Validate(); err != nil {
		return store.Query{}, fmt.Errorf("loop: store query: %w", err)
	}
	sm := humanSampler{QueryID: q.ID, Kind: string(q.Kind)}
	var payload any
	switch q.Kind {
	case feedback.KindControl:
		p, err := ControlPayload(q)
		if err != nil {
			return store.Query{}, err
		}
		sm.Env = q.Items[0].Segment.Env
		payload = p
	case feedback.KindText:
		p := store.TextPayload{Kind: store.KindText, Prompt: q.Items[0].Prompt}
		for _, it := range q.Items {
			p.Completions = append(p.Completions, it.Completion)
		}
		payload = p
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return store.Query{}, fmt.Errorf("loop: store query %s: %w", q.ID, err)
	}
	smRaw, err := json.Marshal(sm)
	if err != nil {
		return store.Query{}, fmt.Errorf("loop: store query %s: %w", q.ID, err)
	}
	return store.Query{RunID: runID, Payload: raw, PolicyVersion: q.PolicyVersion, Sampler: smRaw}, nil
}

// ControlPayload builds the payload of a control query: each segment's
// physical states in the layout the labeling app draws (store package doc).
// The loop's segments hold the observations the agent saw; every environment
// here observes its full physical state (angles as cos/sin pairs), so the
// physical state is recovered exactly, angles wrapped to (-π, π].
func ControlPayload(q feedback.Query) (store.ControlPayload, error) {
	if q.Kind != feedback.KindControl || len(q.Items) < 2 {
		return store.ControlPayload{}, fmt.Errorf("loop: control payload of query %s: not a control query with 2+ segments", q.ID)
	}
	first := q.Items[0].Segment
	if first == nil {
		return store.ControlPayload{}, fmt.Errorf("loop: control payload of query %s: item 0 has no segment", q.ID)
	}
	drawn, err := DrawnEnv(first.Env)
	if err != nil {
		return store.ControlPayload{}, fmt.Errorf("loop: control payload of query %s: %w", q.ID, err)
	}
	p := store.ControlPayload{Kind: store.KindControl, Env: drawn, DT: first.DT}
	for i, it := range q.Items {
		s := it.Segment
		if s == nil || s.Env != first.Env {
			return store.ControlPayload{}, fmt.Errorf("loop: control payload of query %s: segment %d is missing or of another env", q.ID, i)
		}
		var seg store.Segment
		for t, obs := range s.States {
			st, err := PhysicalState(s.Env, obs)
			if err != nil {
				return store.ControlPayload{}, fmt.Errorf("loop: control payload of query %s: segment %d step %d: %w", q.ID, i, t, err)
			}
			seg.States = append(seg.States, st)
		}
		p.Segments = append(p.Segments, seg)
	}
	return p, nil
}

// DrawnEnv maps an environment to the name the labeling app draws it under:
// variants with another goal look the same as their base task.
func DrawnEnv(name string) (string, error) {
	switch {
	case strings.HasPrefix(name, "CartPole"):
		return "CartPole-v1", nil
	case strings.HasPrefix(name, "Pendulum"):
		return "Pendulum-v1", nil
	case strings.HasPrefix(name, "Acrobot"):
		return "Acrobot-v1", nil
	case strings.HasPrefix(name, "Reacher"):
		return "Reacher", nil
	}
	return "", fmt.Errorf("no drawing for environment %q", name)
}

// PhysicalState recovers the physical state (env Spec.State layout) from an
// observation of the named environment.
func PhysicalState(envName string, obs []float64) ([]float64, error) {
	want := map[string]int{"CartPole-v1": 4, "Pendulum-v1": 3, "Acrobot-v1": 6, "Reacher": 10}
	drawn, err := DrawnEnv(envName)
	if err != nil {
		return nil, err
	}
	if len(obs) != want[drawn] {
		return nil, fmt.Errorf("%s observation of length %d, want %d", envName, len(obs), want[drawn])
	}
	for _, v := range obs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s observation is not finite", envName)
		}
	}
	switch drawn {
	case "CartPole-v1": // obs = [x, x_dot, theta, theta_dot]
		return append([]float64(nil), obs...), nil
	case "Pendulum-v1": // obs = [cos th, sin th, th_dot]
		return []float64{math.Atan2(obs[1], obs[0]), obs[2]}, nil
	case "Acrobot-v1": // obs = [cos t1, sin t1, cos t2, sin t2, dt1, dt2]
		return []float64{math.Atan2(obs[1], obs[0]), math.Atan2(obs[3], obs[2]), obs[4], obs[5]}, nil
	default: // Reacher: obs = [cos q1, cos q2, sin q1, sin q2, tx, ty, dq1, dq2, fx-tx, fy-ty]
		return []float64{math.Atan2(obs[2], obs[0]), math.Atan2(obs[3], obs[1]), obs[6], obs[7], obs[4], obs[5]}, nil
	}
}

// RunLive runs c with people as its labelers: c.Labeler should be h. It checks
// for an admin's stop at each PPO iteration boundary (and, before the first
// iteration, while waiting for the initial labels); on a stop it checkpoints
// and returns ErrStopped. Whenever it returns, the run is marked stopped in
// the store; `rlhf control -resume` continues it.
func (h *HumanLabeler) RunLive(ctx context.Context, c *Control) (ControlResult, error) {
	var iterating, stopSeen atomic.Bool
	c.Stop = func(ctx context.Context) (bool, error) {
		iterating.Store(true)
		stop, err := store.StopRequested(ctx, h.Store, h.RunID)
		if stop {
			stopSeen.Store(true)
		}
		return stop, err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		poll := h.Poll
		if poll <= 0 {
			poll = time.Second
		}
		t := time.NewTicker(poll)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if iterating.Load() {
				continue
			}
			// Before the first iteration the loop may be blocked on the
			// initial labels: cancel it (Run checkpoints on cancellation).
			if stop, err := store.StopRequested(rctx, h.Store, h.RunID); err == nil && stop {
				stopSeen.Store(true)
				cancel()
				return
			}
		}
	})
	res, err := c.Run(rctx)
	close(done)
	wg.Wait()
	if err != nil && stopSeen.Load() && ctx.Err() == nil {
		err = ErrStopped
	}
	if serr := h.Store.SetRunState(context.WithoutCancel(ctx), h.RunID, store.RunStopped); serr != nil {
		err = errors.Join(err, fmt.Errorf("loop: mark run %s stopped: %w", h.RunID, serr))
	}
	return res, err
}
