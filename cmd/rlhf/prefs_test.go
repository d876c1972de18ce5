package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"rlhf/feedback"
	"rlhf/loop"
	"rlhf/model/gpt"
	"rlhf/store"
)

// tinyPolicy saves a small random GPT with the default tokenizer and
// returns its directory.
func tinyPolicy(t testing.TB) string {
	t.Helper()
	m, err := gpt.New(gpt.Config{VocabSize: 4096, NPositions: 64, NEmbd: 32, NLayer: 1, NHead: 2,
		LayerNormEpsilon: 1e-5, ActivationFunction: "gelu_new", EOSTokenID: 4095, BOSTokenID: 4095, Tokenizer: "default"}, 7)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "policy")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPrefsPairsAndBestOf(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "pairs.jsonl")
	err := runPrefs(context.Background(), []string{"-policy", policy, "-out", out, "-n", "12", "-k", "2",
		"-max-new-tokens", "8", "-beta", "0", "-epsilon", "0", "-seed", "3"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for r, err := range feedback.ReadPairsFile(out, nil) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if r.Source != feedback.SourceSynthetic || !strings.HasPrefix(r.Labeler, "sentiment-vader/boltzmann(beta=0)") || r.Prompt == "" || r.QueryID == "" {
			t.Errorf("record provenance %+v", r.Provenance)
		}
		if r.Chosen == r.Rejected {
			t.Errorf("pair with equal completions kept: %+v", r)
		}
	}
	if n == 0 || n > 12 {
		t.Errorf("%d pairs from 12 prompts", n)
	}
	if _, err := os.Stat(out + ".run.json"); err != nil {
		t.Errorf("run config not written: %v", err)
	}

	out4 := filepath.Join(dir, "best4.jsonl")
	err = runPrefs(context.Background(), []string{"-policy", policy, "-out", out4, "-n", "6", "-k", "4", "-format", "bestof",
		"-goal", "lipogram", "-letter", "e", "-max-new-tokens", "8", "-epsilon", "0.5"})
	if err != nil {
		t.Fatal(err)
	}
	n = 0
	for r, err := range feedback.ReadBestOfFile(out4, nil) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if len(r.Completions) != 4 || !strings.Contains(r.Labeler, "lipogram-e") || !strings.Contains(r.Labeler, "noise(0.5)") {
			t.Errorf("best-of-4 record %+v", r)
		}
	}
	if n == 0 {
		t.Error("no best-of-4 records")
	}
	cs, format, _, err := readPrefs(out4, false)
	if err != nil || format != "bestof" || len(cs) != n {
		t.Errorf("readPrefs: %d records as %s, %v", len(cs), format, err)
	}
}

func TestPrefsBadFlags(t *testing.T) {
	policy := tinyPolicy(t)
	out := filepath.Join(t.TempDir(), "p.jsonl")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-k", "1"}, "-k 1"},
		{[]string{"-k", "17"}, "-k 17"},
		{[]string{"-format", "csv"}, "-format"},
		{[]string{"-goal", "joy"}, "goal"},
		{[]string{"-goal", "lipogram", "-letter", "ab"}, "-letter"},
		{[]string{"-epsilon", "1.5"}, "-epsilon"},
		{[]string{"-beta", "-1"}, "-beta"},
		{[]string{"-n", "0"}, "-n 0"},
		{[]string{"-temperature", "0"}, "-temperature"},
		{[]string{"-split", "test"}, "-split"},
		{[]string{"stray"}, "unexpected argument"},
		{[]string{"-max-new-tokens", "64"}, "no room"},
		{[]string{"-policy", filepath.Join(t.TempDir(), "missing")}, "policy"},
	} {
		args := append([]string{"-policy", policy, "-out", out, "-n", "2"}, tc.args...)
		err := runPrefs(context.Background(), args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}

// textPeople answer the text queries of a run through the store API, as
// people in the labeling app would: ann skips the group of index skipIdx
// (bob answers it once ann has nothing left), every group of index 4j+3 is a
// tie, group 1 can't be told, and otherwise the shortest completion wins.
type textPeople struct {
	s        store.Store
	run      string
	skipIdx  int
	ann, bob int64

	mu      sync.Mutex
	answers map[string]store.Choice // loop query id -> non-skip answer
	skips   int
}

func newTextPeople(t *testing.T, s store.Store, run string, skipIdx int) *textPeople {
	t.Helper()
	p := &textPeople{s: s, run: run, skipIdx: skipIdx, answers: map[string]store.Choice{}}
	for _, u := range []struct {
		name string
		id   *int64
	}{{"ann", &p.ann}, {"bob", &p.bob}} {
		id, err := s.CreateLabeler(context.Background(), store.Labeler{Username: u.name, Role: store.RoleLabeler, PasswordHash: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		*u.id = id
	}
	return p
}

// choose is the answer to group idx with completions cs.
func (p *textPeople) choose(idx int, cs []string) store.Choice {
	switch {
	case idx%4 == 3:
		return store.Tie
	case idx == 1:
		return store.CantTell
	}
	best := 0
	for i, c := range cs {
		if len(c) < len(cs[best]) {
			best = i
		}
	}
	return store.Choice(best)
}

// work answers until limit non-skip answers are given (0: no limit) or ctx ends.
func (p *textPeople) work(ctx context.Context, t *testing.T, limit int) {
	for n := 0; ctx.Err() == nil && (limit == 0 || n < limit); {
		uid := p.ann
		a, err := p.s.Lease(ctx, p.ann, p.run, time.Minute)
		if errors.Is(err, store.ErrNoWork) {
			uid = p.bob
			a, err = p.s.Lease(ctx, p.bob, p.run, time.Minute)
		}
		if errors.Is(err, store.ErrNoWork) {
			time.Sleep(2 * time.Millisecond)
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("lease: %v", err)
			}
			return
		}
		var pl store.TextPayload
		var sm struct {
			QueryID string `json:"query_id"`
		}
		if err := json.Unmarshal(a.Query.Payload, &pl); err != nil || json.Unmarshal(a.Query.Sampler, &sm) != nil {
			t.Errorf("query %d: payload %s sampler %s", a.Query.ID, a.Query.Payload, a.Query.Sampler)
			return
		}
		idx, err := strconv.Atoi(sm.QueryID[strings.LastIndex(sm.QueryID, "-")+1:])
		if err != nil {
			t.Errorf("loop query id %q", sm.QueryID)
			return
		}
		choice := p.choose(idx, pl.Completions)
		if idx == p.skipIdx && uid == p.ann {
			choice = store.Skip
		}
		if _, _, err := p.s.Submit(ctx, store.Submission{QueryID: a.Query.ID, Slot: a.Slot, LabelerID: uid, Choice: choice,
			ClientKey: fmt.Sprintf("key-%04d-%06d", uid, a.Query.ID)}); err != nil {
			if ctx.Err() == nil {
				t.Errorf("submit: %v", err)
			}
			return
		}
		p.mu.Lock()
		if choice == store.Skip {
			p.skips++
		} else {
			if _, dup := p.answers[sm.QueryID]; dup {
				t.Errorf("query %s given to people twice", sm.QueryID)
			}
			p.answers[sm.QueryID] = choice
			n++
		}
		p.mu.Unlock()
	}
}

// expectedPairs returns the pair records people's answers give, keyed as
// pairKey, from the groups in the store.
func (p *textPeople) expectedPairs(t *testing.T) map[string]int {
	t.Helper()
	posted, err := loop.PostedText(context.Background(), p.s, p.run)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	want := map[string]int{}
	for id, c := range p.answers {
		if !c.IsIndex() {
			continue
		}
		cs := posted[id].Completions
		for i, r := range cs {
			if i != int(c) {
				want[pairKey(feedback.PairRecord{Chosen: cs[c], Rejected: r, Provenance: feedback.Provenance{QueryID: id}})]++
			}
		}
	}
	return want
}

// readPeoplePairs reads a human-labelled pairs file, checking provenance.
func readPeoplePairs(t *testing.T, path, run string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for r, err := range feedback.ReadPairsFile(path, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Source != feedback.SourceHuman || (r.Labeler != "ann" && r.Labeler != "bob") || r.Run != run || r.Time.IsZero() || r.Prompt == "" {
			t.Errorf("record provenance %+v", r.Provenance)
		}
		got[pairKey(r)]++
	}
	return got
}

func TestPrefsHumanPairs(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "people.jsonl")
	// The labelers' side opens the default database next to -out, as
	// `rlhf serve -db` would.
	s, err := store.Open(context.Background(), "sqlite://"+filepath.Join(dir, "labels.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	people := newTextPeople(t, s, "people", 2)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { people.work(ctx, t, 0) })
	defer func() { cancel(); wg.Wait() }()
	var stderr bytes.Buffer
	err = prefsMain(context.Background(), []string{"-policy", policy, "-out", out, "-n", "8", "-k", "3", "-max-new-tokens", "6",
		"-labeler", "human", "-run", "people", "-label-poll", "5ms", "-instructions", "Prefer the shorter one."}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rlhf serve -db sqlite://" + filepath.Join(dir, "labels.db") + " -run people",
		"8 of 8 groups answered by people", "ties", "1 skips"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	// 8 groups: 2 ties (3, 7) and 1 can't tell (1) are not written; 5 groups
	// of 3 give 2 pairs each.
	got, want := readPeoplePairs(t, out, "people"), people.expectedPairs(t)
	if len(people.answers) != 8 || people.skips != 1 {
		t.Errorf("people gave %d answers and %d skips, want 8 and 1", len(people.answers), people.skips)
	}
	n := 0
	for _, c := range got {
		n += c
	}
	if n != 10 || !maps.Equal(got, want) {
		t.Errorf("%d records %v, want the 10 of the answers %v", n, got, want)
	}
	r, err := s.Run(context.Background(), "people")
	if err != nil || r.State != store.RunStopped || r.Instructions != "Prefer the shorter one." {
		t.Errorf("run in the store %+v %v", r, err)
	}
	var cfg prefsConfig
	if buf, err := os.ReadFile(out + ".run.json"); err != nil || json.Unmarshal(buf, &cfg) != nil || cfg.Labeler != "human" {
		t.Errorf("run config %+v %v", cfg, err)
	}
}

func TestPrefsHumanResume(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "sub", "best.jsonl")
	db := "sqlite://" + filepath.Join(dir, "shared.db")
	s, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	people := newTextPeople(t, s, "prefs-5", -1)
	args := []string{"-policy", policy, "-out", out, "-n", "9", "-k", "2", "-format", "bestof", "-max-new-tokens", "6",
		"-seed", "5", "-labeler", "human", "-db", db, "-label-poll", "5ms"}
	readBest := func() map[string]int {
		got := map[string]int{}
		for r, err := range feedback.ReadBestOfFile(out, nil) {
			if err != nil {
				t.Fatal(err)
			}
			if r.Source != feedback.SourceHuman || r.Run != "prefs-5" {
				t.Errorf("record provenance %+v", r.Provenance)
			}
			people.mu.Lock()
			if c, ok := people.answers[r.QueryID]; !ok || int(c) != r.Choice {
				t.Errorf("record of %s chooses %d, people answered %v (%v)", r.QueryID, r.Choice, c, ok)
			}
			people.mu.Unlock()
			got[r.QueryID]++
		}
		return got
	}
	// First run: people answer 4 groups (0, 1 can't tell, 2, 3 tie): 2
	// records; then the run is interrupted.
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- prefsMain(ctx, args, &bytes.Buffer{}) }()
	people.work(context.Background(), t, 4)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(out); err == nil && len(readBest()) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first run did not write the 2 answered groups")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-runErr; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "rerun") {
		t.Fatalf("interrupted run: %v", err)
	}
	// While no run listens, people answer 2 more groups (4, 5).
	people.work(context.Background(), t, 2)
	// The rerun posts nothing twice, writes the 2 answers it missed at once and
	// the rest as they come, and repeats none of the first run's records.
	pctx, pcancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { people.work(pctx, t, 0) })
	var stderr bytes.Buffer
	err = prefsMain(context.Background(), args, &stderr)
	pcancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	got := readBest()
	if len(people.answers) != 9 || len(got) != 6 { // 9 groups, minus can't tell (1) and ties (3, 7)
		t.Errorf("%d answers, %d groups written %v, want 9 and 6", len(people.answers), len(got), got)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("group %s written %d times", id, n)
		}
	}
	qs, err := s.Queries(context.Background(), "prefs-5")
	if err != nil || len(qs) != 9 {
		t.Errorf("%d queries in the store (%v), want 9: none posted twice", len(qs), err)
	}
	if !strings.Contains(stderr.String(), "9 of 9 groups answered by people (4 records written and 2 already in the file") {
		t.Errorf("rerun stderr: %s", stderr.String())
	}
	// A third run finds everything answered and writes nothing new.
	if err := prefsMain(context.Background(), args, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if again := readBest(); !maps.Equal(again, got) {
		t.Errorf("a finished rerun changed the file: %v, was %v", again, got)
	}
}

// TestPrefsHumanHostileText sends model output that is HTML through the real
// labeling app: the page shows it escaped, a person answers with the form,
// and the JSONL holds it byte for byte.
func TestPrefsHumanHostileText(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "labels.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := serveLabelingApp(t, s, "lena", store.RoleLabeler)
	defer srv.Close()

	prompt := `Write <em>HTML</em> & "quote" it:`
	hostile := `<script>alert("x")</script></pre><img src=x onerror='alert(1)'>` + "\u2028\x00end"
	q := feedback.TextQuery("hostile-0", prompt, hostile, "plain text")
	q.Run = "hostile"
	h, err := loop.NewHumanLabeler(ctx, s, "hostile", "prefs hostile", "Prefer <b>either</b>.")
	if err != nil {
		t.Fatal(err)
	}
	h.Poll = 5 * time.Millisecond
	out := filepath.Join(dir, "hostile.jsonl")
	c := prefsConfig{Out: out, Format: "pairs", Run: "hostile", Labeler: loop.LabelerHuman, DB: "test"}
	done := make(chan error, 1)
	go func() { done <- askPeople(ctx, c, h, []feedback.Query{q}, &bytes.Buffer{}) }()

	lena := loginWeb(t, srv.URL, "lena", "lena-password")
	var page string
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := lena.c.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if page = string(b); strings.Contains(page, `name="query_id"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no query on the labeling page:\n%s", page)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img src=x") || strings.Contains(page, "<b>either") {
		t.Fatalf("model output or instructions reached the page unescaped:\n%s", page)
	}
	shown := strings.ReplaceAll(hostile, "\x00", "\ufffd") // html/template shows NUL as U+FFFD
	pres := regexp.MustCompile(`(?s)<pre>(.*?)</pre>`).FindAllStringSubmatch(page, -1)
	if len(pres) != 3 || html.UnescapeString(pres[0][1]) != prompt || html.UnescapeString(pres[1][1]) != shown || html.UnescapeString(pres[2][1]) != "plain text" {
		t.Fatalf("the page's text blocks %q do not show the prompt and completions", pres)
	}
	field := func(name string) string {
		m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("label form has no %s field", name)
		}
		return m[1]
	}
	resp, err := lena.c.PostForm(srv.URL+"/label", url.Values{"csrf": {field("csrf")}, "query_id": {field("query_id")},
		"slot": {field("slot")}, "client_key": {field("client_key")}, "choice": {"0"}, "duration_ms": {"1500"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("label form: status %d", resp.StatusCode)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n := 0
	for r, err := range feedback.ReadPairsFile(out, nil) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if r.Prompt != prompt || r.Chosen != hostile || r.Rejected != "plain text" || r.Labeler != "lena" || r.Source != feedback.SourceHuman {
			t.Errorf("record %+v", r)
		}
	}
	raw, err := os.ReadFile(out)
	if err != nil || n != 1 || !bytes.Contains(raw, []byte(`<script>alert(\"x\")</script></pre><img`)) {
		t.Errorf("%d records; file %s (%v): want one, with the HTML as written", n, raw, err)
	}
}

func TestPrefsHumanBadFlags(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "p.jsonl")
	// A synthetic file at -out is not appended to by people.
	synth := filepath.Join(dir, "synth.jsonl")
	if err := prefsMain(context.Background(), []string{"-policy", policy, "-out", synth, "-n", "4", "-max-new-tokens", "4", "-epsilon", "1"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(synth); err != nil || fi.Size() == 0 {
		t.Fatalf("no synthetic records to refuse: %v", err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-labeler", "human", "-beta", "0"}, "-beta not used with -labeler human"},
		{[]string{"-labeler", "human", "-goal", "lipogram", "-epsilon", "0"}, "-epsilon, -goal not used"},
		{[]string{"-db", "sqlite:///tmp/x.db"}, "-db not used with -labeler synthetic"},
		{[]string{"-instructions", "be nice"}, "-instructions not used"},
		{[]string{"-overlap", "2"}, "-overlap not used with -labeler synthetic"},
		{[]string{"-labeler", "people"}, "-labeler \"people\""},
		{[]string{"-labeler", "human", "-label-poll", "0s"}, "-label-poll"},
		{[]string{"-labeler", "human", "-overlap", "0"}, "-overlap 0 must be in 1..100"},
		{[]string{"-labeler", "human", "-db", "sqlite://" + filepath.Join(dir, "no", "such", "labels.db")}, "prefs: -db"},
		{[]string{"-labeler", "human", "-db", "mysql://x/y"}, "unknown scheme"},
		{[]string{"-labeler", "human", "-out", synth, "-n", "4", "-max-new-tokens", "4"}, "not labelled by people"},
	} {
		args := append([]string{"-policy", policy, "-out", out, "-n", "2", "-label-poll", "5ms"}, tc.args...)
		if slices.Contains(tc.args, "-instructions") || slices.Contains(tc.args, "-db") && !slices.Contains(tc.args, "human") {
			args = append([]string{"-policy", policy, "-out", out, "-n", "2"}, tc.args...)
		}
		if slices.Equal(tc.args, []string{"-overlap", "2"}) {
			args = append([]string{"-policy", policy, "-out", out, "-n", "2"}, tc.args...)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a refused command never waits for people
		err := prefsMain(ctx, args, &bytes.Buffer{})
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused command wrote %s (%v)", out, err)
	}
}
