package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRSFTRoundsBad(t *testing.T) {
	from := t.TempDir() // never read: the flags are checked first
	for _, r := range []int{0, -1} {
		o := options{rsftN: []float64{4}, rsftPrompts: 10, rsftRounds: r, steps: 1, dpoEpochs: 1, evalPrompts: 1}
		err := run(t.Context(), []string{from}, t.TempDir(), o)
		if err == nil || !strings.Contains(err.Error(), "-rsft-rounds") {
			t.Errorf("-rsft-rounds %d: %v, want an error naming the flag", r, err)
		}
	}
}

func TestRSFTSetting(t *testing.T) {
	// Round 1 keeps the one-round name, so earlier results stay comparable.
	for _, c := range []struct {
		n, round int
		want     string
	}{{16, 1, "best of 16"}, {4, 1, "best of 4"}, {16, 2, "best of 16, round 2"}, {4, 3, "best of 4, round 3"}} {
		if got := rsftSetting(c.n, c.round); got != c.want {
			t.Errorf("rsftSetting(%d, %d) = %q, want %q", c.n, c.round, got, c.want)
		}
	}
}

func TestRSFTPromptIndices(t *testing.T) {
	r1, r2 := rsftPromptIndices(1, 2000, 10559), rsftPromptIndices(2, 2000, 10559)
	if len(r1) != 2000 || r1[0] != 0 || r1[1999] != 1999 || len(r2) != 2000 || r2[0] != 2000 || r2[1999] != 3999 {
		t.Errorf("rounds 1, 2: %v..%v, %v..%v; want 0..1999, 2000..3999", r1[0], r1[len(r1)-1], r2[0], r2[len(r2)-1])
	}
	if got := rsftPromptIndices(3, 4, 10); !slices.Equal(got, []int{8, 9, 0, 1}) {
		t.Errorf("wrapping: %v, want [8 9 0 1]", got)
	}
	if got := rsftPromptIndices(1, 20, 3); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("more per round than prompts: %v, want [0 1 2]", got)
	}
}

func TestRSFTSeeds(t *testing.T) {
	// Round 1: the one-round method's seeds.
	if s, tr := rsftSeeds(3, 1); s != 3003 || tr != 3 {
		t.Errorf("round 1 of seed 3: %d, %d; want 3003, 3", s, tr)
	}
	// Every seed and round samples and trains with its own seed.
	samples, trains := map[uint64]string{}, map[uint64]string{}
	for seed := uint64(1); seed <= 5; seed++ {
		for round := 1; round <= 5; round++ {
			s, tr := rsftSeeds(seed, round)
			at := fmt.Sprintf("seed %d round %d", seed, round)
			if prev, ok := samples[s]; ok {
				t.Errorf("%s samples with %s's seed %d", at, prev, s)
			}
			if prev, ok := trains[tr]; ok {
				t.Errorf("%s trains with %s's seed %d", at, prev, tr)
			}
			samples[s], trains[tr] = at, at
		}
	}
}

// Each round of RSFT is its own setting: averaged over seeds, drawn, and
// compared with best-of-n at matched KL.
func TestRSFTRoundsAggregate(t *testing.T) {
	runs := twoSeeds()
	for i, g := range []float64{0, 0.1} { // seed 2 gains 0.1 more
		runs[i].Points = append(runs[i].Points,
			point{Method: "best-of-n", Setting: "n=16", Gold: 0.5, KL: 2},
			point{Method: "RSFT", Setting: rsftSetting(16, 1), Gold: 0.2 + g, KL: 1},
			point{Method: "RSFT", Setting: rsftSetting(16, 2), Gold: 0.3 + g, KL: 1.5},
			point{Method: "RSFT", Setting: rsftSetting(16, 3), Gold: 0.4 + g, KL: 3}) // past best-of-n's range
	}
	var rsft []string
	for _, p := range aggregate(runs) {
		if p.Method == "RSFT" {
			rsft = append(rsft, p.Setting)
			if p.N != 2 {
				t.Errorf("%s: n %d, want 2", p.Setting, p.N)
			}
		}
	}
	if want := []string{"best of 16", "best of 16, round 2", "best of 16, round 3"}; !slices.Equal(rsft, want) {
		t.Errorf("RSFT settings %q, want %q", rsft, want)
	}
	// best-of-n runs from gold 0.1 at KL 0 (seed 1; 0.3 in seed 2) to 0.5
	// at KL 2: at KL 1.5 it is 0.4 in seed 1, 0.45 in seed 2.
	var round2 *matchedPoint
	_, all := matchedTable(runs)
	for i := range all {
		m := &all[i]
		if m.Method == "RSFT" && m.Against == "best-of-n" {
			if m.Setting == rsftSetting(16, 3) {
				t.Errorf("round 3 lies outside best-of-n's KL range, yet matched: %+v", m)
			}
			if m.Setting == rsftSetting(16, 2) {
				round2 = m
			}
		}
	}
	if round2 == nil || round2.N != 2 || !near(round2.PerSeed[0], 0.3-0.4) || !near(round2.PerSeed[1], 0.4-0.45) {
		t.Errorf("round 2 against best-of-n: %+v, want -0.1 (seed 1), -0.05 (seed 2)", round2)
	}
	dir := t.TempDir()
	if err := write(dir, runs, 50, 1); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "frontier.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| RSFT | best of 16 | +0.250 ± 0.050 | 1.00 ± 0.00 |", "| RSFT | best of 16, round 2 | +0.350 ± 0.050 | 1.50 ± 0.00 |",
		"| RSFT | best of 16, round 3 |", "| RSFT best of 16, round 2 | best-of-n | -0.075 ± 0.025 | 2 |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("frontier.md lacks %q:\n%s", want, md)
		}
	}
}

func TestOnlineDPOSettingAndFlags(t *testing.T) {
	if got := odpoSetting(0.1, 4, 1); got != "β=0.1, best/worst of 4" {
		t.Errorf("round 1: %q", got)
	}
	if got := odpoSetting(0.3, 8, 3); got != "β=0.3, best/worst of 8, round 3" {
		t.Errorf("round 3: %q", got)
	}
	from := t.TempDir() // never read: the flags are checked first
	for _, o := range []options{
		{odpoBetas: []float64{0.1}, odpoN: 1, odpoPrompts: 10, odpoRounds: 1},
		{odpoBetas: []float64{0.1}, odpoN: 4, odpoPrompts: 0, odpoRounds: 1},
		{odpoBetas: []float64{0.1}, odpoN: 4, odpoPrompts: 10, odpoRounds: 0},
		{odpoBetas: []float64{-0.1}, odpoN: 4, odpoPrompts: 10, odpoRounds: 1},
	} {
		o.rsftRounds, o.steps, o.dpoEpochs, o.evalPrompts = 1, 1, 1, 1
		if err := run(t.Context(), []string{from}, t.TempDir(), o); err == nil || !strings.Contains(err.Error(), "odpo") {
			t.Errorf("%+v: %v, want an error naming an -odpo flag", o, err)
		}
	}
}

func TestKLTargetsAndFixedBetaFlags(t *testing.T) {
	from := t.TempDir() // never read: the flags are checked first
	for _, o := range []options{
		{targets: []float64{0}},
		{rlooTargets: []float64{-1}},
		{grpoBetas: []float64{0}},
	} {
		o.rsftRounds, o.steps, o.dpoEpochs, o.evalPrompts = 1, 1, 1, 1
		if err := run(t.Context(), []string{from}, t.TempDir(), o); err == nil || !strings.Contains(err.Error(), "not positive") {
			t.Errorf("%+v: %v, want an error saying the value is not positive", o, err)
		}
	}
}
