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
	"regexp"
	"slices"
	"strings"

	"rlhf/loop"
	"rlhf/report"
)

// compareOptions are the settings of `rlhf compare`.
type compareOptions struct {
	Runs    []string // NAME=PATH or PATH, in the order given
	Metrics []string // empty: the preferred metrics every run logged
	Out     string
	SVGDir  string // also write each plot there as <metric>.svg
	Smooth  int
	Seeds   bool
}

// preferredMetrics are plotted by default, in this order, when every run
// logged them: the scores, KL and losses of the language and control loops.
var preferredMetrics = []string{
	"objective/gold", "objective/scores", "objective/kl", "objective/kl_coef", "objective/entropy", // rlhf demo, ppo
	"charts/episodic_score", "charts/episodic_return", "labels/received", "rm/corr_step", // rlhf control
	"loss", "rewards/accuracies", "rewards/margins", "kl/implicit", // rlhf dpo
	"rm/accuracy", "rm/loss", "train/loss", "val/loss", // rlhf rm, pretrain
}

// maxDefaultMetrics caps the plots made without -metrics.
const maxDefaultMetrics = 8

// seedSuffix is the "-s<seed>" (or "/s<seed>", "-seed<seed>") ending that
// -seeds strips to pool runs.
var seedSuffix = regexp.MustCompile(`[-/]s(eed)?\d+$`)

// seedDir is a run directory named after its seed alone ("s1", "seed2").
var seedDir = regexp.MustCompile(`^s(eed)?\d+$`)

// runCompare is `rlhf compare`: several runs' metrics on shared axes.
func runCompare(ctx context.Context, args []string) error {
	o, err := parseCompare(args, os.Stderr)
	if err != nil {
		return err
	}
	return compareRuns(o, os.Stdout, os.Stderr)
}

func parseCompare(args []string, stderr io.Writer) (compareOptions, error) {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: rlhf compare [flags] RUN...

Plot the metrics of several runs on shared axes (one plot per metric, one line per run) and
tabulate each run's last finite value of each, and the held-out evaluation of runs that have one
(eval.json). A RUN is a run directory with metrics.jsonl (rlhf demo, ppo, dpo, rm, control,
pretrain) or a metrics.jsonl file, optionally labelled NAME=PATH (default label: the directory's
name, with its parent's for a directory named s<N>). With -seeds, runs whose labels differ only in
a trailing -s<N> or /s<N> are pooled: the plot shows their mean with a ± one standard deviation
band, the tables mean ± std. Writes an HTML report (-out) and prints the tables.

Flags:`)
		fs.PrintDefaults()
	}
	var o compareOptions
	metrics := fs.String("metrics", "", "comma-separated metrics to plot (default: up to 8 of objective/gold, objective/scores,\nobjective/kl, ... that every run logged; -metrics all: every metric every run logged)")
	fs.StringVar(&o.Out, "out", "compare.html", "HTML report to write")
	fs.StringVar(&o.SVGDir, "svg", "", "also write each plot to this `directory` as an SVG file named after its metric")
	fs.IntVar(&o.Smooth, "smooth", 1, "centred moving average over this many logged points (1: none)")
	fs.BoolVar(&o.Seeds, "seeds", false, "pool runs whose labels differ only in a trailing -s<N> (mean ± std over seeds)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.Runs = fs.Args()
	var errs []error
	if len(o.Runs) == 0 {
		errs = append(errs, errors.New("compare: no runs given (rlhf compare RUN... ; see -h)"))
	}
	if o.Smooth < 1 {
		errs = append(errs, fmt.Errorf("compare: -smooth %d must be at least 1", o.Smooth))
	}
	if o.Out == "" {
		errs = append(errs, errors.New("compare: -out names no file"))
	}
	if *metrics != "" {
		for m := range strings.SplitSeq(*metrics, ",") {
			if m = strings.TrimSpace(m); m != "" {
				o.Metrics = append(o.Metrics, m)
			}
		}
	}
	return o, errors.Join(errs...)
}

// comparedRun is one run's label and metrics, and its held-out evaluation
// when the run directory has one (rlhf demo's eval.json).
type comparedRun struct {
	label, path string
	m           *report.Metrics
	ev          *loop.TextEvalJSON
}

// compareGroup is the runs drawn as one line: one run, or with -seeds the
// runs of one label without its seed.
type compareGroup struct {
	label string
	runs  []comparedRun
}

func compareRuns(o compareOptions, stdout, stderr io.Writer) error {
	var runs []comparedRun
	labels := map[string]string{}
	for _, arg := range o.Runs {
		label, path, ok := strings.Cut(arg, "=")
		if !ok || label == "" {
			path = arg
			dir := filepath.Clean(path)
			if filepath.Base(dir) == report.MetricsFile {
				dir = filepath.Dir(dir)
			}
			label = filepath.Base(dir)
			if seedDir.MatchString(label) { // runs/<setting>/s1: name the setting too
				label = filepath.Base(filepath.Dir(dir)) + "/" + label
			}
		}
		if prev, dup := labels[label]; dup {
			return fmt.Errorf("compare: runs %s and %s are both labelled %q; label them NAME=PATH", prev, path, label)
		}
		labels[label] = path
		m, err := report.LoadMetrics(path)
		if err != nil {
			return fmt.Errorf("compare: run %s: %w", label, err)
		}
		if len(m.Rows) == 0 {
			return fmt.Errorf("compare: run %s: %s holds no metrics", label, path)
		}
		dir := path
		if st, err := os.Stat(path); err == nil && !st.IsDir() {
			dir = filepath.Dir(path)
		}
		ev, err := loop.ReadTextEval(dir)
		if errors.Is(err, fs.ErrNotExist) {
			ev, err = nil, nil
		}
		if err != nil {
			return fmt.Errorf("compare: run %s: %w", label, err)
		}
		runs = append(runs, comparedRun{label, path, m, ev})
	}
	// The metrics every run logged.
	common := map[string]int{}
	for _, r := range runs {
		for _, k := range r.m.Keys() {
			common[k]++
		}
	}
	shared := func(k string) bool { return common[k] == len(runs) }
	var keys []string
	switch {
	case len(o.Metrics) == 1 && o.Metrics[0] == "all":
		for _, k := range runs[0].m.Keys() {
			if shared(k) {
				keys = append(keys, k)
			}
		}
	case len(o.Metrics) > 0:
		for _, k := range o.Metrics {
			if common[k] == 0 {
				return fmt.Errorf("compare: no run logged %q (the first run logged: %s)", k, strings.Join(runs[0].m.Keys(), ", "))
			}
			keys = append(keys, k)
		}
	default:
		for _, k := range preferredMetrics {
			if shared(k) && len(keys) < maxDefaultMetrics {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			for _, k := range runs[0].m.Keys() {
				if shared(k) && len(keys) < maxDefaultMetrics {
					keys = append(keys, k)
				}
			}
		}
	}
	if len(keys) == 0 {
		return errors.New("compare: the runs share no metric; name some with -metrics")
	}

	var groups []compareGroup
	at := map[string]int{}
	for _, r := range runs {
		g := r.label
		if o.Seeds {
			g = seedSuffix.ReplaceAllString(r.label, "")
		}
		i, ok := at[g]
		if !ok {
			i = len(groups)
			at[g] = i
			groups = append(groups, compareGroup{label: g})
		}
		groups[i].runs = append(groups[i].runs, r)
	}

	rep := &report.HTMLReport{Title: "Runs compared"}
	var desc []string
	for _, g := range groups {
		paths := make([]string, len(g.runs))
		for i, r := range g.runs {
			paths[i] = r.path
		}
		desc = append(desc, fmt.Sprintf("%s: %s", g.label, strings.Join(paths, ", ")))
	}
	rep.AddParagraph("Runs: " + strings.Join(desc, "; ") + ".")
	if o.Seeds {
		rep.AddParagraph("A line of several runs is their mean, with a band of ± one standard deviation.")
	}
	if o.Smooth > 1 {
		rep.AddParagraph(fmt.Sprintf("Curves smoothed by a centred moving average over %d logged points.", o.Smooth))
	}
	for _, k := range keys {
		p := &report.Plot{Title: k, XLabel: "step", YLabel: k, Width: 900}
		for _, g := range groups {
			var s report.Series
			if len(g.runs) == 1 {
				x, y := g.runs[0].m.Series(k)
				s = report.Series{Name: g.label, X: x, Y: y}
			} else {
				ms := make([]*report.Metrics, len(g.runs))
				for i, r := range g.runs {
					ms[i] = r.m
				}
				s = report.MeanStd(fmt.Sprintf("%s (%d runs)", g.label, len(g.runs)), ms, k)
			}
			p.Series = append(p.Series, report.Smooth(s, o.Smooth))
		}
		rep.AddPlot(p)
		if o.SVGDir != "" {
			name := strings.NewReplacer("/", "_", string(filepath.Separator), "_").Replace(k) + ".svg"
			if err := os.MkdirAll(o.SVGDir, 0o755); err != nil {
				return fmt.Errorf("compare: %w", err)
			}
			if err := report.WriteSVGFile(filepath.Join(o.SVGDir, name), p.SVG()); err != nil {
				return fmt.Errorf("compare: %w", err)
			}
		}
	}
	head := append([]string{"run"}, keys...)
	var rows [][]string
	for _, g := range groups {
		row := []string{g.label}
		for _, k := range keys {
			var last []float64 // each run's last finite value
			for _, r := range g.runs {
				_, y := r.m.Series(k)
				for i := len(y) - 1; i >= 0; i-- {
					if !math.IsNaN(y[i]) && !math.IsInf(y[i], 0) {
						last = append(last, y[i])
						break
					}
				}
			}
			switch {
			case len(last) == 0:
				row = append(row, "–")
			case len(g.runs) == 1:
				row = append(row, fmt.Sprintf("%.4g", last[0]))
			default:
				m, sd := report.Spread(last)
				row = append(row, fmt.Sprintf("%.4g ± %.2g (%d)", m, sd, len(last)))
			}
		}
		rows = append(rows, row)
	}
	rep.AddHeading("Last logged value (finite)")
	rep.AddTable(head, rows)
	evHead, evRows := evalTable(groups)
	if evRows != nil {
		rep.AddHeading("Held-out evaluation (eval.json)")
		rep.AddTable(evHead, evRows)
	}
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	if err := rep.WriteFile(o.Out); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	fmt.Fprint(stdout, report.MarkdownTable(head, rows))
	if evRows != nil {
		fmt.Fprint(stdout, "\n"+report.MarkdownTable(evHead, evRows))
	}
	missing := slices.DeleteFunc(slices.Clone(keys), shared)
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "compare: not every run logged %s (those runs have no line there)\n", strings.Join(missing, ", "))
	}
	fmt.Fprintf(stderr, "compare: %d runs, %d metrics -> %s\n", len(runs), len(keys), o.Out)
	return nil
}

// evalTable tabulates the groups' held-out evaluations (mean ± std over a
// group's runs); nil rows when no run has one.
func evalTable(groups []compareGroup) (head []string, rows [][]string) {
	head = []string{"run", "gold before", "gold after", "gold gain", "KL after (nats)", "RM held-out accuracy"}
	for _, g := range groups {
		var before, after, gain, kl, acc []float64
		for _, r := range g.runs {
			if r.ev == nil {
				continue
			}
			before, after = append(before, r.ev.Before.Gold), append(after, r.ev.After.Gold)
			gain, kl = append(gain, r.ev.After.Gold-r.ev.Before.Gold), append(kl, r.ev.After.KL)
			acc = append(acc, r.ev.RM.Accuracy)
		}
		if len(before) == 0 {
			continue
		}
		cell := func(x []float64, format string) string {
			if len(x) == 1 {
				return fmt.Sprintf(format, x[0])
			}
			m, sd := report.Spread(x)
			return fmt.Sprintf(format+" ± %.3f (%d)", m, sd, len(x))
		}
		rows = append(rows, []string{g.label, cell(before, "%+.3f"), cell(after, "%+.3f"), cell(gain, "%+.3f"), cell(kl, "%.2f"), cell(acc, "%.3f")})
	}
	return head, rows
}
