package report

import (
	"bytes"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func fixedClock(start time.Time) func() time.Time {
	t := start
	return func() time.Time {
		t = t.Add(1500 * time.Millisecond)
		return t
	}
}

func TestLoggerRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	l, err := NewLogger(dir)
	if err != nil {
		t.Fatal(err)
	}
	l.SetClock(fixedClock(time.Unix(1_700_000_000, 0)))
	steps := []map[string]float64{
		{"objective/kl": 0.5, "rm/accuracy": 0.625},
		{"objective/kl": math.NaN(), "policy/clipfrac": 0.1},
		{"objective/kl": math.Inf(1), "rm/margin": math.Inf(-1)},
	}
	for i, m := range steps {
		if err := l.Log(i*10, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Log(40, map[string]float64{"step": 1}); err == nil {
		t.Error("reserved key accepted")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Log(50, nil); err == nil {
		t.Error("log after close accepted")
	}
	raw, _ := os.ReadFile(filepath.Join(dir, MetricsFile))
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), raw)
	}
	if want := `{"step":0,"time":1700000001.5,"objective/kl":0.5,"rm/accuracy":0.625}`; lines[0] != want {
		t.Errorf("line 0 = %s\nwant     %s", lines[0], want)
	}
	if want := `{"step":20,"time":1700000004.5,"objective/kl":"+Inf","rm/margin":"-Inf"}`; lines[2] != want {
		t.Errorf("line 2 = %s\nwant     %s", lines[2], want)
	}

	m, err := LoadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Rows) != 3 || m.Rows[1].Step != 10 || m.Rows[2].Time != 1700000004.5 {
		t.Fatalf("rows %+v", m.Rows)
	}
	if !math.IsNaN(m.Rows[1].Values["objective/kl"]) || !math.IsInf(m.Rows[2].Values["rm/margin"], -1) {
		t.Errorf("non-finite values lost: %+v", m.Rows)
	}
	if got := m.Keys(); !reflect.DeepEqual(got, []string{"objective/kl", "policy/clipfrac", "rm/accuracy", "rm/margin"}) {
		t.Errorf("keys %v", got)
	}
	x, y := m.Series("rm/accuracy")
	if !reflect.DeepEqual(x, []float64{0}) || !reflect.DeepEqual(y, []float64{0.625}) {
		t.Errorf("series %v %v", x, y)
	}

	var buf bytes.Buffer
	if err := m.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"step", "time", "objective/kl", "policy/clipfrac", "rm/accuracy", "rm/margin"},
		{"0", "1700000001.5", "0.5", "", "0.625", ""},
		{"10", "1700000003", "NaN", "0.1", "", ""},
		{"20", "1700000004.5", "+Inf", "", "", "-Inf"},
	}
	if !reflect.DeepEqual(recs, want) {
		t.Errorf("CSV\n%v\nwant\n%v", recs, want)
	}
}

func TestReadMetricsTruncatedLastLine(t *testing.T) {
	in := "{\"step\":1,\"a\":1}\n{\"step\":2,\"a\":2}\n{\"step\":3,\"a\":"
	m, err := ReadMetrics(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Rows) != 2 || m.Rows[1].Values["a"] != 2 {
		t.Fatalf("rows %+v", m.Rows)
	}
	// A complete final line without a newline still counts.
	m, err = ReadMetrics(strings.NewReader("{\"step\":1,\"a\":1}\n{\"step\":2,\"a\":2}"))
	if err != nil || len(m.Rows) != 2 {
		t.Fatalf("rows %+v, err %v", m, err)
	}
	// Corruption before the end is an error that names the line.
	_, err = ReadMetrics(strings.NewReader("{\"step\":1}\n{\"step\":2,\"a\":\n{\"step\":3}\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("error %v, want one naming line 2", err)
	}
	for _, bad := range []string{
		"{\"a\":1}\n", "[1,2]\n", "null\n", "{\"step\":1.5}\n", "{\"step\":1,\"a\":\"x\"}\n",
		"{\"step\":1,\"a\":[1]}\n", "{\"step\":1} {\"step\":2}\n",
	} {
		if _, err := ReadMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	// Blank lines, null and Python-style spellings are tolerated.
	m, err = ReadMetrics(strings.NewReader("\n{\"step\":1,\"a\":null,\"b\":\"Infinity\",\"c\":true}\n\n"))
	if err != nil || len(m.Rows) != 1 || !math.IsNaN(m.Rows[0].Values["a"]) || !math.IsInf(m.Rows[0].Values["b"], 1) || m.Rows[0].Values["c"] != 1 {
		t.Fatalf("rows %+v, err %v", m, err)
	}
}

// Reopening a log whose last write was cut short drops the partial line, so
// later lines are not glued onto it.
func TestLoggerRepairsPartialLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, MetricsFile)
	long := strings.Repeat("x", 9000) // longer than one backwards-scan chunk
	os.WriteFile(path, []byte("{\"step\":1,\"a\":1}\n{\"step\":2,\""+long), 0o644)
	l, err := NewLogger(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Log(2, map[string]float64{"a": 2}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	m, err := LoadMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Rows) != 2 || m.Rows[0].Step != 1 || m.Rows[1].Step != 2 || m.Rows[1].Values["a"] != 2 {
		t.Fatalf("rows %+v", m.Rows)
	}
	// A file holding only a partial line is emptied.
	os.WriteFile(path, []byte("{\"step\":"), 0o644)
	l, err = NewLogger(dir)
	if err != nil {
		t.Fatal(err)
	}
	l.Log(7, nil)
	l.Close()
	if raw, _ := os.ReadFile(path); !strings.HasPrefix(string(raw), "{\"step\":7,") {
		t.Fatalf("file %q", raw)
	}
}

func TestLoggerConcurrent(t *testing.T) {
	dir := t.TempDir()
	l, err := NewLogger(dir)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				l.Log(g*100+i, map[string]float64{"v": float64(i)})
			}
		}()
	}
	wg.Wait()
	l.Close()
	m, err := LoadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Rows) != 400 {
		t.Fatalf("%d rows, want 400", len(m.Rows))
	}
}

func TestLoadMetricsMissing(t *testing.T) {
	if _, err := LoadMetrics(filepath.Join(t.TempDir(), "nope.jsonl")); err == nil {
		t.Fatal("no error")
	}
}

func TestSeriesResumedRun(t *testing.T) {
	// Steps 3 and 4 were logged, the run crashed, resumed from step 2 and
	// logged 3 and 4 again with different values.
	in := ""
	for _, l := range []string{
		`{"step":1,"a":1}`, `{"step":2,"a":2}`, `{"step":3,"a":30}`, `{"step":4,"a":40}`,
		`{"step":3,"a":3}`, `{"step":4,"a":4,"b":9}`, `{"step":5,"a":5}`,
	} {
		in += l + "\n"
	}
	m, err := ReadMetrics(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	x, y := m.Series("a")
	if !reflect.DeepEqual(x, []float64{1, 2, 3, 4, 5}) || !reflect.DeepEqual(y, []float64{1, 2, 3, 4, 5}) {
		t.Fatalf("series %v %v", x, y)
	}
	p := m.Plot("t", "a", "b")
	if len(p.Series) != 2 || len(p.Series[1].X) != 1 || p.Series[1].Y[0] != 9 {
		t.Fatalf("plot %+v", p.Series)
	}
}

func TestMeanStd(t *testing.T) {
	run := func(lines ...string) *Metrics {
		m, err := ReadMetrics(strings.NewReader(strings.Join(lines, "\n")))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	runs := []*Metrics{
		run(`{"step":0,"r":1}`, `{"step":10,"r":2}`, `{"step":20,"r":"NaN"}`),
		run(`{"step":0,"r":3}`, `{"step":10,"r":4}`, `{"step":20,"r":7}`),
		nil,
		run(`{"step":30,"other":1}`),
	}
	s := MeanStd("seeds", runs, "r")
	if s.Name != "seeds" || !reflect.DeepEqual(s.X, []float64{0, 10, 20}) || !reflect.DeepEqual(s.Y, []float64{2, 3, 7}) {
		t.Fatalf("series %+v", s)
	}
	if !reflect.DeepEqual(s.Band.Lower, []float64{1, 2, 7}) || !reflect.DeepEqual(s.Band.Upper, []float64{3, 4, 7}) {
		t.Fatalf("band %+v", s.Band)
	}
}
