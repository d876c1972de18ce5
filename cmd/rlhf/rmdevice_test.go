package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rlhf/loop"
	"rlhf/model/gpt"
	"rlhf/reward"
)

// lmTinyRM saves a reward model made from the policy in dir (a fresh
// reward head, identity normaliser) as the text loop saves one (completions
// end with the end-of-text token) and returns its directory.
func lmTinyRM(t *testing.T, policy string) string {
	t.Helper()
	rm, err := reward.InitGPT(policy, 11)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "rm")
	if err := loop.SaveTextRM(loop.TextRM{GPTReward: rm}, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// firstStepSamples returns the samples a run logged at its first step.
func firstStepSamples(t *testing.T, dir string) []sampleLine {
	t.Helper()
	buf, err := os.ReadFile(filepath.Join(dir, loop.TextSamplesFile))
	if err != nil {
		t.Fatal(err)
	}
	var out []sampleLine
	for line := range strings.SplitSeq(strings.TrimSpace(string(buf)), "\n") {
		var s sampleLine
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if s.Step == 1 {
			out = append(out, s)
		}
	}
	return out
}

// TestGPTRewardOfScorer: the reward model behind rlhf ppo's scorers is
// found for both kinds of reward-model directory, and a goal has none.
func TestGPTRewardOfScorer(t *testing.T) {
	policy := lmTinyPolicy(t)
	text := lmTinyRM(t, policy)
	plain := filepath.Join(t.TempDir(), "plain")
	m, err := gpt.Load(policy)
	if err != nil {
		t.Fatal(err)
	}
	if err := reward.NewGPT(m, nil, 3).Save(plain); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{text, plain} {
		s, err := textGoal("rm:"+dir, "e")
		if err != nil {
			t.Fatal(err)
		}
		if rm := gptReward(s); rm == nil || rm.Model == nil || rm.Model.RHead == nil {
			t.Errorf("rm:%s (%T): no reward model found", dir, s)
		}
	}
	s, err := textGoal("sentiment", "e")
	if err != nil {
		t.Fatal(err)
	}
	if rm := gptReward(s); rm != nil {
		t.Errorf("the sentiment goal (%T) has a reward model", s)
	}
	if _, err := scoreOnDevice(&trainDevice{name: deviceCPU}, gptReward(mustScorer(t, text)), 4); err == nil || !strings.Contains(err.Error(), "CPU engine") {
		t.Errorf("a device copy on the CPU engine: %v", err)
	}
	// On a device the reward model gets the copy as its Device, and a
	// default batch shrinks to the rows scored at once.
	dev, err := openDevice("go")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ batch, rows, want int }{{0, 4, 4}, {0, 0, 0}, {0, 64, 0}, {8, 4, 8}} {
		rm := gptReward(mustScorer(t, text))
		rm.Batch = tc.batch
		fd, err := scoreOnDevice(dev, rm, tc.rows)
		if err != nil {
			t.Fatal(err)
		}
		if rm.Device != fd || rm.Batch != tc.want {
			t.Errorf("batch %d, %d rows at once: Device %v, Batch %d, want the copy and %d", tc.batch, tc.rows, rm.Device, rm.Batch, tc.want)
		}
	}
}

func mustScorer(t *testing.T, dir string) any {
	t.Helper()
	s, err := textGoal("rm:"+dir, "e")
	if err != nil {
		t.Fatal(err)
	}
	return s
}
