package feedback

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestCohenKappaTextbook(t *testing.T) {
	// 50 items, two raters, yes/no. Both yes 20, A yes B no 5, A no B yes 10,
	// both no 15.
	//   po = (20+15)/50 = 0.7
	//   A says yes 25/50 = 0.5, B says yes 30/50 = 0.6
	//   pe = 0.5*0.6 + 0.5*0.4 = 0.5
	//   kappa = (0.7-0.5)/(1-0.5) = 0.4
	var a, b []string
	add := func(n int, x, y string) {
		for range n {
			a, b = append(a, x), append(b, y)
		}
	}
	add(20, "yes", "yes")
	add(5, "yes", "no")
	add(10, "no", "yes")
	add(15, "no", "no")
	k, err := CohenKappa(a, b)
	if err != nil || !near(k, 0.4, 1e-12) {
		t.Errorf("kappa = %v, %v; want 0.4", k, err)
	}
	// Perfect agreement is 1; systematic disagreement is negative:
	// a = [0 1 0 1], b = [1 0 1 0]: po = 0, pe = 0.5*0.5*2 = 0.5, kappa = -1.
	if k, _ := CohenKappa([]int{0, 1, 0, 1}, []int{0, 1, 0, 1}); k != 1 {
		t.Errorf("perfect kappa = %v", k)
	}
	if k, _ := CohenKappa([]int{0, 1, 0, 1}, []int{1, 0, 1, 0}); !near(k, -1, 1e-12) {
		t.Errorf("opposite kappa = %v", k)
	}
	for name, c := range map[string][2][]int{"empty": {nil, nil}, "lengths": {{1}, {1, 2}}, "constant": {{1, 1}, {1, 1}}} {
		if _, err := CohenKappa(c[0], c[1]); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestKrippendorffAlphaByHand(t *testing.T) {
	// Three units, two coders: (a,a), (a,b), (b,b).
	// Coincidences, each pair weighted 1/(m_u-1) = 1:
	//   o_aa = 2, o_bb = 2, o_ab = o_ba = 1; n_a = n_b = 3, n = 6.
	//   alpha = 1 - (n-1) * (o_ab+o_ba) / (n_a*n_b + n_b*n_a) = 1 - 5*2/18 = 4/9.
	a, err := KrippendorffAlpha([][]string{{"a", "a"}, {"a", "b"}, {"b", "b"}})
	if err != nil || !near(a, 4.0/9, 1e-12) {
		t.Errorf("alpha = %v, %v; want 4/9", a, err)
	}
	// With two coders and no missing values, nominal alpha is close to kappa:
	// alpha = 1 - (n-1)/n * (1-po)/(1-pe') with pe' from the pooled marginals.
	// Here po = 2/3, pooled p_a = p_b = 1/2, so 1 - (5/6)(1/3)/(1/2) = 4/9 too.
}

func TestKrippendorffAlphaPublishedExample(t *testing.T) {
	// Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability":
	// four observers, twelve units, values 1..5, missing data; the nominal
	// alpha is 0.743. Unit 12 has one value and is not pairable.
	units := [][]int{
		{1, 1, 1}, {2, 2, 3, 2}, {3, 3, 3, 3}, {3, 3, 3, 3}, {2, 2, 2, 2}, {1, 2, 3, 4},
		{4, 4, 4, 4}, {1, 1, 2, 1}, {2, 2, 2, 2}, {5, 5, 5}, {1, 1}, {3},
	}
	a, err := KrippendorffAlpha(units)
	if err != nil || !near(a, 0.743, 0.0005) {
		t.Errorf("alpha = %v, %v; want 0.743", a, err)
	}
	if _, err := KrippendorffAlpha([][]int{{1, 1}, {1, 1, 1}}); err == nil {
		t.Error("a single value throughout gave no error")
	}
	if _, err := KrippendorffAlpha([][]int{{1}, {2}}); err == nil {
		t.Error("no pairable unit gave no error")
	}
}

func TestUnitsPairedAccuracy(t *testing.T) {
	labels := []Label{
		{QueryID: "q1", Labeler: "ann", Choice: 0},
		{QueryID: "q1", Labeler: "bob", Choice: 0},
		{QueryID: "q2", Labeler: "ann", Choice: 1},
		{QueryID: "q2", Labeler: "bob", Choice: 0},
		{QueryID: "q2", Labeler: "bob", Choice: 1}, // bob changes his mind: latest counts
		{QueryID: "q3", Labeler: "ann", Choice: Tie},
		{QueryID: "q3", Labeler: "bob", Choice: Skip}, // not an answer
		{QueryID: "q4", Labeler: "bob", Choice: 1},
		{QueryID: "q4", Labeler: "cy", Choice: 0},
	}
	units := Units(labels)
	want := [][]Choice{{0, 0}, {1, 1}, {Tie}, {1, 0}}
	if len(units) != len(want) {
		t.Fatalf("units %v", units)
	}
	for i := range want {
		if len(units[i]) != len(want[i]) {
			t.Fatalf("unit %d = %v, want %v", i, units[i], want[i])
		}
		for j := range want[i] {
			if units[i][j] != want[i][j] {
				t.Errorf("unit %d = %v, want %v", i, units[i], want[i])
			}
		}
	}
	a, b := Paired(labels, "ann", "bob")
	if len(a) != 2 || a[0] != 0 || b[0] != 0 || a[1] != 1 || b[1] != 1 {
		t.Errorf("paired ann/bob = %v %v", a, b)
	}
	acc, n := Accuracy(labels, map[string]Choice{"q1": 0, "q2": 0, "q3": Tie})
	// Counted: q1 ann ok, q1 bob ok, q2 ann wrong, q2 bob (0) ok, q2 bob (1) wrong,
	// q3 ann tie ok; the skip is not counted: 4 of 6.
	if n != 6 || !near(acc, 4.0/6, 1e-12) {
		t.Errorf("accuracy = %v over %d, want 4/6 over 6", acc, n)
	}
	if acc, n := Accuracy(labels, nil); acc != 0 || n != 0 {
		t.Errorf("accuracy without gold = %v, %d", acc, n)
	}
}
