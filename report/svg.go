package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Palette holds the series colours, in order (the "tab10" colours that
// matplotlib users recognise). Series beyond its length reuse the colours
// with a dashed stroke.
var Palette = []string{
	"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
	"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
}

// Band is a shaded region around a series, e.g. mean ± std over seeds.
// Lower and Upper are indexed like the series' X.
type Band struct {
	Lower, Upper []float64
}

// Series is one named line (or point cloud) of a plot.
type Series struct {
	Name string
	X, Y []float64
	// Band, if set, is shaded behind the line.
	Band *Band
	// Scatter draws markers only, no connecting line (for frontier plots
	// such as gold score against KL).
	Scatter bool
	// PointLabels, if set, annotates point i with PointLabels[i] (e.g. the
	// KL coefficient of each run on a frontier). Empty strings are skipped.
	PointLabels []string
}

// Plot is a 2-D line or scatter plot rendered to SVG. Non-finite values are
// skipped (a line breaks at them); empty and single-point series are allowed.
type Plot struct {
	Title, XLabel, YLabel string
	Series                []Series
	// Width and Height in pixels; 0 means 720 × 420.
	Width, Height int
}

// AddLevel adds a horizontal line at y named name (a target, a baseline)
// across the x range of the series already in p. It adds nothing while
// they have no finite x.
func (p *Plot) AddLevel(name string, y float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range p.Series {
		for _, x := range s.X {
			if finite(x) {
				lo, hi = min(lo, x), max(hi, x)
			}
		}
	}
	if lo <= hi {
		p.Series = append(p.Series, Series{Name: name, X: []float64{lo, hi}, Y: []float64{y, y}})
	}
}

// NiceTicks returns tick positions at "nice" numbers (1, 2 or 5 times a power
// of ten) that cover [lo, hi] with about n intervals: the first tick is at or
// below lo and the last at or above hi. It returns nil if lo or hi is not
// finite, hi < lo, or n < 1; for lo == hi it returns the single value.
func NiceTicks(lo, hi float64, n int) []float64 {
	if !finite(lo) || !finite(hi) || hi < lo || n < 1 {
		return nil
	}
	if lo == hi {
		return []float64{lo}
	}
	span := hi - lo
	if !finite(span) {
		return []float64{lo, hi}
	}
	step := niceNum(niceNum(span, false)/float64(n), true)
	start := math.Floor(lo/step) * step
	end := math.Ceil(hi/step) * step
	count := math.Round((end-start)/step) + 1
	if !finite(step) || step == 0 || !finite(count) || count > 1000 || start+step == start {
		// Float precision cannot resolve steps of this size at this magnitude.
		return []float64{lo, hi}
	}
	ticks := make([]float64, 0, int(count))
	dec := tickDecimals(step)
	for i := 0; i < int(count); i++ {
		v := start + float64(i)*step
		if dec <= 15 { // round away 0.30000000000000004-style noise
			p := math.Pow(10, float64(dec))
			if r := math.Round(v*p) / p; finite(r) {
				v = r
			}
		}
		if v == 0 {
			v = 0 // no negative zero labels
		}
		ticks = append(ticks, v)
	}
	return ticks
}

// niceNum rounds x to 1, 2, 5 or 10 times a power of ten (Heckbert's
// "nice numbers for graph labels"): to the nearest if round, else upward.
func niceNum(x float64, round bool) float64 {
	exp := math.Floor(math.Log10(x))
	f := x / math.Pow(10, exp)
	var nf float64
	if round {
		switch {
		case f < 1.5:
			nf = 1
		case f < 3:
			nf = 2
		case f < 7:
			nf = 5
		default:
			nf = 10
		}
	} else {
		switch {
		case f <= 1:
			nf = 1
		case f <= 2:
			nf = 2
		case f <= 5:
			nf = 5
		default:
			nf = 10
		}
	}
	return nf * math.Pow(10, exp)
}

// tickDecimals is the number of decimals needed to print multiples of step.
func tickDecimals(step float64) int {
	d := -int(math.Floor(math.Log10(step) + 1e-9))
	if d < 0 {
		return 0
	}
	return d
}

// FormatTick prints a tick value at the precision its step needs.
func FormatTick(v, step float64) string {
	if !finite(v) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	a := math.Abs(v)
	if a != 0 && (a >= 1e6 || a < 1e-4) || (finite(step) && step > 0 && step < 1e-4) {
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	dec := 0
	if finite(step) && step > 0 {
		dec = tickDecimals(step)
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// esc XML-escapes s for element text and attribute values.
func esc(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// axis maps data values onto a pixel interval.
type axis struct {
	lo, hi     float64 // data range
	p0, p1     float64 // pixel range
	ticks      []float64
	step       float64
	degenerate bool
}

func newAxis(lo, hi, p0, p1 float64, n int) axis {
	if !finite(lo) || !finite(hi) {
		lo, hi = 0, 1
	}
	if lo == hi {
		d := math.Abs(lo) * 0.1
		if d == 0 {
			d = 1
		}
		lo, hi = lo-d, hi+d
	}
	a := axis{lo: lo, hi: hi, p0: p0, p1: p1}
	a.ticks = NiceTicks(lo, hi, n)
	if len(a.ticks) >= 2 {
		a.lo, a.hi = a.ticks[0], a.ticks[len(a.ticks)-1]
		a.step = a.ticks[1] - a.ticks[0]
	}
	if !finite(a.hi - a.lo) {
		a.degenerate = true
	}
	return a
}

// pos maps v to pixels; ok is false if the result is not finite.
func (a axis) pos(v float64) (float64, bool) {
	var t float64
	if a.degenerate {
		t = (v/2 - a.lo/2) / (a.hi/2 - a.lo/2) // halves cannot overflow
	} else {
		t = (v - a.lo) / (a.hi - a.lo)
	}
	p := a.p0 + t*(a.p1-a.p0)
	return p, finite(p)
}

// svgWriter accumulates SVG markup.
type svgWriter struct{ bytes.Buffer }

func (w *svgWriter) f(format string, args ...any) { fmt.Fprintf(&w.Buffer, format, args...) }

// num prints a pixel coordinate compactly.
func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func (w *svgWriter) open(width, height int) {
	w.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	w.f(`<rect x="0" y="0" width="%d" height="%d" fill="white"/>`+"\n", width, height)
}

// pointLabel is a label of the point at (x, y), in SVG coordinates.
type pointLabel struct {
	x, y   float64
	text   string
	colour string // its series' colour ("": dark grey)
}

// placeLabels draws point labels in 10-pixel type in their series' colour, each at the first of a
// few places around its point (above right, below right, above left, below
// left, then further up and down) where it overlaps no label drawn before
// it and stays inside the width; a label with no such place goes above
// right. Widths are estimated at 5.8 pixels a character.
func placeLabels(w *svgWriter, labels []pointLabel, width float64) {
	type box struct{ x0, y0, x1, y1 float64 }
	var placed []box
	for _, l := range labels {
		tw := 5.8 * float64(len([]rune(l.text)))
		type spot struct {
			dx, dy float64
			end    bool // anchored at its right end, left of the point
		}
		spots := []spot{{6, -6, false}, {6, 14, false}, {-6, -6, true}, {-6, 14, true}, {6, -18, false}, {6, 26, false}}
		boxOf := func(sp spot) box {
			x0 := l.x + sp.dx
			if sp.end {
				x0 -= tw
			}
			y := l.y + sp.dy
			return box{x0, y - 9, x0 + tw, y + 2}
		}
		best := spots[0]
		for _, sp := range spots {
			b := boxOf(sp)
			if b.x0 < 0 || b.x1 > width {
				continue
			}
			clear := true
			for _, q := range placed {
				if b.x0 < q.x1 && q.x0 < b.x1 && b.y0 < q.y1 && q.y0 < b.y1 {
					clear = false
					break
				}
			}
			if clear {
				best = sp
				break
			}
		}
		placed = append(placed, boxOf(best))
		anchor := "start"
		if best.end {
			anchor = "end"
		}
		colour := l.colour
		if colour == "" {
			colour = "#333"
		}
		w.text(l.x+best.dx, l.y+best.dy, anchor, fmt.Sprintf(` font-size="10" fill="%s"`, colour), l.text)
	}
}

func (w *svgWriter) text(x, y float64, anchor, extra, s string) {
	w.f(`<text x="%s" y="%s" text-anchor="%s"%s>%s</text>`+"\n", num(x), num(y), anchor, extra, esc(s))
}

// SVG renders the plot as a standalone SVG document.
func (p *Plot) SVG() []byte {
	width, height := p.Width, p.Height
	if width <= 0 || height <= 0 {
		width, height = 720, 420
	}
	// Legend on the right, sized to the longest name.
	legendW := 0
	for _, s := range p.Series {
		if s.Name != "" {
			legendW = max(legendW, 40+7*len([]rune(s.Name)))
		}
	}
	legendW = min(legendW, width/3)
	left, right, top, bottom := 70.0, float64(width-20-legendW), 40.0, float64(height-50)
	if right < left+50 {
		right = left + 50
	}
	if bottom < top+50 {
		bottom = top + 50
	}

	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	grow := func(x, y float64) {
		if finite(x) && finite(y) {
			xlo, xhi = math.Min(xlo, x), math.Max(xhi, x)
			ylo, yhi = math.Min(ylo, y), math.Max(yhi, y)
		}
	}
	for _, s := range p.Series {
		n := min(len(s.X), len(s.Y))
		for i := 0; i < n; i++ {
			grow(s.X[i], s.Y[i])
			if s.Band != nil {
				if i < len(s.Band.Lower) {
					grow(s.X[i], s.Band.Lower[i])
				}
				if i < len(s.Band.Upper) {
					grow(s.X[i], s.Band.Upper[i])
				}
			}
		}
	}
	empty := xlo > xhi
	if empty {
		xlo, xhi, ylo, yhi = 0, 1, 0, 1
	}
	ax := newAxis(xlo, xhi, left, right, 6)
	// A little room above the highest value, so that a line at a round
	// number (a target level, say) is not drawn on the frame.
	if yhi > ylo && finite(yhi-ylo) {
		yhi += (yhi - ylo) / 100
	}
	ay := newAxis(ylo, yhi, bottom, top, 5)

	var w svgWriter
	w.open(width, height)
	if p.Title != "" {
		w.text(float64(width)/2, 22, "middle", ` font-size="15" font-weight="bold"`, p.Title)
	}
	// Grid and ticks.
	for _, t := range ax.ticks {
		if x, ok := ax.pos(t); ok {
			w.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e5e5e5"/>`+"\n", num(x), num(top), num(x), num(bottom))
			w.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="black"/>`+"\n", num(x), num(bottom), num(x), num(bottom+5))
			w.text(x, bottom+18, "middle", "", FormatTick(t, ax.step))
		}
	}
	for _, t := range ay.ticks {
		if y, ok := ay.pos(t); ok {
			w.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e5e5e5"/>`+"\n", num(left), num(y), num(right), num(y))
			w.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="black"/>`+"\n", num(left-5), num(y), num(left), num(y))
			w.text(left-8, y+4, "end", "", FormatTick(t, ay.step))
		}
	}
	w.f(`<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="black"/>`+"\n",
		num(left), num(top), num(right-left), num(bottom-top))
	if p.XLabel != "" {
		w.text((left+right)/2, float64(height)-12, "middle", "", p.XLabel)
	}
	if p.YLabel != "" {
		cx, cy := 18.0, (top+bottom)/2
		w.text(cx, cy, "middle", fmt.Sprintf(` transform="rotate(-90 %s %s)"`, num(cx), num(cy)), p.YLabel)
	}
	if empty {
		w.text((left+right)/2, (top+bottom)/2, "middle", ` fill="#888"`, "no data")
	}

	var labels []pointLabel // drawn after every series, clear of each other
	for i, s := range p.Series {
		colour := Palette[i%len(Palette)]
		dash := ""
		if i >= len(Palette) {
			dash = ` stroke-dasharray="6 3"`
		}
		n := min(len(s.X), len(s.Y))
		if s.Band != nil {
			drawBand(&w, s, n, ax, ay, colour)
		}
		// Runs of consecutive finite points.
		var run [][2]float64
		flush := func() {
			if len(run) > 1 && !s.Scatter {
				w.f(`<polyline fill="none" stroke="%s" stroke-width="1.8"%s points="`, colour, dash)
				for j, pt := range run {
					if j > 0 {
						w.WriteByte(' ')
					}
					w.f("%s,%s", num(pt[0]), num(pt[1]))
				}
				w.WriteString(`"/>` + "\n")
			} else if len(run) == 1 && !s.Scatter {
				w.f(`<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", num(run[0][0]), num(run[0][1]), colour)
			}
			run = run[:0]
		}
		for j := 0; j < n; j++ {
			x, okx := ax.pos(s.X[j])
			y, oky := ay.pos(s.Y[j])
			if !okx || !oky || !finite(s.X[j]) || !finite(s.Y[j]) {
				flush()
				continue
			}
			run = append(run, [2]float64{x, y})
			if s.Scatter {
				w.f(`<circle cx="%s" cy="%s" r="4" fill="%s" fill-opacity="0.85" stroke="white" stroke-width="0.5"/>`+"\n", num(x), num(y), colour)
			}
			if j < len(s.PointLabels) && s.PointLabels[j] != "" {
				labels = append(labels, pointLabel{x: x, y: y, text: s.PointLabels[j], colour: colour})
			}
		}
		flush()
	}
	placeLabels(&w, labels, float64(width))

	// Legend.
	ly := top + 8
	for i, s := range p.Series {
		if s.Name == "" {
			continue
		}
		colour := Palette[i%len(Palette)]
		lx := right + 12
		if s.Scatter {
			w.f(`<circle cx="%s" cy="%s" r="4" fill="%s"/>`+"\n", num(lx+10), num(ly), colour)
		} else {
			dash := ""
			if i >= len(Palette) {
				dash = ` stroke-dasharray="6 3"`
			}
			w.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"%s/>`+"\n", num(lx), num(ly), num(lx+20), num(ly), colour, dash)
		}
		for k, line := range wrapLabel(s.Name, (legendW-40)/7) {
			if k > 0 {
				ly += 14
			}
			w.text(lx+26, ly+4, "start", "", line)
		}
		ly += 18
	}
	w.WriteString("</svg>\n")
	return w.Bytes()
}

// wrapLabel breaks a legend name into lines of at most width characters,
// at spaces where it can; a word longer than width is cut into pieces.
func wrapLabel(name string, width int) []string {
	width = max(width, 8)
	var lines []string
	line := []rune{}
	for _, word := range strings.Fields(name) {
		r := []rune(word)
		if len(line) > 0 && len(line)+1+len(r) > width {
			lines, line = append(lines, string(line)), line[:0:0]
		}
		if len(line) > 0 {
			line = append(line, ' ')
		}
		line = append(line, r...)
		for len(line) > width {
			lines, line = append(lines, string(line[:width])), append([]rune{}, line[width:]...)
		}
	}
	if len(line) > 0 || len(lines) == 0 {
		lines = append(lines, string(line))
	}
	return lines
}

// drawBand shades the runs where x, lower and upper are all finite.
func drawBand(w *svgWriter, s Series, n int, ax, ay axis, colour string) {
	var up, lo [][2]float64
	flush := func() {
		if len(up) > 1 {
			w.f(`<polygon fill="%s" fill-opacity="0.2" stroke="none" points="`, colour)
			for j, pt := range up {
				if j > 0 {
					w.WriteByte(' ')
				}
				w.f("%s,%s", num(pt[0]), num(pt[1]))
			}
			for j := len(lo) - 1; j >= 0; j-- {
				w.f(" %s,%s", num(lo[j][0]), num(lo[j][1]))
			}
			w.WriteString(`"/>` + "\n")
		}
		up, lo = up[:0], lo[:0]
	}
	for j := 0; j < n; j++ {
		if j >= len(s.Band.Lower) || j >= len(s.Band.Upper) {
			break
		}
		x, okx := ax.pos(s.X[j])
		yl, okl := ay.pos(s.Band.Lower[j])
		yu, oku := ay.pos(s.Band.Upper[j])
		if !finite(s.X[j]) || !finite(s.Band.Lower[j]) || !finite(s.Band.Upper[j]) || !okx || !okl || !oku {
			flush()
			continue
		}
		up = append(up, [2]float64{x, yu})
		lo = append(lo, [2]float64{x, yl})
	}
	flush()
}

// WriteSVG writes the plot's SVG to w.
func (p *Plot) WriteSVG(w io.Writer) error {
	if _, err := w.Write(p.SVG()); err != nil {
		return fmt.Errorf("report: write plot %q: %w", p.Title, err)
	}
	return nil
}

// BarChart is a vertical bar chart of labelled values, with optional error
// bars (±Errors[i]), e.g. win rates of several policies.
type BarChart struct {
	Title, YLabel string
	Labels        []string
	Values        []float64
	// Errors, if set, draws ±Errors[i] whiskers.
	Errors []float64
	// Width and Height in pixels; 0 means 720 × 420.
	Width, Height int
}

// SVG renders the bar chart as a standalone SVG document. The value axis
// always includes zero; non-finite values draw no bar.
func (b *BarChart) SVG() []byte {
	width, height := b.Width, b.Height
	if width <= 0 || height <= 0 {
		width, height = 720, 420
	}
	left, right, top, bottom := 70.0, float64(width-20), 40.0, float64(height-60)
	if right < left+50 {
		right = left + 50
	}
	if bottom < top+50 {
		bottom = top + 50
	}
	n := len(b.Values)
	lo, hi := 0.0, 0.0
	for i, v := range b.Values {
		if !finite(v) {
			continue
		}
		e := 0.0
		if i < len(b.Errors) && finite(b.Errors[i]) {
			e = math.Abs(b.Errors[i])
		}
		lo, hi = math.Min(lo, v-e), math.Max(hi, v+e)
	}
	ay := newAxis(lo, hi, bottom, top, 5)

	var w svgWriter
	w.open(width, height)
	if b.Title != "" {
		w.text(float64(width)/2, 22, "middle", ` font-size="15" font-weight="bold"`, b.Title)
	}
	for _, t := range ay.ticks {
		if y, ok := ay.pos(t); ok {
			w.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e5e5e5"/>`+"\n", num(left), num(y), num(right), num(y))
			w.text(left-8, y+4, "end", "", FormatTick(t, ay.step))
		}
	}
	w.f(`<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="black"/>`+"\n",
		num(left), num(top), num(right-left), num(bottom-top))
	if b.YLabel != "" {
		cx, cy := 18.0, (top+bottom)/2
		w.text(cx, cy, "middle", fmt.Sprintf(` transform="rotate(-90 %s %s)"`, num(cx), num(cy)), b.YLabel)
	}
	y0, _ := ay.pos(0)
	if n > 0 {
		slot := (right - left) / float64(n)
		bw := slot * 0.7
		for i, v := range b.Values {
			cx := left + slot*(float64(i)+0.5)
			if i < len(b.Labels) {
				label := []rune(b.Labels[i])
				if maxChars := int(slot / 7); maxChars >= 2 && len(label) > maxChars {
					label = append(label[:maxChars-1], '…')
				}
				w.text(cx, bottom+18, "middle", "", string(label))
			}
			yv, ok := ay.pos(v)
			if !finite(v) || !ok {
				continue
			}
			w.f(`<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`+"\n",
				num(cx-bw/2), num(math.Min(yv, y0)), num(bw), num(math.Abs(y0-yv)), Palette[i%len(Palette)])
			if i < len(b.Errors) && finite(b.Errors[i]) && b.Errors[i] != 0 {
				e := math.Abs(b.Errors[i])
				ya, oka := ay.pos(v - e)
				yb, okb := ay.pos(v + e)
				if oka && okb {
					w.f(`<path d="M%s %sV%sM%s %sH%sM%s %sH%s" stroke="black" fill="none"/>`+"\n",
						num(cx), num(ya), num(yb), num(cx-5), num(ya), num(cx+5), num(cx-5), num(yb), num(cx+5))
				}
			}
		}
	} else {
		w.text((left+right)/2, (top+bottom)/2, "middle", ` fill="#888"`, "no data")
	}
	w.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="black"/>`+"\n", num(left), num(y0), num(right), num(y0))
	w.WriteString("</svg>\n")
	return w.Bytes()
}
