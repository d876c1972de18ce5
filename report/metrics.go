// Package report records a run's metrics and turns them into plots and
// reports: a JSONL metrics log (one object per step, TRL/cleanrl metric
// names), CSV export, SVG line, scatter and bar plots in pure Go, an HTML run
// report and markdown tables.
package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"
)

// MetricsFile is the name of the metrics log inside a run directory.
const MetricsFile = "metrics.jsonl"

// Logger appends one JSON object per step to a run directory's metrics.jsonl:
//
//	{"step":10,"time":1795000000.123,"objective/kl":0.41,"rm/accuracy":0.72}
//
// Each line goes to the file in a single write, so a crash loses at most the
// line being written. Non-finite values are written as the strings "NaN",
// "+Inf" and "-Inf" (JSON has no spelling for them). A Logger is safe for
// concurrent use.
type Logger struct {
	mu  sync.Mutex
	f   *os.File
	now func() time.Time
}

// NewLogger opens (creating if needed) dir/metrics.jsonl for appending. If a
// previous run crashed mid-line, the partial last line is cut off first so
// that new lines start on a line of their own.
func NewLogger(dir string) (*Logger, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: create run directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, MetricsFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("report: open metrics log: %w", err)
	}
	end, err := trimPartialLine(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("report: repair metrics log %s: %w", path, err)
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("report: seek metrics log %s: %w", path, err)
	}
	return &Logger{f: f, now: time.Now}, nil
}

// trimPartialLine truncates f after its last newline and returns the new size.
func trimPartialLine(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	end := st.Size()
	buf := make([]byte, 4096)
	for pos := end; pos > 0; {
		n := int64(len(buf))
		if pos < n {
			n = pos
		}
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			cut := pos + int64(i) + 1
			if cut != end {
				return cut, f.Truncate(cut)
			}
			return end, nil
		}
	}
	if end != 0 {
		return 0, f.Truncate(0)
	}
	return 0, nil
}

// SetClock replaces the clock used for the "time" field (for tests).
func (l *Logger) SetClock(now func() time.Time) {
	l.mu.Lock()
	l.now = now
	l.mu.Unlock()
}

// Log appends one line for step with the given metrics. Keys "step" and
// "time" are reserved and rejected.
func (l *Logger) Log(step int, metrics map[string]float64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("report: log to a closed metrics logger")
	}
	line, err := encodeLine(step, l.now(), metrics)
	if err != nil {
		return err
	}
	if _, err := l.f.Write(line); err != nil {
		return fmt.Errorf("report: write metrics line for step %d: %w", step, err)
	}
	return nil
}

// encodeLine renders one JSONL line, keys after step and time in sorted order.
func encodeLine(step int, t time.Time, metrics map[string]float64) ([]byte, error) {
	keys := make([]string, 0, len(metrics))
	for k := range metrics {
		if k == "step" || k == "time" {
			return nil, fmt.Errorf("report: metric name %q is reserved", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"step":%d,"time":%s`, step, strconv.FormatFloat(float64(t.UnixMicro())/1e6, 'f', -1, 64))
	for _, k := range keys {
		name, _ := json.Marshal(k)
		b.WriteByte(',')
		b.Write(name)
		b.WriteByte(':')
		b.WriteString(formatJSONFloat(metrics[k]))
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// formatJSONFloat spells v as a JSON number, or as a string for NaN and ±Inf.
func formatJSONFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return `"NaN"`
	case math.IsInf(v, 1):
		return `"+Inf"`
	case math.IsInf(v, -1):
		return `"-Inf"`
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Sync flushes the log to stable storage.
func (l *Logger) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("report: sync metrics log: %w", err)
	}
	return nil
}

// Close syncs and closes the log. Closing twice is a no-op.
func (l *Logger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	if err != nil {
		return fmt.Errorf("report: close metrics log: %w", err)
	}
	return nil
}

// Row is one logged step.
type Row struct {
	Step int
	// Time is Unix seconds.
	Time   float64
	Values map[string]float64
}

// Metrics is a loaded metrics log, rows in file order.
type Metrics struct {
	Rows []Row
}

// ReadMetrics parses a metrics.jsonl stream. A malformed last line without a
// trailing newline (a write cut short by a crash) is dropped; any other
// malformed line is an error naming its line number. Values may be numbers,
// null (read as NaN) or the strings "NaN", "+Inf", "Inf", "-Inf",
// "Infinity" and "-Infinity".
func ReadMetrics(r io.Reader) (*Metrics, error) {
	br := bufio.NewReader(r)
	m := &Metrics{}
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("report: read metrics line %d: %w", lineNo, err)
		}
		complete := len(line) > 0 && line[len(line)-1] == '\n'
		if len(bytes.TrimSpace(line)) > 0 {
			row, perr := parseLine(line)
			if perr != nil {
				if !complete {
					break // truncated final line
				}
				return nil, fmt.Errorf("report: metrics line %d: %w", lineNo, perr)
			}
			m.Rows = append(m.Rows, row)
		}
		if err == io.EOF {
			break
		}
	}
	return m, nil
}

// LoadMetrics reads path, or dir/metrics.jsonl if path is a directory.
func LoadMetrics(path string) (*Metrics, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, MetricsFile)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	m, err := ReadMetrics(f)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return m, nil
}

// parseLine decodes one JSON object into a Row.
func parseLine(line []byte) (Row, error) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&obj); err != nil {
		return Row{}, err
	}
	if obj == nil {
		return Row{}, errors.New("line is null, want an object")
	}
	if dec.More() {
		return Row{}, errors.New("trailing data after the object")
	}
	row := Row{Values: make(map[string]float64, len(obj))}
	for k, raw := range obj {
		v, err := parseValue(raw)
		if err != nil {
			return Row{}, fmt.Errorf("key %q: %w", k, err)
		}
		switch k {
		case "step":
			if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
				return Row{}, fmt.Errorf("step %v is not an integer", v)
			}
			row.Step = int(v)
		case "time":
			row.Time = v
		default:
			row.Values[k] = v
		}
	}
	if _, ok := obj["step"]; !ok {
		return Row{}, errors.New(`missing "step"`)
	}
	return row, nil
}

// parseValue reads a JSON number, null or a non-finite spelling.
func parseValue(raw json.RawMessage) (float64, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case nil:
		return math.NaN(), nil
	case float64:
		return x, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		switch x {
		case "NaN", "nan":
			return math.NaN(), nil
		case "+Inf", "Inf", "inf", "Infinity":
			return math.Inf(1), nil
		case "-Inf", "-inf", "-Infinity":
			return math.Inf(-1), nil
		}
		return 0, fmt.Errorf("value %q is not a number", x)
	}
	return 0, fmt.Errorf("value %s is not a number", raw)
}

// Keys returns every metric name that occurs, sorted (step and time excluded).
func (m *Metrics) Keys() []string {
	seen := map[string]bool{}
	for _, r := range m.Rows {
		for k := range r.Values {
			seen[k] = true
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Series returns the steps and values of one metric, over the rows that hold
// it, in increasing step order. If a step occurs more than once (a run resumed
// from an earlier checkpoint logs its steps again) the last value wins.
func (m *Metrics) Series(key string) (steps, values []float64) {
	last := map[int]float64{}
	for _, r := range m.Rows {
		if v, ok := r.Values[key]; ok {
			last[r.Step] = v
		}
	}
	order := make([]int, 0, len(last))
	for s := range last {
		order = append(order, s)
	}
	sort.Ints(order)
	for _, s := range order {
		steps = append(steps, float64(s))
		values = append(values, last[s])
	}
	return steps, values
}

// Plot returns a line plot of the given metrics against step, one series per key.
func (m *Metrics) Plot(title string, keys ...string) *Plot {
	p := &Plot{Title: title, XLabel: "step"}
	if len(keys) == 1 {
		p.YLabel = keys[0]
	}
	for _, k := range keys {
		x, y := m.Series(k)
		p.Series = append(p.Series, Series{Name: k, X: x, Y: y})
	}
	return p
}

// MeanStd aggregates one metric over several runs (e.g. seeds) into a series
// of the per-step mean with a band of ± one standard deviation (population,
// as numpy's default), aligned by step. Each step uses the runs that logged a
// finite value there; steps where none did are left out.
func MeanStd(name string, runs []*Metrics, key string) Series {
	vals := map[float64][]float64{}
	for _, m := range runs {
		if m == nil {
			continue
		}
		x, y := m.Series(key)
		for i := range x {
			if finite(y[i]) {
				vals[x[i]] = append(vals[x[i]], y[i])
			}
		}
	}
	steps := make([]float64, 0, len(vals))
	for s := range vals {
		steps = append(steps, s)
	}
	sort.Float64s(steps)
	s := Series{Name: name, Band: &Band{}}
	for _, st := range steps {
		mean, std := Spread(vals[st])
		s.X = append(s.X, st)
		s.Y = append(s.Y, mean)
		s.Band.Lower = append(s.Band.Lower, mean-std)
		s.Band.Upper = append(s.Band.Upper, mean+std)
	}
	return s
}

// WriteCSV writes the rows as CSV: columns step, time, then Keys(); a metric
// missing from a row is an empty cell.
func (m *Metrics) WriteCSV(w io.Writer) error {
	keys := m.Keys()
	cw := csv.NewWriter(w)
	cw.Write(append([]string{"step", "time"}, keys...))
	rec := make([]string, 2+len(keys))
	for _, r := range m.Rows {
		rec[0] = strconv.Itoa(r.Step)
		rec[1] = strconv.FormatFloat(r.Time, 'f', -1, 64)
		for i, k := range keys {
			rec[2+i] = ""
			if v, ok := r.Values[k]; ok {
				rec[2+i] = strconv.FormatFloat(v, 'g', -1, 64)
			}
		}
		cw.Write(rec)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("report: write CSV: %w", err)
	}
	return nil
}
