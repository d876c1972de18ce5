package feedback

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func collect[T any](t *testing.T, seq func(func(T, error) bool)) ([]T, []error) {
	t.Helper()
	var recs []T
	var errs []error
	for r, err := range seq {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		recs = append(recs, r)
	}
	return recs, errs
}

var when = time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC)

func TestPairsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prefs.jsonl")
	want := []PairRecord{
		{Prompt: "The movie was", Chosen: " great fun.", Rejected: " dull.", Provenance: Provenance{QueryID: "q1", Labeler: "ann", Run: "r1", Source: SourceHuman, Time: when}},
		{Prompt: "", Chosen: "a \"quoted\" <tag> & \n newline", Rejected: "ünïcödé ☃"},
	}
	n, err := WriteFile(path, slices.Values(want))
	if err != nil || n != 2 {
		t.Fatalf("WriteFile: %d, %v", n, err)
	}
	got, errs := collect(t, ReadPairsFile(path, nil))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip\n got %+v\nwant %+v", got, want)
	}
	// The file is plain TRL JSONL with provenance beside.
	b, _ := os.ReadFile(path)
	first := strings.SplitN(string(b), "\n", 2)[0]
	if wantLine := `{"prompt":"The movie was","chosen":" great fun.","rejected":" dull.","query_id":"q1","labeler":"ann","run":"r1","source":"human","time":"2026-11-27T10:30:00Z"}`; first != wantLine {
		t.Errorf("line 1\n got %s\nwant %s", first, wantLine)
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*")); len(matches) > 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}

func TestBestOfAndControlRoundTrip(t *testing.T) {
	dir := t.TempDir()
	bo := []BestOfRecord{{Prompt: "Once", Completions: []string{"a", "b", "c", "d"}, Choice: 2, Provenance: Provenance{Source: SourceSynthetic, Labeler: "oracle"}}}
	if _, err := WriteFile(filepath.Join(dir, "bo.jsonl"), slices.Values(bo)); err != nil {
		t.Fatal(err)
	}
	gotBO, errs := collect(t, ReadBestOfFile(filepath.Join(dir, "bo.jsonl"), nil))
	if len(errs) > 0 || !reflect.DeepEqual(gotBO, bo) {
		t.Errorf("best-of round trip: %+v %v", gotBO, errs)
	}
	cr := []ControlRecord{
		{Segments: []Segment{{Env: "CartPole-v1", DT: 0.02, States: [][]float64{{0, 0.1, 0, 0}, {0.01, 0.1, 0.02, 0.1}}, Rewards: []float64{1, 1}, Return: 2}, {Ref: "clips/7.json", Return: -1.5}}, Choice: 1, Provenance: Provenance{QueryID: "c9"}},
		{Segments: []Segment{{Ref: "a"}, {Ref: "b"}}, Choice: Tie},
	}
	if _, err := WriteFile(filepath.Join(dir, "ctl.jsonl"), slices.Values(cr)); err != nil {
		t.Fatal(err)
	}
	gotCR, errs := collect(t, ReadControlFile(filepath.Join(dir, "ctl.jsonl"), nil))
	if len(errs) > 0 || !reflect.DeepEqual(gotCR, cr) {
		t.Errorf("control round trip:\n got %+v\nwant %+v\n%v", gotCR, cr, errs)
	}
}

func TestWriteFileReplacesAtomically(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.jsonl")
	os.WriteFile(path, []byte("old\n"), 0o644)
	// A failing record leaves the old file in place.
	bad := func(yield func(any) bool) {
		if !yield(PairRecord{Chosen: "x"}) {
			return
		}
		yield(func() {}) // not encodable
	}
	if _, err := WriteFile(path, bad); err == nil {
		t.Fatal("WriteFile of an unencodable record succeeded")
	}
	if b, _ := os.ReadFile(path); string(b) != "old\n" {
		t.Errorf("file after a failed write: %q", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after a failed write", len(entries))
	}
}

// A record's confidence is read when it states one in [0, 1], and is an
// error outside it.
func TestRecordConfidence(t *testing.T) {
	in := strings.Join([]string{
		`{"prompt":"p","chosen":"a","rejected":"b","confidence":0.75,"source":"ai"}`,
		`{"prompt":"p","chosen":"a","rejected":"b"}`,
		`{"prompt":"p","chosen":"a","rejected":"b","confidence":1.5}`,
		`{"prompt":"p","completions":["a","b","c"],"choice":2,"confidence":0.5}`,
		`{"prompt":"p","completions":["a","b"],"choice":0,"confidence":-0.1}`,
	}, "\n")
	recs, errs := collect(t, ReadPairs(strings.NewReader(in), &ReadOptions{Name: "x.jsonl"}))
	if len(recs) != 2 || recs[0].Confidence == nil || *recs[0].Confidence != 0.75 || recs[1].Confidence != nil {
		t.Errorf("pairs %+v", recs)
	}
	if len(errs) != 3 || !strings.Contains(errs[0].Error(), "line 3: confidence 1.5 outside [0, 1]") {
		t.Errorf("pair errors %v", errs)
	}
	bo, errs := collect(t, ReadBestOf(strings.NewReader(in), &ReadOptions{Name: "x.jsonl"}))
	if len(bo) != 1 || *bo[0].Confidence != 0.5 || len(errs) != 4 || !strings.Contains(errs[3].Error(), "line 5: confidence -0.1 outside") {
		t.Errorf("best-of %+v, errors %v", bo, errs)
	}
}

// A record's query_id may be a string or, as rlhf serve's export writes
// the label store's ids, a whole number; anything else is a line error.
func TestRecordQueryID(t *testing.T) {
	in := strings.Join([]string{
		`{"prompt":"p","chosen":"a","rejected":"b","query_id":"run-r1-3","labeler":"ann"}`,
		`{"prompt":"p","chosen":"a","rejected":"b","query_id":42,"kind":"text","labeler":"bob","label_id":7}`,
		`{"prompt":"p","chosen":"a","rejected":"b","query_id":null}`,
		`{"prompt":"p","chosen":"a","rejected":"b","query_id":1.5}`,
		`{"prompt":"p","chosen":"a","rejected":"b","query_id":["x"]}`,
	}, "\n")
	recs, errs := collect(t, ReadPairs(strings.NewReader(in), &ReadOptions{Name: "x.jsonl"}))
	if len(recs) != 3 || recs[0].QueryID != "run-r1-3" || recs[1].QueryID != "42" || recs[1].Labeler != "bob" || recs[2].QueryID != "" {
		t.Errorf("pairs %+v", recs)
	}
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), `line 4: field "query_id": got 1.5, want a string or a whole number`) {
		t.Errorf("errors %v", errs)
	}
	bo, errs := collect(t, ReadBestOf(strings.NewReader(`{"completions":["a","b"],"choice":1,"query_id":9}`), nil))
	if len(bo) != 1 || bo[0].QueryID != "9" || len(errs) != 0 {
		t.Errorf("best-of %+v %v", bo, errs)
	}
	cr, errs := collect(t, ReadControl(strings.NewReader(`{"segments":[{"ref":"a"},{"ref":"b"}],"choice":0,"query_id":5}`), nil))
	if len(cr) != 1 || cr[0].QueryID != "5" || len(errs) != 0 {
		t.Errorf("control %+v %v", cr, errs)
	}
}

func TestLineErrors(t *testing.T) {
	in := strings.Join([]string{
		`{"prompt":"p","chosen":"a","rejected":"b"}`,
		``,
		`{"prompt":"p","rejected":"b"}`,
		`{"prompt":"p","chosen":"a"}`,
		`{"prompt":"p","chosen":7,"rejected":"b"}`,
		`not json`,
		`{"chosen":"a","rejected":"b"`,
		`["chosen"]`,
		`{"chosen":"a","rejected":"b"}`,
	}, "\n")
	want := []string{
		`feedback: prefs.jsonl line 3: missing field "chosen"`,
		`feedback: prefs.jsonl line 4: missing field "rejected"`,
		`feedback: prefs.jsonl line 5: field "chosen": got JSON number, want string`,
		`feedback: prefs.jsonl line 6: not a JSON object`,
		`feedback: prefs.jsonl line 7: invalid JSON at byte 28: unexpected end of JSON input`,
		`feedback: prefs.jsonl line 8: not a JSON object`,
	}
	recs, errs := collect(t, ReadPairs(strings.NewReader(in), &ReadOptions{Name: "prefs.jsonl"}))
	if len(recs) != 2 || recs[1].Prompt != "" || recs[1].Chosen != "a" {
		t.Errorf("records %+v", recs)
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
		var le *LineError
		if !errors.As(e, &le) || le.Name != "prefs.jsonl" {
			t.Errorf("%v is not a *LineError", e)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors\n got %q\nwant %q", got, want)
	}

	// Skip mode: the same input yields the good records and counts the bad.
	opt := &ReadOptions{Name: "prefs.jsonl", SkipBad: true}
	recs, errs = collect(t, ReadPairs(strings.NewReader(in), opt))
	if len(recs) != 2 || len(errs) != 0 || opt.Skipped != 6 || opt.FirstSkipped == nil || opt.FirstSkipped.Error() != want[0] {
		t.Errorf("skip mode: %d records, %d errors, skipped %d, first %v", len(recs), len(errs), opt.Skipped, opt.FirstSkipped)
	}
}

func TestBestOfAndControlErrors(t *testing.T) {
	bo := strings.Join([]string{
		`{"prompt":"p","completions":["a","b"]}`,
		`{"prompt":"p","choice":0}`,
		`{"prompt":"p","completions":["a","b"],"choice":2}`,
		`{"prompt":"p","completions":["a"],"choice":0}`,
		`{"prompt":"p","completions":["a","b"],"choice":-1}`,
		`{"prompt":"p","completions":["a","b"],"choice":1.5}`,
		"\ufeff{\"completions\":[\"a\",\"b\"],\"choice\":1}",
	}, "\r\n")
	_, errs := collect(t, ReadBestOf(strings.NewReader(bo), &ReadOptions{Name: "bo.jsonl"}))
	wantBO := []string{
		`feedback: bo.jsonl line 1: missing field "choice"`,
		`feedback: bo.jsonl line 2: missing field "completions"`,
		`feedback: bo.jsonl line 3: choice 2 out of range for 2 completions`,
		`feedback: bo.jsonl line 4: 1 completions, want 2..16`,
		`feedback: bo.jsonl line 5: choice -1 out of range for 2 completions`,
		`feedback: bo.jsonl line 6: field "choice": got JSON number 1.5, want int`,
		`feedback: bo.jsonl line 7: not a JSON object`, // a BOM is only skipped on line 1
	}
	if got := errStrings(errs); !slices.Equal(got, wantBO) {
		t.Errorf("best-of errors\n got %q\nwant %q", got, wantBO)
	}
	ctl := strings.Join([]string{
		`{"segments":[{"ref":"a"},{"ref":"b"}],"choice":"skip"}`,
		`{"segments":[{"ref":"a"},{"ref":"b"}],"choice":2}`,
		`{"segments":[{"ref":"a"}],"choice":0}`,
		`{"segments":[{"ref":"a"},{"ref":"b"}]}`,
		`{"choice":0}`,
		`{"segments":[{"ref":"a"},{"ref":"b"}],"choice":"tie"}`,
	}, "\n")
	recs, errs := collect(t, ReadControl(strings.NewReader(ctl), nil))
	wantCtl := []string{
		`feedback: input line 1: choice skip: want an index below 2 or "tie"`,
		`feedback: input line 2: choice 2: want an index below 2 or "tie"`,
		`feedback: input line 3: 1 segments, want 2..16`,
		`feedback: input line 4: missing field "choice"`,
		`feedback: input line 5: missing field "segments"`,
	}
	if got := errStrings(errs); !slices.Equal(got, wantCtl) || len(recs) != 1 || recs[0].Choice != Tie {
		t.Errorf("control errors\n got %q\nwant %q\nrecords %+v", got, wantCtl, recs)
	}
}

func errStrings(errs []error) []string {
	var s []string
	for _, e := range errs {
		s = append(s, e.Error())
	}
	return s
}

func TestLongLinesAndBOM(t *testing.T) {
	long := `{"chosen":"` + strings.Repeat("x", 200) + `","rejected":"y"}`
	in := "\ufeff" + `{"chosen":"a","rejected":"b"}` + "\n" + long + "\n" + `{"chosen":"c","rejected":"d"}`
	recs, errs := collect(t, ReadPairs(strings.NewReader(in), &ReadOptions{MaxLine: 100}))
	if len(recs) != 2 || recs[0].Chosen != "a" || recs[1].Chosen != "c" {
		t.Errorf("records %+v", recs)
	}
	if got := errStrings(errs); len(got) != 1 || got[0] != "feedback: input line 2: line longer than 100 bytes" {
		t.Errorf("errors %q", got)
	}
	// A long last line without a newline.
	recs, errs = collect(t, ReadPairs(strings.NewReader(`{"chosen":"a","rejected":"b"}`+"\n"+long), &ReadOptions{MaxLine: 100}))
	if len(recs) != 1 || len(errs) != 1 {
		t.Errorf("long last line: %d records, %v", len(recs), errs)
	}
	// Lines longer than the reader's buffer but under the limit are fine.
	big := strings.Repeat("z", 300<<10)
	recs, errs = collect(t, ReadPairs(strings.NewReader(`{"chosen":"`+big+`","rejected":"b"}`), nil))
	if len(errs) != 0 || len(recs) != 1 || recs[0].Chosen != big {
		t.Errorf("big line: %d records, %v", len(recs), errs)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		f.n++
		return copy(p, `{"chosen":"a","rejected":"b"}`+"\n"), nil
	}
	return 0, errors.New("disk on fire")
}

func TestReadErrorEndsStream(t *testing.T) {
	recs, errs := collect(t, ReadPairs(&failingReader{}, &ReadOptions{SkipBad: true}))
	if len(recs) != 1 || len(errs) != 1 || !strings.Contains(errs[0].Error(), "disk on fire") {
		t.Errorf("%d records, errors %v", len(recs), errs)
	}
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte(`{"chosen":"a","rejected":"b"}`+"\n{}\n"), 0o644)
	opt := &ReadOptions{}
	_, errs = collect(t, ReadPairsFile(bad, opt))
	if len(errs) != 1 || errs[0].Error() != "feedback: "+bad+` line 2: missing field "chosen"` || opt.Name != "" {
		t.Errorf("file errors %v, options name %q", errs, opt.Name)
	}
	_, errs = collect(t, ReadPairsFile(filepath.Join(t.TempDir(), "missing.jsonl"), nil))
	if len(errs) != 1 || !errors.Is(errs[0], os.ErrNotExist) {
		t.Errorf("missing file: %v", errs)
	}
}

func TestEarlyBreak(t *testing.T) {
	in := strings.Repeat(`{"chosen":"a","rejected":"b"}`+"\n", 10)
	n := 0
	for range ReadPairs(strings.NewReader(in), nil) {
		n++
		if n == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("read %d after break", n)
	}
}

func TestAppender(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.jsonl")
	a, err := OpenAppender[PairRecord](path)
	if err != nil {
		t.Fatal(err)
	}
	a.Sync = true
	for _, c := range []string{"a", "b"} {
		if err := a.Append(PairRecord{Chosen: c, Rejected: "z"}); err != nil {
			t.Fatal(err)
		}
		// Each record is on disk as soon as Append returns.
		b, _ := os.ReadFile(path)
		if !bytes.HasSuffix(b, []byte(`"chosen":"`+c+`","rejected":"z"}`+"\n")) {
			t.Errorf("after appending %s the file is %q", c, b)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Append(PairRecord{}); err == nil {
		t.Error("append after close succeeded")
	}
	// Simulate a crash mid-record, then reopen and append.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"prompt":"","chosen":"tor`)
	f.Close()
	a, err = OpenAppender[PairRecord](path)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Append(PairRecord{Chosen: "c", Rejected: "z"}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	// The torn record (never acknowledged) is cut off: the file reads
	// cleanly without SkipBad.
	recs, _ := collect(t, ReadPairsFile(path, nil))
	var chosen []string
	for _, r := range recs {
		chosen = append(chosen, r.Chosen)
	}
	if !slices.Equal(chosen, []string{"a", "b", "c"}) {
		t.Errorf("after a torn line: chosen %v", chosen)
	}
	// A file holding only a torn line is emptied; one whose torn tail is
	// longer than a read block is cut at the right newline.
	for _, c := range []struct{ before, want string }{
		{`{"prompt":"x`, ""},
		{"{\"a\":1}\n" + strings.Repeat("y", 10000), "{\"a\":1}\n"},
		{"l1\nl2\n", "l1\nl2\n"},
	} {
		p := filepath.Join(t.TempDir(), "t.jsonl")
		if err := os.WriteFile(p, []byte(c.before), 0o644); err != nil {
			t.Fatal(err)
		}
		a, err := OpenAppender[PairRecord](p)
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		if got, _ := os.ReadFile(p); string(got) != c.want {
			t.Errorf("torn tail of %d bytes: file is %q, want %q", len(c.before), got, c.want)
		}
	}
}

func TestRecordConversions(t *testing.T) {
	q := TextQuery("q1", "Once upon", " a", " b", " c", " d")
	q.Run = "run7"
	l := Label{QueryID: "q1", Choice: 2, Labeler: "ann", Source: SourceHuman, Time: when}
	pairs := PairRecords(q, l)
	if len(pairs) != 3 {
		t.Fatalf("%d pairs from best of 4", len(pairs))
	}
	for i, rej := range []string{" a", " b", " d"} {
		p := pairs[i]
		if p.Chosen != " c" || p.Rejected != rej || p.Prompt != "Once upon" || p.Run != "run7" || p.Labeler != "ann" || p.QueryID != "q1" {
			t.Errorf("pair %d = %+v", i, p)
		}
	}
	if PairRecords(q, Label{Choice: Tie}) != nil || PairRecords(q, Label{Choice: 4}) != nil {
		t.Error("pairs from a tie or a bad index")
	}
	bo, ok := BestOfRecordOf(q, l)
	if !ok || bo.Choice != 2 || len(bo.Completions) != 4 {
		t.Errorf("best-of record %+v", bo)
	}
	q2, l2 := bo.Comparison()
	if !reflect.DeepEqual(q2.Items, q.Items) || l2.Choice != 2 || l2.QueryID != "q1" || q2.Run != "run7" {
		t.Errorf("back from best-of: %+v %+v", q2, l2)
	}
	pq, pl := pairs[0].Comparison()
	if pq.Items[int(pl.Choice)].Completion != " c" || pq.Validate() != nil {
		t.Errorf("back from a pair: %+v %+v", pq, pl)
	}
	cq := ControlQuery("c1", Segment{Return: 1}, Segment{Return: 2})
	cr, ok := ControlRecordOf(cq, Label{Choice: Tie})
	if !ok || cr.Choice != Tie || len(cr.Segments) != 2 {
		t.Errorf("control record %+v", cr)
	}
	if _, ok := ControlRecordOf(cq, Label{Choice: Skip}); ok {
		t.Error("control record from a skip")
	}
	if _, ok := ControlRecordOf(q, l); ok {
		t.Error("control record from a text query")
	}
	cq2, cl2 := cr.Comparison()
	if cq2.Kind != KindControl || cq2.Items[1].Segment.Return != 2 || cl2.Choice != Tie {
		t.Errorf("back from control: %+v", cq2)
	}
}

func fuzzSeeds(f *testing.F) {
	for _, s := range []string{
		`{"prompt":"p","chosen":"a","rejected":"b"}`,
		`{"prompt":"p","completions":["a","b","c","d"],"choice":3,"time":"2026-11-27T10:30:00Z"}`,
		`{"segments":[{"states":[[0,1]],"return":1},{"ref":"x"}],"choice":"tie"}`,
		"{\"chosen\":\"a\"}\n\n{",
		"\ufeff{}\r\n[]\n\"x\"\nnull",
		`{"choice":1e999,"completions":null,"segments":{}}`,
	} {
		f.Add([]byte(s))
	}
}

func FuzzReadPairs(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for r, err := range ReadPairs(bytes.NewReader(b), &ReadOptions{MaxLine: 1 << 12}) {
			if err == nil {
				// A record that was read writes and reads back the same.
				var buf bytes.Buffer
				if _, err := writeTo(&buf, r); err != nil {
					t.Fatal(err)
				}
				back, errs := collect(t, ReadPairs(&buf, nil))
				if len(errs) > 0 || len(back) != 1 || !reflect.DeepEqual(back[0], r) {
					t.Fatalf("re-read %+v: %+v %v", r, back, errs)
				}
			}
		}
	})
}

func FuzzReadBestOf(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for r, err := range ReadBestOf(bytes.NewReader(b), &ReadOptions{SkipBad: true}) {
			if err == nil && (r.Choice < 0 || r.Choice >= len(r.Completions)) {
				t.Fatalf("accepted choice %d of %d", r.Choice, len(r.Completions))
			}
		}
	})
}

func FuzzReadControl(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for r, err := range ReadControl(bytes.NewReader(b), nil) {
			if err == nil {
				if len(r.Segments) < 2 || !(r.Choice == Tie || r.Choice.ValidFor(len(r.Segments)) && r.Choice.IsIndex()) {
					t.Fatalf("accepted %+v", r)
				}
				q, l := r.Comparison()
				if q.Validate() != nil && q.ID != "" {
					t.Fatalf("comparison of %+v invalid", r)
				}
				SoftTarget(l.Choice, len(q.Items))
			}
		}
	})
}

// writeTo encodes one record as the writers do.
func writeTo(buf *bytes.Buffer, rec any) (int, error) {
	return 1, newEncoder(buf).Encode(rec)
}

func BenchmarkReadPairs(b *testing.B) {
	var buf bytes.Buffer
	for i := range 1000 {
		newEncoder(&buf).Encode(PairRecord{Prompt: "The weather today is", Chosen: strings.Repeat(" fine", 12+i%7), Rejected: strings.Repeat(" bad", 12), Provenance: Provenance{QueryID: "q", Labeler: "oracle", Source: SourceSynthetic, Time: when}})
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		n := 0
		for _, err := range ReadPairs(bytes.NewReader(data), nil) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 1000 {
			b.Fatal(n)
		}
	}
}
