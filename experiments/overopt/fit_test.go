package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// grid returns n distances evenly spaced on (0, hi].
func grid(n int, hi float64) []float64 {
	d := make([]float64, n)
	for i := range d {
		d[i] = hi * float64(i+1) / float64(n)
	}
	return d
}

func TestFitRecoversKnownCoefficients(t *testing.T) {
	cases := []struct {
		form        Form
		alpha, beta float64
		hi          float64
	}{
		{BoN, 0.4, 0.08, 4},   // peak at d = 2.5
		{BoN, 0.25, -0.01, 3}, // no peak: keeps rising
		{RL, 0.3, 0.15, 8},    // peak at d = e^(2−1) ≈ 2.72
		{RL, 0.2, 0.05, 6},    // peak at d = e^3 ≈ 20, beyond reach
	}
	for _, c := range cases {
		rng := rand.New(rand.NewPCG(1, 2))
		d := grid(200, c.hi)
		r := make([]float64, len(d))
		for i := range d {
			r[i] = Eval(c.form, c.alpha, c.beta, d[i]) + 0.01*rng.NormFloat64()
		}
		f, err := FitForm(c.form, d, r)
		if err != nil {
			t.Fatalf("%s α=%g β=%g: %v", c.form, c.alpha, c.beta, err)
		}
		if math.Abs(f.Alpha-c.alpha) > 0.01 || math.Abs(f.Beta-c.beta) > 0.01 {
			t.Errorf("%s: fitted α=%.4f β=%.4f, want %g, %g", c.form, f.Alpha, f.Beta, c.alpha, c.beta)
		}
		if f.Points != len(d) {
			t.Errorf("%s: %d points used, want %d", c.form, f.Points, len(d))
		}
		if f.RMSE < 0.005 || f.RMSE > 0.02 {
			t.Errorf("%s: RMSE %.4f, want about the noise level 0.01", c.form, f.RMSE)
		}
	}
}

func TestFitExactWithoutNoise(t *testing.T) {
	d := []float64{0, 0.5, 1, 1.5, 2, 3} // d = 0 is skipped
	r := make([]float64, len(d))
	for i := range d {
		r[i] = Eval(RL, 0.7, 0.3, d[i])
	}
	f, err := FitForm(RL, d, r)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(f.Alpha-0.7) > 1e-9 || math.Abs(f.Beta-0.3) > 1e-9 || f.RMSE > 1e-9 {
		t.Errorf("fit %+v, want α 0.7 β 0.3 exactly", f)
	}
	if f.Points != 5 {
		t.Errorf("%d points used, want 5 (d = 0 carries no information)", f.Points)
	}
}

func TestPeak(t *testing.T) {
	// BoN: d* = α/(2β), R* = α²/(4β).
	d, r := Peak(BoN, 0.4, 0.08)
	if math.Abs(d-2.5) > 1e-12 || math.Abs(r-0.5) > 1e-12 {
		t.Errorf("BoN peak (%g, %g), want (2.5, 0.5)", d, r)
	}
	// RL: d* = exp(α/β − 1), R* = β d*.
	d, r = Peak(RL, 0.3, 0.15)
	if math.Abs(d-math.E) > 1e-12 || math.Abs(r-0.15*math.E) > 1e-12 {
		t.Errorf("RL peak (%g, %g), want (e, 0.15e)", d, r)
	}
	// The peak is a maximum of the curve: nearby values are lower.
	for _, form := range []Form{BoN, RL} {
		alpha, beta := 0.3, 0.15
		d, r := Peak(form, alpha, beta)
		if Eval(form, alpha, beta, d) != r {
			t.Errorf("%s: R(d*) = %g, Peak says %g", form, Eval(form, alpha, beta, d), r)
		}
		if Eval(form, alpha, beta, d*0.9) >= r || Eval(form, alpha, beta, d*1.1) >= r {
			t.Errorf("%s: d* = %g is not a maximum", form, d)
		}
	}
	for _, form := range []Form{BoN, RL} {
		if d, r := Peak(form, 0.3, 0); !math.IsNaN(d) || !math.IsNaN(r) {
			t.Errorf("%s with β = 0: peak (%g, %g), want none", form, d, r)
		}
	}
}

func TestFitErrors(t *testing.T) {
	if _, err := FitForm(RL, []float64{1, 2}, []float64{1}); err == nil {
		t.Error("mismatched lengths: no error")
	}
	if _, err := FitForm(BoN, []float64{0, 1}, []float64{0, 1}); err == nil {
		t.Error("one usable point: no error")
	}
	if _, err := FitForm(BoN, []float64{2, 2, 2}, []float64{1, 1, 1}); err == nil {
		t.Error("one distinct distance (collinear regressors): no error")
	}
	if _, err := FitForm("linear", []float64{1, 2}, []float64{1, 2}); err == nil {
		t.Error("unknown form: no error")
	}
}

func TestFitJSONWithoutPeak(t *testing.T) {
	f, err := FitForm(BoN, []float64{1, 2, 3}, []float64{1, 2.2, 3.6}) // convex: β < 0
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"peak_d":null`) {
		t.Errorf("JSON %s: want a null peak for β = %g", b, f.Beta)
	}
}

const bonTable = `bon: 32 prompts x 32 samples from models/tiny-gpt on cpu; proxy rm, gold sentiment-vader
| n | KL (nats) | proxy score | gold score | gold, mean of all n samples |
|---|---|---|---|---|
| 1 | 0.000 | 0.254 | 0.174 | 0.174 |
| 2 | 0.193 | 0.541 | 0.263 | 0.157 |
| 4 | 0.636 | 1.037 | 0.432 | 0.184 |
`

func TestReadBoNTable(t *testing.T) {
	rows, err := ReadBoNTable(strings.NewReader(bonTable))
	if err != nil {
		t.Fatal(err)
	}
	want := []BoNRow{{1, 0, 0.254, 0.174}, {2, 0.193, 0.541, 0.263}, {4, 0.636, 1.037, 0.432}}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d = %+v, want %+v", i, rows[i], want[i])
		}
	}
	for _, bad := range []string{
		"| 1 | 0.000 | x | 0.1 |\n",
		"| 1 | 0.000 |\n",
		"| 2 | 0.1 | 0.2 | 0.3 |\n| 1 | 0 | 0 | 0 |\n",
	} {
		if _, err := ReadBoNTable(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestRunSummarises builds a tiny runs directory (two PPO logs and a
// best-of-n table) and checks the summary's gains, fits and outputs.
func TestRunSummarises(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	write := func(path, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A PPO run whose gold follows R_rl with α = 0.3, β = 0.15 on top of a
	// start of 0.1, as d = sqrt(KL) grows linearly with the step.
	var b strings.Builder
	for step := 1; step <= 60; step++ {
		d := 0.1 * float64(step-1)
		gold := 0.1 + Eval(RL, 0.3, 0.15, d)
		line, _ := json.Marshal(map[string]float64{"step": float64(step), "objective/kl": d * d, "objective/gold": gold, "objective/scores": d})
		b.Write(line)
		b.WriteByte('\n')
	}
	write(filepath.Join(dir, "ppo-demo-s1-b0", "metrics.jsonl"), b.String())
	write(filepath.Join(dir, "ppo-demo-s1-b0.secs"), "42\n")
	write(filepath.Join(dir, "bon-demo-s1.txt"), bonTable)
	write(filepath.Join(dir, "notes.txt"), "ignored\n")
	write(filepath.Join(dir, "rmeval-250-s2", "summary.json"), `{"val_accuracy": 0.6, "val_comparisons": 900}`)
	write(filepath.Join(dir, "rmeval-250-s1", "summary.json"), `{"val_accuracy": 0.7, "val_comparisons": 900}`)
	write(filepath.Join(dir, "rmeval-4000-s1", "summary.json"), `{"val_accuracy": 0.8, "val_comparisons": 900}`)
	write(filepath.Join(dir, "rmeval-1000-s1", "summary.json"), `{"val_accuracy": 0.75, "val_comparisons": 900}`)
	var stdout strings.Builder
	if err := run(dir, out, 1, &stdout); err != nil {
		t.Fatal(err)
	}
	var s struct {
		PPOGoldStart float64 `json:"ppo_gold_start"`
		Curves       []struct {
			Method string    `json:"method"`
			Gold   []float64 `json:"gold_gain"`
			Secs   float64   `json:"secs"`
			Fit    *struct {
				Alpha float64  `json:"alpha"`
				Beta  float64  `json:"beta"`
				PeakD *float64 `json:"peak_d"`
			} `json:"fit"`
		} `json:"curves"`
	}
	raw, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if math.Abs(s.PPOGoldStart-0.1) > 1e-9 {
		t.Errorf("PPO gold start %g, want 0.1", s.PPOGoldStart)
	}
	if len(s.Curves) != 2 || s.Curves[0].Method != "bon" || s.Curves[1].Method != "ppo" {
		t.Fatalf("curves %+v, want bon then ppo", s.Curves)
	}
	bon, ppo := s.Curves[0], s.Curves[1]
	if math.Abs(bon.Gold[2]-(0.432-0.174)) > 1e-9 {
		t.Errorf("best-of-4 gold gain %g, want %g", bon.Gold[2], 0.432-0.174)
	}
	if ppo.Fit == nil || math.Abs(ppo.Fit.Alpha-0.3) > 1e-6 || math.Abs(ppo.Fit.Beta-0.15) > 1e-6 {
		t.Fatalf("PPO fit %+v, want α 0.3, β 0.15", ppo.Fit)
	}
	if ppo.Fit.PeakD == nil || math.Abs(*ppo.Fit.PeakD-math.E) > 1e-5 {
		t.Errorf("PPO fitted peak %v, want e", ppo.Fit.PeakD)
	}
	if ppo.Secs != 42 {
		t.Errorf("PPO wall clock %g, want 42", ppo.Secs)
	}
	for _, f := range []string{"gold-ppo.svg", "gold-bon.svg", "proxy.svg", "summary.md"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	if !strings.Contains(stdout.String(), "| ppo | demo | 1 |") {
		t.Errorf("summary lacks the PPO row:\n%s", stdout.String())
	}
	md := stdout.String()
	i250, i1000, i4000 := strings.Index(md, "| 250 | s1 70.0% (900), s2 60.0% (900) | 65.0 ± 5.0 |"),
		strings.Index(md, "| 1000 |"), strings.Index(md, "| 4000 | s1 80.0% (900) | 80.0 ± 0.0 |")
	if i250 < 0 || i1000 < i250 || i4000 < i1000 {
		t.Errorf("proxy table missing or out of numeric order:\n%s", md)
	}
	write(filepath.Join(dir, "rmeval-500-s1", "summary.json"), `{"val_loss": 1}`)
	if err := run(dir, out, 1, &stdout); err == nil {
		t.Error("rmeval summary without an accuracy: no error")
	}
	os.RemoveAll(filepath.Join(dir, "rmeval-500-s1"))

	// A corrupt metrics log is an error, not a panic.
	write(filepath.Join(dir, "ppo-demo-s2-b0", "metrics.jsonl"), "{\"step\":1,\n{oops}\n")
	if err := run(dir, out, 1, &stdout); err == nil {
		t.Error("corrupt metrics: no error")
	}
}

func TestLargestFall(t *testing.T) {
	c := &Curve{
		D:     []float64{0, 1, 2, 3, 4, 5, 6},
		Gold:  []float64{0, 0.5, 0.2, 0.6, 0.1, 0.3, 0.9},
		Proxy: []float64{0, 1, 2, 3, 4, 5, 6},
	}
	f := c.largestFall()
	if f.From != 3 || f.To != 4 || math.Abs(f.Gold-0.5) > 1e-12 || math.Abs(f.Proxy-1) > 1e-12 {
		t.Errorf("largest fall %+v, want 0.6 → 0.1 between points 3 and 4, proxy +1", f)
	}
	rising := &Curve{Gold: []float64{0, 0.1, 0.2}, Proxy: []float64{0, 0, 0}}
	if f := rising.largestFall(); f.Gold != 0 {
		t.Errorf("rising curve: fall %+v, want none", f)
	}
}

func TestFitEndStopsAtLargestKL(t *testing.T) {
	ppo := &Curve{Method: "ppo", D: []float64{0, 1, 3, 2, 2.5}}
	if n := ppo.fitEnd(); n != 3 {
		t.Errorf("PPO fit uses %d points, want 3 (up to d = 3)", n)
	}
	bon := &Curve{Method: "bon", D: []float64{0, 1, 3, 2}}
	if n := bon.fitEnd(); n != 4 {
		t.Errorf("best-of-n fit uses %d points, want all 4", n)
	}
}

func TestGoldAtFirstCrossing(t *testing.T) {
	c := &Curve{D: []float64{0, 1, 3, 2, 5}, Gold: []float64{0, 0.1, 0.5, 0.9, 1}}
	if g := c.goldAt(2); math.Abs(g-0.3) > 1e-12 {
		t.Errorf("gold at d = 2: %g, want 0.3 (first crossing, between d = 1 and 3)", g)
	}
	if g := c.goldAt(6); !math.IsNaN(g) {
		t.Errorf("gold at d = 6: %g, want NaN (never reached)", g)
	}
}
