// Package storetest is the conformance suite every store.Store backend must
// pass. A backend's test calls Run with a function that opens a fresh, empty
// store for each subtest.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"rlhf/store"
)

// Opener returns a fresh, empty, migrated store; the suite closes it.
type Opener func(t *testing.T) store.Store

// Run runs the whole conformance suite against the backend open returns.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Runs", testRuns},
		{"Queries", testQueries},
		{"Labelers", testLabelers},
		{"Sessions", testSessions},
		{"LeaseAndSubmit", testLeaseAndSubmit},
		{"Overlap", testOverlap},
		{"SkipReleasesSlot", testSkip},
		{"LeaseExpiry", testLeaseExpiry},
		{"DisableReleasesLeases", testDisable},
		{"LabelFilter", testLabelFilter},
		{"ConcurrentLabelers", testConcurrent},
		{"TrainingLoop", testLoop},
		{"Export", testExport},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			tc.fn(t, s)
		})
	}
}

// TextPayload returns a text query payload with k completions.
func TextPayload(prompt string, completions ...string) json.RawMessage {
	b, err := json.Marshal(store.TextPayload{Kind: store.KindText, Prompt: prompt, Completions: completions})
	if err != nil {
		panic(err)
	}
	return b
}

// CartPolePayload returns a control payload of two short CartPole segments.
func CartPolePayload() json.RawMessage {
	seg := func(sign float64) store.Segment {
		var s store.Segment
		for t := 0; t < 5; t++ {
			s.States = append(s.States, []float64{sign * 0.1 * float64(t), 0.1, sign * 0.01 * float64(t), 0})
		}
		return s
	}
	b, err := json.Marshal(store.ControlPayload{Kind: store.KindControl, Env: "CartPole-v1", DT: 0.02,
		Segments: []store.Segment{seg(1), seg(-1)}})
	if err != nil {
		panic(err)
	}
	return b
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustRun(t *testing.T, s store.Store, id string) {
	t.Helper()
	if err := s.CreateRun(ctx(t), store.Run{ID: id, Name: "run " + id, Instructions: "Pick the better one."}); err != nil {
		t.Fatal(err)
	}
}

func mustLabeler(t *testing.T, s store.Store, name string) int64 {
	t.Helper()
	id, err := s.CreateLabeler(ctx(t), store.Labeler{Username: name, Role: store.RoleLabeler, PasswordHash: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustText(t *testing.T, s store.Store, run string, n, overlap int) []int64 {
	t.Helper()
	var qs []store.Query
	for i := 0; i < n; i++ {
		qs = append(qs, store.Query{RunID: run, Payload: TextPayload(fmt.Sprintf("prompt %d", i), "a", "b"),
			PolicyVersion: "v1", Overlap: overlap})
	}
	ids, err := s.AddQueries(ctx(t), qs)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

var keyN struct {
	sync.Mutex
	n int
}

// key returns a fresh client key.
func key() string {
	keyN.Lock()
	defer keyN.Unlock()
	keyN.n++
	return fmt.Sprintf("key-%08d", keyN.n)
}

func submit(t *testing.T, s store.Store, a store.Assignment, labeler int64, c store.Choice) store.Label {
	t.Helper()
	l, dup, err := s.Submit(ctx(t), store.Submission{QueryID: a.Query.ID, Slot: a.Slot, LabelerID: labeler,
		Choice: c, ClientKey: key(), Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if dup {
		t.Fatal("fresh key reported as duplicate")
	}
	return l
}

func testRuns(t *testing.T, s store.Store) {
	c := ctx(t)
	if err := s.CreateRun(c, store.Run{ID: "r1", Name: "first", Instructions: "Choose."}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRun(c, store.Run{ID: "r1"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate run: err = %v, want ErrConflict", err)
	}
	if err := s.CreateRun(c, store.Run{ID: ""}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty id: err = %v, want ErrInvalid", err)
	}
	if err := s.CreateRun(c, store.Run{ID: "r2", State: store.RunStopped}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Run(c, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "first" || r.Instructions != "Choose." || r.State != store.RunRunning || r.CreatedAt.IsZero() {
		t.Fatalf("run = %+v", r)
	}
	if _, err := s.Run(c, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing run: err = %v", err)
	}
	runs, err := s.Runs(c)
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs = %v, %v", runs, err)
	}
	if err := s.SetRunState(c, "r1", store.RunStopRequested); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Run(c, "r1"); r.State != store.RunStopRequested {
		t.Fatalf("state = %q", r.State)
	}
	if err := s.SetRunState(c, "r1", "paused"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad state: err = %v", err)
	}
	if err := s.SetRunState(c, "nope", store.RunStopped); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing run: err = %v", err)
	}
}

func testQueries(t *testing.T, s store.Store) {
	c := ctx(t)
	mustRun(t, s, "r")
	gold := store.Choice(1)
	sampler := json.RawMessage(`{"temperature":0.7,"top_k":50}`)
	ids, err := s.AddQueries(c, []store.Query{
		{RunID: "r", Payload: TextPayload("p", "x", "y", "z"), PolicyVersion: "step-10", Sampler: sampler, Overlap: 3, Gold: &gold},
		{RunID: "r", Payload: CartPolePayload()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] == ids[1] {
		t.Fatalf("ids = %v", ids)
	}
	q, err := s.Query(c, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if q.Kind != store.KindText || q.Arity != 3 || q.Overlap != 3 || q.PolicyVersion != "step-10" ||
		q.Gold == nil || *q.Gold != 1 || q.RunID != "r" {
		t.Fatalf("query = %+v", q)
	}
	var smp map[string]float64
	if err := json.Unmarshal(q.Sampler, &smp); err != nil || smp["top_k"] != 50 {
		t.Fatalf("sampler = %s (%v)", q.Sampler, err)
	}
	var p store.TextPayload
	if err := json.Unmarshal(q.Payload, &p); err != nil || p.Prompt != "p" || len(p.Completions) != 3 {
		t.Fatalf("payload = %s (%v)", q.Payload, err)
	}
	q2, err := s.Query(c, ids[1])
	if err != nil || q2.Kind != store.KindControl || q2.Arity != 2 || q2.Overlap != 1 || q2.Gold != nil {
		t.Fatalf("control query = %+v, %v", q2, err)
	}
	if _, err := s.Query(c, 999999); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing query: err = %v", err)
	}

	bad := []json.RawMessage{
		json.RawMessage(`{"kind":"text","prompt":"p","completions":["only one"]}`),
		json.RawMessage(`{"kind":"video"}`),
		json.RawMessage(`not json`),
		json.RawMessage(`{"kind":"control","env":"CartPole-v1","dt":0.02,"segments":[{"states":[[0,0,0]]},{"states":[[0,0,0,0]]}]}`),
		json.RawMessage(`{"kind":"control","env":"Doom","dt":0.02,"segments":[{"states":[[0]]},{"states":[[0]]}]}`),
		json.RawMessage(`{"kind":"control","env":"Pendulum-v1","dt":0,"segments":[{"states":[[0,0]]},{"states":[[0,0]]}]}`),
		json.RawMessage(`{"kind":"control","env":"Pendulum-v1","dt":0.05,"segments":[{"states":[]},{"states":[[0,0]]}]}`),
	}
	for i, b := range bad {
		if _, err := s.AddQueries(c, []store.Query{{RunID: "r", Payload: b}}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("bad payload %d: err = %v, want ErrInvalid", i, err)
		}
	}
	badGold := store.Choice(5)
	if _, err := s.AddQueries(c, []store.Query{{RunID: "r", Payload: TextPayload("p", "a", "b"), Gold: &badGold}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("gold out of range: err = %v", err)
	}
	// All or nothing: a batch with an unknown run stores none of its queries.
	if _, err := s.AddQueries(c, []store.Query{{RunID: "r", Payload: TextPayload("ok", "a", "b")},
		{RunID: "no-such-run", Payload: TextPayload("p", "a", "b")}}); err == nil {
		t.Error("query of an unknown run accepted")
	}
	all, err := s.Queries(c, "r")
	if err != nil || len(all) != 2 {
		t.Fatalf("queries = %d, %v; want the 2 good ones", len(all), err)
	}
	if all[0].ID != ids[0] || all[1].ID != ids[1] {
		t.Fatalf("queries out of order: %d, %d", all[0].ID, all[1].ID)
	}
}

func testLabelers(t *testing.T, s store.Store) {
	c := ctx(t)
	id, err := s.CreateLabeler(c, store.Labeler{Username: "ann", Role: store.RoleAdmin, PasswordHash: []byte("$2a$hash")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateLabeler(c, store.Labeler{Username: "ann", Role: store.RoleLabeler}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate username: err = %v", err)
	}
	if _, err := s.CreateLabeler(c, store.Labeler{Username: "bob", Role: "root"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad role: err = %v", err)
	}
	l, err := s.LabelerByName(c, "ann")
	if err != nil || l.ID != id || l.Role != store.RoleAdmin || string(l.PasswordHash) != "$2a$hash" || l.Disabled {
		t.Fatalf("labeler = %+v, %v", l, err)
	}
	if _, err := s.LabelerByName(c, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing: err = %v", err)
	}
	if err := s.SetPasswordHash(c, id, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLabelerDisabled(c, id, true); err != nil {
		t.Fatal(err)
	}
	l, err = s.Labeler(c, id)
	if err != nil || !l.Disabled || string(l.PasswordHash) != "new" {
		t.Fatalf("after disable = %+v, %v", l, err)
	}
	if err := s.SetLabelerDisabled(c, 424242, true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("disable missing: err = %v", err)
	}
	mustLabeler(t, s, "bob")
	ls, err := s.Labelers(c)
	if err != nil || len(ls) != 2 || ls[0].Username != "ann" || ls[1].Username != "bob" {
		t.Fatalf("labelers = %+v, %v", ls, err)
	}
}

func testSessions(t *testing.T, s store.Store) {
	c := ctx(t)
	id := mustLabeler(t, s, "ann")
	now := time.Now()
	if err := s.CreateSession(c, store.Session{IDHash: "h1", LabelerID: id, CSRFToken: "tok", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(c, store.Session{IDHash: "h2", LabelerID: id, CSRFToken: "tok", ExpiresAt: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	sess, l, err := s.Session(c, "h1")
	if err != nil || sess.CSRFToken != "tok" || l.Username != "ann" || sess.LabelerID != id {
		t.Fatalf("session = %+v, %+v, %v", sess, l, err)
	}
	if _, _, err := s.Session(c, "h2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired session: err = %v", err)
	}
	if err := s.DeleteSession(c, "h1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(c, "h1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted session: err = %v", err)
	}
	if err := s.CreateSession(c, store.Session{IDHash: "h3", LabelerID: id, CSRFToken: "tok", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLabelerDisabled(c, id, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(c, "h3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session of disabled labeler: err = %v", err)
	}
}

func testLeaseAndSubmit(t *testing.T, s store.Store) {
	c := ctx(t)
	mustRun(t, s, "r")
	ann, bob := mustLabeler(t, s, "ann"), mustLabeler(t, s, "bob")
	if _, err := s.Lease(c, ann, "", time.Minute); !errors.Is(err, store.ErrNoWork) {
		t.Fatalf("empty store: err = %v, want ErrNoWork", err)
	}
	ids := mustText(t, s, "r", 2, 1)

	a1, err := s.Lease(c, ann, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Lease(c, ann, "", time.Minute)
	if err != nil || again.Query.ID != a1.Query.ID || again.Slot != a1.Slot {
		t.Fatalf("second lease = %d/%d, %v; want the same query %d back", again.Query.ID, again.Slot, err, a1.Query.ID)
	}
	b1, err := s.Lease(c, bob, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if b1.Query.ID == a1.Query.ID {
		t.Fatal("two labelers hold the same overlap-1 query")
	}
	if a1.Query.ID != ids[0] || b1.Query.ID != ids[1] {
		t.Fatalf("leases out of order: %d, %d", a1.Query.ID, b1.Query.ID)
	}
	// Bob submits for Ann's query: refused.
	if _, _, err := s.Submit(c, store.Submission{QueryID: a1.Query.ID, Slot: a1.Slot, LabelerID: bob, Choice: 0, ClientKey: key()}); !errors.Is(err, store.ErrNotLeased) {
		t.Fatalf("submit for another's query: err = %v, want ErrNotLeased", err)
	}
	// Out-of-range choice for a pair.
	if _, _, err := s.Submit(c, store.Submission{QueryID: a1.Query.ID, Slot: a1.Slot, LabelerID: ann, Choice: 2, ClientKey: key()}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("choice 2 of 2: err = %v, want ErrInvalid", err)
	}
	bad := 1.5
	if _, _, err := s.Submit(c, store.Submission{QueryID: a1.Query.ID, Slot: a1.Slot, LabelerID: ann, Choice: 0, ClientKey: key(), Confidence: &bad}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("confidence 1.5: err = %v, want ErrInvalid", err)
	}
	if _, _, err := s.Submit(c, store.Submission{QueryID: a1.Query.ID, Slot: a1.Slot, LabelerID: ann, Choice: 0, ClientKey: "short"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("short key: err = %v, want ErrInvalid", err)
	}
	conf := 0.75
	note := `<script>alert("x")</script> ünïcode`
	k := key()
	sub := store.Submission{QueryID: a1.Query.ID, Slot: a1.Slot, LabelerID: ann, Choice: 1, Confidence: &conf,
		Note: note, Duration: 2500 * time.Millisecond, ClientKey: k}
	l, dup, err := s.Submit(c, sub)
	if err != nil || dup {
		t.Fatalf("submit: %v, dup %v", err, dup)
	}
	if l.Choice != 1 || l.Confidence == nil || *l.Confidence != 0.75 || l.Note != note || l.Labeler != "ann" ||
		l.RunID != "r" || l.Duration != 2500*time.Millisecond || l.ClientKey != k || l.Slot != a1.Slot {
		t.Fatalf("label = %+v", l)
	}
	// Retry with the same key: the same label, marked duplicate.
	l2, dup, err := s.Submit(c, sub)
	if err != nil || !dup || l2.ID != l.ID {
		t.Fatalf("retry: %+v, dup %v, %v", l2, dup, err)
	}
	// Same query, new key: already labelled.
	sub.ClientKey = key()
	if _, _, err := s.Submit(c, sub); !errors.Is(err, store.ErrAlreadyLabeled) {
		t.Fatalf("second label of a query: err = %v, want ErrAlreadyLabeled", err)
	}
	// Same key for another query: conflict.
	if _, _, err := s.Submit(c, store.Submission{QueryID: b1.Query.ID, Slot: b1.Slot, LabelerID: ann, Choice: 0, ClientKey: k}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("key reuse: err = %v, want ErrConflict", err)
	}
	// Ann has nothing left (Bob holds the other query).
	if _, err := s.Lease(c, ann, "", time.Minute); !errors.Is(err, store.ErrNoWork) {
		t.Fatalf("ann lease: err = %v, want ErrNoWork", err)
	}
	p, err := s.Progress(c, ann, "")
	if err != nil || p.Labeled != 1 || p.Open != 0 {
		t.Fatalf("ann progress = %+v, %v", p, err)
	}
	p, err = s.Progress(c, bob, "r")
	if err != nil || p.Labeled != 0 || p.Open != 1 {
		t.Fatalf("bob progress = %+v, %v", p, err)
	}
	submit(t, s, b1, bob, store.Tie)
	ls, err := s.Labels(c, store.LabelFilter{RunID: "r"})
	if err != nil || len(ls) != 2 || ls[1].Choice != store.Tie || ls[1].Confidence != nil {
		t.Fatalf("labels = %+v, %v", ls, err)
	}
	if _, err := s.Lease(c, bob, "other-run", time.Minute); !errors.Is(err, store.ErrNoWork) {
		t.Fatalf("lease in another run: err = %v", err)
	}
}

func testOverlap(t *testing.T, s store.Store) {
	c := ctx(t)
	mustRun(t, s, "r")
	ids := mustText(t, s, "r", 1, 2)
	ann, bob, cat := mustLabeler(t, s, "ann"), mustLabeler(t, s, "bob"), mustLabeler(t, s, "cat")
	a, err := s.Lease(c, ann, "r", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Lease(c, bob, "r", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if a.Query.ID != ids[0] || b.Query.ID != ids[0] || a.Slot == b.Slot {
		t.Fatalf("overlap 2: ann %d/%d bob %d/%d", a.Query.ID, a.Slot, b.Query.ID, b.Slot)
	}
	if _, err := s.Lease(c, cat, "r", time.Minute); !errors.Is(err, store.ErrNoWork) {
		t.Fatalf("third labeler on overlap 2: err = %v, want ErrNoWork", err)
	}
	submit(t, s, a, ann, 0)
	submit(t, s, b, bob, 1)
	if _, err := s.Lease(c, ann, "r", time.Minute); !errors.Is(err, store.ErrNoWork) {
		t.Fatalf("ann after labelling: err = %v, want ErrNoWork", err)
	}
	ls, err := s.Labels(c, store.LabelFilter{QueryIDs: ids})
	if err != nil || len(ls) != 2 {
		t.Fatalf("labels = %d, %v", len(ls), err)
	}
}

func testSkip(t *testing.T, s store.Store) {
	c := ctx(t)
	mustRun(t, s, "r")
	ids := mustText(t, s, "r", 1, 1)
	ann, bob := mustLabeler(t, s, "ann"), mustLabeler(t, s, "bob")
	a, err := s.Lease(c, ann, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	l := submit(t, s, a, ann, store.Skip)
	if l.Slot != -1 || l.Choice != store.Skip {
		t.Fatalf("skip label = %+v", l)
	}
	if _, err := s.Lease(c, ann, "", time.Minute); !errors.Is(err, store.ErrNoWork) {
		t.Fatalf("ann gets a skipped query again: err = %v", err)
	}
	b, err := s.Lease(c, bob, "", time.Minute)
	if err != nil || b.Query.ID != ids[0] {
		t.Fatalf("bob lease after ann's skip = %+v, %v", b, err)
	}
	submit(t, s, b, bob, 0)
}

func testLeaseExpiry(t *testing.T, s store.Store) {
	c := ctx(t)
	mustRun(t, s, "r")
	ids := mustText(t, s, "r", 1, 1)
	ann, bob := mustLabeler(t, s, "ann"), mustLabeler(t, s, "bob")
	// A lease of one microsecond has expired by the next statement, so the
	// test needs no sleeps (and no timing luck on a loaded machine).
	a, err := s.Lease(c, ann, "", time.Microsecond)
	if err != nil {
		t.Fatal(err)
	}
	if !a.ExpiresAt.After(a.LeasedAt) {
		t.Fatalf("lease expires %v, leased %v", a.ExpiresAt, a.LeasedAt)
	}
	// Ann's lease expired: Bob may take the slot over.
	b, err := s.Lease(c, bob, "", time.Minute)
	if err != nil || b.Query.ID != ids[0] || b.Slot != a.Slot {
		t.Fatalf("bob after ann's lease expired = %+v, %v", b, err)
	}
	// Bob holds it now: Ann's late submit is refused, and Ann cannot take it back.
	if _, _, err := s.Submit(c, store.Submission{QueryID: a.Query.ID, Slot: a.Slot, LabelerID: ann, Choice: 0, ClientKey: key()}); !errors.Is(err, store.ErrNotLeased) {
		t.Fatalf("late submit: err = %v, want ErrNotLeased", err)
	}
	if _, err := s.Lease(c, ann, "", time.Minute); !errors.Is(err, store.ErrNoWork) {
		t.Fatalf("ann during bob's lease: err = %v, want ErrNoWork", err)
	}
	submit(t, s, b, bob, 1)

	// An expired lease that nobody took is still the holder's to submit.
	ids2 := mustText(t, s, "r", 1, 1)
	a2, err := s.Lease(c, ann, "", time.Microsecond)
	if err != nil || a2.Query.ID != ids2[0] {
		t.Fatalf("lease = %+v, %v", a2, err)
	}
	submit(t, s, a2, ann, 0)
	if _, err := s.Lease(c, ann, "", 0); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("zero ttl: err = %v, want ErrInvalid", err)
	}
}

func testDisable(t *testing.T, s store.Store) {
	c := ctx(t)
	mustRun(t, s, "r")
	mustText(t, s, "r", 1, 1)
	ann, bob := mustLabeler(t, s, "ann"), mustLabeler(t, s, "bob")
	a, err := s.Lease(c, ann, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetLabelerDisabled(c, ann, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Submit(c, store.Submission{QueryID: a.Query.ID, Slot: a.Slot, LabelerID: ann, Choice: 0, ClientKey: key()}); !errors.Is(err, store.ErrNotLeased) {
		t.Fatalf("disabled labeler's submit: err = %v, want ErrNotLeased", err)
	}
	b, err := s.Lease(c, bob, "", time.Hour)
	if err != nil || b.Query.ID != a.Query.ID {
		t.Fatalf("bob gets the released query: %+v, %v", b, err)
	}
}

func testLabelFilter(t *testing.T, s store.Store) {
	c := ctx(t)
	mustRun(t, s, "r1")
	mustRun(t, s, "r2")
	mustText(t, s, "r1", 3, 1)
	ids2 := mustText(t, s, "r2", 2, 1)
	ann := mustLabeler(t, s, "ann")
	for i := 0; i < 5; i++ {
		a, err := s.Lease(c, ann, "", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		submit(t, s, a, ann, store.Choice(i%2))
	}
	all, err := s.Labels(c, store.LabelFilter{})
	if err != nil || len(all) != 5 {
		t.Fatalf("all = %d, %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			t.Fatal("labels not in id order")
		}
	}
	check := func(name string, f store.LabelFilter, want int) {
		t.Helper()
		ls, err := s.Labels(c, f)
		if err != nil || len(ls) != want {
			t.Errorf("%s: %d labels, %v; want %d", name, len(ls), err, want)
		}
	}
	check("run r1", store.LabelFilter{RunID: "r1"}, 3)
	check("run r2", store.LabelFilter{RunID: "r2"}, 2)
	check("after", store.LabelFilter{AfterID: all[1].ID}, 3)
	check("limit", store.LabelFilter{AfterID: all[1].ID, Limit: 2}, 2)
	check("queries", store.LabelFilter{QueryIDs: ids2}, 2)
	check("no queries", store.LabelFilter{QueryIDs: []int64{}}, 0)
	check("labeler", store.LabelFilter{LabelerID: ann}, 5)
	check("other labeler", store.LabelFilter{LabelerID: ann + 1000}, 0)
	check("since future", store.LabelFilter{Since: time.Now().Add(time.Hour)}, 0)
	check("since past", store.LabelFilter{Since: time.Now().Add(-time.Hour)}, 5)
}

// testConcurrent runs many labelers at once, each retrying some submits, and
// checks that every slot got exactly one label: none lost, none duplicated.
func testConcurrent(t *testing.T, s store.Store) {
	c := ctx(t)
	mustRun(t, s, "r")
	const nq, overlap, nl = 40, 2, 8
	mustText(t, s, "r", nq, overlap)
	var ids []int64
	for i := 0; i < nl; i++ {
		ids = append(ids, mustLabeler(t, s, fmt.Sprintf("l%d", i)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, nl)
	acked := make(chan int64, nq*overlap*2)
	for i, lid := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < nq*overlap; n++ { // bounded
				a, err := s.Lease(c, lid, "r", time.Minute)
				if errors.Is(err, store.ErrNoWork) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				sub := store.Submission{QueryID: a.Query.ID, Slot: a.Slot, LabelerID: lid, Choice: store.Choice((i + n) % 2),
					ClientKey: fmt.Sprintf("conc-%d-%d-%d", lid, a.Query.ID, a.Slot)}
				l, _, err := s.Submit(c, sub)
				if err != nil {
					errs <- err
					return
				}
				if n%3 == 0 { // a client retry after a lost response
					l2, dup, err := s.Submit(c, sub)
					if err != nil || !dup || l2.ID != l.ID {
						errs <- fmt.Errorf("retry: dup %v id %d vs %d: %v", dup, l2.ID, l.ID, err)
						return
					}
				}
				acked <- l.ID
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(acked)
	for err := range errs {
		t.Error(err)
	}
	ackedIDs := map[int64]bool{}
	for id := range acked {
		if ackedIDs[id] {
			t.Errorf("label %d acknowledged twice", id)
		}
		ackedIDs[id] = true
	}
	ls, err := s.Labels(c, store.LabelFilter{RunID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != nq*overlap || len(ackedIDs) != nq*overlap {
		t.Fatalf("%d labels stored, %d acknowledged; want %d", len(ls), len(ackedIDs), nq*overlap)
	}
	slots := map[[2]int64]bool{}
	pairs := map[[2]int64]bool{}
	for _, l := range ls {
		if !ackedIDs[l.ID] {
			t.Errorf("label %d stored but never acknowledged", l.ID)
		}
		sk, pk := [2]int64{l.QueryID, int64(l.Slot)}, [2]int64{l.QueryID, l.LabelerID}
		if slots[sk] || pairs[pk] {
			t.Errorf("duplicate label for query %d slot %d labeler %d", l.QueryID, l.Slot, l.LabelerID)
		}
		slots[sk], pairs[pk] = true, true
	}
}

// testLoop plays a training loop against the store: it posts a batch of
// queries, waits for labels while simulated labelers work, posts a second
// batch, and halts at the next step boundary after an admin's stop request.
func testLoop(t *testing.T, s store.Store) {
	c := ctx(t)
	if err := s.CreateRun(c, store.Run{ID: "loop", Name: "fake loop"}); err != nil {
		t.Fatal(err)
	}
	workers := []int64{mustLabeler(t, s, "w1"), mustLabeler(t, s, "w2")}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ { // bounded
				select {
				case <-done:
					return
				default:
				}
				a, err := s.Lease(c, w, "loop", time.Minute)
				if errors.Is(err, store.ErrNoWork) {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if _, _, err := s.Submit(c, store.Submission{QueryID: a.Query.ID, Slot: a.Slot, LabelerID: w, Choice: 0,
					ClientKey: fmt.Sprintf("loop-%d-%d", w, a.Query.ID)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var once sync.Once
	stopWorkers := func() { once.Do(func() { close(done) }); wg.Wait() }
	defer stopWorkers()

	steps := 0
	for step := 0; step < 10; step++ {
		stop, err := store.StopRequested(c, s, "loop")
		if err != nil {
			t.Fatal(err)
		}
		if stop {
			break
		}
		ids := mustText(t, s, "loop", 3, 2)
		ls, err := store.WaitLabels(c, s, ids, 5*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) != 6 {
			t.Fatalf("step %d: %d labels, want 6", step, len(ls))
		}
		steps++
		if step == 1 { // the admin presses stop during step 1
			if err := s.SetRunState(c, "loop", store.RunStopRequested); err != nil {
				t.Fatal(err)
			}
		}
	}
	if steps != 2 {
		t.Fatalf("loop ran %d steps, want 2 (stop requested during the second)", steps)
	}
	if err := s.SetRunState(c, "loop", store.RunStopped); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Run(c, "loop"); r.State != store.RunStopped {
		t.Fatalf("state = %q", r.State)
	}
	// Waiting on a stopped run's unlabelled queries returns instead of hanging.
	stopWorkers()
	ids := mustText(t, s, "loop", 1, 1)
	if _, err := store.WaitLabels(c, s, ids, 5*time.Millisecond); !errors.Is(err, store.ErrStopRequested) {
		t.Fatalf("wait on stopped run: err = %v, want ErrStopRequested", err)
	}
}

func testExport(t *testing.T, s store.Store) {
	c := ctx(t)
	mustRun(t, s, "r")
	ann := mustLabeler(t, s, "ann")
	gold := store.Choice(0)
	_, err := s.AddQueries(c, []store.Query{
		{RunID: "r", Payload: TextPayload("Say hi", "hello", "go away"), PolicyVersion: "v7", Gold: &gold},
		{RunID: "r", Payload: TextPayload("Pick", "a", "b", "c")},
		{RunID: "r", Payload: CartPolePayload()},
		{RunID: "r", Payload: TextPayload("tie me", "x", "y")},
	})
	if err != nil {
		t.Fatal(err)
	}
	choices := []store.Choice{1, 2, store.Tie, store.Tie}
	for _, ch := range choices {
		a, err := s.Lease(c, ann, "", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		submit(t, s, a, ann, ch)
	}
	var buf bytes.Buffer
	n, err := store.Export(c, s, &buf, store.ExportOptions{RunID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if n != 3 || len(lines) != 3 {
		t.Fatalf("exported %d (%d lines), want 3 (the text tie is left out):\n%s", n, len(lines), buf.String())
	}
	var pair map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &pair); err != nil {
		t.Fatal(err)
	}
	if pair["prompt"] != "Say hi" || pair["chosen"] != "go away" || pair["rejected"] != "hello" ||
		pair["labeler"] != "ann" || pair["run"] != "r" || pair["policy_version"] != "v7" || pair["gold"] != float64(0) {
		t.Fatalf("TRL record = %v", pair)
	}
	if _, ok := pair["time"].(string); !ok {
		t.Fatalf("TRL record has no time: %v", pair)
	}
	var bok map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &bok); err != nil {
		t.Fatal(err)
	}
	if bok["choice"] != float64(2) || len(bok["completions"].([]any)) != 3 {
		t.Fatalf("best-of-k record = %v", bok)
	}
	var ctl map[string]any
	if err := json.Unmarshal([]byte(lines[2]), &ctl); err != nil {
		t.Fatal(err)
	}
	if ctl["choice"] != "tie" || ctl["env"] != "CartPole-v1" || ctl["query_id"] == nil || ctl["labeler"] != "ann" {
		t.Fatalf("control record = %v", ctl)
	}
	buf.Reset()
	if n, err := store.Export(c, s, &buf, store.ExportOptions{RunID: "r", All: true, Kind: store.KindText}); err != nil || n != 3 {
		t.Fatalf("all text: %d, %v", n, err)
	}
	if !strings.Contains(buf.String(), `"choice":"tie"`) {
		t.Fatalf("all text export lacks the tie: %s", buf.String())
	}
}
