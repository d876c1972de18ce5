package main

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"rlhf/bon"
	"rlhf/model/gpt"
	"rlhf/reward"
)

func TestBoNCommand(t *testing.T) {
	policy := tinyPolicy(t)
	m, _ := gpt.Load(policy)
	rmDir := filepath.Join(t.TempDir(), "rm")
	if err := reward.NewGPT(m, nil, 1).Save(rmDir); err != nil {
		t.Fatal(err)
	}
	for _, extra := range [][]string{nil, {"-reward", rmDir}} {
		args := append([]string{"-policy", policy, "-n", "1,3", "-prompts", "3", "-max-new-tokens", "5"}, extra...)
		if err := runBoN(context.Background(), args); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "0"}, "-n"},
		{[]string{"-n", "2,x"}, "-n"},
		{[]string{"-goal", "x"}, "goal"},
		{[]string{"-prompts", "0"}, "-prompts"},
		{[]string{"-reward", policy}, "no reward head"},
	} {
		err := runBoN(context.Background(), append([]string{"-policy", policy}, tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}

// With the gold goal as the proxy, the gold score of best-of-n rises with n
// and best-of-1 equals the n=1 baseline.
func TestBoNTableGoldRisesWithN(t *testing.T) {
	policy := tinyPolicy(t)
	m, tok, err := loadPolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	gold := bon.TextScorer{Scorer: reward.GoalScorer{Goal: func(s string) float64 { return float64(len(s)) }}, Tok: tok}
	prompts := [][]int{tok.Encode("We the people"), tok.Encode("It is")}
	res, err := bon.Sample(context.Background(), m, prompts, 8, gpt.SampleConfig{MaxNewTokens: 6, Temperature: 1, Seed: 2}, gold)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := bonTable(res, prompts, gold, []int{1, 2, 8})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(rows[0].Gold-rows[0].Base) > 1e-9 || rows[0].KL != 0 {
		t.Errorf("n=1 row %+v: gold should equal its baseline, KL 0", rows[0])
	}
	if !(rows[2].Gold >= rows[1].Gold && rows[1].Gold >= rows[0].Gold) || rows[2].KL != bon.KL(8) {
		t.Errorf("gold not monotone in n with a perfect proxy: %+v", rows)
	}
}
