package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"rlhf/feedback"
	"rlhf/loop"
	"rlhf/model/gpt"
	"rlhf/text"
)

// shiftFile caches a run's shift measurement in its directory.
const shiftFile = "rm_shift.json"

// shift is how well a run's final reward model orders pairs of completions
// as the goal does, on samples of the initial policy and of the policy PPO
// trained against it: the distribution the offline labels came from, and
// the one the optimised policy moved to.
type shift struct {
	Prompts  int     `json:"prompts"` // val prompts, one pair each
	Seed     uint64  `json:"seed"`
	Initial  float64 `json:"initial_agreement"`
	InitialN int     `json:"initial_pairs"`
	Final    float64 `json:"final_agreement"`
	FinalN   int     `json:"final_pairs"`
}

// measureShift returns the shift of the run in dir on n val prompts,
// sampled with seed: from dir/rm_shift.json when it holds the same n and
// seed, otherwise measured and written there.
func measureShift(ctx context.Context, dir string, n int, seed uint64) (shift, error) {
	path := filepath.Join(dir, shiftFile)
	if buf, err := os.ReadFile(path); err == nil {
		var s shift
		if json.Unmarshal(buf, &s) == nil && s.Prompts == n && s.Seed == seed {
			return s, nil
		}
	}
	var c loop.TextConfig
	buf, err := os.ReadFile(filepath.Join(dir, loop.TextRunFile))
	if err != nil {
		return shift{}, fmt.Errorf("online: %w", err)
	}
	if err := json.Unmarshal(buf, &c); err != nil {
		return shift{}, fmt.Errorf("online: %s: %w", loop.TextRunFile, err)
	}
	goal, err := loop.TextGoal(c.Goal, []rune(c.Letter + "e")[0])
	if err != nil {
		return shift{}, fmt.Errorf("online: %w", err)
	}
	rm, err := loop.LoadTextRM(filepath.Join(dir, loop.TextRMDir))
	if err != nil {
		return shift{}, fmt.Errorf("online: %w", err)
	}
	prompts, err := text.Prompts("val")
	if err != nil {
		return shift{}, fmt.Errorf("online: %w", err)
	}
	prompts = prompts[:min(n, len(prompts))]
	s := shift{Prompts: n, Seed: seed}
	for _, p := range []struct {
		dir    string
		agree  *float64
		nPairs *int
	}{{c.Policy, &s.Initial, &s.InitialN}, {filepath.Join(dir, loop.TextPolicyDir), &s.Final, &s.FinalN}} {
		m, err := gpt.Load(p.dir)
		if err != nil {
			return shift{}, fmt.Errorf("online: %w", err)
		}
		tok, err := gpt.LoadTokenizer(p.dir, m.Config)
		if err != nil {
			return shift{}, fmt.Errorf("online: %w", err)
		}
		qs, err := loop.TextQueries(ctx, m, tok, prompts, 2, c.Sampling, seed, "shift")
		if err != nil {
			return shift{}, fmt.Errorf("online: %w", err)
		}
		labels := make([]feedback.Label, len(qs)) // any decided choice: PairAccuracy orders by the goal
		for i := range labels {
			labels[i] = feedback.Label{QueryID: qs[i].ID, Choice: 0}
		}
		cs, err := loop.TokenComparisons(tok, qs, labels, false)
		if err != nil {
			return shift{}, fmt.Errorf("online: %w", err)
		}
		if *p.agree, *p.nPairs, err = loop.PairAccuracy(tok, cs, rm, goal, 1e-9); err != nil {
			return shift{}, fmt.Errorf("online: %w", err)
		}
	}
	js, _ := json.MarshalIndent(s, "", "  ")
	if err := os.WriteFile(path, append(js, '\n'), 0o644); err != nil {
		return shift{}, fmt.Errorf("online: %w", err)
	}
	return s, nil
}
