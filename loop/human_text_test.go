package loop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"rlhf/feedback"
	"rlhf/store"
)

// answerText leases one query of run as labeler uid and submits choice.
func answerText(t *testing.T, s store.Store, uid int64, run string, choice store.Choice, key string) store.Query {
	t.Helper()
	ctx := context.Background()
	a, err := s.Lease(ctx, uid, run, time.Minute)
	if err != nil {
		t.Fatalf("lease: %v", err)
	}
	if _, _, err := s.Submit(ctx, store.Submission{QueryID: a.Query.ID, Slot: a.Slot, LabelerID: uid, Choice: choice, ClientKey: key}); err != nil {
		t.Fatalf("submit: %v", err)
	}
	return a.Query
}

func TestHumanLabelerAskText(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	h, err := NewHumanLabeler(ctx, s, "txt", "text run", "prefer the kinder one")
	if err != nil {
		t.Fatal(err)
	}
	h.Poll = 2 * time.Millisecond
	var qs []feedback.Query
	for i := range 3 {
		qs = append(qs, feedback.TextQuery(fmt.Sprintf("txt-%d", i), "Say hi", fmt.Sprintf("hi %d", i), "go away", "<b>hello</b>"))
	}
	uid, err := s.CreateLabeler(ctx, store.Labeler{Username: "erin", Role: store.RoleLabeler, PasswordHash: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	// Ask with a context that ends: nobody answers yet, so the ask ends with
	// the context's error after posting all three queries.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	var gotErr error
	for _, err := range h.AskText(short, qs) {
		gotErr = err
	}
	cancel()
	if !errors.Is(gotErr, context.DeadlineExceeded) {
		t.Fatalf("unanswered ask ended with %v, want the deadline", gotErr)
	}
	if n, _ := s.Queries(ctx, "txt"); len(n) != 3 {
		t.Fatalf("%d queries posted, want 3", len(n))
	}
	// People answer while nobody asks: a skip, then choices 2, tie, 0.
	answerText(t, s, uid, "txt", store.Skip, "erin-skip-1")
	answerText(t, s, uid, "txt", 2, "erin-0001")
	answerText(t, s, uid, "txt", store.Tie, "erin-0002")
	uid2, err := s.CreateLabeler(ctx, store.Labeler{Username: "erin2", Role: store.RoleLabeler, PasswordHash: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	answerText(t, s, uid2, "txt", 0, "erin2-0001") // the query erin skipped
	// A rerun finds everything in the store: no new posts, every answer at once.
	h2, err := NewHumanLabeler(ctx, s, "txt", "text run", "")
	if err != nil {
		t.Fatal(err)
	}
	h2.Poll = 2 * time.Millisecond
	answers := map[string]feedback.Label{}
	skips := 0
	for a, err := range h2.AskText(ctx, qs) {
		if err != nil {
			t.Fatal(err)
		}
		if a.Label.Source != feedback.SourceHuman || (a.Label.Labeler != "erin" && a.Label.Labeler != "erin2") || a.Label.QueryID != a.Query.ID {
			t.Errorf("answer %+v", a.Label)
		}
		if a.Label.Choice == feedback.Skip {
			skips++
			continue
		}
		if _, dup := answers[a.Query.ID]; dup {
			t.Errorf("query %s answered twice", a.Query.ID)
		}
		answers[a.Query.ID] = a.Label
	}
	if len(answers) != 3 || skips != 1 {
		t.Fatalf("%d answers and %d skips, want 3 and 1", len(answers), skips)
	}
	if all, _ := s.Queries(ctx, "txt"); len(all) != 3 {
		t.Errorf("%d queries after the rerun, want 3 (none posted twice)", len(all))
	}
	posted, err := PostedText(ctx, s, "txt")
	if err != nil || len(posted) != 3 || posted["txt-1"].Completions[2] != "<b>hello</b>" {
		t.Errorf("posted payloads %+v %v", posted, err)
	}
	if !sameText(posted["txt-0"], qs[0]) || sameText(posted["txt-0"], qs[1]) {
		t.Error("stored payload of txt-0 does not match exactly its query")
	}
	choices := map[feedback.Choice]int{}
	for _, l := range answers {
		choices[l.Choice]++
	}
	if choices[2] != 1 || choices[feedback.Tie] != 1 || choices[0] != 1 {
		t.Errorf("choices %v, want one each of 2, tie and 0", choices)
	}

	// Asking about a known id with other completions is refused before any post.
	changed := []feedback.Query{feedback.TextQuery("txt-0", "Say hi", "other", "texts"), feedback.TextQuery("txt-9", "new", "a", "b")}
	for _, err := range h2.AskText(ctx, changed) {
		if err == nil {
			t.Fatal("changed query accepted")
		}
	}
	if all, _ := s.Queries(ctx, "txt"); len(all) != 3 {
		t.Errorf("%d queries after a refused ask, want 3", len(all))
	}
	// Duplicate ids and control queries are refused.
	for _, bad := range [][]feedback.Query{
		{qs[0], qs[0]},
		{feedback.ControlQuery("c", feedback.Segment{Env: "CartPole-v1"}, feedback.Segment{Env: "CartPole-v1"})},
	} {
		for _, err := range h2.AskText(ctx, bad) {
			if err == nil {
				t.Errorf("bad queries %v accepted", bad[0].ID)
			}
		}
	}
}

func TestHumanLabelerAskTextStop(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	h, err := NewHumanLabeler(ctx, s, "stopme", "text run", "")
	if err != nil {
		t.Fatal(err)
	}
	h.Poll = 2 * time.Millisecond
	if err := s.SetRunState(ctx, "stopme", store.RunStopRequested); err != nil {
		t.Fatal(err)
	}
	var last error
	n := 0
	for _, err := range h.AskText(ctx, []feedback.Query{feedback.TextQuery("s-0", "p", "a", "b")}) {
		last = err
		n++
	}
	if n != 1 || !errors.Is(last, ErrStopped) {
		t.Errorf("%d yields ending with %v, want one ErrStopped", n, last)
	}
}

func TestJSONText(t *testing.T) {
	for in, want := range map[string]string{
		"plain <b>&</b>":   "plain <b>&</b>",
		"bad \xff byte":    "bad \ufffd byte",
		"two \xe2\x82 cut": "two \ufffd\ufffd cut",
		"ok é \u2028":      "ok é \u2028",
	} {
		if got := JSONText(in); got != want {
			t.Errorf("JSONText(%q) = %q, want %q", in, got, want)
		}
	}
	// A query posted with invalid UTF-8 matches its stored payload.
	q := feedback.TextQuery("u-0", "p", "a\xffb", "c")
	sq, err := StoreQuery(q, "r")
	if err != nil {
		t.Fatal(err)
	}
	var p store.TextPayload
	if err := json.Unmarshal(sq.Payload, &p); err != nil || !sameText(p, q) {
		t.Errorf("stored payload %+v (%v) does not match its query", p, err)
	}
}

// TestHumanLabelerAskTextOverlap: with Overlap 2 each query is posted for two
// people, AskText yields both people's answers and ends only once every
// query has two; one answer each is not enough.
func TestHumanLabelerAskTextOverlap(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	h, err := NewHumanLabeler(ctx, s, "two", "two people", "")
	if err != nil {
		t.Fatal(err)
	}
	h.Poll, h.Overlap = 2*time.Millisecond, 2
	qs := []feedback.Query{feedback.TextQuery("two-0", "Say hi", "hi", "go away"), feedback.TextQuery("two-1", "Say bye", "bye", "later")}
	ask := func(d time.Duration) (map[string][]feedback.Label, error) {
		c, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		got := map[string][]feedback.Label{}
		var last error
		for a, err := range h.AskText(c, qs) {
			if err != nil {
				last = err
				continue
			}
			got[a.Query.ID] = append(got[a.Query.ID], a.Label)
		}
		return got, last
	}
	if _, err := ask(20 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered ask ended with %v", err)
	}
	if all, _ := s.Queries(ctx, "two"); len(all) != 2 || all[0].Overlap != 2 {
		t.Fatalf("posted %+v, want 2 queries with overlap 2", all)
	}
	var uids []int64
	for _, name := range []string{"ann", "bob"} {
		uid, err := s.CreateLabeler(ctx, store.Labeler{Username: name, Role: store.RoleLabeler, PasswordHash: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, uid)
	}
	answerText(t, s, uids[0], "two", 0, "ann-0000")
	answerText(t, s, uids[0], "two", 1, "ann-0001")
	got, err := ask(50 * time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || len(got["two-0"]) != 1 || len(got["two-1"]) != 1 {
		t.Fatalf("one answer each: %v, %v; want both yielded and the ask still waiting", got, err)
	}
	answerText(t, s, uids[1], "two", 0, "bob-0000")
	answerText(t, s, uids[1], "two", 0, "bob-0001")
	got, err = ask(5 * time.Second)
	if err != nil {
		t.Fatalf("two answers each: %v", err)
	}
	for _, id := range []string{"two-0", "two-1"} {
		ls := got[id]
		if len(ls) != 2 || ls[0].Labeler == ls[1].Labeler {
			t.Errorf("%s: answers %+v, want one from each person", id, ls)
		}
	}
}
