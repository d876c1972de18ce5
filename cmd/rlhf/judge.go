package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"rlhf/feedback"
	"rlhf/judge"
	"rlhf/progress"
	"rlhf/report"
)

// judgeConfig is everything `rlhf judge` does.
type judgeConfig struct {
	Model       string    // reward model directory (or language model for -judge lm)
	Kind        string    // "rm" (reward model) or "lm" (verdict log-likelihoods)
	In          string    // queries: web import JSONL (text) or preference pairs
	Out         string    // preference records of the queries the judge answered
	Format      string    // "pairs" or "bestof"
	Defer       string    // queries left to people, in web import JSONL
	Abstain     float64   // margin around 0.5 within which the judge abstains
	Calibrate   string    // labelled queries or pairs to fit the temperature on
	Temperature float64   // fixed temperature (0: the model's own or the fitted one)
	Batch       int       // queries per scoring pass
	Sweep       []float64 // abstain margins of the evaluation's coverage table
	Bins        int       // reliability bins
	Plots       string    // directory for the evaluation's SVG plots
}

func (c judgeConfig) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("judge: "+format, args...))
		}
	}
	check(c.Model != "", "-model names no directory")
	check(c.Kind == "rm" || c.Kind == "lm", "-judge %q: want rm or lm", c.Kind)
	check(c.In != "", "-in names no file")
	check(c.Abstain >= 0 && c.Abstain < 0.5, "-abstain %g must be in [0, 0.5)", c.Abstain)
	check(c.Temperature >= 0 && !math.IsInf(c.Temperature, 0), "-temperature %g must be >= 0 and finite", c.Temperature)
	check(c.Temperature == 0 || c.Calibrate == "", "-temperature and -calibrate both set: pick one")
	check(c.Format == "pairs" || c.Format == "bestof", "-format %q: want pairs or bestof", c.Format)
	check(c.Batch > 0, "-batch %d must be positive", c.Batch)
	check(c.Bins > 0 && c.Bins <= 100, "-bins %d must be in [1, 100]", c.Bins)
	for _, m := range c.Sweep {
		check(m >= 0 && m < 0.5, "-sweep margin %g must be in [0, 0.5)", m)
	}
	for _, p := range []struct{ flag, path string }{{"-out", c.Out}, {"-defer", c.Defer}} {
		check(p.path == "" || (p.path != c.In && p.path != c.Calibrate), "%s %s would overwrite an input", p.flag, p.path)
	}
	check(c.Out == "" || c.Out != c.Defer, "-out and -defer name the same file %s", c.Out)
	return errors.Join(errs...)
}

// parseMargins parses a comma-separated list of numbers.
func judgeParseMargins(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil, fmt.Errorf("judge: -sweep %q: %w", s, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// runJudge is `rlhf judge`: label text queries with a reward model as an AI
// judge, keep what it is sure of and leave the rest to people.
func runJudge(ctx context.Context, args []string) error {
	return runJudgeTo(ctx, args, os.Stdout, os.Stderr)
}

func runJudgeTo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("judge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: rlhf judge -model DIR -in queries.jsonl [flags]

Label text queries with a GPT reward model (as rlhf rm writes it) acting as an AI judge. The judge
prefers the completion with the higher reward; its confidence is the Bradley-Terry probability
softmax(reward/T). It answers the queries where the probability that its pick beats the runner-up is
at least 0.5 + -abstain, writing them as preference pairs or best-of-k records (the JSONL rlhf rm
reads, with source "ai", the judge's name and its confidence), and writes the others to -defer in the JSONL that
rlhf serve -import takes, so that people label only the hard ones.

Input (-in, -calibrate): one JSON object a line, either a query line of rlhf serve -import (text
kind; the wrapped {"run","payload":{...},"gold"} form or a bare payload) or a preference pair
{"prompt","chosen","rejected"} as rlhf prefs writes it (shown in an order fixed by a hash, the
chosen completion is its known answer). -calibrate fits T by maximum likelihood on the lines that
carry an answer (pairs, or import lines with "gold"). When -in carries answers too, the judge is
evaluated against them: agreement, Cohen's kappa, a reliability table and the accuracy/coverage
trade-off over -sweep, printed as markdown (plots with -plots).

Flags:`)
		fs.PrintDefaults()
	}
	c := judgeConfig{}
	var sweep string
	fs.StringVar(&c.Model, "model", "runs/rm", "reward model directory (rlhf rm -out); a language model directory for -judge lm")
	fs.StringVar(&c.Kind, "judge", "rm", "rm: prefer the higher reward; lm: compare a language model's log-likelihoods of a verdict (\"reply one\"/\"reply two\" after both replies, asked in both orders; two-item queries)")
	fs.StringVar(&c.In, "in", "", "JSONL `file` of text queries (serve -import lines) or preference pairs")
	fs.StringVar(&c.Out, "out", "prefs-judge.jsonl", "preference JSONL `file` for the queries the judge answers (empty: do not write)")
	fs.StringVar(&c.Format, "format", "pairs", "-out format: pairs (TRL; k-1 pairs per k-way query) or bestof (one {\"completions\",\"choice\"} record per query)")
	fs.StringVar(&c.Defer, "defer", "deferred.jsonl", "`file` for the queries left to people, in serve -import JSONL (empty: do not write)")
	fs.Float64Var(&c.Abstain, "abstain", 0.2, "abstain (defer to people) when P(pick beats runner-up) < 0.5 + this")
	fs.StringVar(&c.Calibrate, "calibrate", "", "labelled JSONL `file` (pairs, or import lines with gold) to fit the temperature on first")
	fs.Float64Var(&c.Temperature, "temperature", 0, "use this temperature in reward units (0: the model's own Bradley-Terry scale, or the -calibrate fit)")
	fs.IntVar(&c.Batch, "batch", 256, "queries per scoring pass")
	fs.StringVar(&sweep, "sweep", "0,0.05,0.1,0.15,0.2,0.25,0.3,0.35,0.4,0.45", "abstain margins of the evaluation's coverage table")
	fs.IntVar(&c.Bins, "bins", 5, "bins of the evaluation's reliability table")
	fs.StringVar(&c.Plots, "plots", "", "`directory` for the evaluation's plots (reliability.svg, coverage.svg)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("judge: unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	var err error
	if c.Sweep, err = judgeParseMargins(sweep); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	return judgeRun(ctx, c, stdout, stderr)
}

// judgeDecideAll scores inputs in batches, reporting progress, and returns the
// judge's decisions.
func judgeDecideAll(ctx context.Context, m *judge.Model, in []judge.Input, batch int, w io.Writer, label string) ([]judge.Decision, error) {
	bar := progress.New(w, len(in), label)
	defer bar.Finish()
	out := make([]judge.Decision, 0, len(in))
	qs := make([]feedback.Query, 0, batch)
	for lo := 0; lo < len(in); lo += batch {
		qs = qs[:0]
		for _, x := range in[lo:min(lo+batch, len(in))] {
			qs = append(qs, x.Query)
		}
		scores, err := m.Scores(ctx, qs)
		if err != nil {
			return nil, err
		}
		for i, s := range scores {
			d, err := judge.Decide(s, m.Temperature)
			if err != nil {
				return nil, fmt.Errorf("judge: query %s: %w", qs[i].ID, err)
			}
			out = append(out, d)
		}
		bar.Add(len(qs))
	}
	return out, nil
}

// judgeCalibrate fits m's temperature on the labelled lines of path.
func judgeCalibrate(ctx context.Context, m *judge.Model, path string, batch int, w io.Writer) error {
	in, err := judge.ReadInputsFile(path)
	if err != nil {
		return fmt.Errorf("judge: calibrate: %w", err)
	}
	var gold []judge.Input
	for _, x := range in {
		if x.HasGold {
			gold = append(gold, x)
		}
	}
	if len(gold) == 0 {
		return fmt.Errorf("judge: calibrate %s: no line carries an answer (want preference pairs or import lines with \"gold\")", path)
	}
	// Scores do not depend on the temperature: decide at 1, keep the scores.
	scores := make([][]float64, 0, len(gold))
	labels := make([]feedback.Choice, 0, len(gold))
	bar := progress.New(w, len(gold), "calibrate")
	for lo := 0; lo < len(gold); lo += batch {
		var qs []feedback.Query
		for _, x := range gold[lo:min(lo+batch, len(gold))] {
			qs = append(qs, x.Query)
			labels = append(labels, x.Gold)
		}
		s, err := m.Scores(ctx, qs)
		if err != nil {
			bar.Finish()
			return fmt.Errorf("judge: calibrate: %w", err)
		}
		scores = append(scores, s...)
		bar.Add(len(qs))
	}
	bar.Finish()
	before := judge.NLL(scores, labels, m.Temperature)
	t, n, err := judge.FitTemperature(scores, labels)
	if err != nil {
		return fmt.Errorf("judge: calibrate %s: %w", path, err)
	}
	fmt.Fprintf(w, "judge: calibrated on %d labelled queries of %s: temperature %.4g -> %.4g, NLL %.4f -> %.4f nats\n",
		n, path, m.Temperature, t, before, judge.NLL(scores, labels, t))
	m.Temperature = t
	return nil
}

// judgeRun labels c.In and writes the answered and the deferred queries.
func judgeRun(ctx context.Context, c judgeConfig, stdout, stderr io.Writer) error {
	load := judge.Load
	if c.Kind == "lm" {
		load = judge.LoadVerdict
	}
	m, err := load(c.Model)
	if err != nil {
		return err
	}
	m.Abstain = c.Abstain
	if c.Calibrate != "" {
		if err := judgeCalibrate(ctx, m, c.Calibrate, c.Batch, stderr); err != nil {
			return err
		}
	}
	if c.Temperature > 0 {
		m.Temperature = c.Temperature
	}
	m.Name = fmt.Sprintf("%s/T=%.4g", m.Name, m.Temperature)
	in, err := judge.ReadInputsFile(c.In)
	if err != nil {
		return err
	}
	if len(in) == 0 {
		return fmt.Errorf("judge: %s holds no queries", c.In)
	}
	ds, err := judgeDecideAll(ctx, m, in, c.Batch, stderr, "judge")
	if err != nil {
		return err
	}
	answered, deferred, pairs, err := writeJudged(c, m, in, ds)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "judge: %d queries from %s at temperature %.4g, abstain %g: answered %d (%.1f%%) -> %d records in %s; deferred %d (%.1f%%) -> %s\n",
		len(in), c.In, m.Temperature, c.Abstain, answered, 100*float64(answered)/float64(len(in)), pairs, judgeOrNone(c.Out),
		deferred, 100*float64(deferred)/float64(len(in)), judgeOrNone(c.Defer))
	return judgeEvaluate(c, m, in, ds, stdout)
}

func judgeOrNone(path string) string {
	if path == "" {
		return "(not written)"
	}
	return path
}

// writeJudged writes the answered queries' pairs to c.Out and the others
// to c.Defer.
func writeJudged(c judgeConfig, m *judge.Model, in []judge.Input, ds []judge.Decision) (answered, deferred, pairs int, err error) {
	open := func(path string) (*os.File, *bufio.Writer, error) {
		if path == "" {
			return nil, bufio.NewWriter(io.Discard), nil
		}
		f, err := os.Create(path)
		if err != nil {
			return nil, nil, fmt.Errorf("judge: %w", err)
		}
		return f, bufio.NewWriterSize(f, 1<<16), nil
	}
	closeAll := func(f *os.File, w *bufio.Writer, path string) error {
		if f == nil {
			return nil
		}
		err := w.Flush()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("judge: write %s: %w", path, err)
		}
		return nil
	}
	of, ow, err := open(c.Out)
	if err != nil {
		return 0, 0, 0, err
	}
	df, dw, err := open(c.Defer)
	if err != nil {
		closeAll(of, ow, c.Out)
		return 0, 0, 0, err
	}
	write := judge.WritePrefs
	if c.Format == "bestof" {
		write = judge.WriteBestOf
	}
	for i, x := range in {
		l := m.LabelFor(x.Query.ID, ds[i])
		if l.Choice == feedback.CantTell {
			deferred++
			if err = judge.WriteDeferred(dw, x); err != nil {
				break
			}
			continue
		}
		answered++
		var n int
		if n, err = write(ow, x.Query, l); err != nil {
			break
		}
		pairs += n
	}
	err = errors.Join(err, closeAll(of, ow, c.Out), closeAll(df, dw, c.Defer))
	return answered, deferred, pairs, err
}

// judgeEvaluate prints, for inputs that carry an answer, how the judge agrees
// with it: agreement and kappa, a reliability table and the
// accuracy/coverage trade-off, as markdown; and writes the plots.
func judgeEvaluate(c judgeConfig, m *judge.Model, in []judge.Input, ds []judge.Decision, w io.Writer) error {
	var gold []feedback.Choice
	var gds []judge.Decision
	allPairs := true
	for i, x := range in {
		if x.HasGold {
			gold = append(gold, x.Gold)
			gds = append(gds, ds[i])
			allPairs = allPairs && len(x.Query.Items) == 2
		}
	}
	if len(gold) == 0 {
		return nil
	}
	fmt.Fprintf(w, "## Judge %s against the known answers of %s\n\n", m.Name, c.In)
	fmt.Fprintf(w, "%d labelled queries, temperature %.4g.\n\n", len(gold), m.Temperature)

	// Agreement and kappa at full coverage and at -abstain.
	fmt.Fprintln(w, "| abstain | answered | agreement | Cohen's kappa |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, margin := range []float64{0, c.Abstain} {
		var a, b []feedback.Choice
		for i, d := range gds {
			if ch := d.Choice(margin); ch != feedback.CantTell {
				a, b = append(a, ch), append(b, gold[i])
			}
		}
		agree := 0
		for i := range a {
			if a[i] == b[i] {
				agree++
			}
		}
		kappa, err := feedback.CohenKappa(a, b)
		ks := fmt.Sprintf("%.3f", kappa)
		if err != nil {
			ks = "undefined"
		}
		acc := math.NaN()
		if len(a) > 0 {
			acc = float64(agree) / float64(len(a))
		}
		fmt.Fprintf(w, "| %g | %d (%.1f%%) | %.3f | %s |\n", margin, len(a), 100*float64(len(a))/float64(len(gold)), acc, ks)
		if margin == c.Abstain {
			break
		}
	}

	// Reliability of the stated confidence (at full coverage).
	conf := make([]float64, len(gds))
	correct := make([]bool, len(gds))
	for i, d := range gds {
		conf[i], correct[i] = d.Confidence, feedback.Choice(d.Best) == gold[i]
	}
	lo := 0.0
	if allPairs {
		lo = 0.5
	}
	bins, ece, err := judge.Reliability(conf, correct, lo, c.Bins)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nReliability (every query; expected calibration error %.3f):\n\n", ece)
	fmt.Fprintln(w, "| stated confidence | queries | mean confidence | observed accuracy |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, b := range bins {
		closing := ")"
		if b.Hi >= 1 {
			closing = "]" // the last bin holds confidence 1
		}
		fmt.Fprintf(w, "| [%.2f, %.2f%s | %d | %s | %s |\n", b.Lo, b.Hi, closing, b.N, judgeFmtNaN(b.Confidence), judgeFmtNaN(b.Accuracy))
	}

	// Accuracy against coverage.
	pts, err := judge.Coverage(gds, gold, c.Sweep)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nAccuracy/coverage as the abstain margin grows:")
	fmt.Fprintln(w, "\n| abstain | judge answers | to people | accuracy of the judge's answers |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, p := range pts {
		fmt.Fprintf(w, "| %g | %d (%.1f%%) | %d (%.1f%%) | %s |\n", p.Abstain, p.Answered, 100*p.Coverage, p.Deferred, 100*(1-p.Coverage), judgeFmtNaN(p.Accuracy))
	}
	if c.Plots != "" {
		return judgePlots(c.Plots, m.Name, bins, pts)
	}
	return nil
}

func judgeFmtNaN(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.3f", v)
}

// judgePlots writes reliability.svg and coverage.svg to dir.
func judgePlots(dir, name string, bins []judge.Bin, pts []judge.Point) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("judge: plots: %w", err)
	}
	var cx, cy []float64
	for _, b := range bins {
		if b.N > 0 {
			cx, cy = append(cx, b.Confidence), append(cy, b.Accuracy)
		}
	}
	lo := bins[0].Lo
	rel := report.Plot{Title: "Reliability of " + name, XLabel: "stated confidence (bin mean)", YLabel: "observed accuracy",
		Series: []report.Series{{Name: "perfect calibration", X: []float64{lo, 1}, Y: []float64{lo, 1}}, {Name: "judge", X: cx, Y: cy}}}
	var px, py []float64
	var labels []string
	for _, p := range pts {
		if p.Answered > 0 {
			px, py = append(px, p.Coverage), append(py, p.Accuracy)
			labels = append(labels, strconv.FormatFloat(p.Abstain, 'g', -1, 64))
		}
	}
	cov := report.Plot{Title: "Accuracy against coverage (labels: abstain margin)", XLabel: "share the judge answers (coverage)", YLabel: "accuracy of its answers",
		Series: []report.Series{{Name: name, X: px, Y: py, PointLabels: labels}}}
	for _, f := range []struct {
		file string
		p    *report.Plot
	}{{"reliability.svg", &rel}, {"coverage.svg", &cov}} {
		if err := os.WriteFile(filepath.Join(dir, f.file), f.p.SVG(), 0o644); err != nil {
			return fmt.Errorf("judge: plots: %w", err)
		}
	}
	return nil
}
