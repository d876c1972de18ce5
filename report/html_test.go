package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHTMLReportEscapes(t *testing.T) {
	hostile := `</pre><script>alert(1)</script><img src=x onerror="alert(2)">`
	r := &HTMLReport{Title: "run <b>42</b>"}
	r.AddHeading("samples & <i>scores</i>")
	r.AddParagraph("policy said: " + hostile)
	r.AddTable([]string{"prompt", "<th>"}, [][]string{{hostile, "0.5"}, {"a|b", ""}})
	r.AddSample("completion "+hostile, "line 1\n  line 2 "+hostile)
	r.AddPlot(&Plot{Title: hostile, Series: []Series{{Name: hostile, X: []float64{0, 1}, Y: []float64{1, 2}}}})
	r.AddBarChart(&BarChart{Title: "bars", Labels: []string{hostile}, Values: []float64{1}})
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, raw := range []string{"<script>", "<img", "<b>42", "<i>scores", "<th><th>", "</pre><script"} {
		if strings.Contains(out, raw) {
			t.Errorf("raw %q in output", raw)
		}
	}
	for _, want := range []string{
		"<title>run &lt;b&gt;42&lt;/b&gt;</title>",
		"<h2>samples &amp; &lt;i&gt;scores&lt;/i&gt;</h2>",
		"&lt;script&gt;alert(1)&lt;/script&gt;",
		"<pre>line 1\n  line 2 &lt;/pre&gt;",
		"<td>0.5</td>",
		"<svg ", "</svg>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// The two inline plots are the only SVG elements.
	if n := strings.Count(out, "<svg "); n != 2 {
		t.Errorf("%d inline SVGs, want 2", n)
	}
	path := filepath.Join(t.TempDir(), "report.html")
	if err := r.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != out {
		t.Error("WriteFile content differs from Write")
	}
}

func TestMarkdownTable(t *testing.T) {
	got := MarkdownTable([]string{"policy", "win rate"}, [][]string{
		{"PPO", "0.62 ± 0.03"},
		{"a|b\nc", `x\y`},
		{"short"},
	})
	want := "| policy | win rate |\n" +
		"|---|---|\n" +
		"| PPO | 0.62 ± 0.03 |\n" +
		"| a\\|b c | x\\\\y |\n" +
		"| short |  |\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if MarkdownTable(nil, nil) != "" {
		t.Error("empty table is not empty")
	}
}
