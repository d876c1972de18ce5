package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func twoSeeds() []seedRun {
	return []seedRun{
		{From: "a", Seed: 1, Labels: 5000, Points: []point{
			{Method: "best-of-n", Setting: "n=1", Gold: 0.1, KL: 0, RM: 0.2, Seconds: 1},
			{Method: "PPO", Setting: "KL→3", Gold: 0.4, GoldStd: 0.3, KL: 3, RM: 1, Seconds: 80},
			{Method: "DPO", Setting: "β=0.1", Gold: 0.6, KL: 6, RM: 2, Seconds: 70},
		}},
		{From: "b", Seed: 2, Labels: 5000, Points: []point{
			{Method: "PPO", Setting: "KL→3", Gold: 0.2, GoldStd: 0.35, KL: 5, RM: 0.5, Seconds: 100},
			{Method: "best-of-n", Setting: "n=1", Gold: 0.3, KL: 0, RM: 0.4, Seconds: 3},
			{Method: "DPO", Setting: "β=0.3", Gold: 0.5, KL: 2, RM: 1.5, Seconds: 60},
		}},
	}
}

func TestAggregate(t *testing.T) {
	got := aggregate(twoSeeds())
	var keys []string
	for _, p := range got {
		keys = append(keys, p.Method+" "+p.Setting)
	}
	if want := "best-of-n n=1,PPO KL→3,DPO β=0.1,DPO β=0.3"; strings.Join(keys, ",") != want {
		t.Fatalf("groups %q, want %q (first-appearance order)", strings.Join(keys, ","), want)
	}
	bon, ppo, dpo1, dpo3 := got[0], got[1], got[2], got[3]
	// Mean of per-seed means and their population std over seeds.
	if bon.N != 2 || !near(bon.Gold, 0.2) || !near(bon.GoldSpread, 0.1) || !near(bon.KL, 0) || bon.KLSpread != 0 || !near(bon.Seconds, 2) {
		t.Errorf("best-of-n n=1: %+v", bon)
	}
	if ppo.N != 2 || !near(ppo.Gold, 0.3) || !near(ppo.GoldSpread, 0.1) || !near(ppo.KL, 4) || !near(ppo.KLSpread, 1) ||
		!near(ppo.RM, 0.75) || !near(ppo.RMSpread, 0.25) || !near(ppo.Seconds, 90) {
		t.Errorf("PPO: %+v", ppo)
	}
	if len(ppo.PerSeed) != 2 || ppo.PerSeed[0].Seed != 1 || ppo.PerSeed[1].Seed != 2 || ppo.PerSeed[1].GoldStd != 0.35 || ppo.PerSeed[1].KL != 5 {
		t.Errorf("PPO per seed: %+v", ppo.PerSeed)
	}
	// A setting only one seed ran: n 1, no spread.
	if dpo1.N != 1 || !near(dpo1.Gold, 0.6) || dpo1.GoldSpread != 0 || dpo1.PerSeed[0].Seed != 1 {
		t.Errorf("DPO β=0.1: %+v", dpo1)
	}
	if dpo3.N != 1 || dpo3.PerSeed[0].Seed != 2 || !near(dpo3.KL, 2) {
		t.Errorf("DPO β=0.3: %+v", dpo3)
	}
	// Three seeds, checked against the definition of the population std.
	runs := append(twoSeeds(), seedRun{Seed: 3, Points: []point{{Method: "PPO", Setting: "KL→3", Gold: 0.9, KL: 4}}})
	p := aggregate(runs)[1]
	m := (0.4 + 0.2 + 0.9) / 3
	sd := math.Sqrt(((0.4-m)*(0.4-m) + (0.2-m)*(0.2-m) + (0.9-m)*(0.9-m)) / 3)
	if p.N != 3 || !near(p.Gold, m) || !near(p.GoldSpread, sd) {
		t.Errorf("three seeds: n %d gold %v ± %v, want 3, %v ± %v", p.N, p.Gold, p.GoldSpread, m, sd)
	}
}

func TestFrontierPlotErrorBars(t *testing.T) {
	pts := aggregate(twoSeeds())
	plot := frontierPlot(pts, 5000, 2)
	if len(plot.Series) != 3 || plot.Series[2].Name != "PPO" || plot.Series[2].Scatter {
		t.Fatalf("series: %+v", plot.Series)
	}
	ppo := plot.Series[2]
	// Segments between NaN breaks: the mean alone, the gold bar, the KL bar.
	var segs [][][2]float64
	var cur [][2]float64
	for i := range ppo.X {
		if math.IsNaN(ppo.X[i]) {
			if len(cur) > 0 {
				segs = append(segs, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, [2]float64{ppo.X[i], ppo.Y[i]})
	}
	if len(cur) > 0 {
		segs = append(segs, cur)
	}
	want := [][][2]float64{{{4, 0.3}}, {{4, 0.2}, {4, 0.4}}, {{3, 0.3}, {5, 0.3}}}
	if len(segs) != len(want) {
		t.Fatalf("PPO segments %v, want %v", segs, want)
	}
	for i := range want {
		for j := range want[i] {
			if len(segs[i]) != len(want[i]) || !near(segs[i][j][0], want[i][j][0]) || !near(segs[i][j][1], want[i][j][1]) {
				t.Fatalf("PPO segments %v, want %v", segs, want)
			}
		}
	}
	// Best-of-n's KL has no spread: no horizontal bar.
	if n := countNaN(plot.Series[0].X); n != 3 {
		t.Errorf("best-of-n has %d breaks, want 3 (mean, gold bar)", n)
	}
	svg := plot.SVG()
	dec := xml.NewDecoder(strings.NewReader(string(svg)))
	for {
		if _, err := dec.Token(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("SVG not well-formed: %v", err)
		}
	}
	if !strings.Contains(string(svg), "<polyline") || !strings.Contains(string(svg), "over 2 seeds") {
		t.Errorf("SVG lacks error bars or title")
	}
	if one := frontierPlot(aggregate(twoSeeds()[:1]), 5000, 1); !one.Series[0].Scatter || countNaN(one.Series[2].X) != 0 {
		t.Errorf("single seed should plot plain points: %+v", one.Series)
	}
}

func countNaN(x []float64) int {
	n := 0
	for _, v := range x {
		if math.IsNaN(v) {
			n++
		}
	}
	return n
}

func TestWriteRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if err := write(dir, twoSeeds(), 50, 1); err != nil {
		t.Fatal(err)
	}
	buf, err := os.ReadFile(filepath.Join(dir, "frontier.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Seeds  int        `json:"seeds"`
		From   []string   `json:"from"`
		Points []aggPoint `json:"points"`
		Runs   []seedRun  `json:"runs"`
	}
	if err := json.Unmarshal(buf, &got); err != nil {
		t.Fatal(err)
	}
	if got.Seeds != 2 || len(got.From) != 2 || len(got.Runs) != 2 || len(got.Points) != 4 || !near(got.Points[1].KLSpread, 1) {
		t.Errorf("frontier.json: %+v", got)
	}
	md, err := os.ReadFile(filepath.Join(dir, "frontier.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| PPO | KL→3 | +0.300 ± 0.100 | 4.00 ± 1.00 |") || !strings.Contains(string(md), "+0.400 (3.00), +0.200 (5.00)") {
		t.Errorf("frontier.md:\n%s", md)
	}
	// One seed: ± is the std over completions, as before.
	if err := write(dir, twoSeeds()[1:], 50, 1); err != nil {
		t.Fatal(err)
	}
	md, _ = os.ReadFile(filepath.Join(dir, "frontier.md"))
	if !strings.Contains(string(md), "| PPO | KL→3 | +0.200 ± 0.350 | 5.00 |") {
		t.Errorf("single-seed frontier.md:\n%s", md)
	}
}

func TestRunBadInput(t *testing.T) {
	o := options{ns: []float64{1}, steps: 1, dpoEpochs: 1, evalPrompts: 1, rsftRounds: 1}
	if err := run(t.Context(), nil, t.TempDir(), o); err == nil {
		t.Error("no -from: want an error")
	}
	if err := run(t.Context(), []string{filepath.Join(t.TempDir(), "missing")}, t.TempDir(), o); err == nil {
		t.Error("missing run directory: want an error")
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "run.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(t.Context(), []string{bad}, t.TempDir(), o); err == nil || !strings.Contains(err.Error(), "run.json") {
		t.Errorf("malformed run.json: %v", err)
	}
	o.ns = []float64{2.5}
	if err := run(t.Context(), []string{bad}, t.TempDir(), o); err == nil || !strings.Contains(err.Error(), "-bon-n") {
		t.Errorf("fractional n: %v", err)
	}
	if got := dirs(" a, ,b "); strings.Join(got, "|") != "a|b" {
		t.Errorf("dirs: %q", got)
	}
}

func TestInterpGold(t *testing.T) {
	pts := []point{ // unsorted on purpose, with another method mixed in
		{Method: "PPO", KL: 6, Gold: 0.6},
		{Method: "DPO", KL: 3, Gold: 9},
		{Method: "PPO", KL: 2, Gold: 0.2},
		{Method: "PPO", KL: 3, Gold: 0.5},
	}
	for _, c := range []struct {
		kl, want float64
		ok       bool
	}{{2, 0.2, true}, {2.5, 0.35, true}, {3, 0.5, true}, {4.5, 0.55, true}, {6, 0.6, true}, {1.9, 0, false}, {6.1, 0, false}} {
		g, ok := interpGold(pts, "PPO", c.kl)
		if ok != c.ok || (ok && !near(g, c.want)) {
			t.Errorf("interpGold(%v) = %v, %v; want %v, %v", c.kl, g, ok, c.want, c.ok)
		}
	}
	if _, ok := interpGold(pts, "best-of-n", 3); ok {
		t.Error("a method with no points matched")
	}
}

func TestMatched(t *testing.T) {
	runs := []seedRun{
		{Seed: 1, Points: []point{
			{Method: "PPO", Setting: "KL→1", KL: 2, Gold: 0.2}, {Method: "PPO", Setting: "KL→6", KL: 6, Gold: 0.6},
			{Method: "DPO", Setting: "β=0.1", KL: 4, Gold: 0.5}, {Method: "DPO", Setting: "β=0.03", KL: 10, Gold: 0.9},
		}},
		{Seed: 2, Points: []point{
			{Method: "PPO", Setting: "KL→1", KL: 3, Gold: 0.1}, {Method: "PPO", Setting: "KL→6", KL: 5, Gold: 0.3},
			{Method: "DPO", Setting: "β=0.1", KL: 4, Gold: 0.4}, {Method: "DPO", Setting: "β=0.03", KL: 12, Gold: 0.8},
		}},
		{Seed: 3, Points: []point{ // β=0.1 outside PPO's range here: left out of n
			{Method: "PPO", Setting: "KL→1", KL: 5, Gold: 0.1}, {Method: "PPO", Setting: "KL→6", KL: 7, Gold: 0.3},
			{Method: "DPO", Setting: "β=0.1", KL: 4, Gold: 0.7},
		}},
	}
	got := matched(runs, "DPO", "PPO")
	if len(got) != 1 {
		t.Fatalf("matched %+v, want β=0.1 only", got)
	}
	m := got[0]
	if m.Setting != "β=0.1" || m.Against != "PPO" || m.N != 2 || !near(m.Diff, 0.15) || !near(m.Spread, 0.05) ||
		len(m.Seeds) != 2 || m.Seeds[0] != 1 || m.Seeds[1] != 2 {
		t.Errorf("DPO β=0.1 vs PPO: %+v, want +0.15 ± 0.05 over seeds 1, 2", m)
	}
	// DPO's KL range (4-10, 4-12, the single 4) holds PPO's KL→6 in seeds
	// 1-2 (KL 6, 5) and no KL→1 (KL 2, 3, 5).
	back := matched(runs, "PPO", "DPO")
	if len(back) != 1 || back[0].Setting != "KL→6" || back[0].N != 2 {
		t.Fatalf("PPO vs DPO: %+v", back)
	}
	// Seed 1: DPO at KL 6 = 0.5 + (2/6)·0.4; seed 2: DPO at KL 5 = 0.4 + (1/8)·0.4.
	d1, d2 := 0.6-(0.5+0.4*2/6), 0.3-(0.4+0.4/8)
	if !near(back[0].PerSeed[0], d1) || !near(back[0].PerSeed[1], d2) || !near(back[0].Diff, (d1+d2)/2) {
		t.Errorf("PPO KL→6 vs DPO per seed %v, want %v, %v", back[0].PerSeed, d1, d2)
	}
	if tab, all := matchedTable(runs); len(all) != 2 || !strings.Contains(tab, "| DPO β=0.1 | PPO | +0.150 ± 0.050 | 2 |") {
		t.Errorf("matched table (%d rows):\n%s", len(all), tab)
	}
}

// RLOO points, when the experiment ran them (-rloo-kl), get their own
// series and are compared with PPO at matched KL.
func TestRLOOPoints(t *testing.T) {
	runs := twoSeeds()
	runs[0].Points = append(runs[0].Points, point{Method: "PPO", Setting: "KL→6", Gold: 0.8, KL: 5}, point{Method: "RLOO", Setting: "KL→3", Gold: 0.5, KL: 4})
	runs[1].Points = append(runs[1].Points, point{Method: "PPO", Setting: "KL→6", Gold: 0.6, KL: 7}, point{Method: "RLOO", Setting: "KL→3", Gold: 0.5, KL: 6})
	plot := frontierPlot(aggregate(runs), 5000, 2)
	if n := len(plot.Series); n != 4 || plot.Series[3].Name != "RLOO" {
		t.Fatalf("%d series, the last %q: want 4, RLOO last", n, plot.Series[n-1].Name)
	}
	// Seed 1: PPO at KL 4 is 0.6 (between 0.4 at 3 and 0.8 at 5), RLOO
	// -0.1; seed 2: 0.4 at 6 (0.2 at 5, 0.6 at 7), RLOO +0.1.
	table, all := matchedTable(runs)
	var rloo *matchedPoint
	for i := range all {
		if all[i].Method == "RLOO" {
			rloo = &all[i]
		}
	}
	if rloo == nil || rloo.Against != "PPO" || rloo.N != 2 || !near(rloo.Diff, 0) || !near(rloo.Spread, 0.1) || !strings.Contains(table, "RLOO KL→3 | PPO") {
		t.Errorf("RLOO against PPO: %+v\n%s", rloo, table)
	}
}
