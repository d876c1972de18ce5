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

	"rlhf/loop"
	"rlhf/store"
)

func TestControlHumanFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-labeler", "human", "-db", "mysql://x/y"}, "unknown scheme"},
		{[]string{"-labeler", "human", "-db", "sqlite:///no/such/dir/labels.db"}, "-db"},
		{[]string{"-labeler", "oracle", "-db", "sqlite:///tmp/x.db"}, "only used with -labeler human"},
		{[]string{"-labeler", "people"}, "human"},
	} {
		args := append(tc.args, "-out", dir, "-q", "-steps", "512")
		err := controlMain(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one mentioning %q", tc.args, err, tc.want)
		}
	}
}

// uprightPerson labels CartPole queries through the store API the way a person
// watching the clips might: the segment whose pole leans less wins.
func uprightPerson(ctx context.Context, t *testing.T, s store.Store, runID string) {
	id, err := s.CreateLabeler(ctx, store.Labeler{Username: "carol", Role: store.RoleLabeler, PasswordHash: []byte("x")})
	if err != nil {
		t.Errorf("create labeler: %v", err)
		return
	}
	for n := 0; ctx.Err() == nil; {
		a, err := s.Lease(ctx, id, runID, time.Minute)
		if errors.Is(err, store.ErrNoWork) {
			time.Sleep(3 * time.Millisecond)
			continue
		}
		if err != nil {
			return
		}
		var p store.ControlPayload
		if err := json.Unmarshal(a.Query.Payload, &p); err != nil || p.Env != "CartPole-v1" {
			t.Errorf("query %d payload: %v %q", a.Query.ID, err, p.Env)
			return
		}
		lean := make([]float64, len(p.Segments))
		for i, seg := range p.Segments {
			for _, st := range seg.States {
				if len(st) != 4 {
					t.Errorf("CartPole state of width %d", len(st))
					return
				}
				lean[i] += math.Abs(st[2])
			}
		}
		choice := store.Choice(0)
		if lean[1] < lean[0] {
			choice = 1
		}
		n++
		if _, _, err := s.Submit(ctx, store.Submission{QueryID: a.Query.ID, Slot: a.Slot, LabelerID: id, Choice: choice, ClientKey: fmt.Sprintf("carol-%06d", n)}); err != nil {
			return
		}
	}
}

func TestControlHumanLiveRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "live")
	db := "sqlite://" + filepath.Join(t.TempDir(), "labels.db")
	// The labelers' side opens the same database, as `rlhf serve -db` would.
	s, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { uprightPerson(ctx, t, s, "live") })
	defer func() { cancel(); wg.Wait() }()
	var out bytes.Buffer
	args := []string{"-env", "CartPole-v1", "-steps", "1024", "-labels", "12", "-rm-init-steps", "10",
		"-rm-steps-per-label", "0.5", "-eval-episodes", "2", "-labeler", "human", "-db", db,
		"-label-poll", "5ms", "-label-workers", "4", "-out", dir, "-q"}
	if err := controlMain(context.Background(), args, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "rlhf serve -db "+db) || !strings.Contains(out.String(), "labels: 12 requested") {
		t.Errorf("output: %q", out.String())
	}
	r, err := s.Run(context.Background(), "live")
	if err != nil || r.State != store.RunStopped || r.Instructions == "" {
		t.Errorf("run in the store: %+v %v", r, err)
	}
	qs, err := s.Queries(context.Background(), "live")
	if err != nil || len(qs) < 3 || len(qs) > 12 {
		t.Errorf("%d queries in the store (%v), want up to the budget of 12", len(qs), err)
	}
	lab, err := readControlLabeler(dir)
	if err != nil || lab.Kind != loop.LabelerHuman || lab.DB != db {
		t.Errorf("saved labeler %+v %v", lab, err)
	}
}
