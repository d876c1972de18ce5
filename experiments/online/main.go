// Command online summarises experiments/online/run.sh: for each label
// budget, the demo with every label from the initial policy (offline)
// against the same budget asked in rounds from the policy PPO trains
// (online), over seeds.
//
//	go run ./experiments/online -runs runs/online > docs/results/online/summary.md
//
// It reads -runs/<mode>-q<queries>-kl<target>-s<seed>/eval.json (and
// run.json, metrics.jsonl and run.sh's <run>.secs) and prints a Markdown
// table, one row per KL target, label budget and collection.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"rlhf/loop"
	"rlhf/report"
)

func main() {
	runs := flag.String("runs", "runs/online", "directory of run.sh's runs")
	shiftN := flag.Int("shift", 256, "val prompts on which each run's reward model is compared with the goal on the initial\nand the final policy's samples (cached in each run's "+shiftFile+"; 0: skip)")
	flag.Parse()
	if err := summarise(context.Background(), *runs, *shiftN, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

var runName = regexp.MustCompile(`^(offline|online|active|ensemble|warm)-q(\d+)-kl([0-9.]+)-s(\d+)$`)

// run is one demo run.
type run struct {
	mode          string
	queries, seed int
	kl            string // the KL target, as named
	ev            *loop.TextEvalJSON
	pool          int // run.json's candidate pool of -select (0: none)
	secs          float64
	rmSteps       float64 // reward-model steps over all rounds (0: unknown)
	shift         shift
}

func summarise(ctx context.Context, dir string, shiftN int, w io.Writer) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("online: %w", err)
	}
	var runs []run
	for _, e := range entries {
		m := runName.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		ev, err := loop.ReadTextEval(filepath.Join(dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // unfinished
		}
		if err != nil {
			return fmt.Errorf("online: %w", err)
		}
		r := run{mode: m[1], kl: m[3], ev: ev}
		r.queries, _ = strconv.Atoi(m[2])
		r.seed, _ = strconv.Atoi(m[4])
		var cfg struct {
			Select string            `json:"select"`
			Pool   int               `json:"pool"`
			RM     loop.TextRMConfig `json:"rm"`
		}
		if b, err := os.ReadFile(filepath.Join(dir, e.Name(), "run.json")); err == nil && json.Unmarshal(b, &cfg) == nil {
			if cfg.Select != "" {
				r.pool = cfg.Pool
			}
			r.rmSteps = rmSteps(filepath.Join(dir, e.Name()), cfg.RM)
		}
		if b, err := os.ReadFile(filepath.Join(dir, e.Name()+".secs")); err == nil {
			r.secs, _ = strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
		}
		if shiftN > 0 {
			if r.shift, err = measureShift(ctx, filepath.Join(dir, e.Name()), shiftN, 99); err != nil {
				return err
			}
		}
		runs = append(runs, r)
	}
	if len(runs) == 0 {
		return fmt.Errorf("online: no finished runs in %s", dir)
	}
	type key struct {
		kl      string
		queries int
		mode    string
	}
	groups := map[key][]run{}
	for _, r := range runs {
		k := key{r.kl, r.queries, r.mode}
		groups[k] = append(groups[k], r)
	}
	keys := make([]key, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.kl != b.kl {
			ka, _ := strconv.ParseFloat(a.kl, 64)
			kb, _ := strconv.ParseFloat(b.kl, 64)
			return cmpFloat(ka, kb)
		}
		if a.queries != b.queries {
			return a.queries - b.queries
		}
		order := map[string]int{"offline": 0, "online": 1, "warm": 2, "active": 3, "ensemble": 4}
		return order[a.mode] - order[b.mode]
	})
	pm := func(xs []float64, format string) string {
		if slices.Contains(xs, 0) && format == "%.0f" {
			return "–" // a run without a recorded wall clock
		}
		m, sd := report.Spread(xs)
		return fmt.Sprintf(format+" ± "+strings.Replace(format, "%+", "%", 1), m, sd)
	}
	var rows [][]string
	for _, k := range keys {
		g := groups[k]
		slices.SortFunc(g, func(a, b run) int { return a.seed - b.seed })
		var seeds []string
		var gain, after, kl, acc, goldAcc, secs, steps, shiftI, shiftF []float64
		for _, r := range g {
			seeds = append(seeds, fmt.Sprintf("s%d %+.3f", r.seed, r.ev.After.Gold-r.ev.Before.Gold))
			gain = append(gain, r.ev.After.Gold-r.ev.Before.Gold)
			after = append(after, r.ev.After.Gold)
			kl = append(kl, r.ev.After.KL)
			acc = append(acc, 100*r.ev.RM.Accuracy)
			goldAcc = append(goldAcc, 100*r.ev.RM.GoldAccuracy)
			secs = append(secs, r.secs)
			steps = append(steps, r.rmSteps)
			shiftI, shiftF = append(shiftI, 100*r.shift.Initial), append(shiftF, 100*r.shift.Final)
		}
		rounds := max(g[0].ev.Rounds, 1)
		mode := fmt.Sprintf("%s (%d round%s)", k.mode, rounds, map[bool]string{true: "s"}[rounds > 1])
		switch k.mode {
		case "active":
			mode = fmt.Sprintf("online, least certain of %d (%d rounds)", max(g[0].pool, 1), rounds)
		case "ensemble":
			mode = fmt.Sprintf("online, most disputed of %d (%d rounds)", max(g[0].pool, 1), rounds)
		case "warm":
			mode = fmt.Sprintf("online, reward model warm-started (%d rounds)", rounds)
		}
		rows = append(rows, []string{k.kl, fmt.Sprint(k.queries), mode,
			fmt.Sprint(len(g)), pm(gain, "%+.3f"), strings.Join(seeds, ", "), pm(after, "%+.3f"), pm(kl, "%.2f"),
			pm(acc, "%.1f"), pm(goldAcc, "%.1f")})
		if shiftN > 0 {
			rows[len(rows)-1] = append(rows[len(rows)-1], pm(shiftI, "%.1f"), pm(shiftF, "%.1f"))
		}
		rows[len(rows)-1] = append(rows[len(rows)-1], pm(steps, "%.0f"), pm(secs, "%.0f"))
	}
	head := []string{"KL target", "labels", "collection", "seeds", "gold gain (mean ± std)", "gain per seed",
		"gold after", "KL (nats)", "RM held-out accuracy (%)", "RM agreement with the goal (%)"}
	if shiftN > 0 {
		head = append(head, fmt.Sprintf("RM vs goal, initial policy's samples (%%, %d prompts)", shiftN), "RM vs goal, final policy's samples (%)")
	}
	fmt.Fprint(w, report.MarkdownTable(append(head, "reward-model steps", "wall clock (s)"), rows))
	return nil
}

// rmSteps returns the reward-model steps of the run in dir over all its
// rounds: the sum of its logged rm/steps or, for runs from before they were
// logged (all retrained from scratch), c.Epochs passes over each round's
// training comparisons; 0 when neither can be read.
func rmSteps(dir string, c loop.TextRMConfig) float64 {
	m, err := report.LoadMetrics(filepath.Join(dir, report.MetricsFile))
	if err != nil {
		return 0
	}
	var total float64
	if _, steps := m.Series("rm/steps"); len(steps) > 0 {
		for _, n := range steps {
			total += n
		}
		return total
	}
	_, n := m.Series("rm/train_comparisons")
	for _, x := range n {
		total += float64(c.Steps(int(x)))
	}
	return total
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
