package report

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

func FuzzReadMetrics(f *testing.F) {
	f.Add("{\"step\":1,\"objective/kl\":0.5}\n{\"step\":2,\"a\":\"NaN\"}\n{\"step\":3,")
	f.Add("{\"step\":0,\"time\":1.5,\"b\":null}\n\n")
	f.Add("[]\n")
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ReadMetrics(strings.NewReader(in))
		if err != nil {
			return
		}
		// What loads exports to CSV and plots to well-formed SVG.
		if err := m.WriteCSV(&bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		wellFormed(t, m.Plot("fuzz", m.Keys()...).SVG())
	})
}

// FuzzPlot renders plots of arbitrary values and checks the SVG stays
// well-formed with finite coordinates.
func FuzzPlot(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 240, 63}, "title", false)
	f.Add(binary.LittleEndian.AppendUint64(nil, math.Float64bits(math.NaN())), "<x>&", true)
	f.Fuzz(func(t *testing.T, raw []byte, name string, scatter bool) {
		var vals []float64
		for len(raw) >= 8 {
			vals = append(vals, math.Float64frombits(binary.LittleEndian.Uint64(raw)))
			raw = raw[8:]
		}
		n := len(vals) / 2
		x, y := vals[:n], vals[n:2*n]
		p := &Plot{Title: name, Series: []Series{{Name: name, X: x, Y: y, Scatter: scatter,
			Band: &Band{Lower: y, Upper: x}, PointLabels: []string{name}}}}
		wellFormed(t, p.SVG())
		wellFormed(t, (&BarChart{Title: name, Labels: []string{name}, Values: x, Errors: y}).SVG())
	})
}
