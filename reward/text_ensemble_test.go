package reward

import (
	"errors"
	"strings"
	"testing"
)

// fixedScorer returns its scores, or its error.
type fixedScorer struct {
	scores []float32
	err    error
}

func (f fixedScorer) ScoreText(ps, _ []string) ([]float32, error) { return f.scores, f.err }

func TestTextEnsemble(t *testing.T) {
	members := []TextScorer{fixedScorer{scores: []float32{1, 0}}, fixedScorer{scores: []float32{3, 0}}, fixedScorer{scores: []float32{2, 3}}}
	ps := []string{"a", "b"}
	for _, tc := range []struct {
		mode string
		want []float32
	}{
		{"mean", []float32{2, 1}},
		{"min", []float32{1, 0}},
		// Variances 2/3 and 2: mean - 0.5·var.
		{"uwo=0.5", []float32{2 - 1.0/3, 0}},
		{"uwo=0", []float32{2, 1}},
	} {
		mode, lambda, err := ParseEnsembleMode(tc.mode)
		if err != nil {
			t.Fatal(err)
		}
		got, err := TextEnsemble{Members: members, Mode: mode, Lambda: lambda}.ScoreText(ps, ps)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if d := got[i] - tc.want[i]; d > 1e-6 || d < -1e-6 {
				t.Errorf("%s: scores %v, want %v", tc.mode, got, tc.want)
				break
			}
		}
	}
	for _, bad := range []string{"max", "uwo=", "uwo=-1", "uwo=x", "uwo=+Inf", ""} {
		if _, _, err := ParseEnsembleMode(bad); err == nil || !strings.Contains(err.Error(), "ensemble mode") {
			t.Errorf("mode %q: %v", bad, err)
		}
	}
	failing := append(members[:1:1], fixedScorer{err: errors.New("boom")})
	if _, err := (TextEnsemble{Members: failing, Mode: EnsembleMean}).ScoreText(ps, ps); err == nil || !strings.Contains(err.Error(), "member 1: boom") {
		t.Errorf("a failing member: %v", err)
	}
	short := append(members[:1:1], fixedScorer{scores: []float32{1}})
	if _, err := (TextEnsemble{Members: short, Mode: EnsembleMean}).ScoreText(ps, ps); err == nil {
		t.Error("a member with too few scores: no error")
	}
	if _, err := (TextEnsemble{Mode: EnsembleMean}).ScoreText(ps, ps); err == nil {
		t.Error("no members: no error")
	}
}
