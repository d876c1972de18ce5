// Command summarize turns the runs of experiments/control/grid.sh into the
// tables and plots of docs/results/control.md: final returns (mean ± std over
// seeds), the share of true-reward PPO's return reached with learned rewards,
// wall-clock and env steps/s, learning curves with ± std bands, and frames of
// the hidden-goal policy.
//
//	go run ./experiments/control/summarize -runs /tmp/control-grid -plots docs/results/control > /tmp/tables.md
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"rlhf/env"
	"rlhf/loop"
	"rlhf/ppo"
	"rlhf/report"
)

type run struct {
	res loop.ControlResult
	m   *report.Metrics
	dir string
}

func main() {
	runs := flag.String("runs", "/tmp/control-grid", "grid directory")
	plots := flag.String("plots", "docs/results/control", "where SVGs go")
	flag.Parse()
	if err := summarize(*runs, *plots); err != nil {
		fmt.Fprintln(os.Stderr, "summarize:", err)
		os.Exit(1)
	}
}

// load reads every finished seed of <runs>/<env>/<cond>/s<seed>.
func load(root, envName, cond string) ([]run, error) {
	dirs, _ := filepath.Glob(filepath.Join(root, envName, cond, "s*"))
	sort.Strings(dirs)
	var out []run
	for _, d := range dirs {
		buf, err := os.ReadFile(filepath.Join(d, loop.SummaryFile))
		if err != nil {
			continue // unfinished
		}
		var r run
		if err := json.Unmarshal(buf, &r.res); err != nil {
			return nil, fmt.Errorf("%s: %w", d, err)
		}
		if r.m, err = report.LoadMetrics(d); err != nil {
			return nil, err
		}
		r.dir = d
		out = append(out, r)
	}
	return out, nil
}

// positive maps values <= 0 (not measured) to NaN.
func positive(v float64) float64 {
	if v <= 0 {
		return math.NaN()
	}
	return v
}

func pm(x []float64, prec int) string {
	if len(x) == 0 {
		return "—"
	}
	m, s := report.Spread(x)
	return fmt.Sprintf("%.*f ± %.*f", prec, m, prec, s)
}

func field(rs []run, f func(loop.ControlResult) float64) []float64 {
	var out []float64
	for _, r := range rs {
		if v := f(r.res); !math.IsNaN(v) && v != -1 {
			out = append(out, v)
		}
	}
	return out
}

// initialScore is the mean first logged episodic score of runs: the return
// of the initial (random) policy.
func initialScore(rs []run) float64 {
	var xs []float64
	for _, r := range rs {
		_, ys := r.m.Series("charts/episodic_score")
		if len(ys) > 0 {
			xs = append(xs, ys[0])
		}
	}
	m, _ := report.Spread(xs)
	return m
}

var grid = []string{"true", "random-350", "active-350", "random-700", "active-700", "random-1400", "active-1400"}

// curve is the mean ± std over runs of a metric, smoothed by a centred
// moving average over 1/40 of the points (none for runs of under 80
// iterations), so that per-iteration noise does not hide the trend.
func curve(name string, runs []*report.Metrics, key string) report.Series {
	s := report.MeanStd(name, runs, key)
	return report.Smooth(s, len(s.X)/40)
}

func summarize(root, plots string) error {
	if err := os.MkdirAll(plots, 0o755); err != nil {
		return err
	}
	fmt.Print("## Final returns\n\n")
	headers := []string{"env", "steps", "reward", "seeds", "final return (eval, mean ± std)", "last-tenth training return", "share of true-reward PPO", "rm accuracy", "wall s / run", "env steps/s", "CPU s / run"}
	var rows [][]string
	for _, e := range []string{"CartPole-v1", "Pendulum-v1", "Reacher2D-v0"} {
		all := map[string][]run{}
		var every []run
		for _, c := range grid {
			rs, err := load(root, e, c)
			if err != nil {
				return err
			}
			all[c] = rs
			every = append(every, rs...)
		}
		if len(every) == 0 {
			continue
		}
		r0 := initialScore(every)
		trueM, _ := report.Spread(field(all["true"], func(r loop.ControlResult) float64 { return r.FinalReturn }))
		for _, c := range grid {
			rs := all[c]
			if len(rs) == 0 {
				rows = append(rows, []string{e, "", c, "0", "not run", "", "", "", "", "", ""})
				continue
			}
			fin := field(rs, func(r loop.ControlResult) float64 { return r.FinalReturn })
			share := "—"
			if c != "true" && !math.IsNaN(trueM) {
				var sh []float64
				for _, v := range fin {
					sh = append(sh, 100*(v-r0)/(trueM-r0))
				}
				share = pm(sh, 0) + " %"
			}
			rows = append(rows, []string{
				e, fmt.Sprint(rs[0].res.Steps), c, fmt.Sprint(len(rs)), pm(fin, 1),
				pm(field(rs, func(r loop.ControlResult) float64 { return r.TrainReturn }), 1), share,
				pm(field(rs, func(r loop.ControlResult) float64 { return r.RMAccuracy }), 3),
				pm(field(rs, func(r loop.ControlResult) float64 { return r.WallSeconds }), 0),
				pm(field(rs, func(r loop.ControlResult) float64 { return r.SPS }), 0),
				pm(field(rs, func(r loop.ControlResult) float64 { return positive(r.CPUSeconds) }), 0),
			})
		}
		fmt.Printf("%s: initial-policy return (first logged iteration, all runs) %.1f\n\n", e, r0)
		for _, sel := range []string{"active", "random"} {
			p := &report.Plot{Title: fmt.Sprintf("%s: true reward vs %s queries (mean ± std over seeds)", e, sel), XLabel: "environment steps", YLabel: "true return"}
			for _, c := range grid {
				if c == "true" || strings.HasPrefix(c, sel) {
					var ms []*report.Metrics
					for _, r := range all[c] {
						ms = append(ms, r.m)
					}
					if len(ms) > 0 {
						name := c
						if c == "true" {
							name = "true reward"
						} else {
							name = strings.TrimPrefix(c, sel+"-") + " labels"
						}
						p.Series = append(p.Series, curve(name, ms, "charts/episodic_score"))
					}
				}
			}
			f := filepath.Join(plots, fmt.Sprintf("%s-%s.svg", strings.ToLower(strings.Split(e, "-")[0]), sel))
			if err := report.WriteSVGFile(f, p.SVG()); err != nil {
				return err
			}
		}
	}
	fmt.Println(report.MarkdownTable(headers, rows))

	// Offline versus online labels.
	fmt.Print("\n## Offline vs online labels (700 labels, random queries)\n\n")
	rows = nil
	for _, e := range []string{"CartPole-v1", "Pendulum-v1"} {
		p := &report.Plot{Title: e + ": labels online vs all up front (mean ± std)", XLabel: "environment steps", YLabel: "true return"}
		for _, c := range []string{"true", "random-700", "offline-random-700"} {
			rs, err := load(root, e, c)
			if err != nil {
				return err
			}
			if len(rs) == 0 {
				rows = append(rows, []string{e, c, "0", "not run", "", ""})
				continue
			}
			var ms []*report.Metrics
			for _, r := range rs {
				ms = append(ms, r.m)
			}
			p.Series = append(p.Series, curve(c, ms, "charts/episodic_score"))
			rows = append(rows, []string{e, c, fmt.Sprint(len(rs)),
				pm(field(rs, func(r loop.ControlResult) float64 { return r.FinalReturn }), 1),
				pm(field(rs, func(r loop.ControlResult) float64 { return r.RMAccuracy }), 3),
				pm(field(rs, func(r loop.ControlResult) float64 { return r.WallSeconds }), 0)})
		}
		f := filepath.Join(plots, strings.ToLower(strings.Split(e, "-")[0])+"-offline.svg")
		if err := report.WriteSVGFile(f, p.SVG()); err != nil {
			return err
		}
	}
	fmt.Println(report.MarkdownTable([]string{"env", "labels", "seeds", "final return (eval)", "rm accuracy (held out)", "wall s"}, rows))

	// The hidden-goal tasks.
	for _, h := range []struct{ env, unit, file string }{
		{"PendulumSpin-v0", "net ccw turns per episode", "pendulumspin"},
		{"CartPoleLeft-v0", "steps with the cart left of centre per episode", "cartpoleleft"},
	} {
		rs, err := load(root, h.env, "active-700")
		if err != nil {
			return err
		}
		if len(rs) == 0 {
			continue
		}
		fmt.Printf("\n## %s (hidden goal), 700 labels, active queries\n\n", h.env)
		var ms []*report.Metrics
		var rows [][]string
		for _, r := range rs {
			ms = append(ms, r.m)
			rows = append(rows, []string{fmt.Sprint(r.res.Seed), fmt.Sprintf("%.2f ± %.2f", r.res.FinalReturn, r.res.FinalReturnStd),
				fmt.Sprintf("%.3f", r.res.RMAccuracy), fmt.Sprintf("%.0f", r.res.WallSeconds), fmt.Sprintf("%.0f", r.res.CPUSeconds)})
		}
		rows = append(rows, []string{"mean ± std", pm(field(rs, func(r loop.ControlResult) float64 { return r.FinalReturn }), 2), "", "", ""})
		fmt.Printf("initial policy (first logged iteration): %.2f\n\n", initialScore(rs))
		fmt.Println(report.MarkdownTable([]string{"seed", h.unit + " (eval)", "rm accuracy", "wall s", "CPU s"}, rows))
		p := &report.Plot{Title: h.env + " from preferences alone (mean ± std over seeds)", XLabel: "environment steps", YLabel: h.unit,
			Series: []report.Series{curve("700 labels, active", ms, "charts/episodic_score")}}
		if err := report.WriteSVGFile(filepath.Join(plots, h.file+".svg"), p.SVG()); err != nil {
			return err
		}
		if err := frames(h.env, h.file, rs[0].dir, plots); err != nil {
			return err
		}
	}
	return nil
}

// frames renders a few states of one greedy episode of a trained policy.
func frames(envName, file, dir, plots string) error {
	tr, err := ppo.Resume(filepath.Join(dir, loop.PolicyDir), nil)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(7, 7))
	ep, err := env.Rollout(envName, 12345, func(obs []float64) []float64 { return tr.Act(r, obs, true) })
	if err != nil {
		return err
	}
	spec, _ := env.SpecOf(envName)
	fmt.Printf("\nFrames (greedy policy of %s seed %s, episode seed 12345, score %.2f):\n\n", envName, filepath.Base(dir), ep.Score)
	// Spinning shows in consecutive frames mid-episode; the cart's position
	// over the whole episode.
	first, step := 0, len(ep.Steps)/6
	if envName == "PendulumSpin-v0" {
		first, step = len(ep.Steps)/2, 2
	}
	for i := range 6 {
		t := first + i*step
		if t >= len(ep.Steps) {
			break
		}
		svg, err := env.RenderSVG(envName, ep.Steps[t].State)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("%s-frame-%d.svg", file, i)
		if err := os.WriteFile(filepath.Join(plots, name), []byte(svg), 0o644); err != nil {
			return err
		}
		fmt.Printf("![t=%.2f s](control/%s) ", float64(t)*spec.DT, name)
	}
	fmt.Println()
	return nil
}
