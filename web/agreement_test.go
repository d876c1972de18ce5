package web

import (
	"math"
	"testing"

	"rlhf/feedback"
	"rlhf/store"
)

// cohenExample is the textbook 2x2 table: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no.
func cohenExample() (a, b []int) {
	add := func(n, x, y int) {
		for i := 0; i < n; i++ {
			a, b = append(a, x), append(b, y)
		}
	}
	add(20, 1, 1)
	add(5, 1, 0)
	add(10, 0, 1)
	add(15, 0, 0)
	return a, b
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestCohenKappa(t *testing.T) {
	a, b := cohenExample()
	// p_o = 0.7, p_e = 0.5*0.6 + 0.5*0.4 = 0.5, kappa = 0.4.
	if k := CohenKappa(a, b); !near(k, 0.4) {
		t.Errorf("kappa = %v, want 0.4", k)
	}
	if k := CohenKappa([]int{0, 1, 2}, []int{0, 1, 2}); !near(k, 1) {
		t.Errorf("perfect agreement kappa = %v", k)
	}
	if k := CohenKappa([]int{0, 1, 0, 1}, []int{1, 0, 1, 0}); !near(k, -1) {
		t.Errorf("perfect disagreement kappa = %v", k)
	}
	if k := CohenKappa([]int{1, 1}, []int{1, 1}); !math.IsNaN(k) {
		t.Errorf("one category kappa = %v, want NaN", k)
	}
	if k := CohenKappa(nil, nil); !math.IsNaN(k) {
		t.Errorf("empty kappa = %v", k)
	}
}

func TestKrippendorffAlpha(t *testing.T) {
	a, b := cohenExample()
	units := make([][]int, len(a))
	for i := range a {
		units[i] = []int{a[i], b[i]}
	}
	// 100 values (55 ones, 45 zeros), 15 disagreeing units:
	// alpha = 1 - 99 * 30 / (2 * 55 * 45) = 0.4.
	if al := KrippendorffAlpha(units); !near(al, 0.4) {
		t.Errorf("alpha = %v, want 0.4", al)
	}
	// Missing data: single-value units are ignored, three raters allowed.
	units = [][]int{{0, 0, 0}, {1, 1}, {2}, {1, 1, 1}}
	if al := KrippendorffAlpha(units); !near(al, 1) {
		t.Errorf("perfect alpha = %v", al)
	}
	// A hand-computed three-rater case: units {0,0,1} and {1,1,1} and {0,0}.
	// o_00 = 2/2 + 2 = 3, o_01 = o_10 = 2/2 = 1, o_11 = 6/2 = 3; n_0 = 4, n_1 = 4, n = 8.
	// alpha = 1 - 7 * 2 / (2*4*4) = 0.5625.
	if al := KrippendorffAlpha([][]int{{0, 0, 1}, {1, 1, 1}, {0, 0}}); !near(al, 0.5625) {
		t.Errorf("alpha = %v, want 0.5625", al)
	}
	if al := KrippendorffAlpha([][]int{{1}, {2}}); !math.IsNaN(al) {
		t.Errorf("unpairable alpha = %v, want NaN", al)
	}
}

func TestAgreementStats(t *testing.T) {
	var labels []store.Label
	add := func(q, who int64, c feedback.Choice) {
		labels = append(labels, store.Label{QueryID: q, LabelerID: who, Choice: c})
	}
	// ann and bob agree on 5 of 6 shared queries; cat only skips.
	for q := int64(1); q <= 6; q++ {
		add(q, 1, 0)
		if q == 6 {
			add(q, 2, 1)
		} else {
			add(q, 2, 0)
		}
		add(q, 3, feedback.Skip)
	}
	add(7, 1, 1) // a gold query ann gets right
	add(8, 2, 0) // a gold query bob gets wrong
	gold := map[int64]feedback.Choice{7: 1, 8: 1}
	per, kappas, alpha := agreementStats(labels, gold, map[int64]string{1: "ann", 2: "bob", 3: "cat"})
	if per[1].Pairs != 6 || !near(per[1].WithOther, 5.0/6) || per[1].Gold != 1 || !near(per[1].GoldAcc, 1) {
		t.Errorf("ann = %+v", *per[1])
	}
	if per[2].Gold != 1 || !near(per[2].GoldAcc, 0) {
		t.Errorf("bob = %+v", *per[2])
	}
	if per[3] != nil {
		t.Errorf("cat only skipped but has stats %+v", *per[3])
	}
	if len(kappas) != 1 || kappas[0].A != "ann" || kappas[0].B != "bob" || kappas[0].Items != 6 {
		t.Fatalf("kappas = %+v", kappas)
	}
	// ann always 0 -> chance agreement p_e = 1*(5/6); kappa = (5/6 - 5/6)/(1 - 5/6) = 0.
	if !near(kappas[0].Kappa, 0) {
		t.Errorf("kappa = %v, want 0", kappas[0].Kappa)
	}
	if math.IsNaN(alpha) || alpha >= 0.5 {
		t.Errorf("alpha = %v, want a low defined value", alpha)
	}
}

// oneCoin estimates each labeler's accuracy from agreement alone: ann and
// bob pick item 0 of every three-way query, cat item 0 on even queries and
// item 2 on odd ones; her first pick on a query she labels twice, a tie, a
// pick beyond the arity and a query of unknown arity are left out.
func TestOneCoin(t *testing.T) {
	var labels []store.Label
	arity := map[int64]int{}
	add := func(q, who int64, c feedback.Choice) {
		labels = append(labels, store.Label{QueryID: q, LabelerID: who, Choice: c})
	}
	for q := int64(1); q <= 40; q++ {
		arity[q] = 3
		add(q, 1, 0)
		add(q, 2, 0)
		if q == 2 {
			add(q, 3, 1) // replaced by her later pick below
		}
		if q%2 == 1 {
			add(q, 3, 2)
		} else {
			add(q, 3, 0)
		}
	}
	add(41, 3, feedback.Tie)
	add(42, 3, 5)
	arity[42] = 3
	add(43, 3, 1) // no arity known
	acc, errRate := oneCoin(labels, arity)
	if len(acc) != 3 || !(acc[3] < acc[1]-0.2) || acc[1] != acc[2] || !(acc[1] > 0.9) {
		t.Errorf("accuracies %v", acc)
	}
	// 120 picks, 20 of cat's wrong: about 1/6, a little above as the
	// shrinkage pulls ann and bob toward everyone's accuracy.
	if !(errRate > 0.15 && errRate < 0.25) {
		t.Errorf("error rate %v, want about 1/6", errRate)
	}
	if acc, e := oneCoin(labels[:1], arity); acc != nil || !math.IsNaN(e) {
		t.Errorf("one pick: %v, %v; want nil and NaN", acc, e)
	}
}
