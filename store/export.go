package store

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// ExportOptions selects what Export writes.
type ExportOptions struct {
	RunID string // "" = all runs
	Kind  string // KindText, KindControl, or "" for both
	// All also writes ties, can't-tell answers and skips (text ones in the
	// best-of-k form, with "choice" a string). By default only labels that pick
	// a completion or segment are written, plus control ties (which
	// Christiano et al. 2017 train on as a 50/50 preference).
	All bool
}

// ExportRecord is one JSONL line of an export. Text pairs use TRL's
// {"prompt","chosen","rejected"}; text queries with k > 2 completions use
// best-of-k {"prompt","completions","choice"}; control queries use
// {"query_id","env","choice",...}. Provenance fields follow in every record.
type ExportRecord struct {
	Prompt      *string  `json:"prompt,omitempty"`
	Chosen      *string  `json:"chosen,omitempty"`
	Rejected    *string  `json:"rejected,omitempty"`
	Completions []string `json:"completions,omitempty"`
	Env         string   `json:"env,omitempty"`
	Choice      *Choice  `json:"choice,omitempty"`

	QueryID       int64           `json:"query_id"`
	Kind          string          `json:"kind"`
	Run           string          `json:"run"`
	Labeler       string          `json:"labeler"`
	Time          time.Time       `json:"time"`
	DurationMS    int64           `json:"duration_ms"`
	Confidence    *float64        `json:"confidence,omitempty"`
	Note          string          `json:"note,omitempty"`
	PolicyVersion string          `json:"policy_version,omitempty"`
	Sampler       json.RawMessage `json:"sampler,omitempty"`
	Gold          *Choice         `json:"gold,omitempty"`
	LabelID       int64           `json:"label_id"`
}

// Export writes the selected labels as JSONL to w and returns how many lines
// it wrote.
func Export(ctx context.Context, s Store, w io.Writer, opt ExportOptions) (int, error) {
	qs, err := s.Queries(ctx, opt.RunID)
	if err != nil {
		return 0, fmt.Errorf("store: export: %w", err)
	}
	byID := make(map[int64]Query, len(qs))
	for _, q := range qs {
		byID[q.ID] = q
	}
	ls, err := s.Labels(ctx, LabelFilter{RunID: opt.RunID})
	if err != nil {
		return 0, fmt.Errorf("store: export: %w", err)
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	n := 0
	for _, l := range ls {
		q, ok := byID[l.QueryID]
		if !ok || (opt.Kind != "" && q.Kind != opt.Kind) {
			continue
		}
		rec, ok, err := exportRecord(q, l, opt.All)
		if err != nil {
			return n, fmt.Errorf("store: export label %d: %w", l.ID, err)
		}
		if !ok {
			continue
		}
		if err := enc.Encode(rec); err != nil {
			return n, fmt.Errorf("store: export label %d: %w", l.ID, err)
		}
		n++
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("store: export: %w", err)
	}
	return n, nil
}

// exportRecord converts one label; ok is false for labels the options leave out.
func exportRecord(q Query, l Label, all bool) (ExportRecord, bool, error) {
	choice := l.Choice
	rec := ExportRecord{
		QueryID: q.ID, Kind: q.Kind, Run: q.RunID, Labeler: l.Labeler, Time: l.CreatedAt,
		DurationMS: l.Duration.Milliseconds(), Confidence: l.Confidence, Note: l.Note,
		PolicyVersion: q.PolicyVersion, Gold: q.Gold, LabelID: l.ID,
	}
	if len(q.Sampler) > 0 && string(q.Sampler) != "{}" {
		rec.Sampler = q.Sampler
	}
	switch q.Kind {
	case KindText:
		var p TextPayload
		if err := json.Unmarshal(q.Payload, &p); err != nil {
			return rec, false, err
		}
		if !choice.IsIndex() && !all {
			return rec, false, nil
		}
		rec.Prompt = &p.Prompt
		if len(p.Completions) == 2 && choice.IsIndex() {
			rec.Chosen, rec.Rejected = &p.Completions[choice], &p.Completions[1-choice]
			return rec, true, nil
		}
		rec.Completions, rec.Choice = p.Completions, &choice
		return rec, true, nil
	case KindControl:
		var p struct {
			Env string `json:"env"`
		}
		if err := json.Unmarshal(q.Payload, &p); err != nil {
			return rec, false, err
		}
		if !all && !choice.IsIndex() && choice != Tie {
			return rec, false, nil
		}
		rec.Env, rec.Choice = p.Env, &choice
		return rec, true, nil
	}
	return rec, false, fmt.Errorf("query %d has unknown kind %q", q.ID, q.Kind)
}
