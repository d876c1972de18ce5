package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rlhf/feedback"
	"rlhf/model/gpt"
	"rlhf/reward"
	"rlhf/store"
	"rlhf/text"
)

// judgeTinyRM saves a randomly initialised GPT reward model (width 16, one
// layer, the default tokenizer) and returns its directory.
func judgeTinyRM(t testing.TB) string {
	t.Helper()
	tok, err := text.DefaultTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	m, err := gpt.New(gpt.Config{VocabSize: tok.VocabSize(), NPositions: 32, NEmbd: 16, NLayer: 1, NHead: 2,
		LayerNormEpsilon: 1e-5, ActivationFunction: "gelu_new", EOSTokenID: tok.EndOfText(), BOSTokenID: tok.EndOfText(),
		Tokenizer: "default"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "rm")
	if err := reward.NewGPT(m, tok, 6).Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

const judgeHostile = "\"quoted\" \\back\\ new\nline\ttab <script>&amp;</script> \u2028\u2029 nul\x00 é 🎉 }{,]"

// judgeInput writes a query file mixing import lines and preference pairs,
// all with hostile text, and returns its path and lines.
func judgeInput(t testing.TB, dir string) (string, []string) {
	t.Helper()
	js := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	lines := []string{
		js(map[string]any{"run": "r<1>", "overlap": 2, "payload": map[string]any{"kind": "text", "prompt": judgeHostile, "completions": []string{judgeHostile + "A", judgeHostile + "B"}}}),
		js(map[string]any{"kind": "text", "prompt": "P", "completions": []string{judgeHostile + "one", "two", "three"}, "gold": 1}),
	}
	for i := range 6 {
		lines = append(lines, js(map[string]any{"prompt": judgeHostile, "chosen": judgeHostile + strings.Repeat("c", i+1), "rejected": judgeHostile + "r" + strings.Repeat("x", i)}))
	}
	path := filepath.Join(dir, "queries.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, lines
}

func TestJudgeCLIRoundTrip(t *testing.T) {
	rm := judgeTinyRM(t)
	dir := t.TempDir()
	in, lines := judgeInput(t, dir)
	out, def := filepath.Join(dir, "prefs.jsonl"), filepath.Join(dir, "deferred.jsonl")
	ctx := context.Background()

	// Abstain 0: the judge answers everything.
	var stdout, stderr bytes.Buffer
	err := runJudgeTo(ctx, []string{"-model", rm, "-in", in, "-out", out, "-defer", def, "-abstain", "0", "-plots", filepath.Join(dir, "plots")}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var recs []feedback.PairRecord
	for r, err := range feedback.ReadPairsFile(out, nil) {
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	// 1 + 2 + 6 pairs: the 3-way query gives two.
	if len(recs) != 9 {
		t.Fatalf("%d pairs written, want 9\n%s", len(recs), stderr.String())
	}
	if recs[0].Prompt != judgeHostile || (recs[0].Chosen != judgeHostile+"A" && recs[0].Chosen != judgeHostile+"B") || recs[0].Run != "r<1>" {
		t.Errorf("first pair not byte-exact: %+v", recs[0])
	}
	for _, r := range recs {
		if r.Source != feedback.SourceAI || !strings.HasPrefix(r.Labeler, "rm:rm/T=") || r.QueryID == "" {
			t.Errorf("provenance %+v", r.Provenance)
		}
	}
	raw, _ := os.ReadFile(out)
	if !strings.Contains(string(raw), `"confidence":`) {
		t.Error("pairs carry no confidence")
	}
	if b, _ := os.ReadFile(def); len(b) != 0 {
		t.Errorf("deferred at abstain 0: %q", b)
	}
	if s := stdout.String(); !strings.Contains(s, "Cohen's kappa") || !strings.Contains(s, "| 0.45 |") || !strings.Contains(s, "7 labelled queries") {
		t.Errorf("evaluation:\n%s", s)
	}
	for _, f := range []string{"reliability.svg", "coverage.svg"} {
		if b, err := os.ReadFile(filepath.Join(dir, "plots", f)); err != nil || !bytes.HasPrefix(b, []byte("<svg")) {
			t.Errorf("plot %s: %v", f, err)
		}
	}
	if !strings.Contains(stderr.String(), "answered 8 (100.0%)") {
		t.Errorf("summary: %s", stderr.String())
	}

	// Best-of-k output: one record per answered query.
	err = runJudgeTo(ctx, []string{"-model", rm, "-in", in, "-out", out, "-defer", def, "-abstain", "0", "-format", "bestof"}, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	var best []feedback.BestOfRecord
	for r, err := range feedback.ReadBestOfFile(out, nil) {
		if err != nil {
			t.Fatal(err)
		}
		best = append(best, r)
	}
	if len(best) != 8 || len(best[1].Completions) != 3 || best[1].Completions[0] != judgeHostile+"one" {
		t.Errorf("%d best-of records: %+v", len(best), best)
	}

	// A huge temperature puts every probability near 0.5: everything is deferred.
	stdout.Reset()
	stderr.Reset()
	err = runJudgeTo(ctx, []string{"-model", rm, "-in", in, "-out", out, "-defer", def, "-abstain", "0.1", "-temperature", "1e6"}, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); len(b) != 0 {
		t.Errorf("pairs written at T=1e6: %q", b)
	}
	b, err := os.ReadFile(def)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(got) != len(lines) {
		t.Fatalf("%d deferred lines, want %d", len(got), len(lines))
	}
	// Import lines come back verbatim; pairs as text payloads without their answer.
	if got[0] != lines[0] || got[1] != lines[1] {
		t.Errorf("import lines changed:\n%q\n%q", got[0], lines[0])
	}
	for i, l := range got[2:] {
		var rec struct {
			Payload json.RawMessage `json:"payload"`
			Gold    *int            `json:"gold"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		if _, k, err := store.ParsePayload(rec.Payload); err != nil || k != 2 || rec.Gold != nil {
			t.Errorf("deferred pair %d: k %d, err %v, gold %v", i, k, err, rec.Gold)
		}
		var p store.TextPayload
		json.Unmarshal(rec.Payload, &p)
		want := map[string]bool{judgeHostile + strings.Repeat("c", i+1): true, judgeHostile + "r" + strings.Repeat("x", i): true}
		if p.Prompt != judgeHostile || !want[p.Completions[0]] || !want[p.Completions[1]] || p.Completions[0] == p.Completions[1] {
			t.Errorf("deferred pair %d not byte-exact: %q", i, p)
		}
	}
}

func TestJudgeCLICalibrates(t *testing.T) {
	rm := judgeTinyRM(t)
	dir := t.TempDir()
	in, _ := judgeInput(t, dir)
	var stdout, stderr bytes.Buffer
	err := runJudgeTo(context.Background(), []string{"-model", rm, "-in", in, "-calibrate", in, "-out", "", "-defer", ""}, &stdout, &stderr)
	// The random model's scores either prefer the labels (a fit) or do not (a clear error).
	if err != nil && !strings.Contains(err.Error(), "calibrate") {
		t.Fatal(err)
	}
	if err == nil && !strings.Contains(stderr.String(), "calibrated on 7 labelled queries") {
		t.Errorf("stderr: %s", stderr.String())
	}
}

func TestJudgeCLIBadInput(t *testing.T) {
	rm := judgeTinyRM(t)
	dir := t.TempDir()
	in, _ := judgeInput(t, dir)
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.jsonl", `{"kind":"text","prompt":"p","completions":["a","b"]}`+"\n{oops\n")
	ctrl := write("control.jsonl", `{"kind":"control","env":"CartPole-v1","segments":[]}`+"\n")
	nogold := write("nogold.jsonl", `{"kind":"text","prompt":"p","completions":["a","b"]}`+"\n")
	empty := write("empty.jsonl", "\n\n")
	out := filepath.Join(dir, "o.jsonl")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-model", rm, "-in", bad, "-out", out}, "bad.jsonl line 2"},
		{[]string{"-model", rm, "-in", ctrl, "-out", out}, "text queries only"},
		{[]string{"-model", rm, "-in", empty, "-out", out}, "no queries"},
		{[]string{"-model", rm, "-in", filepath.Join(dir, "missing.jsonl"), "-out", out}, "missing.jsonl"},
		{[]string{"-model", rm, "-in", in, "-calibrate", nogold, "-out", out}, "no line carries an answer"},
		{[]string{"-model", filepath.Join(dir, "nomodel"), "-in", in, "-out", out}, "nomodel"},
		{[]string{"-model", rm, "-in", in, "-abstain", "0.7"}, "-abstain 0.7"},
		{[]string{"-model", rm, "-in", in, "-out", in}, "overwrite an input"},
		{[]string{"-model", rm, "-in", in, "-sweep", "0,x"}, "-sweep"},
		{[]string{"-model", rm, "-in", in, "-format", "csv"}, "-format"},
		{[]string{"-model", rm, "-in", in, "-temperature", "2", "-calibrate", in}, "pick one"},
		{[]string{"-model", rm}, "-in names no file"},
		{[]string{"-model", rm, "-in", in, "stray"}, "unexpected argument"},
	} {
		var stdout, stderr bytes.Buffer
		err := runJudgeTo(context.Background(), c.args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want %q", c.args, err, c.want)
		}
	}
}
