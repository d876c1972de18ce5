package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"rlhf/feedback"
	"rlhf/judge"
	"rlhf/store"
)

// onlinePeopleArgs are the flags of a small online DPO run labelled by
// people into out (store run "online"), 6 pairs a round.
func onlinePeopleArgs(policy, out string, extra ...string) []string {
	return append([]string{"-policy", policy, "-out", out, "-labeler", "human", "-online-n", "2", "-online-prompts", "6",
		"-batch", "4", "-lr", "1e-3", "-warmup", "1", "-val-frac", "0", "-kl-prompts", "2", "-kl-tokens", "6", "-label-poll", "5ms"}, extra...)
}

// queriesPosted returns how many queries the store holds for run.
func queriesPosted(t *testing.T, s store.Store, run string) int {
	t.Helper()
	qs, err := s.Queries(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	return len(qs)
}

// waitPosted returns once the store holds n queries of run (it is called
// off the test's goroutine, so it reports nothing).
func waitPosted(s store.Store, run string, n int) {
	for {
		if qs, err := s.Queries(context.Background(), run); err == nil && len(qs) >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// onlinePeopleStore opens the label store an online run into out uses by
// default (labels.db there, as rlhf serve -db would) and sets two scripted
// people to work on its store run "online" (skipIdx as newTextPeople);
// stop ends their work.
func onlinePeopleStore(t *testing.T, out string, skipIdx int) (s store.Store, people *textPeople, stop func()) {
	t.Helper()
	s = onlineStore(t, out)
	people = newTextPeople(t, s, "online", skipIdx)
	return s, people, goWork(t, people)
}

// onlineStore opens the label store an online run into out uses by
// default (labels.db there, as rlhf serve -db would), closed when the test
// ends.
func onlineStore(t *testing.T, out string) store.Store {
	t.Helper()
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(context.Background(), "sqlite://"+filepath.Join(out, "labels.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// goWork sets people to work until the returned stop is called.
func goWork(t *testing.T, people *textPeople) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { people.work(ctx, t, 0) })
	return func() { cancel(); wg.Wait() }
}

// onlineRoundSummary reads round r's summary.json of an online run in out.
func onlineRoundSummary(t *testing.T, out string, r int) (trainPairs int, run dpoRun) {
	t.Helper()
	var sum struct {
		TrainPairs int    `json:"train_pairs"`
		Run        dpoRun `json:"run"`
	}
	buf, _ := os.ReadFile(filepath.Join(out, fmt.Sprintf("round%d", r), "summary.json"))
	if err := json.Unmarshal(buf, &sum); err != nil {
		t.Fatal(err)
	}
	return sum.TrainPairs, sum.Run
}

// With -labeler human, each round's groups go to people through the label
// store; each round trains on exactly their answers, from the previous
// round's policy; a rerun asks nothing again.
func TestDPOOnlinePeople(t *testing.T) {
	policy := tinyPolicy(t)
	out := filepath.Join(t.TempDir(), "online")
	s, people, stop := onlinePeopleStore(t, out, 2)
	var stderr bytes.Buffer
	err := dpoMain(context.Background(), onlinePeopleArgs(policy, out, "-online", "2"), &stderr)
	stop()
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	// Per round: group 1 can't tell, group 3 a tie, the other 4 pairs
	// written; ann skipped group 2 and bob answered it.
	got := map[string]int{}
	for r := 1; r <= 2; r++ {
		dir := filepath.Join(out, fmt.Sprintf("round%d", r))
		round := readPeoplePairs(t, filepath.Join(dir, roundPairsFile), "online")
		n := 0
		for k, c := range round {
			if !strings.HasPrefix(k, fmt.Sprintf("online-r%d-", r)) {
				t.Errorf("round %d trained on %q, a group of another round", r, k)
			}
			got[k] += c
			n += c
		}
		if n != 4 {
			t.Errorf("round %d: %d pairs, want 4", r, n)
		}
		trainPairs, run := onlineRoundSummary(t, out, r)
		wantPolicy := policy
		if r == 2 {
			wantPolicy = filepath.Join(out, "round1")
		}
		if trainPairs != 4 || run.Policy != wantPolicy || run.Ref != policy {
			t.Errorf("round %d trained %s on %d pairs against %s, want %s on 4 against %s", r, run.Policy, trainPairs, run.Ref, wantPolicy, policy)
		}
	}
	if want := people.expectedPairs(t); !maps.Equal(got, want) {
		t.Errorf("the rounds trained on %v, people answered %v", got, want)
	}
	if len(people.answers) != 12 || people.skips != 2 {
		t.Errorf("%d answers and %d skips, want 12 and 2", len(people.answers), people.skips)
	}
	if !lmChanged(t, filepath.Join(out, "round2"), filepath.Join(out, "round1")) {
		t.Error("round 2 did not change round 1's policy")
	}
	if r, err := s.Run(context.Background(), "online"); err != nil || r.State != store.RunStopped || r.Instructions != defaultTextInstructions {
		t.Errorf("run in the store %+v %v", r, err)
	}
	for _, want := range []string{"rlhf serve -db sqlite://" + filepath.Join(out, "labels.db"), "compared by people", "6 of 6 groups answered by people"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}

	// Nobody answers now: a rerun finds both rounds finished.
	again, cancelAgain := context.WithTimeout(context.Background(), time.Minute)
	defer cancelAgain()
	if err := dpoMain(again, onlinePeopleArgs(policy, out, "-online", "2"), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if n := queriesPosted(t, s, "online"); n != 12 {
		t.Errorf("%d queries in the store after the rerun, want the first run's 12", n)
	}

	// An admin's stop while round 3 waits for people ends the command
	// cleanly; the same command with people at work finishes round 3 on
	// the groups already posted.
	go func() {
		waitPosted(s, "online", 18)
		s.SetRunState(context.Background(), "online", store.RunStopRequested)
	}()
	stderr.Reset()
	if err := dpoMain(context.Background(), onlinePeopleArgs(policy, out, "-online", "3"), &stderr); err != nil || !strings.Contains(stderr.String(), "stopped by an admin in round 3/3") {
		t.Fatalf("stopped run: %v\n%s", err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(out, "round3", "summary.json")); err == nil {
		t.Error("round 3 trained before people answered")
	}
	stop = goWork(t, people)
	err = dpoMain(context.Background(), onlinePeopleArgs(policy, out, "-online", "3"), &bytes.Buffer{})
	stop()
	if err != nil {
		t.Fatal(err)
	}
	if n := queriesPosted(t, s, "online"); n != 18 {
		t.Errorf("%d queries in the store, want 18: none posted twice", n)
	}
	if round := readPeoplePairs(t, filepath.Join(out, "round3", roundPairsFile), "online"); len(round) != 4 {
		t.Errorf("round 3 trained on %d pairs, want 4", len(round))
	}

	// An interrupt while round 4 waits is an error saying how to continue.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		waitPosted(s, "online", 24)
		cancel()
	}()
	if err := dpoMain(ctx, onlinePeopleArgs(policy, out, "-online", "4"), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "run the same command again") {
		t.Errorf("interrupted run: %v", err)
	}
}

// With -judge, the judge answers the groups it is sure of and people only
// the rest; the round trains on both. (The random reward model's rewards
// differ by hundredths: at temperature 0.01 it is sure of some groups.)
func TestDPOOnlineJudge(t *testing.T) {
	policy := tinyPolicy(t)
	rm := judgeTinyRM(t)
	for _, tc := range []struct {
		name    string
		abstain string
	}{{"sure", "0"}, {"mixed", "0.2"}} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "online")
			s, people, stop := onlinePeopleStore(t, out, -1)
			var stderr bytes.Buffer
			err := dpoMain(context.Background(), onlinePeopleArgs(policy, out, "-online", "1", "-judge", rm, "-abstain", tc.abstain, "-judge-temperature", "0.01"), &stderr)
			stop()
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			judged, byPeople := map[string]bool{}, map[string]bool{}
			for r, err := range feedback.ReadPairsFile(filepath.Join(out, "round1", roundPairsFile), nil) {
				if err != nil {
					t.Fatal(err)
				}
				switch r.Source {
				case feedback.SourceAI:
					judged[r.QueryID] = true
					if !strings.HasPrefix(r.Labeler, "rm:rm/T=") {
						t.Errorf("judge's record labelled by %q", r.Labeler)
					}
				case feedback.SourceHuman:
					byPeople[r.QueryID] = true
				default:
					t.Errorf("record of source %q", r.Source)
				}
			}
			posted := queriesPosted(t, s, "online")
			for id := range judged {
				if _, asked := people.answers[id]; asked {
					t.Errorf("group %s went to people after the judge answered it", id)
				}
			}
			if len(judged)+posted != 6 || len(people.answers) != posted {
				t.Errorf("the judge answered %d groups and %d went to people (%d answered), want 6 in all", len(judged), posted, len(people.answers))
			}
			if tc.abstain == "0" && posted != 0 {
				t.Errorf("a judge that never abstains left %d groups to people", posted)
			}
			if tc.abstain != "0" && (len(judged) == 0 || posted == 0) {
				t.Errorf("abstain %s: the judge answered %d groups and people %d, want both some\n%s", tc.abstain, len(judged), posted, stderr.String())
			}
			if !strings.Contains(stderr.String(), fmt.Sprintf("answers %d of 6 groups", len(judged))) {
				t.Errorf("stderr does not report the judge's share:\n%s", stderr.String())
			}
		})
	}
	// -judge-calibrate fits the judge's temperature on labelled pairs first.
	t.Run("calibrated", func(t *testing.T) {
		dir := t.TempDir()
		// Pairs the random judge gets right but for the one it is least
		// sure of, so that a finite temperature fits.
		m, err := judge.Load(rm)
		if err != nil {
			t.Fatal(err)
		}
		type pair struct {
			p, a, b string
			margin  float64
		}
		var ps []pair
		for i := range 12 {
			p, a, b := fmt.Sprintf("Prompt %d:", i), fmt.Sprintf(" one answer %d", i), fmt.Sprintf(" another, longer answer %d", i)
			sc, err := m.Scores(context.Background(), []feedback.Query{feedback.TextQuery("c", p, a, b)})
			if err != nil {
				t.Fatal(err)
			}
			if sc[0][0] < sc[0][1] {
				a, b = b, a
			}
			ps = append(ps, pair{p, a, b, math.Abs(sc[0][0] - sc[0][1])})
		}
		least := 0
		for i, x := range ps {
			if x.margin < ps[least].margin {
				least = i
			}
		}
		ps[least].a, ps[least].b = ps[least].b, ps[least].a
		var lines []string
		for _, x := range ps {
			js, _ := json.Marshal(map[string]string{"prompt": x.p, "chosen": x.a, "rejected": x.b})
			lines = append(lines, string(js))
		}
		cal := filepath.Join(dir, "cal.jsonl")
		if err := os.WriteFile(cal, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		err = dpoMain(context.Background(), onlinePeopleArgs(policy, filepath.Join(dir, "online"), "-online", "1", "-judge", rm,
			"-abstain", "0", "-judge-calibrate", cal), &stderr)
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr.String())
		}
		fit := regexp.MustCompile(`calibrated on 12 labelled queries of \S+: temperature (\S+) -> (\S+),`).FindStringSubmatch(stderr.String())
		if fit == nil || fit[1] == fit[2] || !strings.Contains(stderr.String(), "rm:rm/T="+fit[2]+" answers 6 of 6 groups") {
			t.Errorf("no calibration reported, or the judge did not answer at the fitted temperature:\n%s", stderr.String())
		}
	})
}

func TestDPOOnlinePeopleBadFlags(t *testing.T) {
	policy := tinyPolicy(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-online", "2", "-labeler", "crowd"}, "-labeler"},
		{[]string{"-online", "2", "-labeler", "human", "-reward", "lipogram"}, "both set"},
		{[]string{"-online", "2", "-labeler", "human", "-goal", "lipogram"}, "-goal"},
		{[]string{"-online", "2", "-reward", "lipogram", "-db", "x.db"}, "-db"},
		{[]string{"-online", "2", "-labeler", "human", "-abstain", "0.3"}, "only with -judge"},
		{[]string{"-online", "2", "-labeler", "human", "-judge", "rm", "-abstain", "0.5"}, "-abstain"},
		{[]string{"-online", "2", "-labeler", "human", "-overlap", "0"}, "-overlap"},
		{[]string{"-data", "x.jsonl", "-labeler", "human"}, "only with -online"},
		{[]string{"-online", "1", "-labeler", "human", "-judge", "/no/such/rm"}, "-judge"},
		{[]string{"-online", "2", "-labeler", "human", "-judge-calibrate", "x.jsonl"}, "only with -judge"},
		{[]string{"-online", "2", "-labeler", "human", "-audit", "0.1", "-judge-recalibrate"}, "-audit, -judge-recalibrate only with -judge"},
		{[]string{"-online", "2", "-labeler", "human", "-judge", "rm", "-audit", "1.5"}, "-audit 1.5"},
		{[]string{"-online", "2", "-labeler", "human", "-judge", "rm", "-judge-recalibrate"}, "needs -audit"},
		{[]string{"-online", "2", "-reward", "lipogram", "-audit", "0.1"}, "only with -labeler human"},
		{[]string{"-online", "2", "-labeler", "human", "-judge", "rm", "-audit", "0.1", "-people-error", "0.2"}, "only with -judge-recalibrate"},
		{[]string{"-online", "2", "-labeler", "human", "-judge", "rm", "-audit", "0.1", "-judge-recalibrate", "-people-error", "0.5"}, "-people-error 0.5"},
		{[]string{"-online", "2", "-labeler", "human", "-judge", "rm", "-judge-temperature", "1", "-judge-calibrate", "x.jsonl"}, "pick one"},
	} {
		err := dpoMain(context.Background(), append(tc.args, "-policy", policy, "-out", filepath.Join(t.TempDir(), "o")), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}

// A round's people.jsonl that holds more than a torn last line of garbage
// is an error, not preferences passed over, even when the judge answered
// every group and nobody was asked.
func TestDPOOnlinePeopleBadFile(t *testing.T) {
	policy := tinyPolicy(t)
	rm := judgeTinyRM(t)
	out := filepath.Join(t.TempDir(), "online")
	args := onlinePeopleArgs(policy, out, "-judge", rm, "-abstain", "0")
	if err := dpoMain(context.Background(), append(args, "-online", "1"), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(out, "round2")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, peoplePairsFile), []byte("not json\n{\"prompt\":\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := dpoMain(context.Background(), append(args, "-online", "2"), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "not preference pairs") {
		t.Errorf("round 2 over a corrupt people.jsonl: %v, want an error", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "summary.json")); err == nil {
		t.Error("round 2 trained over a corrupt people.jsonl")
	}
}

// With -audit, people also answer a share of the judge's answers, which
// then train on people's answers, not the judge's; judge.json tallies how
// often people agreed with it. With -judge-recalibrate, round 2's judge
// runs at the temperature fitted on round 1's answers of people, audited
// groups weighted by 1/audit.
func TestDPOOnlineJudgeAudit(t *testing.T) {
	policy := tinyPolicy(t)
	rm := judgeTinyRM(t)
	out := filepath.Join(t.TempDir(), "online")
	s, people, stop := onlinePeopleStore(t, out, -1)
	var stderr bytes.Buffer
	args := func(rounds string) []string {
		return onlinePeopleArgs(policy, out, "-online", rounds, "-online-prompts", "16", "-judge", rm,
			"-abstain", "0.1", "-judge-temperature", "0.01", "-audit", "0.5", "-judge-recalibrate")
	}
	err := dpoMain(context.Background(), args("2"), &stderr)
	stop()
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	asked := 0
	var fitS [][]float64
	var fitL []feedback.Choice
	var fitW []float64
	for r := 1; r <= 2; r++ {
		dir := filepath.Join(out, fmt.Sprintf("round%d", r))
		var lines []ledgerLine
		for l, err := range feedback.ReadJSONLFile[ledgerLine](filepath.Join(dir, judgeLedgerFile), nil) {
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, l)
		}
		var tally judgeTally
		if buf, err := os.ReadFile(filepath.Join(dir, judgeRoundFile)); err != nil || json.Unmarshal(buf, &tally) != nil {
			t.Fatalf("round %d judge.json: %v", r, err)
		}
		sources := map[string]feedback.Source{}
		for rec, err := range feedback.ReadPairsFile(filepath.Join(dir, roundPairsFile), nil) {
			if err != nil {
				t.Fatal(err)
			}
			sources[rec.QueryID] = rec.Source
		}
		var want judgeTally
		want.Groups, want.Temperature, want.Abstain = len(lines), tally.Temperature, 0.1
		for _, l := range lines {
			answer, byPeople := people.answers[l.QueryID]
			switch {
			case l.Pick == int(feedback.CantTell):
				want.Deferred++
				if l.Weight != 1 || l.Audited {
					t.Errorf("round %d: group %s left to people has weight %v, audited %v", r, l.QueryID, l.Weight, l.Audited)
				}
			case l.Audited:
				want.Answered++
				want.Audit.Queries++
				if l.Weight != 2 {
					t.Errorf("round %d: audited group %s has weight %v, want 1/0.5", r, l.QueryID, l.Weight)
				}
				if answer >= 0 {
					want.Audit.Answers++
					if int(answer) == l.Pick {
						want.Audit.Agree++
					}
				}
			default:
				want.Answered++
				want.Kept++
				if l.Weight != 0 || byPeople || sources[l.QueryID] != feedback.SourceAI {
					t.Errorf("round %d: the judge's kept answer %s has weight %v, asked people %v, trained from %q", r, l.QueryID, l.Weight, byPeople, sources[l.QueryID])
				}
			}
			if l.Weight > 0 {
				asked++
				if !byPeople || sources[l.QueryID] == feedback.SourceAI {
					t.Errorf("round %d: group %s for people answered %v, trained from %q", r, l.QueryID, byPeople, sources[l.QueryID])
				}
				if r == 1 && answer >= 0 {
					fitS, fitL, fitW = append(fitS, l.Scores), append(fitL, feedback.Choice(answer)), append(fitW, l.Weight)
				}
			}
		}
		if tally != want {
			t.Errorf("round %d judge.json %+v, want %+v", r, tally, want)
		}
		if r == 1 && (want.Audit.Queries == 0 || want.Kept == 0 || want.Deferred == 0) {
			t.Errorf("round %d: %+v: want groups of every kind", r, want)
		}
		if r == 1 && tally.Temperature != 0.01 {
			t.Errorf("round 1 judge at T=%v, want -judge-temperature 0.01", tally.Temperature)
		}
		if r == 2 {
			// The random judge may not prefer what people chose at all
			// (TestRecalibrate has a fit that succeeds): then it keeps T.
			fit, n, err := judge.FitTemperatureWeighted(fitS, fitL, fitW)
			msg := fmt.Sprintf("T 0.01 -> %.4g, fitted on %d answers", fit, n)
			if err != nil {
				fit, msg = 0.01, fmt.Sprintf("keeping T=0.01 (%d answers of rounds 1-1: %v)", n, err)
			}
			if math.Abs(tally.Temperature-fit) > 1e-9*fit || !strings.Contains(stderr.String(), msg) {
				t.Errorf("round 2 judge at T=%v, want %v, reported as %q:\n%s", tally.Temperature, fit, msg, stderr.String())
			}
		}
		if !strings.Contains(stderr.String(), "dpo: audit: "+want.Audit.String()) {
			t.Errorf("stderr does not report round %d's audit (%s):\n%s", r, want.Audit, stderr.String())
		}
	}
	if n := queriesPosted(t, s, "online"); n != asked || len(people.answers) != asked {
		t.Errorf("%d queries posted and %d answered, want the %d left or audited", n, len(people.answers), asked)
	}

	// An admin's stop while round 3 waits for people, then the same
	// command with people at work: the rerun decides the same (the same
	// refit temperature, the same ledger) and posts nothing twice.
	go func() {
		waitPosted(s, "online", asked+1)
		s.SetRunState(context.Background(), "online", store.RunStopRequested)
	}()
	stderr.Reset()
	if err := dpoMain(context.Background(), args("3"), &stderr); err != nil || !strings.Contains(stderr.String(), "stopped by an admin in round 3/3") {
		t.Fatalf("stopped run: %v\n%s", err, stderr.String())
	}
	ledger := filepath.Join(out, "round3", judgeLedgerFile)
	first, err := os.ReadFile(ledger)
	if err != nil {
		t.Fatal(err)
	}
	stop = goWork(t, people)
	err = dpoMain(context.Background(), args("3"), &bytes.Buffer{})
	stop()
	if err != nil {
		t.Fatal(err)
	}
	if again, err := os.ReadFile(ledger); err != nil || !bytes.Equal(again, first) {
		t.Errorf("round 3's ledger differs after the rerun (%v)", err)
	}
	round3 := 0
	for l, err := range feedback.ReadJSONLFile[ledgerLine](ledger, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if l.Weight > 0 {
			round3++
		}
	}
	if n := queriesPosted(t, s, "online"); n != asked+round3 || len(people.answers) != asked+round3 {
		t.Errorf("%d queries posted and %d answered after round 3, want %d + %d: none twice", n, len(people.answers), asked, round3)
	}
}

// recalibrate fits the judge's temperature on people's answers of the
// earlier rounds, one row per person and group, weighted as the ledger
// says: the same fit as the rows written out with their weights.
func TestRecalibrate(t *testing.T) {
	out := t.TempDir()
	var wantS [][]float64
	var wantL []feedback.Choice
	var wantW []float64
	for r := 1; r <= 2; r++ {
		dir := filepath.Join(out, fmt.Sprintf("round%d", r))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var lines []ledgerLine
		var people []feedback.PairRecord
		for i := range 30 {
			id := fmt.Sprintf("o-r%d-%d", r, i)
			d := float64(i%10) / 4 // the judge prefers item 0 by d
			l := ledgerLine{QueryID: id, Completions: []string{fmt.Sprint(" a", i), fmt.Sprint(" b", i)}, Scores: []float64{d, 0}, Pick: 0}
			switch i % 3 {
			case 0:
				l.Pick = int(feedback.CantTell)
				l.Weight = 1
			case 1:
				l.Audited, l.Weight = true, 4
			}
			lines = append(lines, l)
			if l.Weight == 0 {
				continue
			}
			// People agree with the judge but on every fourth group (and
			// a few more in round 2); ann
			// answers each group twice in her records (a pair per rejected
			// item of a larger group), counted once; bob once more on some.
			chosen := 0
			if i%4 == 0 || r == 2 && i%7 == 1 {
				chosen = 1
			}
			rec := feedback.PairRecord{Prompt: "p", Chosen: l.Completions[chosen], Rejected: l.Completions[1-chosen]}
			rec.QueryID, rec.Labeler = id, "ann"
			people = append(people, rec, rec)
			wantS, wantL, wantW = append(wantS, l.Scores), append(wantL, feedback.Choice(chosen)), append(wantW, l.Weight)
			if i%5 == 0 {
				rec.Labeler = "bob"
				people = append(people, rec)
				wantS, wantL, wantW = append(wantS, l.Scores), append(wantL, feedback.Choice(chosen)), append(wantW, l.Weight)
			}
		}
		if _, err := feedback.WriteFile(filepath.Join(dir, judgeLedgerFile), slices.Values(lines)); err != nil {
			t.Fatal(err)
		}
		if _, err := feedback.WriteFile(filepath.Join(dir, peoplePairsFile), slices.Values(people)); err != nil {
			t.Fatal(err)
		}
	}
	want, n, err := judge.FitTemperatureWeighted(wantS, wantL, wantW)
	if err != nil {
		t.Fatal(err)
	}
	p := &onlinePeople{judge: &judge.Model{Temperature: 0.5, Name: "rm:x/T=0.5"}, judgeName: "rm:x"}
	var w bytes.Buffer
	if err := recalibrate(out, 3, p, 0, &w); err != nil {
		t.Fatal(err)
	}
	if math.Abs(p.judge.Temperature-want) > 1e-12*want || p.judge.Name != fmt.Sprintf("rm:x/T=%.4g", want) ||
		!strings.Contains(w.String(), fmt.Sprintf("T 0.5 -> %.4g, fitted on %d answers of people in rounds 1-2", want, n)) {
		t.Errorf("recalibrated to T=%v (%s), want %v on %d answers:\n%s", p.judge.Temperature, p.judge.Name, want, n, w.String())
	}
	// Told that people err 10% of the time, the fit is the noisy one.
	noisy, _, err := judge.FitTemperatureNoisy(wantS, wantL, wantW, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	p.judge.Temperature = 0.5
	w.Reset()
	if err := recalibrate(out, 3, p, 0.1, &w); err != nil || math.Abs(p.judge.Temperature-noisy) > 1e-12*noisy || noisy >= want ||
		!strings.Contains(w.String(), "people taken to be wrong 0.1 of the time") {
		t.Errorf("with people's errors: T=%v (%v), want %v (below %v):\n%s", p.judge.Temperature, err, noisy, want, w.String())
	}
	// Round 2 alone (recalibrating before it) sees only round 1.
	p.judge.Temperature = 0.5
	w.Reset()
	if err := recalibrate(out, 2, p, 0, &w); err != nil || !strings.Contains(w.String(), "rounds 1-1") || p.judge.Temperature == want {
		t.Errorf("before round 2: T=%v, %v:\n%s", p.judge.Temperature, err, w.String())
	}
	// A ledger with garbage is an error.
	if err := os.WriteFile(filepath.Join(out, "round1", judgeLedgerFile), []byte("{not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := recalibrate(out, 3, p, 0, &w); err == nil {
		t.Error("a corrupt ledger was read")
	}
}
