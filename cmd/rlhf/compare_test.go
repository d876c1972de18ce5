package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeMetrics writes a metrics.jsonl with objective/gold = a + b·step and
// objective/kl = step for steps 1..n, plus extra on the last line.
func writeMetrics(t *testing.T, dir string, a, b float64, n int, extra string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	for s := 1; s <= n; s++ {
		ex := ""
		if s == n && extra != "" {
			ex = "," + extra
		}
		fmt.Fprintf(&buf, `{"step":%d,"time":1,"objective/gold":%g,"objective/kl":%d%s}`+"\n", s, a+b*float64(s), s, ex)
	}
	if err := os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(buf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCompare(t *testing.T) {
	dir := t.TempDir()
	writeMetrics(t, filepath.Join(dir, "online-s1"), 0, 1, 4, "")
	writeMetrics(t, filepath.Join(dir, "online-s2"), 0, 3, 4, "")
	writeMetrics(t, filepath.Join(dir, "offline-s1"), 1, 0, 4, `"rm/accuracy":0.7`)
	for name, after := range map[string]float64{"online-s1": 0.5, "online-s2": 0.7} {
		ev := fmt.Sprintf(`{"before":{"gold_mean":0.2},"after":{"gold_mean":%g,"kl_mean":4},"rm":{"accuracy":0.75}}`, after)
		if err := os.WriteFile(filepath.Join(dir, name, "eval.json"), []byte(ev), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "cmp", "report.html")
	runs := []string{filepath.Join(dir, "online-s1"), filepath.Join(dir, "online-s2"), filepath.Join(dir, "offline-s1", "metrics.jsonl")}

	// Pooled over seeds: online's last gold is mean(4, 12) ± 4 over 2 runs.
	svgs := filepath.Join(dir, "svg")
	o, err := parseCompare(append([]string{"-out", out, "-seeds", "-svg", svgs}, runs...), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := compareRuns(o, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| run | objective/gold | objective/kl |", "| online | 8 ± 4 (2) | 4 ± 0 (2) |", "| offline | 1 | 4 |",
		"| online | +0.200 ± 0.000 (2) | +0.600 ± 0.100 (2) | +0.400 ± 0.100 (2) | 4.00 ± 0.000 (2) | 0.750 ± 0.000 (2) |"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
	html, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout.String(), "| offline | +") {
		t.Errorf("a run without eval.json has a held-out row:\n%s", stdout.String())
	}
	if n := strings.Count(string(html), "<svg"); n != 2 || !strings.Contains(string(html), "online (2 runs)") || !strings.Contains(string(html), "Held-out evaluation") {
		t.Errorf("report has %d plots (want 2: gold and KL) or lacks the pooled line", n)
	}
	for _, f := range []string{"objective_gold.svg", "objective_kl.svg"} {
		if b, err := os.ReadFile(filepath.Join(svgs, f)); err != nil || !bytes.HasPrefix(bytes.TrimSpace(b), []byte("<svg")) {
			t.Errorf("-svg: %s missing or not an SVG (%v)", f, err)
		}
	}

	// Labelled runs, one metric only one of them logged, smoothing; a
	// hostile label is escaped in the report.
	o, err = parseCompare([]string{"-out", out, "-metrics", "objective/gold,rm/accuracy", "-smooth", "3",
		"<b>x</b>=" + runs[0], "y=" + runs[2]}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if err := compareRuns(o, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "| y | 1 | 0.7 |") || !strings.Contains(stdout.String(), "| 4 | – |") {
		t.Errorf("table:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "not every run logged rm/accuracy") {
		t.Errorf("stderr lacks the partial-metric note: %s", stderr.String())
	}
	html, _ = os.ReadFile(out)
	if strings.Contains(string(html), "<b>x</b>") || !strings.Contains(string(html), "&lt;b&gt;x&lt;/b&gt;") {
		t.Error("a run label reached the report unescaped")
	}

	// Seed directories named s<N> under a setting, a metric that ends in
	// NaN (the last finite value is reported).
	for _, sd := range []string{"s1", "s2"} {
		writeMetrics(t, filepath.Join(dir, "grid", "active-700", sd), 0, 2, 3, `"rm/corr_step":"NaN"`)
	}
	o, err = parseCompare([]string{"-out", out, "-seeds", "-metrics", "objective/gold,rm/corr_step",
		filepath.Join(dir, "grid", "active-700", "s1"), filepath.Join(dir, "grid", "active-700", "s2")}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if err := compareRuns(o, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "| active-700 | 6 ± 0 (2) | – |") {
		t.Errorf("seed directories not pooled under their setting, or NaN reported:\n%s", stdout.String())
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no runs"},
		{[]string{"-smooth", "0", runs[0]}, "-smooth"},
		{[]string{filepath.Join(dir, "missing")}, "missing"},
		{[]string{"-metrics", "nope", runs[0]}, `"nope"`},
		{[]string{runs[0], runs[0]}, "both labelled"},
	} {
		o, err := parseCompare(append([]string{"-out", out}, tc.args...), &bytes.Buffer{})
		if err == nil {
			err = compareRuns(o, &bytes.Buffer{}, &bytes.Buffer{})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error mentioning %s", tc.args, err, tc.want)
		}
	}
}
