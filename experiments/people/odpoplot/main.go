// Command odpoplot draws runs of experiments/people/online_dpo.sh as gold
// lipogram against KL to the pretrained model: one line per arm through the
// means over the runs given of its rounds (eval.json), starting from the
// pretrained model (base-eval.json) at 0 nats, with the first and last
// rounds named on the line.
//
//	go run ./experiments/people/odpoplot -rounds 6 -out gold-kl.svg runs/people-recal-seed{1,2,3}
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"rlhf/report"
)

// armNames are the arms online_dpo.sh knows, in its order, with what the
// legend calls them.
var armNames = []struct{ dir, name string }{
	{"people", "people answer every group"},
	{"peoples", "people, DPO smoothed at their error rate"},
	{"people3", "3 people a group, every answer trains"},
	{"vote3", "3 people a group, their consensus trains"},
	{"vote3s", "consensus, DPO toward its confidence"},
	{"judge", "judge (-abstain 0.2), people the rest"},
	{"alone", "judge answers every group"},
	{"recal", "judge audited and recalibrated"},
	{"recaln", "recalibrated, told people's error rate"},
	{"recals", "recalibrated, DPO toward its confidences"},
	{"recala", "recalibrated, people's error rate estimated"},
}

// evalFile is the part of rlhf eval's eval.json plotted.
type evalFile struct {
	Gold float64 `json:"gold_mean"`
	KL   float64 `json:"kl_mean"`
}

func readEval(path string) (evalFile, error) {
	var e evalFile
	b, err := os.ReadFile(path)
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("%s: %w", path, err)
	}
	return e, nil
}

// series returns one series per arm that the first run has: the mean over
// runs of (KL, gold) at the pretrained model and at each of rounds rounds.
func series(runs []string, rounds int) ([]report.Series, error) {
	if len(runs) == 0 || rounds < 1 {
		return nil, errors.New("want at least one run directory and -rounds >= 1")
	}
	var base evalFile
	for _, run := range runs {
		e, err := readEval(filepath.Join(run, "base-eval.json"))
		if err != nil {
			return nil, err
		}
		base.Gold += e.Gold / float64(len(runs))
	}
	var out []report.Series
	for _, a := range armNames {
		if _, err := os.Stat(filepath.Join(runs[0], a.dir)); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		s := report.Series{Name: a.name, X: []float64{0}, Y: []float64{base.Gold}, PointLabels: []string{""}}
		for r := 1; r <= rounds; r++ {
			var kl, gold float64
			for _, run := range runs {
				e, err := readEval(filepath.Join(run, a.dir, "round"+strconv.Itoa(r), "eval.json"))
				if err != nil {
					return nil, err
				}
				kl, gold = kl+e.KL/float64(len(runs)), gold+e.Gold/float64(len(runs))
			}
			label := ""
			if r == 1 || r == rounds {
				label = "r" + strconv.Itoa(r)
			}
			s.X, s.Y, s.PointLabels = append(s.X, kl), append(s.Y, gold), append(s.PointLabels, label)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds none of the arms online_dpo.sh knows", runs[0])
	}
	return out, nil
}

func main() {
	rounds := flag.Int("rounds", 6, "rounds of each arm")
	out := flag.String("out", "gold-kl.svg", "the SVG file to write")
	title := flag.String("title", "Online DPO with people and an AI judge: gold against KL", "the plot's title")
	flag.Parse()
	ss, err := series(flag.Args(), *rounds)
	if err != nil {
		fmt.Fprintln(os.Stderr, "odpoplot:", err)
		os.Exit(1)
	}
	p := &report.Plot{Title: fmt.Sprintf("%s (mean of %d runs)", *title, flag.NArg()),
		XLabel: "KL to the pretrained model (nats)", YLabel: "gold lipogram score", Series: ss, Width: 900, Height: 520}
	if err := report.WriteSVGFile(*out, p.SVG()); err != nil {
		fmt.Fprintln(os.Stderr, "odpoplot:", err)
		os.Exit(1)
	}
}
