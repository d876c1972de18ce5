package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
	people := newTextPeople(t, s, "two", -1) // only for its two labelers
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	given := map[string]int{} // labeler -> index answers
	disagree := 0
	wg.Go(func() {
		for ctx.Err() == nil {
			worked := false
			for _, u := range []struct {
				name string
				id   int64
			}{{"ann", people.ann}, {"bob", people.bob}} {
				a, err := s.Lease(ctx, u.id, "two", time.Minute)
				if errors.Is(err, store.ErrNoWork) || ctx.Err() != nil {
					continue
				}
				if err != nil {
					t.Errorf("lease: %v", err)
					return
				}
				var pl store.TextPayload
				if err := json.Unmarshal(a.Query.Payload, &pl); err != nil {
					t.Errorf("payload: %v", err)
					return
				}
				short, long := 0, 0
				for i, c := range pl.Completions {
					if len(c) < len(pl.Completions[short]) {
						short = i
					}
					if len(c) > len(pl.Completions[long]) {
						long = i
					}
				}
				choice := store.Choice(short)
				if u.name == "bob" && a.Query.ID%3 == 0 {
					choice = store.Choice(long)
				}
				if _, _, err := s.Submit(ctx, store.Submission{QueryID: a.Query.ID, Slot: a.Slot, LabelerID: u.id, Choice: choice,
					ClientKey: fmt.Sprintf("key-%s-%06d", u.name, a.Query.ID)}); err != nil {
					if ctx.Err() == nil {
						t.Errorf("submit: %v", err)
					}
					return
				}
				mu.Lock()
				given[u.name]++
				if u.name == "bob" && short != long && a.Query.ID%3 == 0 {
					disagree++
				}
				mu.Unlock()
				worked = true
			}
			if !worked {
				time.Sleep(2 * time.Millisecond)
			}
		}
	})
	defer func() { cancel(); wg.Wait() }()
	args := []string{"-policy", policy, "-out", out, "-n", "6", "-k", "3", "-max-new-tokens", "6",
		"-labeler", "human", "-run", "two", "-label-poll", "5ms", "-overlap", "2"}
	var stderr bytes.Buffer
	if err := prefsMain(context.Background(), args, &stderr); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	ann, bob, dis := given["ann"], given["bob"], disagree
	mu.Unlock()
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
