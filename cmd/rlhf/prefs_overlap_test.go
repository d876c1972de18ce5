package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"rlhf/feedback"
	"rlhf/store"
)

// TestPrefsHumanOverlap: with -overlap 2 every group goes to both ann and
// bob, both answers are written (each with its labeler), the summary gives
// how often they agreed, and a rerun writes nothing twice. Ann picks the
// shortest completion, bob the longest in every third group (store query
// ids 3, 6, ...) and otherwise agrees.
func TestPrefsHumanOverlap(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "two.jsonl")
	s, err := store.Open(context.Background(), "sqlite://"+filepath.Join(dir, "labels.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	people := newCrowd(t, s, "two", []string{"ann", "bob"}, func(n string, q int64, cs []string) store.Choice {
		short, long := shortestLongest(cs)
		if n == "bob" && q%3 == 0 {
			return store.Choice(long)
		}
		return store.Choice(short)
	})
	stop := people.work(t)
	defer stop()
	args := []string{"-policy", policy, "-out", out, "-n", "6", "-k", "3", "-max-new-tokens", "6",
		"-labeler", "human", "-run", "two", "-label-poll", "5ms", "-overlap", "2"}
	var stderr bytes.Buffer
	if err := prefsMain(context.Background(), args, &stderr); err != nil {
		t.Fatal(err)
	}
	ann, bob, dis := people.answers("ann"), people.answers("bob"), 0
	people.mu.Lock()
	for q, c := range people.picks["bob"] {
		if c != people.picks["ann"][q] {
			dis++
		}
	}
	people.mu.Unlock()
	if ann != 6 || bob != 6 || dis == 0 {
		t.Fatalf("ann answered %d and bob %d groups (%d disagreements), want 6 each and some disagreement", ann, bob, dis)
	}
	want := fmt.Sprintf("two people's answers to the same group agree in %d of 6 pairs", 6-dis)
	// Two people on the same groups of three: the one-coin fit's accuracy a
	// solves a^2 + (1-a)^2/2 = the share of agreeing pairs p.
	p := float64(6-dis) / 6
	est := fmt.Sprintf("people pick against the group's best %.1f%% of the time", 100*(1-(1+math.Sqrt(6*p-2))/3))
	for _, s := range []string{"6 of 6 groups answered by 2 people each (12 answers", "24 records written", want, est} {
		if !strings.Contains(stderr.String(), s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
		}
	}
	per := map[string]int{}
	for r, err := range feedback.ReadPairsFile(out, nil) {
		if err != nil {
			t.Fatal(err)
		}
		per[r.Labeler]++
	}
	if per["ann"] != 12 || per["bob"] != 12 {
		t.Errorf("records per labeler %v, want 12 each (6 groups of 3 give 2 pairs per answer)", per)
	}
	// A rerun finds every answer in the store and in the file: nothing new.
	stderr.Reset()
	if err := prefsMain(context.Background(), args, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "0 records written and 24 already in the file") {
		t.Errorf("rerun:\n%s", stderr.String())
	}
}
