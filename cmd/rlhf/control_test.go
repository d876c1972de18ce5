package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rlhf/loop"
	"rlhf/ppo"
	"rlhf/report"
	"rlhf/reward"
	"rlhf/safetensors"
)

// changed reports whether any tensor of a safetensors file differs from the
// same-named parameter of want, and fails if a name is missing.
func changed(t *testing.T, path string, want map[string][]float32) bool {
	t.Helper()
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	diff := false
	for name, w := range want {
		got, ok := f.Tensors[name]
		if !ok {
			t.Fatalf("%s lacks %s", path, name)
		}
		for i := range w {
			if got.Data[i] != w[i] {
				diff = true
			}
		}
	}
	return diff
}

func TestControlSmoke(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	var out bytes.Buffer
	args := []string{"-env", "CartPole-v1", "-steps", "1024", "-labels", "16", "-rm-init-steps", "10",
		"-rm-steps-per-label", "0.5", "-eval-episodes", "2", "-queries", "active", "-out", dir, "-q"}
	if err := controlMain(context.Background(), args, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"metrics.jsonl", loop.LabelsFile, loop.SummaryFile, loop.ReportFile, loop.CurveFile, loop.StateFile, controlLabelerFile} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("output %s missing or empty: %v", f, err)
		}
	}
	if s := out.String(); !strings.Contains(s, "final return") || !strings.Contains(s, "labels: 16 requested") {
		t.Errorf("summary: %q", s)
	}
	// Policy and reward model parameters moved away from their initial values.
	cfg, err := loop.DefaultControl("CartPole-v1")
	if err != nil {
		t.Fatal(err)
	}
	pc := cfg.PPO
	pc.Seed, pc.TotalSteps = 1, 1024
	fresh, err := ppo.NewTrainer(pc)
	if err != nil {
		t.Fatal(err)
	}
	init := map[string][]float32{}
	for _, p := range fresh.Params() {
		init[p.Name] = append([]float32(nil), p.P.Value.Data...)
	}
	if !changed(t, filepath.Join(dir, loop.PolicyDir, ppo.ModelFile), init) {
		t.Error("policy parameters did not change")
	}
	rc := cfg.RM
	rc.Seed = 1
	ens, err := reward.NewEnsemble(rc)
	if err != nil {
		t.Fatal(err)
	}
	rinit := map[string][]float32{}
	for _, p := range ens.Members[0].Net.Params() {
		rinit["member.0."+p.Name] = append([]float32(nil), p.P.Value.Data...)
	}
	if !changed(t, filepath.Join(dir, loop.RewardDir, reward.ModelFile), rinit) {
		t.Error("reward model parameters did not change")
	}
	// A finished run resumes to an immediate end with the same summary.
	out.Reset()
	if err := controlMain(context.Background(), []string{"-resume", "-out", dir, "-q", "-eval-episodes", "2"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("resume of a finished run: %v", err)
	}
	if !strings.Contains(out.String(), "1024 steps") {
		t.Errorf("resumed summary: %q", out.String())
	}
	// A fresh run refuses a directory that holds one.
	if err := controlMain(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "resume") {
		t.Errorf("reusing a run directory: %v", err)
	}
}

func TestControlTrueRewardSmoke(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	var out bytes.Buffer
	if err := controlMain(context.Background(), []string{"-env", "CartPole-v1", "-reward", "true", "-steps", "512", "-eval-episodes", "1", "-out", dir, "-q"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "labels:") || !strings.Contains(out.String(), "true reward") {
		t.Errorf("summary: %q", out.String())
	}
}

func TestControlBadFlags(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"-env", "Nope-v0"}, []string{"unknown environment", "CartPole-v1", "Reacher2D-v0", "PendulumSpin-v0"}},
		{[]string{"-reward", "gold"}, []string{"-reward", "true", "learned"}},
		{[]string{"-queries", "smart"}, []string{"-queries", "random", "active"}},
		{[]string{"-labeler", "psychic"}, []string{"-labeler", "oracle", "boltzmann"}},
		{[]string{"-labels", "1"}, []string{"labels must be >= 2"}},
		{[]string{"-steps", "0"}, []string{"steps"}},
		{[]string{"-eps-random", "1.5"}, []string{"random-answer probability"}},
		{[]string{"-label-delay", "-1s"}, []string{"label-delay"}},
		{[]string{"-retrain-every", "-1"}, []string{"-retrain-every", ">= 0"}},
		{[]string{"-initial-fraction", "1.5"}, []string{"-initial-fraction", "[0, 1]"}},
		{[]string{"-initial-fraction", "NaN"}, []string{"-initial-fraction", "[0, 1]"}},
		{[]string{"-rm-steps-per-label", "-0.5"}, []string{"-rm-steps-per-label", ">= 0"}},
		{[]string{"-wait-labels", "maybe"}, []string{"-wait-labels", "on, off or auto"}},
		{[]string{"-env", "PendulumSpin-v0", "-reward", "true"}, []string{"hides its goal"}},
		{[]string{"-nonsense"}, []string{"flag provided but not defined"}},
		{[]string{"extra"}, []string{"unexpected arguments"}},
		{[]string{"-resume", "-out", filepath.Join(dir, "none")}, []string{"resume"}},
	}
	for _, c := range cases {
		args := append([]string{"-q", "-out", filepath.Join(dir, "x")}, c.args...)
		err := controlMain(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil {
			t.Errorf("%v: no error", c.args)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q lacks %q", c.args, err, w)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
		t.Error("a bad flag left a run directory behind")
	}
}

// TestControlWaitLabels: with a slow labeler, -wait-labels on makes every
// PPO iteration start with the answers to all queries asked before it;
// the default (auto: off for -label-delay) lets training run ahead.
func TestControlWaitLabels(t *testing.T) {
	behind := func(wait string) int {
		dir := filepath.Join(t.TempDir(), "run")
		args := []string{"-env", "CartPole-v1", "-steps", "2048", "-labels", "40", "-rm-init-steps", "5",
			"-rm-steps-per-label", "0.2", "-eval-episodes", "1", "-queries", "random", "-label-delay", "20ms",
			"-out", dir, "-q"}
		if wait != "" {
			args = append(args, "-wait-labels", wait)
		}
		if err := controlMain(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		m, err := report.LoadMetrics(dir)
		if err != nil {
			t.Fatal(err)
		}
		_, req := m.Series("labels/requested")
		_, recv := m.Series("labels/received")
		n := 0
		for i := 1; i < len(req); i++ {
			if recv[i] < req[i-1] {
				n++
			}
		}
		return n
	}
	if n := behind("on"); n != 0 {
		t.Errorf("-wait-labels on: %d iterations started before earlier queries were answered", n)
	}
	if n := behind(""); n == 0 {
		t.Error("-label-delay without -wait-labels: training never ran ahead of the labeler")
	}
}
