package loop

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"rlhf/feedback"
	"rlhf/judge"
)

// scoringJudge scores query i's items (i, 0) and leaves every third query
// (i%3 == 0) to people; extra labels are returned when set.
type scoringJudge struct{ extra bool }

func (j scoringJudge) LabelScored(ctx context.Context, qs []feedback.Query) ([]feedback.Label, [][]float64, error) {
	var ls []feedback.Label
	var ss [][]float64
	for _, q := range qs {
		var i int
		fmt.Sscanf(q.ID, "q-%d", &i)
		c := feedback.Choice(0)
		if i%3 == 0 {
			c = feedback.CantTell
		}
		ls, ss = append(ls, feedback.Label{QueryID: q.ID, Choice: c}), append(ss, []float64{float64(i), 0})
	}
	if j.extra {
		ls = append(ls, feedback.Label{})
	}
	return ls, ss, nil
}

func (j scoringJudge) LabelBatch(ctx context.Context, qs []feedback.Query) ([]feedback.Label, error) {
	ls, _, err := j.LabelScored(ctx, qs)
	return ls, err
}

func (j scoringJudge) Label(ctx context.Context, q feedback.Query) (feedback.Label, error) {
	ls, err := j.LabelBatch(ctx, []feedback.Query{q})
	return ls[0], err
}

// batchOnly hides LabelScored: a judge that gives no scores.
type batchOnly struct{ feedback.BatchLabeler }

func TestJudgeFirstAudit(t *testing.T) {
	var qs []feedback.Query
	for i := range 600 { // more than one batch of 256
		qs = append(qs, feedback.TextQuery(fmt.Sprint("q-", i), "p", " a", " b"))
	}
	ids := func(qs []feedback.Query) []string {
		var out []string
		for _, q := range qs {
			out = append(out, q.ID)
		}
		return out
	}
	for _, audit := range []float64{0, 0.3, 1} {
		j, err := JudgeFirst(context.Background(), scoringJudge{}, qs, audit, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var wantAsk []string
		audited := 0
		for i, q := range qs {
			answered := i%3 != 0
			aud := answered && judge.Audited(q.ID, audit)
			if !answered || aud {
				wantAsk = append(wantAsk, q.ID)
			}
			if aud {
				audited++
			}
			if j.Kept(i) != (answered && !aud) || j.Audited[q.ID] != aud {
				t.Errorf("audit %v: query %d kept %v audited %v", audit, i, j.Kept(i), j.Audited[q.ID])
			}
			if j.Scores[i][0] != float64(i) || j.Labels[i].QueryID != q.ID {
				t.Fatalf("audit %v: query %d has scores %v, label of %q", audit, i, j.Scores[i], j.Labels[i].QueryID)
			}
		}
		if got := ids(j.Ask); !slices.Equal(got, wantAsk) || len(j.Audited) != audited || j.Answered() != 400 {
			t.Errorf("audit %v: asked %d (want %d), audited %d (want %d), answered %d", audit, len(got), len(wantAsk), len(j.Audited), audited, j.Answered())
		}
		switch {
		case audit == 0 && audited != 0, audit == 1 && audited != 400, audit == 0.3 && (audited < 90 || audited > 150):
			t.Errorf("audit %v audited %d of 400 answers", audit, audited)
		}
	}
	j, err := JudgeFirst(context.Background(), batchOnly{scoringJudge{}}, qs, 0.3, io.Discard)
	if err != nil || j.Scores != nil || len(j.Labels) != len(qs) {
		t.Errorf("a judge without scores: %v, %d score rows, %d labels", err, len(j.Scores), len(j.Labels))
	}
	if _, err := JudgeFirst(context.Background(), scoringJudge{extra: true}, qs, 0, io.Discard); err == nil || !strings.Contains(err.Error(), "labels") {
		t.Errorf("a judge with a label too many: %v", err)
	}
}

func TestAuditCounts(t *testing.T) {
	var a Audit
	a.Queries = 3
	judged := feedback.Label{Choice: 1}
	for _, c := range []feedback.Choice{1, 0, 1, feedback.Tie, feedback.CantTell, feedback.Skip} {
		a.Add(judged, feedback.Label{Choice: c})
	}
	if a.Answers != 3 || a.Agree != 2 {
		t.Errorf("%+v, want 3 answers, 2 agreeing", a)
	}
	if got, want := a.String(), "people agreed with the judge on 2 of 3 answers to 3 audited queries (67%)"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
