package report_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"rlhf/report"
)

func ExampleLogger() {
	dir, _ := os.MkdirTemp("", "run")
	defer os.RemoveAll(dir)
	l, err := report.NewLogger(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	for step := 0; step < 3; step++ {
		l.Log(step, map[string]float64{"objective/kl": 0.1 * float64(step), "rm/accuracy": 0.5})
	}
	l.Close()

	m, err := report.LoadMetrics(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Keys())
	steps, kl := m.Series("objective/kl")
	fmt.Println(steps, kl)
	// Output:
	// [objective/kl rm/accuracy]
	// [0 1 2] [0 0.1 0.2]
}

func ExampleReadMetrics() {
	log := `{"step":1,"objective/kl":0.5}
{"step":2,"objective/kl":"NaN"}
{"step":3,"objective/kl":0.`
	m, _ := report.ReadMetrics(strings.NewReader(log))
	var csv bytes.Buffer
	m.WriteCSV(&csv)
	fmt.Print(csv.String())
	// Output:
	// step,time,objective/kl
	// 1,0,0.5
	// 2,0,NaN
}

func ExampleNiceTicks() {
	fmt.Println(report.NiceTicks(0, 97, 5))
	fmt.Println(report.NiceTicks(-0.3, 0.7, 5))
	// Output:
	// [0 20 40 60 80 100]
	// [-0.4 -0.2 0 0.2 0.4 0.6 0.8]
}

func ExamplePlot() {
	p := &report.Plot{
		Title:  "reward vs KL",
		XLabel: "objective/kl",
		YLabel: "gold reward",
		Series: []report.Series{
			{Name: "PPO", X: []float64{0, 2, 4}, Y: []float64{0.1, 0.5, 0.6}},
			{Name: "best-of-n", X: []float64{1, 2.5}, Y: []float64{0.3, 0.55}, Scatter: true},
		},
	}
	svg := p.SVG()
	fmt.Println(bytes.HasPrefix(svg, []byte("<svg")), bytes.Count(svg, []byte("<polyline")), bytes.Count(svg, []byte("<circle")))
	// Output: true 1 3
}

func ExampleHTMLReport() {
	r := &report.HTMLReport{Title: "PPO run"}
	r.AddTable([]string{"metric", "value"}, [][]string{{"rm/accuracy", "0.71"}})
	r.AddSample("sample 0", "The movie was <great>")
	var buf bytes.Buffer
	r.Write(&buf)
	fmt.Println(strings.Contains(buf.String(), "<pre>The movie was &lt;great&gt;</pre>"))
	// Output: true
}

func ExampleMarkdownTable() {
	fmt.Print(report.MarkdownTable([]string{"algo", "win rate"}, [][]string{{"PPO", "0.62"}, {"DPO", "0.58"}}))
	// Output:
	// | algo | win rate |
	// |---|---|
	// | PPO | 0.62 |
	// | DPO | 0.58 |
}
