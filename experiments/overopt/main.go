// Command overopt summarises the reward-model over-optimisation runs of
// experiments/overopt/run.sh and goldrm.sh (Gao, Schulman & Hilton 2022,
// "Scaling Laws for Reward Model Overoptimization"): the gold score (VADER,
// or a gold reward model with -gold) and the proxy score
// (a learned reward model) against d = sqrt(KL(π‖π_init)) for PPO with a fixed
// KL coefficient and for best-of-n, with Gao's functional forms fitted to the
// gold score gained over the initial policy:
//
//	best-of-n: R(d) = d(α − β·d)      RL: R(d) = d(α − β·log d)
//
//	go run ./experiments/overopt -runs runs/overopt -out docs/results/overopt
//
// It reads -runs/ppo-<rm>-s<seed>-b<β>/metrics.jsonl and -runs/bon-<rm>-s<seed>.txt
// (the table rlhf bon prints; bon-gold.txt selects by the gold score itself)
// and -runs/rmeval-<rm>-s<seed>/summary.json (a proxy's held-out accuracy),
// and writes gold-ppo.svg, gold-bon.svg, proxy.svg, summary.md and summary.json
// to -out.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"rlhf/report"
)

func main() {
	runs := flag.String("runs", "runs/overopt", "directory of run.sh's runs")
	out := flag.String("out", "docs/results/overopt", "directory for the plots, summary.md and summary.json")
	window := flag.Int("smooth", 5, "PPO steps in the centred moving average of KL, gold and proxy")
	flag.StringVar(&goldName, "gold", goldName, "what the gold score is, for plot titles and labels")
	flag.Parse()
	if err := run(*runs, *out, *window, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// goldName names the gold score in plots and curve names: VADER for
// run.sh's runs, the gold reward model for goldrm.sh's.
var goldName = "VADER"

// Curve is one optimisation run's path: the gold and proxy gain over the
// initial policy against d = sqrt(KL).
type Curve struct {
	Method string  `json:"method"` // "ppo" or "bon"
	RM     string  `json:"rm"`     // the proxy's name ("demo", "500", ...; "gold" selects by the gold score)
	Seed   int     `json:"seed"`
	KLCoef float64 `json:"kl_coef"` // PPO's fixed β (0 for best-of-n)
	// D, Gold and Proxy are per point (PPO: per step, smoothed; best-of-n: per n).
	D     []float64 `json:"d"`
	Gold  []float64 `json:"gold_gain"`
	Proxy []float64 `json:"proxy_gain"`
	// N holds best-of-n's n per point; empty for PPO.
	N []int `json:"n,omitempty"`
	// GoldStart is the gold score the gains are relative to.
	GoldStart float64 `json:"gold_start"`
	// Secs is the run's wall-clock time in seconds (0 if not recorded).
	Secs float64 `json:"secs"`
	// Fit is Gao's form for the method fitted to (D, Gold).
	Fit *Fit `json:"fit,omitempty"`
	// GoldAt holds the gold gain where the run first reaches d = 1, 2, 4, 8
	// (null where it does not).
	GoldAt []*float64 `json:"gold_at_d_1_2_4_8"`
}

// Name labels the curve in plots and tables.
func (c *Curve) Name() string {
	if c.Method == "bon" {
		if c.RM == "gold" {
			return "best-of-n by " + goldName + " itself"
		}
		return fmt.Sprintf("best-of-n, RM %s s%d", c.RM, c.Seed)
	}
	return fmt.Sprintf("PPO β=%g, RM %s s%d", c.KLCoef, c.RM, c.Seed)
}

// fitEnd returns how many leading points the fit uses: for PPO, the steps up
// to the one with the largest KL (a policy that has collapsed can drift back
// towards its start, and Gao et al.'s form describes a KL that grows); for
// best-of-n, every n.
func (c *Curve) fitEnd() int {
	if c.Method != "ppo" {
		return len(c.D)
	}
	end := 0
	for i, d := range c.D {
		if d > c.D[end] {
			end = i
		}
	}
	return end + 1
}

// probeD are the distances at which the summary compares runs' gold gains.
var probeD = []float64{1, 2, 4, 8}

// goldAt returns the gold gain where the run first reaches distance x,
// interpolated linearly between the points around the crossing; NaN if it
// never gets that far.
func (c *Curve) goldAt(x float64) float64 {
	for i := 1; i < len(c.D); i++ {
		lo, hi := c.D[i-1], c.D[i]
		if lo < x && hi >= x {
			t := (x - lo) / (hi - lo)
			return c.Gold[i-1] + t*(c.Gold[i]-c.Gold[i-1])
		}
	}
	return math.NaN()
}

// goldAtCell prints the gold gains at probeD, "–" where not reached.
func goldAtCell(at func(float64) string) string {
	var parts []string
	for _, x := range probeD {
		parts = append(parts, at(x))
	}
	return strings.Join(parts, " / ")
}

// peak returns the index of the highest gold gain (-1 if none is finite).
func (c *Curve) peak() int {
	best := -1
	for i, g := range c.Gold {
		if !math.IsNaN(g) && (best < 0 || g > c.Gold[best]) {
			best = i
		}
	}
	return best
}

// Fall is the largest drop of the gold gain along a run: from point From to a
// later point To, with the proxy's change over the same stretch. A fall of the
// gold score while the proxy rises is over-optimisation.
type Fall struct {
	From, To    int     // point indices, From < To
	Gold, Proxy float64 // gold drop (≥ 0) and proxy change from From to To
}

// largestFall returns the run's largest gold drop (zero if gold never falls).
func (c *Curve) largestFall() Fall {
	var best Fall
	hi := -1 // index of the highest gold so far
	for j, g := range c.Gold {
		if math.IsNaN(g) {
			continue
		}
		if hi >= 0 && c.Gold[hi]-g > best.Gold {
			best = Fall{From: hi, To: j, Gold: c.Gold[hi] - g, Proxy: c.Proxy[j] - c.Proxy[hi]}
		}
		if hi < 0 || g > c.Gold[hi] {
			hi = j
		}
	}
	return best
}

var (
	ppoName = regexp.MustCompile(`^ppo-(.+)-s(\d+)-b([0-9.eE+-]+)$`)
	bonName = regexp.MustCompile(`^bon-(.+)-s(\d+)\.txt$`)
)

// isDir reports whether path is a directory or a link to one (ensemble.sh
// links the single-proxy runs it compares with).
func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

func run(runsDir, outDir string, window int, stdout io.Writer) error {
	entries, err := os.ReadDir(runsDir)
	if err != nil {
		return fmt.Errorf("overopt: read runs %s: %w", runsDir, err)
	}
	var ppoRuns []*ppoLog
	var curves []*Curve
	for _, e := range entries {
		name := e.Name()
		if m := ppoName.FindStringSubmatch(name); m != nil && isDir(filepath.Join(runsDir, name)) {
			seed, _ := strconv.Atoi(m[2])
			beta, err := strconv.ParseFloat(m[3], 64)
			if err != nil {
				return fmt.Errorf("overopt: run %s: KL coefficient %q: %w", name, m[3], err)
			}
			p, err := loadPPO(filepath.Join(runsDir, name))
			if err != nil {
				return err
			}
			p.curve = &Curve{Method: "ppo", RM: m[1], Seed: seed, KLCoef: beta, Secs: readSecs(runsDir, name)}
			ppoRuns = append(ppoRuns, p)
			continue
		}
		var c *Curve
		if m := bonName.FindStringSubmatch(name); m != nil {
			seed, _ := strconv.Atoi(m[2])
			c = &Curve{Method: "bon", RM: m[1], Seed: seed}
		} else if name == "bon-gold.txt" {
			c = &Curve{Method: "bon", RM: "gold", Seed: 1}
		} else {
			continue
		}
		rows, err := readBoNFile(filepath.Join(runsDir, name))
		if err != nil {
			return err
		}
		if len(rows) == 0 || rows[0].N != 1 {
			return fmt.Errorf("overopt: %s: the table needs n = 1 first (the initial policy)", name)
		}
		c.Secs = readSecs(runsDir, strings.TrimSuffix(name, ".txt"))
		c.GoldStart = rows[0].Gold
		for _, r := range rows {
			c.N = append(c.N, r.N)
			c.D = append(c.D, math.Sqrt(max(r.KL, 0)))
			c.Gold = append(c.Gold, r.Gold-rows[0].Gold)
			c.Proxy = append(c.Proxy, r.Proxy-rows[0].Proxy)
		}
		curves = append(curves, c)
	}
	if len(ppoRuns) == 0 && len(curves) == 0 {
		return fmt.Errorf("overopt: no ppo-* runs or bon-*.txt tables in %s", runsDir)
	}

	// Every PPO run starts from the same policy, so their first batches are
	// samples of one gold score: pool them for the baseline.
	var first []float64
	for _, p := range ppoRuns {
		first = append(first, p.gold[0])
	}
	start, startStd := report.Spread(first)
	for _, p := range ppoRuns {
		p.fill(start, window)
		curves = append(curves, p.curve)
	}
	slices.SortStableFunc(curves, func(a, b *Curve) int {
		return strings.Compare(fmt.Sprintf("%s|%s|%08.4f|%03d", a.Method, a.RM, a.KLCoef, a.Seed),
			fmt.Sprintf("%s|%s|%08.4f|%03d", b.Method, b.RM, b.KLCoef, b.Seed))
	})

	for _, c := range curves {
		form := RL
		if c.Method == "bon" {
			form = BoN
		}
		for _, x := range probeD {
			var v *float64
			if g := c.goldAt(x); !math.IsNaN(g) {
				v = &g
			}
			c.GoldAt = append(c.GoldAt, v)
		}
		n := c.fitEnd()
		if f, err := FitForm(form, c.D[:n], c.Gold[:n]); err == nil {
			c.Fit = &f
		}
	}
	pooled := poolFits(curves)

	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("overopt: %w", err)
	}
	if err := writePlots(outDir, curves, pooled); err != nil {
		return err
	}
	md := summaryMarkdown(curves, pooled, start, startStd, len(first), window)
	proxies, err := proxyTable(runsDir)
	if err != nil {
		return err
	}
	md += proxies
	if err := os.WriteFile(filepath.Join(outDir, "summary.md"), []byte(md), 0o644); err != nil {
		return fmt.Errorf("overopt: write summary: %w", err)
	}
	js, err := json.MarshalIndent(struct {
		PPOGoldStart    float64      `json:"ppo_gold_start"`
		PPOGoldStartStd float64      `json:"ppo_gold_start_std"`
		PPOFirstBatches int          `json:"ppo_first_batches"`
		SmoothWindow    int          `json:"smooth_window"`
		Curves          []*Curve     `json:"curves"`
		Pooled          []*PooledFit `json:"pooled"`
	}{nan0(start), nan0(startStd), len(first), window, curves, pooled}, "", "  ")
	if err != nil {
		return fmt.Errorf("overopt: encode summary: %w", err)
	}
	if err := os.WriteFile(filepath.Join(outDir, "summary.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("overopt: write summary: %w", err)
	}
	fmt.Fprint(stdout, md)
	return nil
}

// nan0 maps NaN to 0 for JSON, which has no NaN.
func nan0(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// readSecs reads dir/name.secs (run.sh's wall-clock record); 0 if absent.
func readSecs(dir, name string) float64 {
	b, err := os.ReadFile(filepath.Join(dir, name+".secs"))
	if err != nil {
		return 0
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		return 0
	}
	return v
}

// ppoLog is one PPO run's per-step metrics before smoothing.
type ppoLog struct {
	steps, kl, gold, proxy []float64
	curve                  *Curve
}

// loadPPO reads dir/metrics.jsonl: objective/kl, objective/gold and
// objective/scores per step.
func loadPPO(dir string) (*ppoLog, error) {
	m, err := report.LoadMetrics(dir)
	if err != nil {
		return nil, fmt.Errorf("overopt: %w", err)
	}
	p := &ppoLog{}
	var klSteps, goldSteps, proxySteps []float64
	klSteps, p.kl = m.Series("objective/kl")
	goldSteps, p.gold = m.Series("objective/gold")
	proxySteps, p.proxy = m.Series("objective/scores")
	if len(p.kl) == 0 || len(p.gold) == 0 {
		return nil, fmt.Errorf("overopt: %s: no objective/kl or objective/gold in metrics (was the run given -gold?)", dir)
	}
	if !slices.Equal(klSteps, goldSteps) || !slices.Equal(klSteps, proxySteps) {
		return nil, fmt.Errorf("overopt: %s: objective/kl, objective/gold and objective/scores are logged at different steps", dir)
	}
	p.steps = klSteps
	return p, nil
}

// fill smooths the run's KL, gold and proxy over window steps and stores the
// gains over the initial policy (gold: the pooled first-batch mean goldStart;
// proxy: this run's smoothed first value) in the curve.
func (p *ppoLog) fill(goldStart float64, window int) {
	sm := func(y []float64) []float64 {
		return report.Smooth(report.Series{X: p.steps, Y: y}, window).Y
	}
	kl, gold, proxy := sm(p.kl), sm(p.gold), sm(p.proxy)
	c := p.curve
	c.GoldStart = goldStart
	for i := range kl {
		c.D = append(c.D, math.Sqrt(max(kl[i], 0)))
		c.Gold = append(c.Gold, gold[i]-goldStart)
		c.Proxy = append(c.Proxy, proxy[i]-proxy[0])
	}
}

// BoNRow is one row of rlhf bon's table.
type BoNRow struct {
	N     int
	KL    float64 // analytic KL(best-of-n ‖ policy), nats
	Proxy float64 // the kept completions' mean proxy score
	Gold  float64 // their mean gold score
}

func readBoNFile(path string) ([]BoNRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("overopt: %w", err)
	}
	defer f.Close()
	rows, err := ReadBoNTable(f)
	if err != nil {
		return nil, fmt.Errorf("overopt: %s: %w", path, err)
	}
	return rows, nil
}

// ReadBoNTable parses the markdown table rlhf bon prints
// (| n | KL (nats) | proxy score | gold score | ... |); other lines are
// ignored. A data row is one whose first cell is an integer.
func ReadBoNTable(r io.Reader) ([]BoNRow, error) {
	var rows []BoNRow
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(s, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(s, "|"), "|")
		n, err := strconv.Atoi(strings.TrimSpace(cells[0]))
		if err != nil {
			continue // header or separator
		}
		if len(cells) < 4 {
			return nil, fmt.Errorf("line %d: %d cells, want at least 4 (n, KL, proxy, gold)", line, len(cells))
		}
		row := BoNRow{N: n}
		for i, dst := range []*float64{&row.KL, &row.Proxy, &row.Gold} {
			v, err := strconv.ParseFloat(strings.TrimSpace(cells[i+1]), 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: cell %d: %w", line, i+2, err)
			}
			*dst = v
		}
		if n < 1 || (len(rows) > 0 && n <= rows[len(rows)-1].N) {
			return nil, fmt.Errorf("line %d: n = %d after %d (want increasing n ≥ 1)", line, n, lastN(rows))
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return rows, nil
}

func lastN(rows []BoNRow) int {
	if len(rows) == 0 {
		return 0
	}
	return rows[len(rows)-1].N
}

// PooledFit is one form fitted to every seed's points of a method, proxy and β.
type PooledFit struct {
	Method string  `json:"method"`
	RM     string  `json:"rm"`
	KLCoef float64 `json:"kl_coef"`
	Seeds  int     `json:"seeds"`
	MaxD   float64 `json:"max_d"`
	Fit    Fit     `json:"fit"`
	curves []*Curve
}

func poolFits(curves []*Curve) []*PooledFit {
	type key struct {
		method, rm string
		beta       float64
	}
	var order []key
	group := map[key][]*Curve{}
	for _, c := range curves {
		k := key{c.Method, c.RM, c.KLCoef}
		if _, ok := group[k]; !ok {
			order = append(order, k)
		}
		group[k] = append(group[k], c)
	}
	var out []*PooledFit
	for _, k := range order {
		var d, g []float64
		maxD := 0.0
		for _, c := range group[k] {
			n := c.fitEnd()
			d = append(d, c.D[:n]...)
			g = append(g, c.Gold[:n]...)
			for _, v := range c.D {
				maxD = max(maxD, v)
			}
		}
		form := RL
		if k.method == "bon" {
			form = BoN
		}
		f, err := FitForm(form, d, g)
		if err != nil {
			continue
		}
		out = append(out, &PooledFit{Method: k.method, RM: k.rm, KLCoef: k.beta, Seeds: len(group[k]), MaxD: maxD, Fit: f, curves: group[k]})
	}
	return out
}

// fitSeries samples a fitted curve on [0, maxD].
func fitSeries(name string, f Fit, maxD float64) report.Series {
	s := report.Series{Name: name}
	for i := 0; i <= 60; i++ {
		d := maxD * float64(i) / 60
		s.X = append(s.X, d)
		s.Y = append(s.Y, f.Eval(d))
	}
	return s
}

func writePlots(outDir string, curves []*Curve, pooled []*PooledFit) error {
	goldPPO := &report.Plot{Title: "PPO against a learned reward: gold (" + goldName + ") gain vs sqrt(KL)",
		XLabel: "d = sqrt(KL(π ‖ π_init)), sqrt(nats)", YLabel: "gold gain over the initial policy"}
	goldBoN := &report.Plot{Title: "Best-of-n with a learned reward: gold (" + goldName + ") gain vs sqrt(KL)",
		XLabel: "d = sqrt(KL(best-of-n ‖ π)), sqrt(nats)", YLabel: "gold gain over n = 1"}
	proxy := &report.Plot{Title: "Proxy (reward model) gain vs sqrt(KL)",
		XLabel: "d = sqrt(KL), sqrt(nats)", YLabel: "proxy gain (normalised RM units)"}
	for _, c := range curves {
		s := report.Series{Name: c.Name(), X: c.D, Y: c.Gold}
		if c.Method == "ppo" {
			goldPPO.Series = append(goldPPO.Series, s)
		} else {
			goldBoN.Series = append(goldBoN.Series, s)
		}
		if c.RM != "gold" {
			proxy.Series = append(proxy.Series, report.Series{Name: c.Name(), X: c.D, Y: c.Proxy})
		}
	}
	for _, p := range pooled {
		if p.RM == "gold" {
			continue
		}
		if p.Method == "ppo" && p.KLCoef == 0 {
			goldPPO.Series = append(goldPPO.Series, fitSeries(fmt.Sprintf("fit d(α−β log d), RM %s, %d seeds", p.RM, p.Seeds), p.Fit, p.MaxD))
		}
		if p.Method == "bon" {
			goldBoN.Series = append(goldBoN.Series, fitSeries(fmt.Sprintf("fit d(α−βd), RM %s, %d seeds", p.RM, p.Seeds), p.Fit, p.MaxD))
		}
	}
	for name, p := range map[string]*report.Plot{"gold-ppo.svg": goldPPO, "gold-bon.svg": goldBoN, "proxy.svg": proxy} {
		if len(p.Series) == 0 {
			continue
		}
		p.Width, p.Height = 900, 520
		if err := report.WriteSVGFile(filepath.Join(outDir, name), p.SVG()); err != nil {
			return fmt.Errorf("overopt: %w", err)
		}
	}
	return nil
}

func f3(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

func f2(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// peakCell prints a fitted peak, or says that the curve has none or that it
// lies beyond the distance the run reached.
func peakCell(f *Fit, maxD float64) string {
	if f == nil {
		return "no fit"
	}
	if math.IsNaN(f.PeakD) {
		return "none (β ≤ 0)"
	}
	s := fmt.Sprintf("%s at d = %s", f3(f.PeakR), f2(f.PeakD))
	if f.PeakD > maxD {
		s += " (beyond reach)"
	}
	return s
}

func summaryMarkdown(curves []*Curve, pooled []*PooledFit, start, startStd float64, nStart, window int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "PPO gold baseline: %.3f ± %.3f (mean ± std of the first batch's mean gold over %d runs, all from the initial policy); "+
		"PPO curves smoothed over %d steps. Best-of-n gains are relative to its n = 1 row.\n\n", start, startStd, nStart, window)
	var rows [][]string
	for _, c := range curves {
		maxD := 0.0
		for _, v := range c.D {
			maxD = max(maxD, v)
		}
		pk := c.peak()
		peak, final := "–", "–"
		if pk >= 0 {
			where := fmt.Sprintf("d = %s", f2(c.D[pk]))
			if c.Method == "bon" {
				where = fmt.Sprintf("n = %d", c.N[pk])
			}
			peak = fmt.Sprintf("%s at %s", f3(c.Gold[pk]), where)
			final = f3(c.Gold[len(c.Gold)-1])
		}
		alpha, beta, rmse := "–", "–", "–"
		if c.Fit != nil {
			alpha, beta, rmse = f3(c.Fit.Alpha), f3(c.Fit.Beta), f3(c.Fit.RMSE)
		}
		fall := "none"
		if lf := c.largestFall(); lf.Gold > 0 {
			fall = fmt.Sprintf("%s, d %s → %s (proxy %+.2f)", f3(lf.Gold), f2(c.D[lf.From]), f2(c.D[lf.To]), lf.Proxy)
		}
		secs := "–"
		if c.Secs > 0 {
			secs = fmt.Sprintf("%.0f", c.Secs)
		}
		kl := "–"
		if c.Method == "ppo" {
			kl = f2(c.KLCoef)
		}
		rows = append(rows, []string{c.Method, c.RM, strconv.Itoa(c.Seed), kl, f2(maxD), f3(c.Proxy[len(c.Proxy)-1]),
			goldAtCell(func(x float64) string { return f3(c.goldAt(x)) }),
			peak, fall, final, alpha, beta, peakCell(c.Fit, maxD), rmse, secs})
	}
	b.WriteString(report.MarkdownTable([]string{"method", "proxy RM", "seed", "KL coef.", "max d", "final proxy gain",
		"gold gain at d = 1 / 2 / 4 / 8", "measured gold peak", "largest gold fall", "final gold gain", "α", "β", "fitted gold peak", "fit RMSE", "wall s"}, rows))
	b.WriteString("\nPooled over seeds:\n\n")
	rows = rows[:0]
	for _, p := range pooled {
		kl := "–"
		if p.Method == "ppo" {
			kl = f2(p.KLCoef)
		}
		at := goldAtCell(func(x float64) string {
			var v []float64
			for _, c := range p.curves {
				if g := c.goldAt(x); !math.IsNaN(g) {
					v = append(v, g)
				}
			}
			if len(v) == 0 {
				return "–"
			}
			m, sd := report.Spread(v)
			if len(v) == 1 {
				return f3(m)
			}
			return f3(m) + " ± " + f3(sd)
		})
		rows = append(rows, []string{p.Method, p.RM, kl, strconv.Itoa(p.Seeds), f2(p.MaxD), at, f3(p.Fit.Alpha), f3(p.Fit.Beta),
			peakCell(&p.Fit, p.MaxD), f3(p.Fit.RMSE)})
	}
	b.WriteString(report.MarkdownTable([]string{"method", "proxy RM", "KL coef.", "seeds", "max d",
		"gold gain at d = 1 / 2 / 4 / 8 (mean ± std over seeds)", "α", "β", "fitted gold peak", "fit RMSE"}, rows))
	return b.String()
}

var rmevalName = regexp.MustCompile(`^rmeval-(.+)-s(\d+)$`)

// proxyTable is a Markdown table of each proxy's held-out accuracy from the
// runs' rmeval-<rm>-sS/summary.json (rlhf rm -epochs 0 on a common labelled
// set), per seed and as mean ± std over seeds; empty without such runs.
func proxyTable(runsDir string) (string, error) {
	entries, err := os.ReadDir(runsDir)
	if err != nil {
		return "", fmt.Errorf("overopt: read runs %s: %w", runsDir, err)
	}
	type acc struct {
		seed int
		v    float64
		n    int
	}
	byRM := map[string][]acc{}
	for _, e := range entries {
		m := rmevalName.FindStringSubmatch(e.Name())
		if m == nil || !isDir(filepath.Join(runsDir, e.Name())) { // or a link: ensemble.sh links goldrm.sh's in
			continue
		}
		path := filepath.Join(runsDir, e.Name(), "summary.json")
		buf, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // still running
		}
		if err != nil {
			return "", fmt.Errorf("overopt: %w", err)
		}
		var sum struct {
			Acc *float64 `json:"val_accuracy"`
			N   int      `json:"val_comparisons"`
		}
		if err := json.Unmarshal(buf, &sum); err != nil || sum.Acc == nil {
			return "", fmt.Errorf("overopt: %s: no val_accuracy (%v)", path, err)
		}
		seed, _ := strconv.Atoi(m[2])
		byRM[m[1]] = append(byRM[m[1]], acc{seed, *sum.Acc, sum.N})
	}
	if len(byRM) == 0 {
		return "", nil
	}
	names := slices.Collect(maps.Keys(byRM))
	slices.SortFunc(names, func(a, b string) int {
		na, ea := strconv.Atoi(a)
		nb, eb := strconv.Atoi(b)
		if ea == nil && eb == nil {
			return na - nb
		}
		return strings.Compare(a, b)
	})
	var rows [][]string
	for _, name := range names {
		as := byRM[name]
		slices.SortFunc(as, func(a, b acc) int { return a.seed - b.seed })
		var vs, cells []string
		var xs []float64
		for _, a := range as {
			cells = append(cells, fmt.Sprintf("s%d %.1f%% (%d)", a.seed, 100*a.v, a.n))
			xs = append(xs, 100*a.v)
		}
		m, sd := report.Spread(xs)
		vs = append(vs, name, strings.Join(cells, ", "), fmt.Sprintf("%.1f ± %.1f", m, sd))
		rows = append(rows, vs)
	}
	return "\nProxies' held-out accuracy against the common labelled set (rmeval-*; comparisons per run in brackets):\n\n" +
		report.MarkdownTable([]string{"proxy", "per seed", "mean ± std (%)"}, rows), nil
}
