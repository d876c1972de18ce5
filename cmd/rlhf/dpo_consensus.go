package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"rlhf/feedback"
)

// People's consensus in online DPO: with -overlap >= 2 every round fits the
// one-coin model of people's accuracy (feedback.EstimateConsensus) to
// their answers of all rounds so far and writes it to round<r>/people.json;
// with -aggregate vote each group trains once, on the consensus pick (its
// probability as the records' confidence, for -soft), instead of once per
// answer; with -people-error auto the judge's refit takes people's error
// rate from the fit on the earlier rounds.

// How a group's answers from several people train (-aggregate).
const (
	aggregateAll  = "all"  // every answer is its own preference
	aggregateVote = "vote" // one preference a group: the consensus pick
)

// peopleTallyFile is a round's people.json.
const peopleTallyFile = "people.json"

// peopleTally is a round's people.json: the one-coin fit over people's
// answers of rounds 1..Round and, with -aggregate vote, what the round
// trained on.
type peopleTally struct {
	Round      int                `json:"round"` // the fit covers rounds 1..Round
	Groups     int                `json:"groups"`
	Answers    int                `json:"answers"`
	Overlapped int                `json:"overlapped"` // answers on groups answered by >= 2 people
	Agreement  float64            `json:"agreement"`  // share of pairs of answers to a group that agree
	ErrorRate  float64            `json:"error_rate"` // 1 - pooled accuracy
	Accuracy   map[string]float64 `json:"accuracy"`   // each person's
	Iterations int                `json:"iterations"`
	// With -aggregate vote: the round's groups trained on their consensus,
	// and those left out because the vote was split.
	Aggregate string `json:"aggregate"`
	Voted     int    `json:"voted,omitempty"`
	Split     int    `json:"split,omitempty"`
}

// groupAnswers turns people's pair records into one answer per person and
// group, the items named by their distinct texts in sorted order (a k-way
// answer is k-1 records with the same chosen text; equal completions are
// one item). Groups with fewer than two distinct texts are left out, as
// are a person's records that do not name one chosen text; it returns the
// answers and each group's items.
func groupAnswers(recs []feedback.PairRecord) ([]feedback.Answer, map[string][]string) {
	type key struct{ group, labeler string }
	texts := map[string]map[string]bool{}
	chosen := map[key]map[string]bool{}
	prompt := map[string]string{}
	var order []key
	for _, r := range recs {
		if texts[r.QueryID] == nil {
			texts[r.QueryID] = map[string]bool{}
			prompt[r.QueryID] = r.Prompt
		}
		texts[r.QueryID][r.Chosen], texts[r.QueryID][r.Rejected] = true, true
		k := key{r.QueryID, r.Labeler}
		if chosen[k] == nil {
			chosen[k] = map[string]bool{}
			order = append(order, k)
		}
		chosen[k][r.Chosen] = true
	}
	items := map[string][]string{}
	for g, ts := range texts {
		items[g] = slices.Sorted(maps.Keys(ts))
	}
	var out []feedback.Answer
	for _, k := range order {
		if len(chosen[k]) != 1 || len(items[k.group]) < 2 || k.group == "" || k.labeler == "" {
			continue
		}
		var c string
		for c = range chosen[k] {
		}
		out = append(out, feedback.Answer{Group: k.group, Labeler: k.labeler, Pick: slices.Index(items[k.group], c), K: len(items[k.group])})
	}
	return out, items
}

// readRoundsPeople reads people's answers of rounds from..to of the online
// run in out (rounds people were not asked in have none).
func readRoundsPeople(out string, from, to int) ([]feedback.PairRecord, error) {
	var all []feedback.PairRecord
	for k := from; k <= to; k++ {
		recs, err := readPeople(filepath.Join(out, fmt.Sprintf("round%d", k), peoplePairsFile))
		if err != nil {
			return nil, err
		}
		all = append(all, recs...)
	}
	return all, nil
}

// peopleConsensus fits the one-coin model to people's answers of rounds
// 1..r (groups are told apart by query id, which names the round).
func peopleConsensus(out string, r int) (*feedback.Consensus, error) {
	recs, err := readRoundsPeople(out, 1, r)
	if err != nil {
		return nil, err
	}
	answers, _ := groupAnswers(recs)
	return feedback.EstimateConsensus(answers, feedback.ConsensusOptions{})
}

// consensusRound fits people's consensus after round r's answers (people:
// the round's records), reports it to w and writes dir/people.json; with
// -aggregate vote it returns the records the round trains on instead of
// people's own: for every group the consensus pick against each other
// item, with its probability as the confidence. A round in which no group
// had two answers (all left to the judge) keeps people's records.
func consensusRound(out, dir string, r int, people []feedback.PairRecord, aggregate string, w io.Writer) ([]feedback.PairRecord, error) {
	c, err := peopleConsensus(out, r)
	if errors.Is(err, feedback.ErrNoOverlap) {
		fmt.Fprintf(w, "dpo: people: no group of rounds 1-%d has two answers yet; their accuracy is not estimated\n", r)
		return people, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dpo: people's consensus: %w", err)
	}
	t := peopleTally{Round: r, Groups: c.Groups, Answers: c.Answers, Overlapped: c.Overlapped, Agreement: c.Agreement,
		ErrorRate: c.ErrorRate(), Accuracy: c.Accuracy, Iterations: c.Iterations, Aggregate: aggregate}
	names := slices.Sorted(maps.Keys(c.Accuracy))
	var each []string
	for _, n := range names {
		each = append(each, n+" "+strconv.FormatFloat(c.Accuracy[n], 'f', 3, 64))
	}
	fmt.Fprintf(w, "dpo: people: rounds 1-%d, %d answers on %d groups, %d of them on groups answered by two or more; pairs of answers agree %.1f%%; one-coin fit: error rate %.3f (accuracy: %s)\n",
		r, c.Answers, c.Groups, c.Overlapped, 100*c.Agreement, c.ErrorRate(), strings.Join(each, ", "))
	if aggregate == "" {
		t.Aggregate = aggregateAll
	}
	train := people
	if aggregate == aggregateVote {
		train = nil
		answers, items := groupAnswers(people)
		var groups []string
		first := map[string]feedback.PairRecord{}
		for _, rec := range people {
			if _, ok := first[rec.QueryID]; !ok {
				first[rec.QueryID] = rec
				groups = append(groups, rec.QueryID)
			}
		}
		answered := map[string]bool{}
		for _, a := range answers {
			answered[a.Group] = true
		}
		for _, g := range groups {
			if !answered[g] {
				continue
			}
			pick, p, ok := c.Decide(g)
			if !ok {
				t.Split++
				continue
			}
			t.Voted++
			prov := first[g].Provenance
			prov.Labeler, prov.Confidence = "consensus", &p
			for i, text := range items[g] {
				if i != pick {
					train = append(train, feedback.PairRecord{Prompt: first[g].Prompt, Chosen: items[g][pick], Rejected: text, Provenance: prov})
				}
			}
		}
		fmt.Fprintf(w, "dpo: -aggregate vote: the round trains once on each of %d groups' consensus (%d pairs); %d split groups train nothing\n", t.Voted, len(train), t.Split)
	}
	js, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("dpo: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, peopleTallyFile), append(js, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("dpo: %w", err)
	}
	return train, nil
}

// estimatedPeopleError is people's error rate for the judge's refit before
// round r (-people-error auto): the one-coin fit on rounds 1..r-1.
func estimatedPeopleError(out string, r int) (float64, error) {
	c, err := peopleConsensus(out, r-1)
	if err != nil {
		return 0, fmt.Errorf("dpo: -people-error auto: %w", err)
	}
	return c.ErrorRate(), nil
}

// peopleErrorFlag is -people-error: a rate in [0, 0.5) or "auto".
type peopleErrorFlag struct{ j *judgeSpec }

func (f peopleErrorFlag) String() string {
	switch {
	case f.j == nil:
		return "0"
	case f.j.PeopleErrorAuto:
		return "auto"
	}
	return strconv.FormatFloat(f.j.PeopleError, 'g', -1, 64)
}

func (f peopleErrorFlag) Set(s string) error {
	if s == "auto" {
		f.j.PeopleError, f.j.PeopleErrorAuto = 0, true
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return errors.New(`want a rate in [0, 0.5) or "auto"`)
	}
	f.j.PeopleError, f.j.PeopleErrorAuto = v, false
	return nil
}
