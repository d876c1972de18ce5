package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// wellFormed parses an SVG document with encoding/xml and returns the text
// of all <text> elements.
func wellFormed(t *testing.T, svg []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var texts []string
	inText, root := false, ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, svg)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = v.Name.Local
			}
			inText = v.Name.Local == "text"
			for _, a := range v.Attr {
				if strings.Contains(a.Value, "NaN") || strings.Contains(a.Value, "Inf") {
					t.Fatalf("attribute %s=%q holds a non-finite number", a.Name.Local, a.Value)
				}
			}
		case xml.CharData:
			if inText {
				texts = append(texts, string(v))
			}
		case xml.EndElement:
			inText = false
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	return texts
}

func TestNiceTicks(t *testing.T) {
	cases := []struct {
		lo, hi float64
		n      int
		want   []float64
	}{
		{0, 1, 5, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{0, 97, 5, []float64{0, 20, 40, 60, 80, 100}},
		{-0.3, 0.7, 5, []float64{-0.4, -0.2, 0, 0.2, 0.4, 0.6, 0.8}},
		{1, 3.5, 5, []float64{1, 2, 3, 4}},
		{1, 3.5, 10, []float64{1, 1.5, 2, 2.5, 3, 3.5}},
		{1000, 1030, 3, []float64{1000, 1020, 1040}},
		{0.001, 0.0042, 4, []float64{0.001, 0.002, 0.003, 0.004, 0.005}},
		{5, 5, 4, []float64{5}},
	}
	for _, c := range cases {
		if got := NiceTicks(c.lo, c.hi, c.n); !reflect.DeepEqual(got, c.want) {
			t.Errorf("NiceTicks(%v, %v, %d) = %v, want %v", c.lo, c.hi, c.n, got, c.want)
		}
	}
	for _, bad := range [][2]float64{{math.NaN(), 1}, {0, math.Inf(1)}, {2, 1}} {
		if got := NiceTicks(bad[0], bad[1], 5); got != nil {
			t.Errorf("NiceTicks(%v) = %v, want nil", bad, got)
		}
	}
	// Every tick is a nice multiple, the ticks cover the range, and their
	// count stays near what was asked for.
	for _, r := range [][2]float64{{-7.3, 12.9}, {0.0013, 0.0091}, {-1e9, 3e9}, {1e300, 1.7e300}, {-1e308, 1e308}, {1, 1 + 1e-12}} {
		ticks := NiceTicks(r[0], r[1], 5)
		if len(ticks) < 2 || ticks[0] > r[0] || ticks[len(ticks)-1] < r[1] || len(ticks) > 12 {
			t.Errorf("NiceTicks(%v) = %v", r, ticks)
		}
	}
}

func TestFormatTick(t *testing.T) {
	cases := []struct {
		v, step float64
		want    string
	}{
		{0.2, 0.2, "0.2"}, {1, 0.5, "1.0"}, {20, 20, "20"}, {0.005, 0.001, "0.005"},
		{2e6, 1e6, "2e+06"}, {0, 1e6, "0"},
	}
	for _, c := range cases {
		if got := FormatTick(c.v, c.step); got != c.want {
			t.Errorf("FormatTick(%v, %v) = %q, want %q", c.v, c.step, got, c.want)
		}
	}
}

func TestPlotSVG(t *testing.T) {
	p := &Plot{
		Title:  `<script>alert("x")</script> & KL`,
		XLabel: "step",
		YLabel: "objective/kl",
		Series: []Series{
			{Name: "β=0.1 <a>", X: []float64{0, 1, 2, 3}, Y: []float64{0.1, 0.3, 0.2, 0.4},
				Band: &Band{Lower: []float64{0, 0.2, 0.1, 0.3}, Upper: []float64{0.2, 0.4, 0.3, 0.5}}},
			{Name: "with gaps", X: []float64{0, 1, 2, 3, 4}, Y: []float64{1, math.NaN(), 2, math.Inf(1), 3}},
			{Name: "single", X: []float64{2}, Y: []float64{0.7}},
			{Name: "empty"},
			{Name: "frontier", X: []float64{0.5, 1, 2}, Y: []float64{0.2, 0.5, 0.6}, Scatter: true, PointLabels: []string{"β=1", "", "β=0.01"}},
		},
	}
	svg := p.SVG()
	if bytes.Contains(svg, []byte("<script>")) {
		t.Fatal("raw <script> in SVG")
	}
	texts := wellFormed(t, svg)
	joined := strings.Join(texts, "|")
	for _, want := range []string{`<script>alert("x")</script> & KL`, "step", "objective/kl", "β=0.1 <a>", "frontier", "β=0.01"} {
		if !strings.Contains(joined, want) {
			t.Errorf("text %q missing from %q", want, joined)
		}
	}
	// The line with gaps splits into separate polylines plus isolated points.
	if n := bytes.Count(svg, []byte("<polyline")); n != 1 {
		t.Errorf("%d polylines, want 1 (only the first series has a run of 2+ points)", n)
	}
	if n := bytes.Count(svg, []byte("<polygon")); n != 1 {
		t.Errorf("%d band polygons, want 1", n)
	}
	// 3 isolated points of "with gaps", 1 of "single", 3 scatter markers, 1 legend marker.
	if n := bytes.Count(svg, []byte("<circle")); n != 8 {
		t.Errorf("%d circles, want 8", n)
	}
	if !bytes.Contains(svg, []byte(Palette[0])) || !bytes.Contains(svg, []byte(Palette[4])) {
		t.Error("series colours missing")
	}
}

func TestPlotDegenerate(t *testing.T) {
	plots := []*Plot{
		{},
		{Title: "all NaN", Series: []Series{{X: []float64{math.NaN()}, Y: []float64{1}}}},
		{Series: []Series{{X: []float64{3}, Y: []float64{3}}}},
		{Series: []Series{{X: []float64{1, 2, 3}, Y: []float64{5, 5, 5}}}},
		{Series: []Series{{X: []float64{1, 2}, Y: []float64{0, 0}}}},
		{Series: []Series{{X: []float64{-1e308, 1e308}, Y: []float64{-math.MaxFloat64, math.MaxFloat64}}}},
		{Series: []Series{{X: []float64{1, 2, 3}, Y: []float64{1}}}}, // mismatched lengths
		{Series: []Series{{X: []float64{1, 2}, Y: []float64{1, 2}, Band: &Band{Lower: []float64{0}}}}},
		{Width: 10, Height: 10, Series: []Series{{Name: strings.Repeat("long", 100), X: []float64{1, 2}, Y: []float64{1, 2}}}},
	}
	for i, p := range plots {
		texts := wellFormed(t, p.SVG())
		if i == 0 && !strings.Contains(strings.Join(texts, " "), "no data") {
			t.Errorf("empty plot does not say so: %v", texts)
		}
	}
	many := &Plot{}
	for i := 0; i < 13; i++ {
		many.Series = append(many.Series, Series{Name: "s", X: []float64{0, 1}, Y: []float64{float64(i), float64(i + 1)}})
	}
	svg := many.SVG()
	wellFormed(t, svg)
	if !bytes.Contains(svg, []byte("stroke-dasharray")) {
		t.Error("series past the palette are not dashed")
	}
}

func TestBarChartSVG(t *testing.T) {
	b := &BarChart{
		Title:  "win rate <vs> SFT",
		YLabel: "win rate",
		Labels: []string{"PPO", "DPO", "best-of-16 & more", "broken"},
		Values: []float64{0.62, -0.1, 0.55, math.NaN()},
		Errors: []float64{0.03, 0.02, 0},
	}
	svg := b.SVG()
	texts := wellFormed(t, svg)
	joined := strings.Join(texts, "|")
	for _, want := range []string{"win rate <vs> SFT", "PPO", "best-of-16 & more", "broken"} {
		if !strings.Contains(joined, want) {
			t.Errorf("text %q missing from %q", want, joined)
		}
	}
	// Three finite bars plus the frame.
	if n := bytes.Count(svg, []byte("<rect")); n != 5 { // background, frame, 3 bars
		t.Errorf("%d rects, want 5", n)
	}
	if n := bytes.Count(svg, []byte("<path")); n != 2 {
		t.Errorf("%d error bars, want 2", n)
	}
	wellFormed(t, (&BarChart{}).SVG())
}

func TestWrapLabel(t *testing.T) {
	cases := []struct {
		name  string
		width int
		want  []string
	}{
		{"reward model, normalised (objective/scores)", 28, []string{"reward model, normalised", "(objective/scores)"}},
		{"objective/kl", 28, []string{"objective/kl"}},
		{"abcdefghijklmnopqrstuvwxyz", 10, []string{"abcdefghij", "klmnopqrst", "uvwxyz"}},
		{"a  b", 10, []string{"a b"}},
		{"", 10, []string{""}},
	}
	for _, c := range cases {
		if got := wrapLabel(c.name, c.width); !slices.Equal(got, c.want) {
			t.Errorf("wrapLabel(%q, %d) = %q, want %q", c.name, c.width, got, c.want)
		}
	}
	// A long series name is drawn whole, over several legend lines, and
	// escaped.
	name := "reward model, normalised <objective/scores> & a few more words to wrap"
	p := &Plot{Title: "t", Series: []Series{{Name: name, X: []float64{0, 1}, Y: []float64{0, 1}}}}
	svg := p.SVG()
	texts := wellFormed(t, svg)
	for _, part := range wrapLabel(name, (720/3-40)/7) {
		if !slices.Contains(texts, part) {
			t.Errorf("legend line %q missing from the SVG's texts %q", part, texts)
		}
	}
	if bytes.Contains(svg, []byte("<objective")) {
		t.Error("unescaped series name in the SVG")
	}
}

func TestAddLevel(t *testing.T) {
	p := &Plot{Series: []Series{{Name: "a", X: []float64{3, 1, math.NaN()}, Y: []float64{1, 2, 3}}, {Name: "b", X: []float64{7}, Y: []float64{0}}}}
	p.AddLevel("target", 4)
	if len(p.Series) != 3 {
		t.Fatalf("%d series after AddLevel, want 3", len(p.Series))
	}
	if l := p.Series[2]; l.Name != "target" || !slices.Equal(l.X, []float64{1, 7}) || !slices.Equal(l.Y, []float64{4, 4}) {
		t.Fatalf("level %+v, want target from x 1 to 7 at 4", l)
	}
	empty := &Plot{}
	empty.AddLevel("target", 4)
	if len(empty.Series) != 0 {
		t.Fatalf("a level on a plot without points: %+v", empty.Series)
	}
}

// Labels of points that lie close together go to different places, and a
// label that would run past the right edge goes to the left of its point.
func TestPlaceLabelsAvoidsOverlap(t *testing.T) {
	var w svgWriter
	placeLabels(&w, []pointLabel{
		{x: 100, y: 100, text: "KL→3, gain 2, 1 epoch"},
		{x: 110, y: 101, text: "KL→3, gain 2, 1 epoch"},
		{x: 100, y: 300, text: "alone"},
		{x: 690, y: 300, text: "near the edge"},
	}, 720)
	got := w.String()
	for _, want := range []string{
		`<text x="106.0" y="94.0" text-anchor="start"`,  // the first: above right
		`<text x="116.0" y="115.0" text-anchor="start"`, // the second: below right
		`<text x="106.0" y="294.0" text-anchor="start"`, // alone: above right
		`<text x="684.0" y="294.0" text-anchor="end"`,   // at the edge: above left
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in\n%s", want, got)
		}
	}
}

// A level at a round number that is the plot's highest value gets a tick
// above it, so that its line is not drawn on the frame.
func TestLevelBelowTopOfFrame(t *testing.T) {
	p := &Plot{Series: []Series{{Name: "kl", X: []float64{1, 2, 3}, Y: []float64{0, 0.1, 0.4}}}}
	p.AddLevel("target", 4)
	svg := string(p.SVG())
	if !strings.Contains(svg, ">5</text>") {
		t.Errorf("no tick above the level at 4:\n%s", svg)
	}
}
