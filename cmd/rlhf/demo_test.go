package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"rlhf/feedback"
	"rlhf/judge"
	"rlhf/loop"
	"rlhf/report"
	"rlhf/store"
)

func TestDemoSmoke(t *testing.T) {
	policy := lmTinyPolicy(t)
	out := filepath.Join(t.TempDir(), "demo")
	o, err := parseDemo([]string{"-policy", policy, "-out", out, "-queries", "12", "-rm-epochs", "1", "-steps", "2",
		"-batch", "4", "-max-new-tokens", "6", "-eval-prompts", "4"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	if err := demo(context.Background(), o, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"run.json", "metrics.jsonl", "samples.jsonl", "comparisons.jsonl", "eval.json", "report.html",
		"rm/model.safetensors", "rm/reward.json", "policy/model.safetensors", "checkpoint/state.json"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	if !lmChanged(t, filepath.Join(out, "policy"), policy) {
		t.Error("the demo did not change the policy")
	}
	if !lmChanged(t, filepath.Join(out, "rm"), policy) {
		t.Error("the demo did not train the reward model")
	}
	s := stdout.String()
	for _, want := range []string{"before PPO", "after PPO", "reward model:", "before (", "after  ("} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
	html, _ := os.ReadFile(filepath.Join(out, "report.html"))
	if !strings.Contains(string(html), "<svg") || !strings.Contains(string(html), "Reward model") {
		t.Error("report lacks plots or the reward model section")
	}
}

func TestDemoBadFlags(t *testing.T) {
	for want, args := range map[string][]string{
		"no policy":         {"-policy", filepath.Join(t.TempDir(), "missing")},
		"label budget":      {"-queries", "1"},
		"completions per":   {"-k", "1"},
		"unknown goal":      {"-goal", "joy"},
		"unexpected":        {"now"},
		"max new tokens -1": {"-max-new-tokens", "-1"},
		"estimator":         {"-advantage", "vtrace"},
		"multiple":          {"-advantage", "rloo", "-group", "5"},
		"epochs 0":          {"-epochs", "0"},
	} {
		_, err := parseDemo(args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), strings.Fields(want)[0]) {
			t.Errorf("args %v: error %v, want one mentioning %q", args, err, want)
		}
	}
}

// With -rounds 3, the label budget comes in three rounds, the later ones
// sampled from the policy after a third and two thirds of the PPO steps,
// and the reward model is retrained on every label so far each round.
func TestDemoRounds(t *testing.T) {
	policy := lmTinyPolicy(t)
	out := filepath.Join(t.TempDir(), "demo")
	o, err := parseDemo([]string{"-policy", policy, "-out", out, "-queries", "24", "-rounds", "3", "-rm-epochs", "1", "-steps", "3",
		"-batch", "4", "-max-new-tokens", "6", "-eval-prompts", "4"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := demo(context.Background(), o, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	versions := map[string]int{}
	for r, err := range feedback.ReadBestOfFile(filepath.Join(out, "comparisons.jsonl"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		versions[r.PolicyVersion]++
	}
	if len(versions) != 3 || versions["step-0"] == 0 || versions["step-1"] == 0 || versions["step-2"] == 0 {
		t.Errorf("comparisons by policy version %v, want rounds at steps 0, 1 and 2", versions)
	}
	m, err := report.LoadMetrics(filepath.Join(out, report.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	steps, n := m.Series("rm/train_comparisons")
	if !slices.Equal(steps, []float64{0, 1, 2}) || !(n[0] < n[1] && n[1] < n[2]) {
		t.Errorf("reward model trained at steps %v on %v comparisons, want 0, 1, 2 on growing sets", steps, n)
	}
	if ppoSteps, _ := m.Series("objective/kl"); len(ppoSteps) != 3 {
		t.Errorf("PPO logged %d steps, want 3", len(ppoSteps))
	}
	// eval.json as the loop writes it reads back through loop.ReadTextEval.
	if ev, err := loop.ReadTextEval(out); err != nil || ev.Rounds != 3 || ev.Labels != 24 || ev.Before.N != 4 || ev.After.N != 4 ||
		!(ev.After.KL > 0) || !(ev.FinalKLCoef > 0) {
		t.Errorf("eval.json %+v (%v)", ev, err)
	}
	// Retrained from scratch, round r's reward model takes a pass over all
	// r+1 rounds' comparisons (8 each, batches of 2); warm-started
	// (-rm-warm), it continues the previous one for a pass over the new 8.
	rmSteps := func(dir string) []float64 {
		m, err := report.LoadMetrics(filepath.Join(dir, report.MetricsFile))
		if err != nil {
			t.Fatal(err)
		}
		_, v := m.Series("rm/steps")
		return v
	}
	args := []string{"-policy", policy, "-queries", "24", "-rounds", "3", "-rm-epochs", "1", "-rm-batch", "2", "-steps", "3",
		"-batch", "4", "-max-new-tokens", "6", "-eval-prompts", "4"}
	cold, warm := filepath.Join(t.TempDir(), "cold"), filepath.Join(t.TempDir(), "warm")
	var warmLog bytes.Buffer
	for _, run := range []struct {
		dir   string
		extra []string
		log   io.Writer
	}{{cold, nil, io.Discard}, {warm, []string{"-rm-warm"}, &warmLog}} {
		o, err := parseDemo(append(append([]string{"-out", run.dir}, args...), run.extra...), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if err := demo(context.Background(), o, io.Discard, run.log); err != nil {
			t.Fatal(err)
		}
	}
	if got := rmSteps(cold); !slices.Equal(got, []float64{4, 8, 12}) {
		t.Errorf("reward model steps per round from scratch %v, want [4 8 12]", got)
	}
	if got := rmSteps(warm); !slices.Equal(got, []float64{4, 4, 4}) {
		t.Errorf("reward model steps per round warm-started %v, want [4 4 4]", got)
	}
	if n := strings.Count(warmLog.String(), "training the reward model further on"); n != 2 {
		t.Errorf("%d rounds continued the reward model, want 2:\n%s", n, warmLog.String())
	}
	read := func(dir, f string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if bytes.Equal(read(cold, "rm/model.safetensors"), read(warm, "rm/model.safetensors")) {
		t.Error("the warm-started reward model equals the one retrained from scratch")
	}
	if _, err := parseDemo([]string{"-queries", "24", "-rm-warm"}, io.Discard); err == nil || !strings.Contains(err.Error(), "warm") {
		t.Errorf("-rm-warm with one round: %v", err)
	}
	if _, err := parseDemo([]string{"-queries", "24", "-rounds", "60", "-steps", "50"}, io.Discard); err == nil || !strings.Contains(err.Error(), "rounds") {
		t.Errorf("more rounds than PPO steps: %v", err)
	}

	// Uncertainty sampling in the later rounds.
	sel := filepath.Join(t.TempDir(), "select")
	o, err = parseDemo([]string{"-policy", policy, "-out", sel, "-queries", "16", "-rounds", "2", "-select", "margin", "-pool", "3",
		"-rm-epochs", "1", "-steps", "2", "-batch", "4", "-max-new-tokens", "6", "-eval-prompts", "4"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if err := demo(context.Background(), o, io.Discard, &stderr); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stderr.String(), "least certain of 3 candidates"); n != 1 {
		t.Errorf("%d rounds selected their comparisons, want 1 (the second):\n%s", n, stderr.String())
	}
	// ... and by an ensemble's disagreement: its other 2 members are trained
	// for the rounds that select (the first two of three), not after.
	o, err = parseDemo([]string{"-policy", policy, "-out", filepath.Join(t.TempDir(), "disagree"), "-queries", "24", "-rounds", "3",
		"-select", "disagree", "-members", "3", "-pool", "2", "-rm-epochs", "1", "-steps", "3", "-batch", "4", "-max-new-tokens", "6",
		"-eval-prompts", "4"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if err := demo(context.Background(), o, io.Discard, &stderr); err != nil {
		t.Fatal(err)
	}
	if n, m := strings.Count(stderr.String(), "most disputed of 2 candidates"), strings.Count(stderr.String(), "training ensemble member"); n != 2 || m != 4 {
		t.Errorf("%d rounds selected by disagreement (want 2), %d members trained (want 4):\n%s", n, m, stderr.String())
	}
	if _, err := parseDemo([]string{"-pool", "8"}, io.Discard); err == nil || !strings.Contains(err.Error(), "-pool") {
		t.Errorf("-pool without -select: %v", err)
	}
	for _, args := range [][]string{{"-select", "margin"}, {"-select", "entropy", "-rounds", "2"}, {"-select", "margin", "-rounds", "2", "-pool", "1"},
		{"-select", "disagree", "-rounds", "2", "-members", "1"}} {
		if _, err := parseDemo(append([]string{"-queries", "24"}, args...), io.Discard); err == nil || !strings.Contains(err.Error(), "selection") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// peopleRun returns a demo run directory (its run id is "demo") and a
// SQLite label store beside it, closed when the test ends.
func peopleRun(t *testing.T) (out, db string, s store.Store) {
	t.Helper()
	dir := t.TempDir()
	out, db = filepath.Join(dir, "demo"), "sqlite://"+filepath.Join(dir, "labels.db")
	s, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return out, db, s
}

// With -labeler human, every round's comparisons go to people through the
// label store and the loop waits for their answers; a rerun into the same
// directory asks nothing again and needs nobody.
func TestDemoPeople(t *testing.T) {
	policy := lmTinyPolicy(t)
	out, db, s := peopleRun(t)
	people := newTextPeople(t, s, "demo", 2)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { people.work(ctx, t, 0) })
	args := []string{"-policy", policy, "-out", out, "-queries", "8", "-rounds", "2", "-rm-epochs", "1", "-steps", "2",
		"-batch", "4", "-max-new-tokens", "6", "-eval-prompts", "4", "-labeler", "human", "-db", db, "-label-poll", "5ms"}
	o, err := parseDemo(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	err = demo(context.Background(), o, io.Discard, io.Discard)
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	// 8 groups in two rounds of 4: ties (3, 7) train as even odds and
	// can't tell (1) trains nothing, and neither is written (the file's
	// format holds no tie); the other 5 are, as people chose.
	posted, err := loop.PostedText(context.Background(), s, "demo")
	if err != nil || len(posted) != 8 || len(people.answers) != 8 || people.skips != 1 {
		t.Fatalf("%d groups posted, %d answered, %d skips (%v)", len(posted), len(people.answers), people.skips, err)
	}
	versions := map[string]int{}
	n := 0
	for r, err := range feedback.ReadBestOfFile(filepath.Join(out, "comparisons.jsonl"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		versions[r.PolicyVersion]++
		if r.Source != feedback.SourceHuman || (r.Labeler != "ann" && r.Labeler != "bob") {
			t.Errorf("record provenance %+v", r.Provenance)
		}
		if want := people.answers[r.QueryID]; store.Choice(r.Choice) != want || !slices.Equal(r.Completions, posted[r.QueryID].Completions) {
			t.Errorf("record %s: choice %d of %q, people chose %v of %q", r.QueryID, r.Choice, r.Completions, want, posted[r.QueryID].Completions)
		}
	}
	if n != 5 || versions["step-0"] == 0 || versions["step-1"] == 0 {
		t.Errorf("%d records by policy version %v, want 5 from steps 0 and 1", n, versions)
	}
	var ev map[string]any
	if buf, err := os.ReadFile(filepath.Join(out, "eval.json")); err != nil || json.Unmarshal(buf, &ev) != nil || ev["labels"] != 8.0 || ev["ties"] != 2.0 {
		t.Errorf("eval.json labels %v ties %v (%v)", ev["labels"], ev["ties"], err)
	}
	if r, err := s.Run(context.Background(), "demo"); err != nil || r.State != store.RunStopped || r.Instructions != defaultTextInstructions {
		t.Errorf("run in the store %+v %v", r, err)
	}

	// The rerun samples the same comparisons, finds people's answers and
	// posts nothing: nobody is answering now.
	again, cancelAgain := context.WithTimeout(context.Background(), time.Minute)
	defer cancelAgain()
	if err := demo(again, o, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if qs, err := s.Queries(context.Background(), "demo"); err != nil || len(qs) != 8 {
		t.Errorf("rerun: %d queries in the store (%v), want the 8 of the first run", len(qs), err)
	}

	if _, err := parseDemo([]string{"-db", db}, io.Discard); err == nil || !strings.Contains(err.Error(), "-db") {
		t.Errorf("-db without -labeler human: %v", err)
	}
	if _, err := parseDemo([]string{"-labeler", "crowd"}, io.Discard); err == nil || !strings.Contains(err.Error(), "-labeler") {
		t.Errorf("unknown labeler: %v", err)
	}
}

// An admin's stop while the demo waits for people ends it cleanly with a
// message saying how to continue; an interrupt is an error saying the same.
func TestDemoPeopleStopAndInterrupt(t *testing.T) {
	policy := lmTinyPolicy(t)
	out, db, s := peopleRun(t)
	o, err := parseDemo([]string{"-policy", policy, "-out", out, "-queries", "4", "-rm-epochs", "1", "-steps", "1",
		"-batch", "4", "-max-new-tokens", "6", "-eval-prompts", "4", "-labeler", "human", "-db", db, "-label-poll", "5ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// posted waits until the run's queries are in the store.
	posted := func() {
		for {
			if qs, err := s.Queries(context.Background(), "demo"); err == nil && len(qs) == 4 {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	go func() {
		posted()
		s.SetRunState(context.Background(), "demo", store.RunStopRequested)
	}()
	var stderr bytes.Buffer
	if err := demo(context.Background(), o, io.Discard, &stderr); err != nil || !strings.Contains(stderr.String(), "stopped by an admin") {
		t.Errorf("stopped run: %v; stderr ends %q", err, tail(stderr.String(), 200))
	}
	if r, err := s.Run(context.Background(), "demo"); err != nil || r.State != store.RunStopped {
		t.Errorf("run after the stop: %+v %v", r, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		posted()
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	if err := demo(ctx, o, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "run the same command") {
		t.Errorf("interrupted run: %v", err)
	}
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }

// demoPeopleJudge runs a small demo labelled by two scripted people and the
// judge rm at temperature 0.01 (the random reward model's rewards differ by
// hundredths: at that temperature it is sure of some comparisons), with
// extra flags; it returns the run's directory, its label store, the people
// and what the demo printed.
func demoPeopleJudge(t *testing.T, rm string, extra ...string) (out string, s store.Store, people *textPeople, stdout *bytes.Buffer) {
	t.Helper()
	out, db, s := peopleRun(t)
	people = newTextPeople(t, s, "demo", -1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { people.work(ctx, t, 0) })
	o, err := parseDemo(append([]string{"-policy", lmTinyPolicy(t), "-out", out, "-queries", "8", "-rm-epochs", "1",
		"-batch", "4", "-max-new-tokens", "6", "-eval-prompts", "4", "-labeler", "human", "-db", db, "-label-poll", "5ms",
		"-judge", rm, "-judge-temperature", "0.01"}, extra...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	stdout = &bytes.Buffer{}
	err = demo(context.Background(), o, stdout, io.Discard)
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return out, s, people, stdout
}

// With -judge, the judge answers the comparisons it is sure of and people
// only the rest; the reward model trains on both, and the records say whose
// each answer is.
func TestDemoPeopleJudge(t *testing.T) {
	rm := judgeTinyRM(t)
	out, s, people, stdout := demoPeopleJudge(t, rm, "-rounds", "2", "-steps", "2")
	posted, err := loop.PostedText(context.Background(), s, "demo")
	if err != nil {
		t.Fatal(err)
	}
	judged := 0
	for r, err := range feedback.ReadBestOfFile(filepath.Join(out, "comparisons.jsonl"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		_, asked := posted[r.QueryID]
		switch r.Source {
		case feedback.SourceAI:
			judged++
			if asked || !strings.HasPrefix(r.Labeler, "rm:rm/T=0.01") {
				t.Errorf("judge's record %s (labeler %q) also posted to people: %v", r.QueryID, r.Labeler, asked)
			}
		case feedback.SourceHuman:
			if want := people.answers[r.QueryID]; !asked || store.Choice(r.Choice) != want {
				t.Errorf("people's record %s: choice %d, people chose %v (posted %v)", r.QueryID, r.Choice, want, asked)
			}
		}
	}
	if judged == 0 || len(posted) == 0 || judged+len(posted) != 8 {
		t.Errorf("the judge answered %d comparisons and people were asked %d, want both some and 8 in all", judged, len(posted))
	}
	var ev loop.TextEvalJSON
	if buf, err := os.ReadFile(filepath.Join(out, "eval.json")); err != nil || json.Unmarshal(buf, &ev) != nil || ev.JudgeLabels != judged || ev.Labels != judged+len(posted) {
		t.Errorf("eval.json labels %d, judge's %d; want %d and %d (%v)", ev.Labels, ev.JudgeLabels, judged+len(posted), judged, err)
	}
	if !strings.Contains(stdout.String(), fmt.Sprintf("of which the AI judge gave %d", judged)) {
		t.Errorf("stdout does not say how many labels the judge gave:\n%s", stdout.String())
	}
	for _, args := range [][]string{{"-judge", rm}, {"-labeler", "human", "-abstain", "0.3"}, {"-labeler", "human", "-judge", rm, "-abstain", "0.6"}} {
		if _, err := parseDemo(args, io.Discard); err == nil || !strings.Contains(err.Error(), "-judge") && !strings.Contains(err.Error(), "-abstain") {
			t.Errorf("%v: %v, want an error", args, err)
		}
	}
}

// With -audit 1, people answer every comparison the judge answers too, the
// reward model trains on people's answers only, and eval.json counts how
// often people agreed with the judge's picks.
func TestDemoPeopleJudgeAudit(t *testing.T) {
	rm := judgeTinyRM(t)
	out, _, people, stdout := demoPeopleJudge(t, rm, "-rounds", "1", "-steps", "1", "-abstain", "0", "-audit", "1")
	m, err := judge.Load(rm)
	if err != nil {
		t.Fatal(err)
	}
	var want loop.Audit
	for r, err := range feedback.ReadBestOfFile(filepath.Join(out, "comparisons.jsonl"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Source != feedback.SourceHuman {
			t.Errorf("record %s of source %q: people answer every comparison", r.QueryID, r.Source)
		}
		q := feedback.TextQuery(r.QueryID, r.Prompt, r.Completions...)
		sc, err := m.Scores(context.Background(), []feedback.Query{q})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := judge.Decide(sc[0], 0.01)
		want.Answers++
		if r.Choice == d.Best {
			want.Agree++
		}
	}
	want.Queries = len(people.answers)
	var ev loop.TextEvalJSON
	if buf, err := os.ReadFile(filepath.Join(out, "eval.json")); err != nil || json.Unmarshal(buf, &ev) != nil {
		t.Fatal(err)
	}
	if ev.JudgeLabels != 0 || ev.JudgeAudit != want || want.Queries != 8 || want.Answers == 0 {
		t.Errorf("eval.json: judge's labels %d, audit %+v; want 0 and %+v of 8", ev.JudgeLabels, ev.JudgeAudit, want)
	}
	if !strings.Contains(stdout.String(), "audit of the judge: "+want.String()) {
		t.Errorf("stdout does not report the audit (%s):\n%s", want, stdout.String())
	}
	for _, args := range [][]string{{"-labeler", "human", "-audit", "0.5"}, {"-labeler", "human", "-judge", rm, "-audit", "2"},
		{"-labeler", "human", "-judge", rm, "-audit", "0.5", "-judge-recalibrate"}} {
		if _, err := parseDemo(args, io.Discard); err == nil || !strings.Contains(err.Error(), "-judge") && !strings.Contains(err.Error(), "-audit") {
			t.Errorf("%v: %v, want an error", args, err)
		}
	}
}
