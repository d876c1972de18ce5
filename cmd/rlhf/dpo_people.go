package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"rlhf/feedback"
	"rlhf/judge"
	"rlhf/loop"
	"rlhf/store"
)

// Online DPO with people: each round's groups go to the label store, an AI
// judge (if any) answering first what it is sure of, and the round trains
// on every answer once all groups are answered.

// onlineOnlyFlags are the flags of rlhf dpo that mean something only with
// -online; peopleOnlyFlags those only with -labeler human, and
// rewardOnlyFlags those only with -reward.
var (
	rewardOnlyFlags = []string{"goal"}
	peopleOnlyFlags = append([]string{"db", "instructions", "overlap", "label-poll"}, judgeFlagNames...)
	onlineOnlyFlags = slices.Concat([]string{"reward", "online-n", "online-prompts", "labeler"}, rewardOnlyFlags, peopleOnlyFlags)
)

// Files of a round labelled by people: people's answers (appended as they
// come, kept across reruns) and, with the judge's answers (decided again
// on a rerun, the same for the same samples), what the round trains on.
const (
	peoplePairsFile = "people.jsonl"
	roundPairsFile  = "pairs.jsonl"
)

// checkOnlineLabeler checks who labels an online run: -reward, or people
// (-labeler human, optionally helped by -judge); set holds the names of
// the flags given.
func checkOnlineLabeler(set map[string]bool, o *onlineDPO) []error {
	var errs []error
	misplaced := func(names []string, why string) {
		var bad []string
		for _, n := range names {
			if set[n] {
				bad = append(bad, "-"+n)
			}
		}
		if len(bad) > 0 {
			errs = append(errs, fmt.Errorf("dpo: %s %s", strings.Join(bad, ", "), why))
		}
	}
	switch o.Labeler {
	case "":
		misplaced(peopleOnlyFlags, "only with -labeler human")
		o.Instructions, o.Overlap, o.Abstain = "", 0, 0 // as online.json held them before people could label
		if o.Reward == "" {
			errs = append(errs, errors.New("dpo: -online needs -reward (what picks the best and the worst sample) or -labeler human"))
		} else if err := checkTextGoal(proxySpec(o.Reward), "e"); err != nil {
			errs = append(errs, fmt.Errorf("dpo: -reward: %w", err))
		}
		if err := checkTextGoal(o.Goal, "e"); err != nil {
			errs = append(errs, fmt.Errorf("dpo: -goal: %w", err))
		}
	case loop.LabelerHuman:
		if o.Reward != "" {
			errs = append(errs, errors.New("dpo: -reward and -labeler human both set: the preferences come from one of them"))
		}
		misplaced(rewardOnlyFlags, "only with -reward (people's goal is their own)")
		o.Goal = ""
		if o.Overlap < 1 || o.Overlap > 100 || o.Poll <= 0 {
			errs = append(errs, fmt.Errorf("dpo: -overlap %d must be in 1..100 and -label-poll %v positive", o.Overlap, o.Poll))
		}
		errs = append(errs, o.judgeSpec.check("dpo", set)...)
		if o.PeopleErrorAuto && o.Overlap < 2 {
			errs = append(errs, errors.New("dpo: -people-error auto needs -overlap >= 2: people's error rate is estimated from how often two of them agree"))
		}
	default:
		errs = append(errs, fmt.Errorf("dpo: -labeler %q: want %s (or -reward instead)", o.Labeler, loop.LabelerHuman))
	}
	return errs
}

// judgeSpec is an AI judge that helps people (rlhf dpo -online and rlhf
// demo with -labeler human): a reward model (Judge, a directory) that
// answers where its pick beats the runner-up with probability at least
// 0.5 + Abstain, at temperature JudgeT (0: the reward model's own
// Bradley-Terry scale) or one fitted on the labelled file Calibrate.
type judgeSpec struct {
	Judge     string  `json:"judge,omitempty"`
	Abstain   float64 `json:"abstain,omitempty"`
	JudgeT    float64 `json:"judge_temperature,omitempty"`
	Calibrate string  `json:"judge_calibrate,omitempty"`
	// Audit is the share of the judge's answers that people answer too;
	// Recalibrate (rlhf dpo -online) refits its temperature each round on
	// people's earlier answers.
	Audit       float64 `json:"audit,omitempty"`
	Recalibrate bool    `json:"judge_recalibrate,omitempty"`
	PeopleError float64 `json:"people_error,omitempty"` // the share of people's answers the refit takes to be wrong
	// PeopleErrorAuto (-people-error auto) takes it from people's agreement
	// instead: the one-coin fit on the earlier rounds (needs -overlap >= 2).
	PeopleErrorAuto bool `json:"people_error_auto,omitempty"`
}

// judgeFlagNames are the flags judgeSpec.flags and recalFlags define.
var judgeFlagNames = []string{"judge", "abstain", "judge-temperature", "judge-calibrate", "audit", "judge-recalibrate", "people-error"}

// flags defines the judge's flags on fs; what names what it answers.
func (j *judgeSpec) flags(fs *flag.FlagSet, what string) {
	fs.StringVar(&j.Judge, "judge", "", "with -labeler human: a reward model directory (rlhf rm -out) that answers the "+what+" it is\nsure of; people answer the rest")
	fs.Float64Var(&j.Abstain, "abstain", 0.2, "with -judge: leave a "+strings.TrimSuffix(what, "s")+" to people when P(the judge's pick beats the runner-up) < 0.5 + this")
	fs.Float64Var(&j.JudgeT, "judge-temperature", 0, "with -judge: its temperature in reward units (0: the reward model's own Bradley-Terry scale,\nor the fit of -judge-calibrate)")
	fs.Float64Var(&j.Audit, "audit", 0, "with -judge: the share of the judge's answers that people answer too (picked at random by\nquery id); people's answers replace the judge's there, and each round reports how often they agree")
	fs.StringVar(&j.Calibrate, "judge-calibrate", "", "with -judge: fit its temperature first on this labelled JSONL `file` (preference pairs, or\nrlhf serve -import lines with \"gold\"), as rlhf judge -calibrate does")
}

// recalFlags defines the flags of refitting the judge between rounds on
// fs (rlhf dpo -online: its rounds keep the judge's ledgers).
func (j *judgeSpec) recalFlags(fs *flag.FlagSet) {
	fs.BoolVar(&j.Recalibrate, "judge-recalibrate", false, "with -judge and -audit: refit the judge's temperature before each round on people's answers of\nthe earlier rounds, audited ones weighted by 1/audit")
	fs.Var(peopleErrorFlag{j}, "people-error", "with -judge-recalibrate: the share of people's answers to take as wrong (a random other\ncompletion), so that the refit does not take people's errors for the judge's; auto (with\n-overlap >= 2): estimate it before each round from how often people agreed in the earlier ones")
}

// check returns the errors of the judge's flags of command cmd; set holds
// the names of the flags given. Without a judge it clears Abstain, so that
// a run's saved settings do not hold a default that means nothing.
func (j *judgeSpec) check(cmd string, set map[string]bool) []error {
	var errs []error
	if j.Judge == "" {
		var bad []string
		for _, n := range judgeFlagNames[1:] {
			if set[n] {
				bad = append(bad, "-"+n)
			}
		}
		if len(bad) > 0 {
			errs = append(errs, fmt.Errorf("%s: %s only with -judge", cmd, strings.Join(bad, ", ")))
		}
		j.Abstain = 0
		return errs
	}
	if !(j.Abstain >= 0 && j.Abstain < 0.5) {
		errs = append(errs, fmt.Errorf("%s: -abstain %g must be in [0, 0.5)", cmd, j.Abstain))
	}
	if !(j.JudgeT >= 0) || math.IsInf(j.JudgeT, 0) {
		errs = append(errs, fmt.Errorf("%s: -judge-temperature %g must be >= 0 and finite", cmd, j.JudgeT))
	}
	if !(j.Audit >= 0 && j.Audit <= 1) {
		errs = append(errs, fmt.Errorf("%s: -audit %g must be in [0, 1]", cmd, j.Audit))
	}
	if j.Recalibrate && !(j.Audit > 0) {
		errs = append(errs, fmt.Errorf("%s: -judge-recalibrate needs -audit > 0: without audits people see only the groups the judge leaves, never whether its sure answers are right", cmd))
	}
	if !(j.PeopleError >= 0 && j.PeopleError < 0.5) {
		errs = append(errs, fmt.Errorf("%s: -people-error %g must be in [0, 0.5)", cmd, j.PeopleError))
	} else if (j.PeopleError > 0 || j.PeopleErrorAuto) && !j.Recalibrate {
		errs = append(errs, fmt.Errorf("%s: -people-error only with -judge-recalibrate", cmd))
	}
	if j.JudgeT > 0 && j.Calibrate != "" {
		errs = append(errs, fmt.Errorf("%s: -judge-temperature and -judge-calibrate both set: pick one", cmd))
	}
	return errs
}

// load loads the judge, fitting its temperature on Calibrate if set and
// reporting the fit to w.
func (j judgeSpec) load(ctx context.Context, w io.Writer) (*judge.Model, error) {
	m, err := judge.Load(j.Judge)
	if err != nil {
		return nil, fmt.Errorf("-judge: %w", err)
	}
	m.Abstain = j.Abstain
	if j.Calibrate != "" {
		if err := judgeCalibrate(ctx, m, j.Calibrate, 256, w); err != nil {
			return nil, fmt.Errorf("-judge-calibrate: %w", err)
		}
	}
	if j.JudgeT > 0 {
		m.Temperature = j.JudgeT
	}
	m.Name = fmt.Sprintf("%s/T=%.4g", m.Name, m.Temperature)
	return m, nil
}

// onlinePeople is what every people-labelled round shares: the store run,
// the label store as shown, and the judge.
type onlinePeople struct {
	h         *loop.HumanLabeler
	db        string       // the store's URL, password hidden
	judge     *judge.Model // nil: people answer every group
	judgeName string       // its name without the temperature
}

// openOnlinePeople opens run's label store (default labels.db in -out),
// registers the store run (named after -out; a rerun finds it) and loads
// the judge (reporting its calibration to w). closeAll marks the run
// stopped and closes the store.
func openOnlinePeople(ctx context.Context, run dpoRun, w io.Writer) (p *onlinePeople, closeAll func(context.Context) error, err error) {
	o := run.Online
	var jm *judge.Model
	if o.Judge != "" {
		if jm, err = o.judgeSpec.load(ctx, w); err != nil {
			return nil, nil, fmt.Errorf("dpo: %w", err)
		}
	}
	dbURL := o.DB
	if dbURL == "" {
		dbURL = "sqlite://" + filepath.Join(run.Out, "labels.db")
	}
	s, err := store.Open(ctx, dbURL)
	if err != nil {
		return nil, nil, fmt.Errorf("dpo: -db: %w", err)
	}
	runID := filepath.Base(filepath.Clean(run.Out))
	h, err := loop.NewHumanLabeler(ctx, s, runID, "dpo -online "+runID, o.Instructions)
	if err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("dpo: %w", err)
	}
	h.Poll, h.Overlap = o.Poll, o.Overlap
	closeAll = func(ctx context.Context) error {
		err := s.SetRunState(ctx, runID, store.RunStopped)
		if err != nil {
			err = fmt.Errorf("dpo: mark run %s stopped: %w", runID, err)
		}
		return errors.Join(err, s.Close())
	}
	p = &onlinePeople{h: h, db: redactURL(dbURL), judge: jm}
	if jm != nil {
		p.judgeName, _, _ = strings.Cut(jm.Name, "/T=")
	}
	return p, closeAll, nil
}

// peopleRound collects round r's preferences on samples of policy cur into
// dir/pairs.jsonl: the judge's answers (if any) and people's, who see only
// the groups the judge left. It returns the file once every group people
// were asked about is answered; an admin's stop is an error wrapping
// loop.ErrStopped.
func peopleRound(ctx context.Context, run dpoRun, r int, cur, dir string, p *onlinePeople, w io.Writer) (string, error) {
	o := run.Online
	pc := prefsConfig{Policy: cur, Out: filepath.Join(dir, peoplePairsFile), Count: o.Prompts, K: o.N, Format: "pairs",
		Temperature: 1, MaxNew: run.KLTokens, Seed: run.Config.Seed*1000 + uint64(r), Split: "train", Batch: 64,
		Run: p.h.RunID, QueryPrefix: fmt.Sprintf("%s-r%d", p.h.RunID, r), Labeler: loop.LabelerHuman, DB: p.db,
		Instructions: o.Instructions, Poll: o.Poll, Overlap: o.Overlap, Cmd: "dpo"}
	qs, err := sampleGroups(ctx, pc, w)
	if err != nil {
		return "", err
	}
	ask := qs
	var jd loop.Judged
	var judged []judge.PrefRecord
	var ledger []ledgerLine
	if p.judge != nil {
		if o.Recalibrate && r > 1 {
			eps := o.PeopleError
			if o.PeopleErrorAuto {
				if eps, err = estimatedPeopleError(run.Out, r); err != nil {
					return "", err
				}
				fmt.Fprintf(w, "dpo: -people-error auto: people's error rate %.4f, from how often they agreed in rounds 1-%d\n", eps, r-1)
			}
			if err := recalibrate(run.Out, r, p, eps, w); err != nil {
				return "", err
			}
		}
		if jd, judged, err = judgeRound(ctx, p.judge, qs, o.Audit, w); err != nil {
			return "", err
		}
		ask = jd.Ask
		if ledger, err = writeLedger(filepath.Join(dir, judgeLedgerFile), qs, jd, o.Audit); err != nil {
			return "", fmt.Errorf("dpo: %w", err)
		}
	}
	if len(ask) > 0 {
		if err := askPeople(ctx, pc, p.h, ask, w); err != nil {
			return "", err
		}
	}
	// The round trains on the judge's records and people's, in one file.
	recs := make([]any, 0, len(judged))
	for _, l := range judged {
		recs = append(recs, l)
	}
	people, err := readPeople(pc.Out)
	if err != nil {
		return "", err
	}
	sortPeople(people, qs)
	train := people
	if o.Overlap >= 2 {
		if train, err = consensusRound(run.Out, dir, r, people, run.Aggregate, w); err != nil {
			return "", err
		}
	}
	for _, rec := range train {
		recs = append(recs, rec)
	}
	if p.judge != nil {
		if err := writeJudgeRound(filepath.Join(dir, judgeRoundFile), ledger, people, p.judge, w); err != nil {
			return "", fmt.Errorf("dpo: %w", err)
		}
	}
	if len(recs) == 0 {
		return "", fmt.Errorf("dpo: online round %d: no group of %d was answered with a preference (all ties or can't tell)", r, len(qs))
	}
	out := filepath.Join(dir, roundPairsFile)
	if _, err := feedback.WriteFile(out, slices.Values(recs)); err != nil {
		return "", fmt.Errorf("dpo: %w", err)
	}
	return out, nil
}

// sortPeople orders people's records as their groups are in qs, and a
// group's by labeler (stably: a k-way answer's k-1 records keep theirs),
// so that the round trains in the same order whenever the same answers
// arrive in another (several people at work at once); one person answers
// in qs's order already.
func sortPeople(recs []feedback.PairRecord, qs []feedback.Query) {
	idx := make(map[string]int, len(qs))
	for i, q := range qs {
		idx[q.ID] = i
	}
	slices.SortStableFunc(recs, func(a, b feedback.PairRecord) int {
		return cmp.Or(cmp.Compare(idx[a.QueryID], idx[b.QueryID]), cmp.Compare(a.Labeler, b.Labeler))
	})
}

// judgeRound has the judge decide every group of qs (loop.JudgeFirst, with
// a share audit of its answers audited) and returns its decisions with the
// pair records of the answers it keeps (not audited).
func judgeRound(ctx context.Context, m *judge.Model, qs []feedback.Query, audit float64, w io.Writer) (loop.Judged, []judge.PrefRecord, error) {
	jd, err := loop.JudgeFirst(ctx, m, qs, audit, w)
	if err != nil {
		return jd, nil, err
	}
	var judged []judge.PrefRecord
	for i, q := range qs {
		if jd.Kept(i) {
			judged = append(judged, judge.PrefRecords(q, jd.Labels[i])...)
		}
	}
	fmt.Fprintf(w, "dpo: the judge %s answers %d of %d groups (P(pick beats runner-up) >= %.2f) and leaves %d to people",
		m.Name, jd.Answered(), len(qs), 0.5+m.Abstain, len(qs)-jd.Answered())
	if len(jd.Audited) > 0 {
		fmt.Fprintf(w, ", who also answer %d of its answers (an audit)", len(jd.Audited))
	}
	fmt.Fprintf(w, "; %d pairs are the judge's\n", len(judged))
	return jd, judged, nil
}

// readPeople reads people's answers of a round (none if the file does not
// exist: people were asked nothing); a torn last line of a crash while
// appending is skipped, more garbage is an error.
func readPeople(path string) ([]feedback.PairRecord, error) {
	var recs []feedback.PairRecord
	opt := &feedback.ReadOptions{SkipBad: true}
	for rec, err := range feedback.ReadPairsFile(path, opt) {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("dpo: %w", err)
		}
		recs = append(recs, rec)
	}
	if opt.Skipped > 1 {
		return nil, fmt.Errorf("dpo: %s has %d lines that are not preference pairs (at most one torn last line is expected)", path, opt.Skipped)
	}
	return recs, nil
}

// The judge's files of a round: its decision on every group (the ledger,
// written before people are asked) and the round's tally.
const (
	judgeLedgerFile = "judge.jsonl"
	judgeRoundFile  = "judge.json"
)

// ledgerLine is the judge's decision on one group of a round. Weight is
// the inverse of the probability that people were asked about the group:
// 1 for the groups the judge left, 1/audit for its audited answers, 0 for
// the answers it kept; weighting people's answers by it makes them a
// sample of all the round's groups (for -judge-recalibrate).
type ledgerLine struct {
	QueryID     string    `json:"query_id"`
	Completions []string  `json:"completions"`
	Scores      []float64 `json:"scores"`
	Pick        int       `json:"pick"` // the judge's answer: an item, -1 (a tie: equal scores) or -2 (can't tell)
	Audited     bool      `json:"audited,omitempty"`
	Weight      float64   `json:"weight"`
}

// writeLedger writes the judge's decision on every group of qs to path and
// returns it; audit is the share of its answers audited.
func writeLedger(path string, qs []feedback.Query, jd loop.Judged, audit float64) ([]ledgerLine, error) {
	if jd.Scores == nil {
		return nil, errors.New("the judge gave no scores")
	}
	lines := make([]ledgerLine, len(qs))
	for i, q := range qs {
		l := ledgerLine{QueryID: q.ID, Scores: jd.Scores[i], Pick: int(jd.Labels[i].Choice), Audited: jd.Audited[q.ID]}
		for _, it := range q.Items {
			l.Completions = append(l.Completions, it.Completion)
		}
		switch {
		case jd.Labels[i].Choice == feedback.CantTell:
			l.Weight = 1
		case l.Audited:
			l.Weight = 1 / audit
		}
		lines[i] = l
	}
	_, err := feedback.WriteFile(path, slices.Values(lines))
	return lines, err
}

// judgeTally is a round's judge.json: the judge's temperature and how
// the round's groups were shared between it and people.
type judgeTally struct {
	Temperature float64    `json:"temperature"`
	Abstain     float64    `json:"abstain"`
	Groups      int        `json:"groups"`
	Answered    int        `json:"answered"` // by the judge, audited or not
	Kept        int        `json:"kept"`     // of which trained on (not audited)
	Deferred    int        `json:"deferred"` // left to people
	Audit       loop.Audit `json:"audit"`
}

// answerKey is one person's answer to one group: people's pair records
// hold one record per rejected item, all with the same chosen one.
type answerKey struct{ query, labeler string }

// peopleAnswers calls each with the ledger line of every group people
// answered and the item each person picked there, once per person and
// group; records of groups outside the ledger, and those whose chosen text
// is not exactly one of the group's completions, are left out.
func peopleAnswers(ledger []ledgerLine, people []feedback.PairRecord, each func(l ledgerLine, pick int)) {
	byID := make(map[string]int, len(ledger))
	for i, l := range ledger {
		byID[l.QueryID] = i
	}
	seen := map[answerKey]bool{}
	for _, rec := range people {
		i, ok := byID[rec.QueryID]
		k := answerKey{rec.QueryID, rec.Labeler}
		if !ok || seen[k] {
			continue
		}
		seen[k] = true
		cs := ledger[i].Completions
		if pick := slices.Index(cs, rec.Chosen); pick >= 0 && slices.Index(cs[pick+1:], rec.Chosen) < 0 {
			each(ledger[i], pick)
		}
	}
}

// writeJudgeRound tallies the round from its ledger: how many groups the
// judge answered, kept and left, and how people's answers to its audited
// groups compare with its picks, reported to w and written to path.
func writeJudgeRound(path string, ledger []ledgerLine, people []feedback.PairRecord, m *judge.Model, w io.Writer) error {
	t := judgeTally{Temperature: m.Temperature, Abstain: m.Abstain, Groups: len(ledger)}
	for _, l := range ledger {
		switch {
		case feedback.Choice(l.Pick) == feedback.CantTell:
			t.Deferred++
		case l.Audited:
			t.Audit.Queries++
		default:
			t.Kept++
		}
	}
	t.Answered = t.Kept + t.Audit.Queries
	if t.Audit.Queries > 0 {
		peopleAnswers(ledger, people, func(l ledgerLine, pick int) {
			if l.Audited {
				t.Audit.Add(feedback.Label{Choice: feedback.Choice(l.Pick)}, feedback.Label{Choice: feedback.Choice(pick)})
			}
		})
		fmt.Fprintf(w, "dpo: audit: %s\n", t.Audit)
	}
	js, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(js, '\n'), 0o644)
}

// recalibrate refits the judge's temperature before round r on people's
// answers in the rounds before it, each weighted by its ledger line (1/audit
// for an audited group, 1 for a group the judge left), so that the fit is
// one of all the groups the judge saw, not only of the hard ones it left to
// people, and with people's error rate peopleError (judge.FitTemperatureNoisy).
// Too few answers to fit keep the temperature, saying why.
func recalibrate(out string, r int, p *onlinePeople, peopleError float64, w io.Writer) error {
	var scores [][]float64
	var labels []feedback.Choice
	var weights []float64
	for k := 1; k < r; k++ {
		dir := filepath.Join(out, fmt.Sprintf("round%d", k))
		var ledger []ledgerLine
		for l, err := range feedback.ReadJSONLFile[ledgerLine](filepath.Join(dir, judgeLedgerFile), nil) {
			if err != nil {
				return fmt.Errorf("dpo: -judge-recalibrate: %w", err)
			}
			ledger = append(ledger, l)
		}
		people, err := readPeople(filepath.Join(dir, peoplePairsFile))
		if err != nil {
			return err
		}
		peopleAnswers(ledger, people, func(l ledgerLine, pick int) {
			if l.Weight > 0 {
				scores, labels, weights = append(scores, l.Scores), append(labels, feedback.Choice(pick)), append(weights, l.Weight)
			}
		})
	}
	old := p.judge.Temperature
	t, n, err := judge.FitTemperatureNoisy(scores, labels, weights, peopleError)
	if err != nil {
		fmt.Fprintf(w, "dpo: -judge-recalibrate: keeping T=%.4g (%d answers of rounds 1-%d: %v)\n", old, n, r-1, err)
		return nil
	}
	p.judge.Temperature = t
	p.judge.Name = fmt.Sprintf("%s/T=%.4g", p.judgeName, t)
	noise := ""
	if peopleError > 0 {
		noise = fmt.Sprintf("; people taken to be wrong %.3g of the time", peopleError)
	}
	fmt.Fprintf(w, "dpo: -judge-recalibrate: T %.4g -> %.4g, fitted on %d answers of people in rounds 1-%d (audited groups weighted by 1/audit%s)\n", old, t, n, r-1, noise)
	return nil
}

// clearTraining removes what an interrupted round's training wrote to dir,
// keeping people's answers (people.jsonl and its run.json), so that the
// round trains again from the start on them.
func clearTraining(dir string) error {
	keep := []string{peoplePairsFile, peoplePairsFile + ".run.json"}
	es, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range es {
		if !slices.Contains(keep, e.Name()) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
