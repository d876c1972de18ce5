package feedback

import (
	"errors"
	"fmt"
	"slices"
)

// CohenKappa returns Cohen's kappa for two raters who each coded the same
// items, a[i] and b[i] being their codes for item i:
//
//	kappa = (po - pe) / (1 - pe)
//
// where po is the share of items they agree on and pe = sum over codes c of
// pa(c)*pb(c) is the agreement expected by chance from their marginals. It is an
// error if the slices differ in length, are empty, or pe = 1 (both raters used
// one and the same code throughout, where kappa is undefined).
func CohenKappa[C comparable](a, b []C) (float64, error) {
	if len(a) != len(b) {
		return 0, fmt.Errorf("feedback: kappa: %d codes against %d", len(a), len(b))
	}
	if len(a) == 0 {
		return 0, errors.New("feedback: kappa: no items")
	}
	n := float64(len(a))
	ca, cb := map[C]float64{}, map[C]float64{}
	agree := 0.0
	for i := range a {
		ca[a[i]]++
		cb[b[i]]++
		if a[i] == b[i] {
			agree++
		}
	}
	po := agree / n
	pe := 0.0
	for c, k := range ca {
		pe += (k / n) * (cb[c] / n)
	}
	if pe >= 1 {
		return 0, errors.New("feedback: kappa: chance agreement is 1 (a single code throughout), kappa undefined")
	}
	return (po - pe) / (1 - pe), nil
}

// KrippendorffAlpha returns Krippendorff's alpha for nominal data. units[u]
// holds the values that the coders who coded unit u gave it (missing codes are
// simply absent, so units may have different lengths); units with fewer than
// two values cannot be paired and are ignored. With the coincidence matrix
// o[c][k] = sum over units of (number of ordered c-k value pairs in the unit) /
// (m_u - 1), n_c = sum_k o[c][k] and n = sum_c n_c,
//
//	alpha = 1 - (n - 1) * sum_{c != k} o[c][k] / sum_{c != k} n_c * n_k.
//
// It is an error if fewer than two values are pairable or only one value
// occurs (expected disagreement 0, alpha undefined).
func KrippendorffAlpha[C comparable](units [][]C) (float64, error) {
	type pair struct{ c, k C }
	o := map[pair]float64{}
	nc := map[C]float64{}
	n := 0.0
	for _, u := range units {
		m := len(u)
		if m < 2 {
			continue
		}
		count := map[C]float64{}
		for _, v := range u {
			count[v]++
		}
		w := 1 / float64(m-1)
		for c, x := range count {
			for k, y := range count {
				if c == k {
					o[pair{c, c}] += x * (x - 1) * w
				} else {
					o[pair{c, k}] += x * y * w
				}
			}
			nc[c] += x
		}
		n += float64(m)
	}
	if n < 2 {
		return 0, errors.New("feedback: alpha: fewer than two pairable values")
	}
	observed := 0.0
	for p, v := range o {
		if p.c != p.k {
			observed += v
		}
	}
	expected := 0.0
	for c, x := range nc {
		for k, y := range nc {
			if c != k {
				expected += x * y
			}
		}
	}
	if expected == 0 {
		return 0, errors.New("feedback: alpha: a single value throughout, alpha undefined")
	}
	return 1 - (n-1)*observed/expected, nil
}

// Units groups labels by query for [KrippendorffAlpha]: one unit per query id,
// in order of first appearance, holding each labeler's latest choice on it.
// Skips are not answers and are left out; CantTell and Tie count as values.
func Units(labels []Label) [][]Choice {
	type key struct{ q, who string }
	latest := map[key]int{}
	var queries []string
	seen := map[string]bool{}
	for i, l := range labels {
		if l.Choice == Skip {
			continue
		}
		latest[key{l.QueryID, l.Labeler}] = i
		if !seen[l.QueryID] {
			seen[l.QueryID] = true
			queries = append(queries, l.QueryID)
		}
	}
	byQuery := map[string][]int{}
	for k, i := range latest {
		byQuery[k.q] = append(byQuery[k.q], i)
	}
	units := make([][]Choice, 0, len(queries))
	for _, q := range queries {
		idx := byQuery[q]
		// Keep values in label order so the result is deterministic.
		slices.Sort(idx)
		u := make([]Choice, len(idx))
		for j, i := range idx {
			u[j] = labels[i].Choice
		}
		units = append(units, u)
	}
	return units
}

// Paired returns the choices of labelers a and b on the queries both answered
// (their latest answer, Skips left out), in order of a's labels: the input of
// [CohenKappa].
func Paired(labels []Label, a, b string) (ca, cb []Choice) {
	la, lb := map[string]Choice{}, map[string]Choice{}
	var order []string
	for _, l := range labels {
		if l.Choice == Skip {
			continue
		}
		switch l.Labeler {
		case a:
			if _, ok := la[l.QueryID]; !ok {
				order = append(order, l.QueryID)
			}
			la[l.QueryID] = l.Choice
		case b:
			lb[l.QueryID] = l.Choice
		}
	}
	for _, q := range order {
		if y, ok := lb[q]; ok {
			ca = append(ca, la[q])
			cb = append(cb, y)
		}
	}
	return ca, cb
}

// Accuracy compares labels with known answers (gold, by query id, e.g. from a
// synthetic oracle or gold queries placed among real ones). It counts the
// labels whose query has a gold answer and that are answers (not Skip or
// CantTell); a label is correct when its choice equals the gold one, so a tie
// matches only a gold tie. It returns the share correct and the count; the
// share is 0 when the count is 0.
func Accuracy(labels []Label, gold map[string]Choice) (acc float64, n int) {
	correct := 0
	for _, l := range labels {
		g, ok := gold[l.QueryID]
		if !ok || l.Choice == Skip || l.Choice == CantTell {
			continue
		}
		n++
		if l.Choice == g {
			correct++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return float64(correct) / float64(n), n
}
