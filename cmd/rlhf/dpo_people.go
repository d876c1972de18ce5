package main

import (
	"context"
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
}

// judgeFlagNames are the flags judgeSpec.flags defines.
var judgeFlagNames = []string{"judge", "abstain", "judge-temperature", "judge-calibrate"}

// flags defines the judge's flags on fs; what names what it answers.
func (j *judgeSpec) flags(fs *flag.FlagSet, what string) {
	fs.StringVar(&j.Judge, "judge", "", "with -labeler human: a reward model directory (rlhf rm -out) that answers the "+what+" it is\nsure of; people answer the rest")
	fs.Float64Var(&j.Abstain, "abstain", 0.2, "with -judge: leave a "+strings.TrimSuffix(what, "s")+" to people when P(the judge's pick beats the runner-up) < 0.5 + this")
	fs.Float64Var(&j.JudgeT, "judge-temperature", 0, "with -judge: its temperature in reward units (0: the reward model's own Bradley-Terry scale,\nor the fit of -judge-calibrate)")
	fs.StringVar(&j.Calibrate, "judge-calibrate", "", "with -judge: fit its temperature first on this labelled JSONL `file` (preference pairs, or\nrlhf serve -import lines with \"gold\"), as rlhf judge -calibrate does")
}

// check returns the errors of the judge's flags of command cmd; set holds
// the names of the flags given. Without a judge it clears Abstain, so that
// a run's saved settings do not hold a default that means nothing.
func (j *judgeSpec) check(cmd string, set map[string]bool) []error {
	var errs []error
	if j.Judge == "" {
		if set["abstain"] || set["judge-temperature"] || set["judge-calibrate"] {
			errs = append(errs, fmt.Errorf("%s: -abstain, -judge-temperature and -judge-calibrate only with -judge", cmd))
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
	h     *loop.HumanLabeler
	db    string       // the store's URL, password hidden
	judge *judge.Model // nil: people answer every group
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
	return &onlinePeople{h: h, db: redactURL(dbURL), judge: jm}, closeAll, nil
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
	var judged []judge.PrefRecord
	if p.judge != nil {
		if ask, judged, err = judgeRound(ctx, p.judge, qs, w); err != nil {
			return "", err
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
	opt := &feedback.ReadOptions{SkipBad: true} // a torn last line of a crash while appending
	for rec, err := range feedback.ReadPairsFile(pc.Out, opt) {
		if errors.Is(err, fs.ErrNotExist) {
			break // people were asked nothing
		}
		if err != nil {
			return "", fmt.Errorf("dpo: %w", err)
		}
		recs = append(recs, rec)
	}
	if opt.Skipped > 1 {
		return "", fmt.Errorf("dpo: %s has %d lines that are not preference pairs (at most one torn last line is expected)", pc.Out, opt.Skipped)
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

// judgeRound has the judge decide every group of qs (loop.JudgeFirst) and
// returns the pair records of those it answers with the groups it leaves
// to people.
func judgeRound(ctx context.Context, m *judge.Model, qs []feedback.Query, w io.Writer) (ask []feedback.Query, judged []judge.PrefRecord, err error) {
	answered, labels, ask, err := loop.JudgeFirst(ctx, m, qs, w)
	if err != nil {
		return nil, nil, err
	}
	for i, q := range answered {
		judged = append(judged, judge.PrefRecords(q, labels[i])...)
	}
	fmt.Fprintf(w, "dpo: the judge %s answers %d of %d groups (%d pairs; P(pick beats runner-up) >= %.2f) and leaves %d to people\n",
		m.Name, len(answered), len(qs), len(judged), 0.5+m.Abstain, len(ask))
	return ask, judged, nil
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
