package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"rlhf/feedback"
	"rlhf/store"
)

// crowd is scripted people answering every query of a store run they can
// lease, each with pick (which depends only on the group, so that every
// run gives the same answers whatever the timing); picks records each
// person's answer to each store query.
type crowd struct {
	s     store.Store
	run   string
	names []string
	ids   map[string]int64
	pick  func(name string, q int64, cs []string) store.Choice
	mu    sync.Mutex
	picks map[string]map[int64]store.Choice // person -> store query id -> answer
}

// newCrowd creates the labelers names in s to answer run's queries with pick.
func newCrowd(t *testing.T, s store.Store, run string, names []string, pick func(name string, q int64, cs []string) store.Choice) *crowd {
	t.Helper()
	c := &crowd{s: s, run: run, names: names, ids: map[string]int64{}, pick: pick, picks: map[string]map[int64]store.Choice{}}
	for _, n := range names {
		id, err := s.CreateLabeler(context.Background(), store.Labeler{Username: n, Role: store.RoleLabeler, PasswordHash: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		c.ids[n], c.picks[n] = id, map[int64]store.Choice{}
	}
	return c
}

// shortestLongest returns the first shortest and the first longest of cs.
func shortestLongest(cs []string) (short, long int) {
	for i, c := range cs {
		if len(c) < len(cs[short]) {
			short = i
		}
		if len(c) > len(cs[long]) {
			long = i
		}
	}
	return short, long
}

// threePeople is the crowd of the online tests, on store run "online": p0
// and p1 pick the shortest completion, p2 the longest on groups whose store
// query id is odd and the shortest otherwise.
func threePeople(t *testing.T, s store.Store) *crowd {
	return newCrowd(t, s, "online", []string{"p0", "p1", "p2"}, func(n string, q int64, cs []string) store.Choice {
		short, long := shortestLongest(cs)
		if n == "p2" && q%2 == 1 {
			return store.Choice(long)
		}
		return store.Choice(short)
	})
}

// answers returns how many queries person n answered.
func (c *crowd) answers(n string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.picks[n])
}

// work answers until stop is called.
func (c *crowd) work(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			idle := true
			for _, n := range c.names {
				a, err := c.s.Lease(ctx, c.ids[n], c.run, time.Minute)
				if errors.Is(err, store.ErrNoWork) {
					continue
				}
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("lease: %v", err)
					}
					return
				}
				var pl store.TextPayload
				if err := json.Unmarshal(a.Query.Payload, &pl); err != nil {
					t.Errorf("payload: %v", err)
					return
				}
				idle = false
				choice := c.pick(n, a.Query.ID, pl.Completions)
				c.mu.Lock() // before the store has it: whoever sees the label sees the pick
				c.picks[n][a.Query.ID] = choice
				c.mu.Unlock()
				if _, _, err := c.s.Submit(ctx, store.Submission{QueryID: a.Query.ID, Slot: a.Slot, LabelerID: c.ids[n],
					Choice: choice, ClientKey: fmt.Sprintf("key-%s-%06d", n, a.Query.ID)}); err != nil {
					if ctx.Err() == nil {
						t.Errorf("submit: %v", err)
					}
					return
				}
			}
			if idle {
				time.Sleep(2 * time.Millisecond)
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// crowdOnline opens the label store of an online run into a fresh
// directory out (labels.db there, its default) and sets the crowd to work
// on it; stop ends their work.
func crowdOnline(t *testing.T) (out string, stop func()) {
	t.Helper()
	out = filepath.Join(t.TempDir(), "online")
	return out, threePeople(t, onlineStore(t, out)).work(t)
}

// readTally reads round r's people.json.
func readTally(t *testing.T, out string, r int) peopleTally {
	t.Helper()
	var tally peopleTally
	buf, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("round%d", r), peopleTallyFile))
	if err != nil || json.Unmarshal(buf, &tally) != nil {
		t.Fatalf("round %d people.json: %v %s", r, err, buf)
	}
	return tally
}

// With -overlap 3 -aggregate vote, every group trains once, on the
// majority of its three answers, with the consensus's probability as the
// confidence (-soft trains toward it); people.json gives the fit over the
// rounds so far, the sometimes-wrong p2 less accurate than the others.
func TestDPOOnlineVote(t *testing.T) {
	policy := tinyPolicy(t)
	out, stop := crowdOnline(t)
	var stderr bytes.Buffer
	err := dpoMain(context.Background(), onlinePeopleArgs(policy, out, "-online", "2", "-overlap", "3", "-aggregate", "vote", "-soft"), &stderr)
	stop()
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	for r := 1; r <= 2; r++ {
		dir := filepath.Join(out, fmt.Sprintf("round%d", r))
		votes := map[string]map[string]int{} // group -> chosen text -> answers
		labelers := map[string]map[string]bool{}
		for rec, err := range feedback.ReadPairsFile(filepath.Join(dir, peoplePairsFile), nil) {
			if err != nil {
				t.Fatal(err)
			}
			if votes[rec.QueryID] == nil {
				votes[rec.QueryID], labelers[rec.QueryID] = map[string]int{}, map[string]bool{}
			}
			votes[rec.QueryID][rec.Chosen]++
			labelers[rec.QueryID][rec.Labeler] = true
		}
		if len(votes) != 6 {
			t.Fatalf("round %d: people answered %d groups, want 6", r, len(votes))
		}
		trained := map[string]int{}
		for rec, err := range feedback.ReadPairsFile(filepath.Join(dir, roundPairsFile), nil) {
			if err != nil {
				t.Fatal(err)
			}
			trained[rec.QueryID]++
			v := votes[rec.QueryID]
			if len(labelers[rec.QueryID]) != 3 || v[rec.Chosen] < 2 {
				t.Errorf("round %d: group %s trains %q, chosen by %d of %v", r, rec.QueryID, rec.Chosen, v[rec.Chosen], labelers[rec.QueryID])
			}
			if rec.Labeler != "consensus" || rec.Source != feedback.SourceHuman || rec.Confidence == nil || !(*rec.Confidence > 0.5 && *rec.Confidence <= 1) {
				t.Errorf("round %d: record %+v", r, rec.Provenance)
			}
		}
		if len(trained) != 6 {
			t.Errorf("round %d trains on %d groups, want all 6 once: %v", r, len(trained), trained)
		}
		for g, n := range trained {
			if n != 1 {
				t.Errorf("round %d: group %s trains %d pairs, want 1", r, g, n)
			}
		}
		tally := readTally(t, out, r)
		if tally.Round != r || tally.Groups != 6*r || tally.Answers != 18*r || tally.Overlapped != 18*r || tally.Voted != 6 || tally.Split != 0 || tally.Aggregate != "vote" {
			t.Errorf("round %d people.json %+v", r, tally)
		}
		if !(tally.Accuracy["p2"] < tally.Accuracy["p0"]-0.1) || math.Abs(tally.Accuracy["p0"]-tally.Accuracy["p1"]) > 1e-9 || !(tally.ErrorRate > 0 && tally.ErrorRate < 0.5) {
			t.Errorf("round %d: accuracies %v, error rate %v: want p2 below p0 = p1", r, tally.Accuracy, tally.ErrorRate)
		}
	}
	if !strings.Contains(stderr.String(), "-aggregate vote: the round trains once on each of 6 groups' consensus") {
		t.Errorf("stderr lacks the vote:\n%s", stderr.String())
	}
}

// -people-error auto: before round 2 the judge's refit takes people's
// error rate from round 1's fit (as people.json states it), and with
// -aggregate all people's every answer trains.
func TestDPOOnlinePeopleErrorAuto(t *testing.T) {
	policy := tinyPolicy(t)
	rm := judgeTinyRM(t)
	out, stop := crowdOnline(t)
	var stderr bytes.Buffer
	err := dpoMain(context.Background(), onlinePeopleArgs(policy, out, "-online", "2", "-online-prompts", "16", "-overlap", "3",
		"-judge", rm, "-abstain", "0.1", "-judge-temperature", "0.01", "-audit", "0.5", "-judge-recalibrate", "-people-error", "auto"), &stderr)
	stop()
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	tally := readTally(t, out, 1)
	want := fmt.Sprintf("-people-error auto: people's error rate %.4f, from how often they agreed in rounds 1-1", tally.ErrorRate)
	if tally.Aggregate != "all" || tally.Answers == 0 || !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), "-judge-recalibrate: T") {
		t.Errorf("people.json %+v; stderr lacks %q or the refit:\n%s", tally, want, stderr.String())
	}
	// Every answer of people trains, beside the judge's kept answers.
	people, pairs := 0, 0
	for rec, err := range feedback.ReadPairsFile(filepath.Join(out, "round1", roundPairsFile), nil) {
		if err != nil {
			t.Fatal(err)
		}
		pairs++
		if rec.Source == feedback.SourceHuman {
			people++
		}
	}
	if people != tally.Answers || pairs <= people {
		t.Errorf("round 1 trains %d of people's pairs (of %d answers) and %d in all", people, tally.Answers, pairs)
	}
	var settings dpoRun
	if buf, err := os.ReadFile(filepath.Join(out, "online.json")); err != nil || json.Unmarshal(buf, &settings) != nil || !settings.Online.PeopleErrorAuto || settings.Aggregate != "" {
		t.Errorf("online.json %+v %v", settings.Online, err)
	}
}

func TestDPOOnlineConsensusBadFlags(t *testing.T) {
	policy := tinyPolicy(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-online", "2", "-labeler", "human", "-overlap", "2", "-aggregate", "mean"}, `-aggregate "mean"`},
		{[]string{"-online", "2", "-labeler", "human", "-aggregate", "vote"}, "-aggregate vote needs -overlap >= 2"},
		{[]string{"-online", "2", "-reward", "lipogram", "-aggregate", "vote"}, "only with -data or -labeler human"},
		{[]string{"-online", "2", "-labeler", "human", "-judge", "rm", "-audit", "0.1", "-judge-recalibrate", "-people-error", "auto"}, "-people-error auto needs -overlap >= 2"},
		{[]string{"-online", "2", "-labeler", "human", "-overlap", "2", "-judge", "rm", "-audit", "0.1", "-people-error", "auto"}, "only with -judge-recalibrate"},
		{[]string{"-online", "2", "-labeler", "human", "-people-error", "often"}, `want a rate in [0, 0.5) or "auto"`},
	} {
		err := dpoMain(context.Background(), append(tc.args, "-policy", policy, "-out", filepath.Join(t.TempDir(), "o")), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}

// groupAnswers names a group's items by their sorted texts, reads a k-way
// answer from its k-1 records, and leaves out groups of one distinct text.
func TestGroupAnswers(t *testing.T) {
	rec := func(g, l, c, r string) answerRec {
		return pairAnswer(feedback.PairRecord{Chosen: c, Rejected: r, Provenance: feedback.Provenance{QueryID: g, Labeler: l}})
	}
	as, items := groupAnswers([]answerRec{
		rec("g", "a", "z", "y"), rec("g", "a", "z", "x"), // a picks z of x, y, z
		rec("g", "b", "x", "y"), rec("g", "b", "x", "z"),
		{group: "g", labeler: "c", chosen: "y", texts: []string{"z", "y", "x"}}, // a best-of-3 record
		rec("g", "d", "x", "y"), rec("g", "d", "y", "z"), // d names two chosen texts: no answer
		rec("h", "a", "same", "same"),                  // one distinct text: no answer
		rec("", "a", "u", "v"), rec("i", "", "u", "v"), // no group, no labeler
	})
	if fmt.Sprint(items["g"]) != "[x y z]" || len(as) != 3 || len(items) != 2 {
		t.Fatalf("items %v, answers %+v", items, as)
	}
	want := []feedback.Answer{{Group: "g", Labeler: "a", Pick: 2, K: 3}, {Group: "g", Labeler: "b", Pick: 0, K: 3}, {Group: "g", Labeler: "c", Pick: 1, K: 3}}
	for i := range want {
		if as[i] != want[i] {
			t.Errorf("answer %d: %+v, want %+v", i, as[i], want[i])
		}
	}
}

// crowdFile writes, for each pair record of src, the answers of three
// labelers to it as query q<i>: a and b give the record's, c the swapped
// pair on every third record; it returns the path.
func crowdFile(t *testing.T, src, path string) string {
	t.Helper()
	var recs []any
	i := 0
	for r, err := range feedback.ReadPairsFile(src, nil) {
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range []string{"a", "b", "c"} {
			x := r
			x.QueryID, x.Labeler, x.Source = fmt.Sprint("q", i), l, feedback.SourceHuman
			if l == "c" && i%3 == 0 {
				x.Chosen, x.Rejected = x.Rejected, x.Chosen
			}
			recs = append(recs, x)
		}
		i++
	}
	if _, err := feedback.WriteFile(path, slices.Values(recs)); err != nil {
		t.Fatal(err)
	}
	return path
}

// Offline, -aggregate vote turns three people's answers to each pair into
// the majority's pair: rlhf rm and rlhf dpo train exactly as on the pairs
// alone, which training on every answer does not; a file in which no
// query has two answers is an error.
func TestOfflineVote(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean.jsonl")
	writeMarkedPairs(t, clean, 48)
	crowd := crowdFile(t, clean, filepath.Join(dir, "crowd.jsonl"))
	weights := func(out string) []byte { return weightsFile(t, out) }
	rm := func(name, data string, extra ...string) string {
		out := filepath.Join(dir, name)
		args := append([]string{"-data", data, "-init", policy, "-out", out, "-epochs", "2", "-lr", "3e-3", "-normalise", "none"}, extra...)
		if err := runRM(context.Background(), args); err != nil {
			t.Fatal(err)
		}
		return out
	}
	base := weights(rm("rm-clean", clean))
	if !bytes.Equal(weights(rm("rm-vote", crowd, "-aggregate", "vote")), base) {
		t.Error("rm -aggregate vote on three people's answers trained otherwise than on their majority's pairs")
	}
	if bytes.Equal(weights(rm("rm-all", crowd)), base) {
		t.Error("rm on every answer trained as on the majority's pairs")
	}
	if bytes.Equal(weights(rm("rm-soft", crowd, "-aggregate", "vote", "-soft")), base) {
		t.Error("rm -aggregate vote -soft trained as with hard labels")
	}
	dpoOut := func(name, data string, extra ...string) string {
		out := filepath.Join(dir, name)
		var stderr bytes.Buffer
		args := append([]string{"-data", data, "-policy", policy, "-out", out, "-batch", "8", "-lr", "1e-3", "-warmup", "1",
			"-kl-prompts", "0", "-val-frac", "0"}, extra...)
		if err := dpoMain(context.Background(), args, &stderr); err != nil {
			t.Fatalf("%v\n%s", err, stderr.String())
		}
		if len(extra) > 0 && !strings.Contains(stderr.String(), "trains on the consensus of 48 groups (48 pairs records") {
			t.Errorf("dpo stderr lacks the vote:\n%s", stderr.String())
		}
		return out
	}
	if !bytes.Equal(weights(dpoOut("dpo-vote", crowd, "-aggregate", "vote")), weights(dpoOut("dpo-clean", clean))) {
		t.Error("dpo -aggregate vote on three people's answers trained otherwise than on their majority's pairs")
	}
	for _, err := range []error{
		runRM(context.Background(), []string{"-data", clean, "-init", policy, "-out", filepath.Join(dir, "x"), "-aggregate", "vote"}),
		dpoMain(context.Background(), []string{"-data", clean, "-policy", policy, "-out", filepath.Join(dir, "y"), "-aggregate", "vote"}, &bytes.Buffer{}),
	} {
		if err == nil || !strings.Contains(err.Error(), "no group was answered by two or more people") {
			t.Errorf("vote over a file without overlap: %v", err)
		}
	}
	if err := runRM(context.Background(), []string{"-data", clean, "-init", policy, "-out", filepath.Join(dir, "z"), "-aggregate", "mean"}); err == nil || !strings.Contains(err.Error(), "want all or vote") {
		t.Errorf("rm -aggregate mean: %v", err)
	}
}

// voteComparisons on best-of-3 records: each group's majority pick among
// its distinct completions, with the consensus's probability; a 1-1 split
// between two equally accurate people is left out, records without a
// query id are kept as they are.
func TestVoteComparisonsBestOf(t *testing.T) {
	bo := func(q, l string, choice int) textComparison {
		return textComparison{Prompt: "p " + q, Completions: []string{"x", "y", "z"}, Choice: choice, QueryID: q, Labeler: l}
	}
	cs := []textComparison{bo("g1", "a", 2), bo("g1", "b", 2), bo("g1", "c", 0), bo("g2", "a", 1), bo("g2", "b", 1), bo("g2", "c", 1),
		bo("g3", "a", 0), bo("g3", "b", 1), {Prompt: "loose", Completions: []string{"u", "v"}, Choice: 1}}
	var w bytes.Buffer
	out, err := voteComparisons(cs, "bestof", "rm", &w)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || out[0].QueryID != "g1" || out[0].Choice != 2 || out[1].QueryID != "g2" || out[1].Choice != 1 || out[2].Prompt != "loose" || out[2].Confidence != nil {
		t.Fatalf("voted %+v", out)
	}
	if !(*out[0].Confidence > 0.5 && *out[0].Confidence < *out[1].Confidence && *out[1].Confidence < 1) || out[0].Labeler != "consensus" || fmt.Sprint(out[0].Completions) != "[x y z]" {
		t.Errorf("confidences %v %v, record %+v", *out[0].Confidence, *out[1].Confidence, out[0])
	}
	if !strings.Contains(w.String(), "consensus of 2 groups (2 bestof records") || !strings.Contains(w.String(), "1 split groups") || !strings.Contains(w.String(), "1 records without a query id") {
		t.Errorf("report:\n%s", w.String())
	}
}

// The label store's export of three people's answers to each query (numeric
// query ids) trains rlhf rm -aggregate vote on one consensus pair a query.
func TestExportVote(t *testing.T) {
	policy := tinyPolicy(t)
	dir := t.TempDir()
	s, err := store.Open(context.Background(), "sqlite://"+filepath.Join(dir, "labels.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateRun(context.Background(), store.Run{ID: "online", Name: "online"}); err != nil {
		t.Fatal(err)
	}
	var qs []store.Query
	for i := range 24 {
		b, _ := json.Marshal(store.TextPayload{Kind: store.KindText, Prompt: fmt.Sprintf("Prompt number %d is", i),
			Completions: []string{" the day" + strings.Repeat(" good", 1+i%3), " the day bad"}})
		qs = append(qs, store.Query{RunID: "online", Payload: b, Overlap: 3})
	}
	if _, err := s.AddQueries(context.Background(), qs); err != nil {
		t.Fatal(err)
	}
	stop := threePeople(t, s).work(t)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		ls, err := s.Labels(context.Background(), store.LabelFilter{RunID: "online"})
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) == 3*len(qs) || time.Now().After(deadline) {
			break
		}
	}
	stop()
	var buf bytes.Buffer
	if n, err := store.Export(context.Background(), s, &buf, store.ExportOptions{RunID: "online"}); err != nil || n != 72 {
		t.Fatalf("exported %d labels: %v", n, err)
	}
	data := filepath.Join(dir, "export.jsonl")
	if err := os.WriteFile(data, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cs, _, _, err := readPrefs(data, false)
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	voted, err := voteComparisons(cs, "pairs", "rm", &w)
	if err != nil || len(voted) != 24 || !strings.Contains(w.String(), "consensus of 24 groups") {
		t.Fatalf("voted %d records: %v\n%s", len(voted), err, w.String())
	}
	for _, c := range voted { // the shorter completion is the bad one: p0 and p1 prefer it
		if c.Completions[0] != " the day bad" {
			t.Errorf("query %s: consensus %q", c.QueryID, c.Completions[0])
		}
	}
	if err := runRM(context.Background(), []string{"-data", data, "-init", policy, "-out", filepath.Join(dir, "rm"), "-epochs", "1", "-aggregate", "vote"}); err != nil {
		t.Fatal(err)
	}
}

// sortPeople puts people's records in their groups' order, then by
// labeler, keeping a k-way answer's records in theirs: answers arriving in
// any order train in one.
func TestSortPeople(t *testing.T) {
	qs := []feedback.Query{{ID: "r-2"}, {ID: "r-10"}, {ID: "r-1"}}
	rec := func(q, l, rej string) feedback.PairRecord {
		return feedback.PairRecord{Rejected: rej, Provenance: feedback.Provenance{QueryID: q, Labeler: l}}
	}
	want := []feedback.PairRecord{rec("r-2", "a", "x"), rec("r-2", "b", "x"), rec("r-10", "a", "y"), rec("r-10", "a", "z"), rec("r-10", "c", "x"), rec("r-1", "b", "x")}
	for _, perm := range [][]int{{5, 4, 3, 2, 1, 0}, {2, 4, 0, 5, 3, 1}, {1, 2, 3, 0, 4, 5}} {
		got := make([]feedback.PairRecord, len(want))
		for i, j := range perm {
			got[i] = want[j]
		}
		// A k-way answer's records arrive together, in their order.
		for i := 0; i+1 < len(got); i++ {
			if got[i].Rejected == "z" && got[i+1].Rejected == "y" {
				got[i], got[i+1] = got[i+1], got[i]
			}
		}
		sortPeople(got, qs)
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("order %v: record %d is %+v, want %+v", perm, i, got[i].Provenance, want[i].Provenance)
			}
		}
	}
}
