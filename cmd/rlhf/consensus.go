package main

import (
	"cmp"
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

// People's consensus. Offline, rlhf rm and rlhf dpo -aggregate vote train
// the records of several people that share a query id once, on the pick of
// the one-coin model of people's accuracy (feedback.EstimateConsensus),
// its probability as the record's confidence (for -soft). In online DPO
// with -overlap >= 2 every round fits the model to people's answers of all
// rounds so far and writes it to round<r>/people.json; -aggregate vote
// trains each group once, on the consensus, instead of once per answer;
// with -people-error auto the judge's refit takes people's error rate from
// the fit on the earlier rounds.

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

// answerRec is one person's answer to one group as a preference record
// gives it: the chosen text among (some of) the group's texts.
type answerRec struct {
	group, labeler, prompt, chosen string
	texts                          []string
}

// pairAnswer is the answerRec of a pair record.
func pairAnswer(r feedback.PairRecord) answerRec {
	return answerRec{r.QueryID, r.Labeler, r.Prompt, r.Chosen, []string{r.Chosen, r.Rejected}}
}

// groupAnswers turns preference records into one answer per person and
// group, the items named by their distinct texts in sorted order (a k-way
// answer may come as k-1 pair records with the same chosen text; equal
// completions are one item). Groups with fewer than two distinct texts are
// left out, as are a person's records that do not name one chosen text
// and records without a group or a labeler; it returns the answers and
// each group's items.
func groupAnswers(recs []answerRec) ([]feedback.Answer, map[string][]string) {
	type key struct{ group, labeler string }
	texts := map[string]map[string]bool{}
	chosen := map[key]map[string]bool{}
	var order []key
	for _, r := range recs {
		if r.group == "" || r.labeler == "" {
			continue
		}
		if texts[r.group] == nil {
			texts[r.group] = map[string]bool{}
		}
		for _, t := range r.texts {
			texts[r.group][t] = true
		}
		k := key{r.group, r.labeler}
		if chosen[k] == nil {
			chosen[k] = map[string]bool{}
			order = append(order, k)
		}
		chosen[k][r.chosen] = true
	}
	items := map[string][]string{}
	for g, ts := range texts {
		items[g] = slices.Sorted(maps.Keys(ts))
	}
	var out []feedback.Answer
	for _, k := range order {
		if len(chosen[k]) != 1 || len(items[k.group]) < 2 {
			continue
		}
		var c string
		for c = range chosen[k] {
		}
		out = append(out, feedback.Answer{Group: k.group, Labeler: k.labeler, Pick: slices.Index(items[k.group], c), K: len(items[k.group])})
	}
	return out, items
}

// fitAnswers fits the one-coin model to the answers recs give
// (groupAnswers) and returns the fit with each group's items.
func fitAnswers(recs []answerRec) (*feedback.Consensus, map[string][]string, error) {
	answers, items := groupAnswers(recs)
	c, err := feedback.EstimateConsensus(answers, feedback.ConsensusOptions{})
	return c, items, err
}

// groupVote is the consensus of one group: the index of its first record,
// its items, the pick and the pick's probability.
type groupVote struct {
	first int
	items []string
	pick  int
	p     float64
}

// voteGroups returns the consensus c gives each group of recs, in the
// order of the groups' first records, with how many groups were split and
// how many had no usable answer (not in the fit); records without a group
// or labeler are passed over. items are the groups' items (fitAnswers).
func voteGroups(recs []answerRec, c *feedback.Consensus, items map[string][]string) (votes []groupVote, split, unanswered int) {
	seen := map[string]bool{}
	for i, r := range recs {
		if r.group == "" || r.labeler == "" || seen[r.group] {
			continue
		}
		seen[r.group] = true
		if _, ok := c.Posterior[r.group]; !ok {
			unanswered++
			continue
		}
		pick, p, ok := c.Decide(r.group)
		if !ok {
			split++
			continue
		}
		votes = append(votes, groupVote{first: i, items: items[r.group], pick: pick, p: p})
	}
	return votes, split, unanswered
}

// describeConsensus is the one-line account of a fit: how much overlap,
// how often people agree, their error rate and (up to eight, the least
// accurate first) each person's accuracy.
func describeConsensus(c *feedback.Consensus) string {
	names := slices.Sorted(maps.Keys(c.Accuracy))
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(c.Accuracy[a], c.Accuracy[b]) })
	more := ""
	if len(names) > 8 {
		names, more = names[:8], fmt.Sprintf(", %d more", len(names)-8)
	}
	var each []string
	for _, n := range names {
		each = append(each, n+" "+strconv.FormatFloat(c.Accuracy[n], 'f', 3, 64))
	}
	return fmt.Sprintf("%d answers on %d groups, %d of them on groups answered by two or more; pairs of answers agree %.1f%%; one-coin fit: error rate %.3f (accuracy: %s%s)",
		c.Answers, c.Groups, c.Overlapped, 100*c.Agreement, c.ErrorRate(), strings.Join(each, ", "), more)
}

// voteComparisons combines the records of cs that share a query id (from
// different labelers) into one consensus answer per group
// (feedback.EstimateConsensus): a best-of-k record of the group's distinct
// completions, or with format "pairs" the consensus pick against each
// other one, either with the pick's probability as its confidence.
// Records without a query id or labeler are kept as they are; groups whose
// vote is split or whose records give no answer are left out. It reports
// the fit to w, each line starting with cmd.
func voteComparisons(cs []textComparison, format, cmd string, w io.Writer) ([]textComparison, error) {
	recs := make([]answerRec, 0, len(cs))
	for _, c := range cs {
		recs = append(recs, answerRec{c.QueryID, c.Labeler, c.Prompt, c.Completions[c.Choice], c.Completions})
	}
	con, items, err := fitAnswers(recs)
	if err != nil {
		return nil, err
	}
	votes, split, unanswered := voteGroups(recs, con, items)
	at := make(map[int]groupVote, len(votes))
	for _, v := range votes {
		at[v.first] = v
	}
	var out []textComparison
	kept := 0
	for i, c := range cs {
		if c.QueryID == "" || c.Labeler == "" {
			out = append(out, c)
			kept++
			continue
		}
		v, ok := at[i]
		if !ok {
			continue
		}
		one := textComparison{Prompt: c.Prompt, Completions: v.items, Choice: v.pick, Confidence: &v.p, QueryID: c.QueryID, Labeler: "consensus"}
		if format == "bestof" {
			out = append(out, one)
			continue
		}
		for j, t := range v.items {
			if j != v.pick {
				one.Completions, one.Choice = []string{v.items[v.pick], t}, 0
				out = append(out, one)
			}
		}
	}
	fmt.Fprintf(w, "%s: -aggregate vote: %s\n", cmd, describeConsensus(con))
	fmt.Fprintf(w, "%s: -aggregate vote: trains on the consensus of %d groups (%d %s records, each with its probability as the confidence); %d split groups and %d without a usable answer left out; %d records without a query id or labeler kept as they are\n",
		cmd, len(votes), len(out)-kept, format, split, unanswered, kept)
	return out, nil
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
// 1..upTo of the online run in out and the records more (groups are told
// apart by query id, which names the round), in one order whatever order
// the answers arrived in; it returns the fit with each group's items.
func peopleConsensus(out string, upTo int, more []feedback.PairRecord) (*feedback.Consensus, map[string][]string, error) {
	recs, err := readRoundsPeople(out, 1, upTo)
	if err != nil {
		return nil, nil, err
	}
	ars := make([]answerRec, 0, len(recs)+len(more))
	for _, r := range append(recs, more...) {
		ars = append(ars, pairAnswer(r))
	}
	slices.SortStableFunc(ars, func(a, b answerRec) int {
		return cmp.Or(cmp.Compare(a.group, b.group), cmp.Compare(a.labeler, b.labeler))
	})
	return fitAnswers(ars)
}

// consensusRound fits people's consensus after round r's answers (people:
// the round's records), reports it to w and writes dir/people.json; with
// -aggregate vote it returns the records the round trains on instead of
// people's own: for every group the consensus pick against each other
// item, with its probability as the confidence. A round in which no group
// had two answers (all left to the judge) keeps people's records.
func consensusRound(out, dir string, r int, people []feedback.PairRecord, aggregate string, w io.Writer) ([]feedback.PairRecord, error) {
	c, items, err := peopleConsensus(out, r-1, people)
	if errors.Is(err, feedback.ErrNoOverlap) {
		fmt.Fprintf(w, "dpo: people: no group of rounds 1-%d has two answers yet; their accuracy is not estimated\n", r)
		return people, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dpo: people's consensus: %w", err)
	}
	t := peopleTally{Round: r, Groups: c.Groups, Answers: c.Answers, Overlapped: c.Overlapped, Agreement: c.Agreement,
		ErrorRate: c.ErrorRate(), Accuracy: c.Accuracy, Iterations: c.Iterations, Aggregate: aggregate}
	fmt.Fprintf(w, "dpo: people: rounds 1-%d, %s\n", r, describeConsensus(c))
	if aggregate == "" {
		t.Aggregate = aggregateAll
	}
	train := people
	if aggregate == aggregateVote {
		train = nil
		ars := make([]answerRec, len(people))
		for i, rec := range people {
			ars[i] = pairAnswer(rec)
		}
		var votes []groupVote
		votes, t.Split, _ = voteGroups(ars, c, items)
		t.Voted = len(votes)
		for _, v := range votes {
			first := people[v.first]
			prov := first.Provenance
			prov.Labeler, prov.Confidence = "consensus", &v.p
			for i, text := range v.items {
				if i != v.pick {
					train = append(train, feedback.PairRecord{Prompt: first.Prompt, Chosen: v.items[v.pick], Rejected: text, Provenance: prov})
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
	c, _, err := peopleConsensus(out, r-1, nil)
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
