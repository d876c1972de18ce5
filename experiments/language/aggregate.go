package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"rlhf/report"
)

// point is one trained (or sampled) policy on the frontier, from one seed.
type point struct {
	Method  string  `json:"method"`
	Setting string  `json:"setting"`
	Gold    float64 `json:"gold_mean"`
	GoldStd float64 `json:"gold_std"` // over the evaluation's completions
	KL      float64 `json:"kl_mean"`  // nats per completion; analytic for best-of-n
	KLStd   float64 `json:"kl_std"`
	RM      float64 `json:"rm_mean"` // mean reward-model score (normalised)
	Seconds float64 `json:"seconds"`
}

// seedRun is the frontier drawn from one demo run directory: one seed's
// labels, reward model, training and sampling.
type seedRun struct {
	From       string  `json:"from"`
	Seed       uint64  `json:"seed"`                  // seed of training and sampling here
	DemoSeed   uint64  `json:"demo_seed"`             // seed of the demo that labelled the pairs
	Labels     int     `json:"labels"`                // comparisons asked of the labeler
	RMAccuracy float64 `json:"rm_accuracy,omitempty"` // reward model's held-out accuracy (the demo's eval.json)
	Points     []point `json:"points"`
}

// seedValue is one seed's result for one method and setting.
type seedValue struct {
	Seed    uint64  `json:"seed"`
	Gold    float64 `json:"gold_mean"`
	GoldStd float64 `json:"gold_std"`
	KL      float64 `json:"kl_mean"`
	KLStd   float64 `json:"kl_std"`
	RM      float64 `json:"rm_mean"`
	Seconds float64 `json:"seconds"`
}

// aggPoint is one method and setting over seeds: the mean of the per-seed
// means and their spread (population std over seeds, as report.Spread), with
// the per-seed values it came from.
type aggPoint struct {
	Method     string      `json:"method"`
	Setting    string      `json:"setting"`
	N          int         `json:"n"` // seeds
	Gold       float64     `json:"gold_mean"`
	GoldSpread float64     `json:"gold_spread"`
	KL         float64     `json:"kl_mean"`
	KLSpread   float64     `json:"kl_spread"`
	RM         float64     `json:"rm_mean"`
	RMSpread   float64     `json:"rm_spread"`
	Seconds    float64     `json:"seconds"` // mean wall clock per seed
	PerSeed    []seedValue `json:"per_seed"`
}

// aggregate groups the runs' points by method and setting, in the order they
// first appear, and averages each group over the seeds that have it.
func aggregate(runs []seedRun) []aggPoint {
	type key struct{ method, setting string }
	var order []key
	groups := map[key][]seedValue{}
	for _, r := range runs {
		for _, p := range r.Points {
			k := key{p.Method, p.Setting}
			if _, ok := groups[k]; !ok {
				order = append(order, k)
			}
			groups[k] = append(groups[k], seedValue{Seed: r.Seed, Gold: p.Gold, GoldStd: p.GoldStd, KL: p.KL, KLStd: p.KLStd, RM: p.RM, Seconds: p.Seconds})
		}
	}
	out := make([]aggPoint, 0, len(order))
	for _, k := range order {
		vs := groups[k]
		pick := func(f func(seedValue) float64) []float64 {
			x := make([]float64, len(vs))
			for i, v := range vs {
				x[i] = f(v)
			}
			return x
		}
		a := aggPoint{Method: k.method, Setting: k.setting, N: len(vs), PerSeed: vs}
		a.Gold, a.GoldSpread = report.Spread(pick(func(v seedValue) float64 { return v.Gold }))
		a.KL, a.KLSpread = report.Spread(pick(func(v seedValue) float64 { return v.KL }))
		a.RM, a.RMSpread = report.Spread(pick(func(v seedValue) float64 { return v.RM }))
		a.Seconds, _ = report.Spread(pick(func(v seedValue) float64 { return v.Seconds }))
		out = append(out, a)
	}
	return out
}

// interpGold is the gold score of method's frontier in one seed at KL kl,
// linear between the two points whose KL brackets kl (points sorted by KL);
// ok is false when kl lies outside the method's KL range there.
func interpGold(pts []point, method string, kl float64) (gold float64, ok bool) {
	var xs []point
	for _, p := range pts {
		if p.Method == method {
			xs = append(xs, p)
		}
	}
	slices.SortFunc(xs, func(a, b point) int { return cmp.Compare(a.KL, b.KL) })
	for i := range xs {
		if xs[i].KL == kl {
			return xs[i].Gold, true
		}
		if i > 0 && xs[i-1].KL < kl && kl < xs[i].KL {
			t := (kl - xs[i-1].KL) / (xs[i].KL - xs[i-1].KL)
			return xs[i-1].Gold + t*(xs[i].Gold-xs[i-1].Gold), true
		}
	}
	return 0, false
}

// matchedPoint compares one setting of a method with another method at the
// same KL, seed by seed: gold of the setting minus the other method's gold
// interpolated at the setting's KL in the same seed.
type matchedPoint struct {
	Method  string    `json:"method"`
	Setting string    `json:"setting"`
	Against string    `json:"against"`
	N       int       `json:"n"` // seeds whose KL fell inside the other method's range
	Diff    float64   `json:"diff_mean"`
	Spread  float64   `json:"diff_spread"` // population std over those seeds
	PerSeed []float64 `json:"per_seed"`
	Seeds   []uint64  `json:"seeds"`
}

// matched compares each setting of method a with method b at matched KL over
// the seeds (pairing within a seed removes the share of the seed-to-seed
// spread that both methods have in common: labels, reward model, sampling).
// Settings no seed can match are left out.
func matched(runs []seedRun, a, b string) []matchedPoint {
	var out []matchedPoint
	idx := map[string]int{}
	for _, r := range runs {
		for _, p := range r.Points {
			if p.Method != a {
				continue
			}
			g, ok := interpGold(r.Points, b, p.KL)
			if !ok {
				continue
			}
			i, seen := idx[p.Setting]
			if !seen {
				i = len(out)
				idx[p.Setting] = i
				out = append(out, matchedPoint{Method: a, Setting: p.Setting, Against: b})
			}
			out[i].PerSeed = append(out[i].PerSeed, p.Gold-g)
			out[i].Seeds = append(out[i].Seeds, r.Seed)
		}
	}
	for i := range out {
		out[i].N = len(out[i].PerSeed)
		out[i].Diff, out[i].Spread = report.Spread(out[i].PerSeed)
	}
	return out
}

// matchedPairs are the comparisons at matched KL that frontier.md reports.
var matchedPairs = [][2]string{{"DPO", "PPO"}, {"PPO", "DPO"}, {"best-of-n", "DPO"}, {"best-of-n", "PPO"}, {"RLOO", "PPO"}, {"PPO", "RLOO"}, {"RLOO", "DPO"}, {"DPO", "RLOO"}, {"SFT", "DPO"}, {"SFT", "PPO"}, {"RSFT", "DPO"}, {"RSFT", "PPO"}, {"RSFT", "best-of-n"}, {"SFT", "best-of-n"}, {"GRPO", "RLOO"}, {"RLOO", "GRPO"}, {"GRPO", "PPO"}, {"GRPO", "DPO"},
	{"online DPO", "DPO"}, {"DPO", "online DPO"}, {"online DPO", "RLOO"}, {"RLOO", "online DPO"}, {"online DPO", "best-of-n"}}

// matchedTable renders the comparisons at matched KL as a markdown table, or
// "" when no setting could be matched.
func matchedTable(runs []seedRun) (string, []matchedPoint) {
	var all []matchedPoint
	var rows [][]string
	for _, pair := range matchedPairs {
		for _, m := range matched(runs, pair[0], pair[1]) {
			all = append(all, m)
			per := make([]string, len(m.PerSeed))
			for i, d := range m.PerSeed {
				per[i] = fmt.Sprintf("%+.3f (seed %d)", d, m.Seeds[i])
			}
			rows = append(rows, []string{m.Method + " " + m.Setting, m.Against, fmt.Sprintf("%+.3f ± %.3f", m.Diff, m.Spread), fmt.Sprint(m.N), strings.Join(per, ", ")})
		}
	}
	if len(rows) == 0 {
		return "", nil
	}
	return report.MarkdownTable([]string{"setting", "against (same seed, same KL)", "gold difference (mean ± std over seeds)", "n", "per seed"}, rows), all
}

// methods are the frontier's methods in plotting order.
var methods = []string{"best-of-n", "DPO", "PPO", "RLOO", "SFT", "RSFT", "GRPO", "online DPO"}

// frontierPlot draws gold against KL: with one seed each policy as a point,
// with several the mean over seeds with error bars of ± one std over seeds
// in gold (vertical) and in KL (horizontal, absent for best-of-n's analytic
// KL). The bars are line pieces of one series per method, separated by
// NaN breaks, so that they take the method's colour.
func frontierPlot(points []aggPoint, labels, seeds int) *report.Plot {
	title := fmt.Sprintf("Gold sentiment against KL, %d labels", labels)
	if seeds > 1 {
		title += fmt.Sprintf(", mean ± std over %d seeds", seeds)
	}
	plot := &report.Plot{Title: title, XLabel: "KL to the pretrained model (nats per completion)", YLabel: "gold VADER sentiment (held-out prompts)"}
	nan := math.NaN()
	for _, method := range methods {
		ser := report.Series{Name: method, Scatter: seeds <= 1}
		add := func(x, y float64, label string) {
			ser.X, ser.Y = append(ser.X, x), append(ser.Y, y)
			ser.PointLabels = append(ser.PointLabels, label)
		}
		for _, p := range points {
			if p.Method != method {
				continue
			}
			if seeds <= 1 {
				add(p.KL, p.Gold, p.Setting)
				continue
			}
			// The mean alone between breaks (drawn as a dot), then the bars.
			add(nan, nan, "")
			add(p.KL, p.Gold, p.Setting)
			add(nan, nan, "")
			if p.GoldSpread > 0 {
				add(p.KL, p.Gold-p.GoldSpread, "")
				add(p.KL, p.Gold+p.GoldSpread, "")
				add(nan, nan, "")
			}
			if p.KLSpread > 0 {
				add(p.KL-p.KLSpread, p.Gold, "")
				add(p.KL+p.KLSpread, p.Gold, "")
				add(nan, nan, "")
			}
		}
		if len(ser.X) > 0 { // a method the experiment ran
			plot.Series = append(plot.Series, ser)
		}
	}
	return plot
}

// frontierTable renders the markdown table: with several seeds, mean ± std
// over seeds and each seed's gold (KL); with one, ± is the std over the
// evaluation's completions, as a single run measures it.
func frontierTable(points []aggPoint, seeds int) string {
	var rows [][]string
	for _, method := range methods {
		for _, p := range points {
			if p.Method != method {
				continue
			}
			if seeds <= 1 {
				v := p.PerSeed[0]
				rows = append(rows, []string{p.Method, p.Setting, fmt.Sprintf("%+.3f ± %.3f", v.Gold, v.GoldStd), fmt.Sprintf("%.2f", v.KL), fmt.Sprintf("%+.2f", v.RM), fmt.Sprintf("%.0f", v.Seconds)})
				continue
			}
			var per []string
			for _, v := range p.PerSeed {
				per = append(per, fmt.Sprintf("%+.3f (%.2f)", v.Gold, v.KL))
			}
			kl := fmt.Sprintf("%.2f ± %.2f", p.KL, p.KLSpread)
			if p.Method == "best-of-n" {
				kl = fmt.Sprintf("%.2f", p.KL)
			}
			rows = append(rows, []string{p.Method, p.Setting, fmt.Sprintf("%+.3f ± %.3f", p.Gold, p.GoldSpread), kl,
				fmt.Sprintf("%+.2f ± %.2f", p.RM, p.RMSpread), fmt.Sprint(p.N), strings.Join(per, ", "), fmt.Sprintf("%.0f", p.Seconds)})
		}
	}
	if seeds <= 1 {
		return report.MarkdownTable([]string{"method", "setting", "gold sentiment (mean ± std)", "KL (nats)", "reward model", "seconds"}, rows)
	}
	return report.MarkdownTable([]string{"method", "setting", "gold sentiment (mean ± std over seeds)", "KL (nats)", "reward model score",
		"n", "per seed: gold (KL)", "seconds per seed"}, rows)
}

// write aggregates the runs so far and writes frontier.json, frontier.svg
// and frontier.md (the frontier's table, then the comparisons at matched
// KL) to out, printing the tables on stdout.
func write(out string, runs []seedRun, steps, dpoEpochs int) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("language: create %s: %w", out, err)
	}
	points := aggregate(runs)
	froms := make([]string, len(runs))
	for i, r := range runs {
		froms[i] = r.From
	}
	labels := runs[0].Labels
	mt, ms := matchedTable(runs)
	buf, err := json.MarshalIndent(map[string]any{"from": froms, "labels": labels, "ppo_steps": steps, "dpo_epochs": dpoEpochs,
		"seeds": len(runs), "points": points, "matched_kl": ms, "runs": runs}, "", "  ")
	if err != nil {
		return fmt.Errorf("language: encode frontier.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, "frontier.json"), append(buf, '\n'), 0o644); err != nil {
		return fmt.Errorf("language: %w", err)
	}
	if err := report.WriteSVGFile(filepath.Join(out, "frontier.svg"), frontierPlot(points, labels, len(runs)).SVG()); err != nil {
		return fmt.Errorf("language: %w", err)
	}
	table := frontierTable(points, len(runs))
	if mt != "" {
		table += "\nGold at matched KL: each setting against the other method's frontier interpolated at its KL in the same seed.\n\n" + mt
	}
	fmt.Print(table)
	if err := os.WriteFile(filepath.Join(out, "frontier.md"), []byte(table), 0o644); err != nil {
		return fmt.Errorf("language: %w", err)
	}
	return nil
}

// replotDir rewrites the outputs of a results directory from the runs kept
// in its frontier.json, e.g. after a change to the plots or the tables.
func replotDir(dir string) error {
	buf, err := os.ReadFile(filepath.Join(dir, "frontier.json"))
	if err != nil {
		return fmt.Errorf("replot: %w", err)
	}
	var f struct {
		Runs      []seedRun `json:"runs"`
		Steps     int       `json:"ppo_steps"`
		DPOEpochs int       `json:"dpo_epochs"`
	}
	if err := json.Unmarshal(buf, &f); err != nil {
		return fmt.Errorf("replot: parse %s: %w", filepath.Join(dir, "frontier.json"), err)
	}
	if len(f.Runs) == 0 {
		return fmt.Errorf("replot: %s holds no runs", filepath.Join(dir, "frontier.json"))
	}
	return write(dir, f.Runs, f.Steps, f.DPOEpochs)
}
