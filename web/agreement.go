package web

import (
	"math"
	"sort"
	"strconv"

	"rlhf/feedback"
	"rlhf/store"
)

// CohenKappa returns Cohen's kappa for two raters' paired nominal ratings
// (feedback.CohenKappa), or NaN where it is undefined: no items, or chance
// agreement 1 (both raters used one category).
func CohenKappa(a, b []int) float64 {
	k, err := feedback.CohenKappa(a, b)
	if err != nil {
		return math.NaN()
	}
	return k
}

// KrippendorffAlpha returns Krippendorff's alpha for nominal data
// (feedback.KrippendorffAlpha): units holds each item's values from its raters;
// units with fewer than two values are ignored. NaN when there is no pairable
// unit or only one category occurs.
func KrippendorffAlpha(units [][]int) float64 {
	a, err := feedback.KrippendorffAlpha(units)
	if err != nil {
		return math.NaN()
	}
	return a
}

// ratable reports whether a label takes part in agreement statistics: picks
// and ties do; can't-tell and skip are missing data.
func ratable(c feedback.Choice) bool { return c.IsIndex() || c == feedback.Tie }

// labelerAgreement is one labeler's row on the admin page.
type labelerAgreement struct {
	Pairs     int     // labels of theirs that share a query with another labeler's
	WithOther float64 // fraction of those pairs that agree (NaN if none)
	Gold      int     // labels of theirs on gold queries
	GoldAcc   float64 // fraction matching the known answer (NaN if none)
	Kappa     float64 // mean Cohen's kappa against each other labeler with >= minKappaItems shared items
	// Estimated is their accuracy under the one-coin model fitted to
	// everyone's picks (oneCoin), from agreement alone; NaN without one.
	Estimated float64
}

// pairKappa is Cohen's kappa between two labelers.
type pairKappa struct {
	A, B  string
	Items int
	Kappa float64
}

// minKappaItems is the fewest shared items for which a pairwise kappa is shown.
const minKappaItems = 5

// agreementStats computes per-labeler agreement, pairwise kappas and the
// overall Krippendorff's alpha from labels and the queries' gold answers.
func agreementStats(labels []store.Label, gold map[int64]feedback.Choice, names map[int64]string) (map[int64]*labelerAgreement, []pairKappa, float64) {
	byQuery := map[int64][]store.Label{}
	per := map[int64]*labelerAgreement{}
	agreeN := map[int64]int{}
	goldOK := map[int64]int{}
	for _, l := range labels {
		if !ratable(l.Choice) {
			continue
		}
		byQuery[l.QueryID] = append(byQuery[l.QueryID], l)
		if per[l.LabelerID] == nil {
			per[l.LabelerID] = &labelerAgreement{}
		}
		if g, ok := gold[l.QueryID]; ok {
			per[l.LabelerID].Gold++
			if g == l.Choice {
				goldOK[l.LabelerID]++
			}
		}
	}
	type pair struct{ a, b int64 }
	paired := map[pair][2][]int{}
	var units [][]int
	for _, ls := range byQuery {
		if len(ls) < 2 {
			continue
		}
		u := make([]int, len(ls))
		for i, l := range ls {
			u[i] = int(l.Choice)
			for j, m := range ls {
				if i == j {
					continue
				}
				per[l.LabelerID].Pairs++
				if l.Choice == m.Choice {
					agreeN[l.LabelerID]++
				}
				if l.LabelerID < m.LabelerID {
					p := pair{l.LabelerID, m.LabelerID}
					v := paired[p]
					v[0], v[1] = append(v[0], int(l.Choice)), append(v[1], int(m.Choice))
					paired[p] = v
				}
			}
		}
		units = append(units, u)
	}
	var kappas []pairKappa
	kSum, kN := map[int64]float64{}, map[int64]int{}
	for p, v := range paired {
		if len(v[0]) < minKappaItems {
			continue
		}
		k := CohenKappa(v[0], v[1])
		kappas = append(kappas, pairKappa{A: names[p.a], B: names[p.b], Items: len(v[0]), Kappa: k})
		if !math.IsNaN(k) {
			kSum[p.a], kSum[p.b] = kSum[p.a]+k, kSum[p.b]+k
			kN[p.a], kN[p.b] = kN[p.a]+1, kN[p.b]+1
		}
	}
	sort.Slice(kappas, func(i, j int) bool {
		if kappas[i].Items != kappas[j].Items {
			return kappas[i].Items > kappas[j].Items
		}
		return kappas[i].A+"\x00"+kappas[i].B < kappas[j].A+"\x00"+kappas[j].B
	})
	for id, a := range per {
		a.WithOther, a.GoldAcc, a.Kappa = ratio(agreeN[id], a.Pairs), ratio(goldOK[id], a.Gold), math.NaN()
		if kN[id] > 0 {
			a.Kappa = kSum[id] / float64(kN[id])
		}
	}
	return per, kappas, KrippendorffAlpha(units)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// oneCoin fits the one-coin model of labelers' accuracy
// (feedback.EstimateConsensus) to the picks among labels (ties, can't-tell
// and skips left out; a labeler's latest pick on a query counts) on queries
// whose arity is known. It returns each labeler's estimated accuracy and
// labelers' pooled error rate; nil and NaN where no query has picks from two
// labelers. Picks beyond a query's arity are left out.
func oneCoin(labels []store.Label, arity map[int64]int) (map[int64]float64, float64) {
	type key struct{ q, l int64 }
	latest := map[key]int{}
	var order []key
	for i, l := range labels {
		if !l.Choice.IsIndex() || int(l.Choice) >= arity[l.QueryID] {
			continue
		}
		k := key{l.QueryID, l.LabelerID}
		if _, ok := latest[k]; !ok {
			order = append(order, k)
		}
		latest[k] = i
	}
	answers := make([]feedback.Answer, 0, len(order))
	for _, k := range order {
		l := labels[latest[k]]
		answers = append(answers, feedback.Answer{Group: strconv.FormatInt(k.q, 10), Labeler: strconv.FormatInt(k.l, 10),
			Pick: int(l.Choice), K: arity[k.q]})
	}
	c, err := feedback.EstimateConsensus(answers, feedback.ConsensusOptions{})
	if err != nil {
		return nil, math.NaN()
	}
	acc := map[int64]float64{}
	for id, a := range c.Accuracy {
		n, _ := strconv.ParseInt(id, 10, 64)
		acc[n] = a
	}
	return acc, c.ErrorRate()
}
