package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeEval writes an eval.json with gold g and KL kl at path.
func writeEval(t *testing.T, path string, g, kl float64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fmt.Appendf(nil, `{"gold_mean": %g, "kl_mean": %g, "n": 4}`, g, kl), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSeries(t *testing.T) {
	dir := t.TempDir()
	var runs []string
	for s := range 2 {
		run := filepath.Join(dir, fmt.Sprint("seed", s))
		runs = append(runs, run)
		writeEval(t, filepath.Join(run, "base-eval.json"), float64(s), 0)
		for r := 1; r <= 2; r++ {
			writeEval(t, filepath.Join(run, "people", fmt.Sprint("round", r), "eval.json"), float64(10*r+s), float64(r))
			writeEval(t, filepath.Join(run, "recal", fmt.Sprint("round", r), "eval.json"), float64(20*r), float64(2*r+s))
		}
	}
	ss, err := series(runs, 2)
	if err != nil {
		t.Fatal(err)
	}
	name := func(dir string) string {
		for _, a := range armNames {
			if a.dir == dir {
				return a.name
			}
		}
		return ""
	}
	if len(ss) != 2 || ss[0].Name != name("people") || ss[1].Name != name("recal") {
		t.Fatalf("series %v", ss)
	}
	if !slices.Equal(ss[0].X, []float64{0, 1, 2}) || !slices.Equal(ss[0].Y, []float64{0.5, 10.5, 20.5}) ||
		!slices.Equal(ss[1].X, []float64{0, 2.5, 4.5}) || !slices.Equal(ss[1].Y, []float64{0.5, 20, 40}) ||
		!slices.Equal(ss[1].PointLabels, []string{"", "r1", "r2"}) {
		t.Errorf("people %v %v, recal %v %v %v", ss[0].X, ss[0].Y, ss[1].X, ss[1].Y, ss[1].PointLabels)
	}
	// A round missing in one run, or no known arm, is an error.
	os.Remove(filepath.Join(runs[1], "recal", "round2", "eval.json"))
	if _, err := series(runs, 2); err == nil || !strings.Contains(err.Error(), "round2") {
		t.Errorf("missing round: %v", err)
	}
	if _, err := series([]string{t.TempDir()}, 2); err == nil {
		t.Error("a directory without runs was plotted")
	}
}
