package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestSummarise(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ev := func(before, after, kl float64, rounds int) string {
		return `{"before":{"gold_mean":` + ftoa(before) + `},"after":{"gold_mean":` + ftoa(after) + `,"kl_mean":` + ftoa(kl) +
			`},"rm":{"accuracy":0.7,"gold_pair_accuracy":0.75},"labels":1000,"rounds":` + ftoa(float64(rounds)) + `}`
	}
	write("online-q1000-kl4-s2/eval.json", ev(0.2, 0.6, 4, 5))
	write("online-q1000-kl4-s1/eval.json", ev(0.2, 0.4, 2, 5))
	write("online-q1000-kl4-s1.secs", "100\n")
	write("online-q1000-kl4-s2.secs", "120\n")
	write("offline-q1000-kl4-s1/eval.json", ev(0.2, 0.3, 4, 1))
	write("offline-q250-kl4-s1/eval.json", ev(0.2, 0.25, 4, 1))
	write("offline-q250-kl12-s1/eval.json", ev(0.2, 0.5, 12, 1))
	os.MkdirAll(filepath.Join(dir, "online-q1000-kl4-s3"), 0o755) // unfinished: skipped
	var b strings.Builder
	if err := summarise(dir, &b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| 4 | 1000 | online (5 rounds) | 2 | +0.300 ± 0.100 | s1 +0.200, s2 +0.400 | +0.500 ± 0.100 | 3.00 ± 1.00 | 70.0 ± 0.0 | 75.0 ± 0.0 | 110 ± 10 |",
		"| 4 | 1000 | offline (1 round) | 1 | +0.100 ± 0.000 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if i250, i1000 := strings.Index(out, "| 4 | 250 |"), strings.Index(out, "| 4 | 1000 | offline"); i250 < 0 || i1000 < i250 || strings.Index(out, "| 4 | 1000 | online") < i1000 {
		t.Errorf("rows not ordered by budget, then offline before online:\n%s", out)
	}
	if i12 := strings.Index(out, "| 12 | 250 | offline (1 round) | 1 | +0.300"); i12 < strings.Index(out, "| 4 | 1000 | online") {
		t.Errorf("KL target 12 not after target 4:\n%s", out)
	}
	write("offline-q1000-kl4-s2/eval.json", "{oops")
	if err := summarise(dir, &b); err == nil {
		t.Error("corrupt eval.json: no error")
	}
	if err := summarise(t.TempDir(), &b); err == nil {
		t.Error("no runs: no error")
	}
}

func ftoa(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
