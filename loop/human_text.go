package loop

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"slices"
	"time"
	"unicode/utf8"

	"rlhf/feedback"
	"rlhf/store"
)

// TextAnswer is one label that people gave to a text query asked with
// AskText: a skip (Label.Choice == feedback.Skip; the query stays open) or
// one person's answer (any other choice; the query is done once
// HumanLabeler.Overlap people have answered it).
type TextAnswer struct {
	Query feedback.Query
	Label feedback.Label
}

// textBatch is how many queries AskText posts per store transaction.
const textBatch = 256

// AskText asks people about the text queries qs through the store and yields
// their labels as they are committed, in the order they are seen: every skip,
// and each query's answers (its first Overlap non-skip labels, each from
// another person, Source feedback.SourceHuman). It ends when every query has
// its answers, yields ctx's error when ctx ends and ErrStopped when an admin
// asks the run to stop.
//
// Queries already in the store under the same loop query id (a rerun asking
// again) are not posted twice, and labels people gave them meanwhile are
// yielded at once; such a query must hold the same prompt and completions as
// before, or AskText yields an error before posting anything. Queries are
// posted in batches, all before the first label is awaited, so people can
// answer them in any order. The run's labels are read in full at every poll
// (no id cursor, which concurrent PostgreSQL commits could skip past).
func (h *HumanLabeler) AskText(ctx context.Context, qs []feedback.Query) iter.Seq2[TextAnswer, error] {
	return func(yield func(TextAnswer, error) bool) {
		byStore, err := h.postText(ctx, qs)
		if err != nil {
			yield(TextAnswer{}, err)
			return
		}
		poll := h.Poll
		if poll <= 0 {
			poll = time.Second
		}
		need := max(h.Overlap, 1)
		seen := map[int64]bool{}   // label ids already yielded or passed over
		answers := map[int64]int{} // non-skip labels yielded per store query id
		done := map[int64]bool{}   // store query ids with all their answers
		t := time.NewTicker(poll)
		defer t.Stop()
		for len(done) < len(byStore) {
			ls, err := h.Store.Labels(ctx, store.LabelFilter{RunID: h.RunID})
			if err != nil {
				if ctx.Err() != nil {
					err = ctx.Err()
				}
				yield(TextAnswer{}, fmt.Errorf("loop: labels of run %s: %w", h.RunID, err))
				return
			}
			for _, l := range ls {
				q, ok := byStore[l.QueryID]
				if seen[l.ID] || !ok || done[l.QueryID] {
					seen[l.ID] = true
					continue
				}
				seen[l.ID] = true
				if l.Choice != store.Skip {
					if answers[l.QueryID]++; answers[l.QueryID] >= need {
						done[l.QueryID] = true
					}
				}
				a := TextAnswer{Query: q, Label: feedback.Label{
					QueryID: q.ID, Choice: l.Choice, Confidence: l.Confidence, Note: l.Note,
					Labeler: l.Labeler, Source: feedback.SourceHuman, Time: l.CreatedAt, Duration: l.Duration,
				}}
				if !yield(a, nil) {
					return
				}
			}
			if len(done) == len(byStore) {
				return
			}
			stop, err := store.StopRequested(ctx, h.Store, h.RunID)
			if err == nil && stop {
				yield(TextAnswer{}, fmt.Errorf("loop: text queries of run %s: %w", h.RunID, ErrStopped))
				return
			}
			select {
			case <-ctx.Done():
				yield(TextAnswer{}, fmt.Errorf("loop: text queries of run %s: %w", h.RunID, ctx.Err()))
				return
			case <-t.C:
			}
		}
	}
}

// postText checks qs against the text queries already in the store, posts
// the new ones and returns every query of qs by its store id.
func (h *HumanLabeler) postText(ctx context.Context, qs []feedback.Query) (map[int64]feedback.Query, error) {
	seenIDs := make(map[string]bool, len(qs))
	for _, q := range qs {
		if q.Kind != feedback.KindText {
			return nil, fmt.Errorf("loop: ask text: query %s is a %s query", q.ID, q.Kind)
		}
		if err := q.Validate(); err != nil {
			return nil, fmt.Errorf("loop: ask text: %w", err)
		}
		if seenIDs[q.ID] {
			return nil, fmt.Errorf("loop: ask text: query id %s given twice", q.ID)
		}
		seenIDs[q.ID] = true
	}
	posted, err := PostedText(ctx, h.Store, h.RunID)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.known == nil {
		h.known = map[string]int64{}
	}
	byStore := make(map[int64]feedback.Query, len(qs))
	var fresh []feedback.Query
	for _, q := range qs {
		if p, ok := posted[q.ID]; ok {
			if !sameText(p, q) {
				return nil, fmt.Errorf("loop: ask text: query %s of run %s is in the store with another prompt or other completions", q.ID, h.RunID)
			}
		}
		if id, ok := h.known[q.ID]; ok {
			byStore[id] = q
			continue
		}
		fresh = append(fresh, q)
	}
	for b := range slices.Chunk(fresh, textBatch) {
		sqs := make([]store.Query, len(b))
		for i, q := range b {
			sq, err := StoreQuery(q, h.RunID)
			if err != nil {
				return nil, err
			}
			sq.Overlap = max(h.Overlap, 1)
			sqs[i] = sq
		}
		ids, err := h.Store.AddQueries(ctx, sqs)
		if err != nil {
			return nil, fmt.Errorf("loop: post %d text queries of run %s: %w", len(sqs), h.RunID, err)
		}
		if len(ids) != len(b) {
			return nil, fmt.Errorf("loop: post text queries of run %s: store returned %d ids for %d queries", h.RunID, len(ids), len(b))
		}
		for i, q := range b {
			h.known[q.ID] = ids[i]
			byStore[ids[i]] = q
		}
	}
	return byStore, nil
}

// sameText reports whether a stored payload shows q's prompt and completions
// (as JSON holds them: invalid UTF-8, which a model's bytes may decode to,
// becomes U+FFFD).
func sameText(p store.TextPayload, q feedback.Query) bool {
	if len(p.Completions) != len(q.Items) || p.Prompt != JSONText(q.Items[0].Prompt) {
		return false
	}
	for i, it := range q.Items {
		if p.Completions[i] != JSONText(it.Completion) {
			return false
		}
	}
	return true
}

// JSONText returns s as it reads back from JSON: each byte of invalid UTF-8
// replaced by U+FFFD, the rest unchanged. Text that went through the label
// store or a JSONL file compares equal to JSONText of the original.
func JSONText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	b, err := json.Marshal(s)
	if err != nil {
		return s
	}
	var out string
	if json.Unmarshal(b, &out) != nil {
		return s
	}
	return out
}

// JSONTextQueries replaces every item's prompt and completion in qs by its
// JSONText: the text as the label store and a JSONL file will hold it.
func JSONTextQueries(qs []feedback.Query) {
	for i := range qs {
		for j := range qs[i].Items {
			it := &qs[i].Items[j]
			it.Prompt, it.Completion = JSONText(it.Prompt), JSONText(it.Completion)
		}
	}
}

// PostedText returns the payloads of the run's text queries in the store,
// keyed by the loop query id in their provenance (queries without one are
// left out).
func PostedText(ctx context.Context, s store.Store, runID string) (map[string]store.TextPayload, error) {
	qs, err := s.Queries(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("loop: queries of run %s: %w", runID, err)
	}
	out := map[string]store.TextPayload{}
	for _, q := range qs {
		var sm humanSampler
		if q.Kind != store.KindText || len(q.Sampler) == 0 || json.Unmarshal(q.Sampler, &sm) != nil || sm.QueryID == "" {
			continue
		}
		var p store.TextPayload
		if err := json.Unmarshal(q.Payload, &p); err != nil {
			return nil, fmt.Errorf("loop: query %d of run %s: payload: %w", q.ID, runID, err)
		}
		out[sm.QueryID] = p
	}
	return out, nil
}
