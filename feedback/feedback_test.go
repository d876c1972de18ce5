package feedback

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestChoiceJSON(t *testing.T) {
	for _, c := range []Choice{0, 1, 3, Tie, CantTell, Skip} {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal %v: %v", c, err)
		}
		var got Choice
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if got != c {
			t.Errorf("round trip %v -> %s -> %v", c, b, got)
		}
	}
	if b, _ := json.Marshal(Tie); string(b) != `"tie"` {
		t.Errorf("Tie marshals as %s, want \"tie\"", b)
	}
	if b, _ := json.Marshal(Choice(2)); string(b) != `2` {
		t.Errorf("2 marshals as %s", b)
	}
	if _, err := json.Marshal(Choice(-7)); err == nil {
		t.Error("marshal of undefined choice -7 succeeded")
	}
	for _, bad := range []string{`"1"`, `"left"`, `-1`, `99`, `1.5`, `"nope"`, `null`, `true`} {
		var c Choice
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("unmarshal %s gave %v, want an error", bad, c)
		}
	}
}

func TestChoiceValidFor(t *testing.T) {
	cases := []struct {
		c    Choice
		k    int
		want bool
	}{{0, 2, true}, {1, 2, true}, {2, 2, false}, {3, 4, true}, {Tie, 2, true}, {Skip, 4, true}, {-4, 2, false}}
	for _, tc := range cases {
		if got := tc.c.ValidFor(tc.k); got != tc.want {
			t.Errorf("Choice(%d).ValidFor(%d) = %v, want %v", tc.c, tc.k, got, tc.want)
		}
	}
}

func TestTargets(t *testing.T) {
	cases := []struct {
		c    Choice
		p    float64
		ok   bool
		name string
	}{{0, 1, true, "first"}, {1, 0, true, "second"}, {Tie, 0.5, true, "tie"}, {CantTell, 0, false, "cant tell"}, {Skip, 0, false, "skip"}, {2, 0, false, "index 2"}}
	for _, tc := range cases {
		p, ok := Target(tc.c)
		if p != tc.p || ok != tc.ok {
			t.Errorf("%s: Target = %v, %v; want %v, %v", tc.name, p, ok, tc.p, tc.ok)
		}
	}
	st, ok := SoftTarget(2, 4)
	if !ok || len(st) != 4 || st[2] != 1 || st[0]+st[1]+st[3] != 0 {
		t.Errorf("SoftTarget(2, 4) = %v, %v", st, ok)
	}
	st, ok = SoftTarget(Tie, 4)
	if !ok || st[0] != 0.25 || st[3] != 0.25 {
		t.Errorf("SoftTarget(Tie, 4) = %v, %v", st, ok)
	}
	for _, c := range []Choice{CantTell, Skip, 4} {
		if st, ok := SoftTarget(c, 4); ok {
			t.Errorf("SoftTarget(%v, 4) = %v, want none", c, st)
		}
	}
	// For two items SoftTarget and Target agree: SoftTarget[0] is p.
	for _, c := range []Choice{0, 1, Tie} {
		st, _ := SoftTarget(c, 2)
		p, _ := Target(c)
		if st[0] != p || st[1] != 1-p {
			t.Errorf("SoftTarget(%v, 2) = %v but Target = %v", c, st, p)
		}
	}
}

func TestQueryValidate(t *testing.T) {
	good := []Query{
		TextQuery("q1", "Hello", "a", "b"),
		TextQuery("q2", "Hello", "a", "b", "c", "d"),
		ControlQuery("q3", Segment{Return: 1}, Segment{Return: 2}),
	}
	for _, q := range good {
		if err := q.Validate(); err != nil {
			t.Errorf("Validate(%s): %v", q.ID, err)
		}
	}
	mixed := TextQuery("q4", "p", "a", "b")
	mixed.Items[1].Segment = &Segment{}
	noseg := ControlQuery("q5", Segment{}, Segment{})
	noseg.Items[0].Segment = nil
	odd := TextQuery("q6", "p", "a", "b")
	odd.Kind = "audio"
	bad := map[string]Query{
		"no id":        TextQuery("", "p", "a", "b"),
		"one item":     TextQuery("q", "p", "a"),
		"17 items":     TextQuery("q", "p", make([]string, 17)...),
		"mixed":        mixed,
		"no segment":   noseg,
		"unknown kind": odd,
	}
	for name, q := range bad {
		if err := q.Validate(); err == nil {
			t.Errorf("%s: Validate succeeded", name)
		} else if !strings.HasPrefix(err.Error(), "feedback: ") {
			t.Errorf("%s: error %q lacks the package prefix", name, err)
		}
	}
}

func TestLabelCheck(t *testing.T) {
	half, over := 0.5, 1.5
	if err := (&Label{QueryID: "q", Choice: 1, Confidence: &half}).Check(2); err != nil {
		t.Error(err)
	}
	if err := (&Label{QueryID: "q", Choice: 2}).Check(2); err == nil {
		t.Error("choice 2 of 2 accepted")
	}
	if err := (&Label{QueryID: "q", Choice: 0, Confidence: &over}).Check(2); err == nil {
		t.Error("confidence 1.5 accepted")
	}
}

func TestLabelJSON(t *testing.T) {
	conf := 0.8
	l := Label{QueryID: "q7", Choice: Tie, Confidence: &conf, Note: "both fall", Labeler: "ann", Source: SourceHuman, Duration: 1500e6}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"query_id":"q7","choice":"tie","confidence":0.8,"note":"both fall","labeler":"ann","source":"human","duration":1500000000}`
	if string(b) != want {
		t.Errorf("label JSON\n got %s\nwant %s", b, want)
	}
}
