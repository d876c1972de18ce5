package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"rlhf/loop"
	"rlhf/store"
	"rlhf/web"
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

// webLabeler is a person in a browser, reduced to the web app's HTTP API.
type webLabeler struct {
	base string
	c    *http.Client
	csrf string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func loginWeb(t *testing.T, base, user, pass string) *webLabeler {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	w := &webLabeler{base: base, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
	resp, err := w.c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		t.Fatalf("login page has no csrf field")
	}
	resp, err = w.c.PostForm(base+"/login", url.Values{"csrf": {string(m[1])}, "username": {user}, "password": {pass}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: status %d", resp.StatusCode)
	}
	return w
}

// label answers one query through /api/next and /api/label; false when none
// is open.
func (w *webLabeler) label(t *testing.T, n int) (bool, error) {
	resp, err := w.c.Get(w.base + "/api/next")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return false, nil
	}
	var a struct {
		QueryID int64                `json:"query_id"`
		Slot    int                  `json:"slot"`
		Payload store.ControlPayload `json:"payload"`
		CSRF    string               `json:"csrf"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return false, fmt.Errorf("api/next: %w", err)
	}
	w.csrf = a.CSRF
	if a.Payload.Env != "CartPole-v1" || len(a.Payload.Segments) != 2 || len(a.Payload.Segments[0].States[0]) != 4 {
		return false, fmt.Errorf("api/next: payload %+v is not a CartPole pair", a.Payload.Env)
	}
	lean := [2]float64{}
	for i, seg := range a.Payload.Segments {
		for _, st := range seg.States {
			lean[i] += math.Abs(st[2])
		}
	}
	choice := 0
	if lean[1] < lean[0] {
		choice = 1
	}
	body := fmt.Sprintf(`{"query_id":%d,"slot":%d,"choice":%d,"client_key":"web-%08d","duration_ms":900}`, a.QueryID, a.Slot, choice, n)
	req, _ := http.NewRequest(http.MethodPost, w.base+"/api/label", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", w.csrf)
	r2, err := w.c.Do(req)
	if err != nil {
		return false, err
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusOK {
		return false, fmt.Errorf("api/label: status %d", r2.StatusCode)
	}
	return true, nil
}

// stop presses the admin's stop button for a run.
func (w *webLabeler) stop(runID string) error {
	req, _ := http.NewRequest(http.MethodPost, w.base+"/admin/runs/"+runID+"/stop", strings.NewReader(url.Values{"csrf": {w.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", w.csrf)
	resp, err := w.c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK { // after the redirect to /admin
		return fmt.Errorf("stop: status %d", resp.StatusCode)
	}
	return nil
}

// serveLabelingApp adds the labeler user (password "<user>-password") to s
// and serves the labeling app on s; the caller closes the server.
func serveLabelingApp(t *testing.T, s store.Store, user string, role store.Role) *httptest.Server {
	t.Helper()
	hash, err := web.HashPasswordCost(user+"-password", 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateLabeler(context.Background(), store.Labeler{Username: user, Role: role, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	app, err := web.New(web.Config{Store: s, LoginBurst: 100})
	if err != nil {
		t.Fatal(err)
	}
	return httptest.NewServer(app)
}

// TestControlHumanThroughWebApp runs `rlhf control -labeler human` against the
// real labeling app: a labeler answers through its HTTP API, an admin presses
// stop, the run halts with a checkpoint, and -resume continues it.
func TestControlHumanThroughWebApp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "webrun")
	db := "sqlite://" + filepath.Join(t.TempDir(), "labels.db")
	s, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := serveLabelingApp(t, s, "admin", store.RoleAdmin)
	defer srv.Close()
	admin := loginWeb(t, srv.URL, "admin", "admin-password")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	var out bytes.Buffer
	runErr := make(chan error, 1)
	args := []string{"-env", "CartPole-v1", "-steps", "40000", "-labels", "12", "-rm-init-steps", "10",
		"-eval-episodes", "2", "-labeler", "human", "-db", db, "-label-poll", "5ms", "-out", dir, "-q"}
	go func() { runErr <- controlMain(ctx, args, &out, &bytes.Buffer{}) }()
	// Answer the initial batch (3 queries), then press stop.
	for n := 0; n < 3; {
		ok, err := admin.label(t, n)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		n++
	}
	if err := admin.stop("webrun"); err != nil {
		t.Fatal(err)
	}
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "stopped by an admin") {
		t.Fatalf("output: %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, loop.StateFile)); err != nil {
		t.Fatalf("no checkpoint: %v", err)
	}
	if r, err := s.Run(context.Background(), "webrun"); err != nil || r.State != store.RunStopped {
		t.Fatalf("run state %q %v, want stopped", r.State, err)
	}
	ls, err := s.Labels(context.Background(), store.LabelFilter{RunID: "webrun"})
	if err != nil || len(ls) != 3 {
		t.Errorf("%d labels in the store (%v), want 3", len(ls), err)
	}
	// -resume continues the run on the same store and finishes it (the
	// schedule's later queries go unanswered: training does not wait).
	out.Reset()
	if err := controlMain(ctx, []string{"-resume", "-out", dir, "-label-poll", "5ms", "-q"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "PPO on the learned reward") || !strings.Contains(out.String(), "labels: 12 requested, 3 received") {
		t.Errorf("resumed output: %q", out.String())
	}
	if r, err := s.Run(context.Background(), "webrun"); err != nil || r.State != store.RunStopped {
		t.Errorf("finished run state %q %v, want stopped", r.State, err)
	}
}
