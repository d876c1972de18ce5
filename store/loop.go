package store

import (
	"context"
	"fmt"
	"time"
)

// StopRequested reports whether an admin asked the run to stop. A training
// loop calls it at each step boundary; on true it finishes cleanly and then
// calls SetRunState(ctx, runID, RunStopped).
func StopRequested(ctx context.Context, s RunStore, runID string) (bool, error) {
	r, err := s.Run(ctx, runID)
	if err != nil {
		return false, err
	}
	return r.State == RunStopRequested || r.State == RunStopped, nil
}

// WaitLabels polls every poll interval until each of the queries has as many
// non-skip labels as its overlap asks for, and returns their labels (skips
// excluded) in id order. It returns early, with the labels so far, when ctx
// ends (ctx's error) or when a stop of a queried run is requested while it
// waits (ErrStopRequested, checked every poll), so a loop does not hang on
// labels that will never come.
func WaitLabels(ctx context.Context, s Store, queryIDs []int64, poll time.Duration) ([]Label, error) {
	if poll <= 0 {
		poll = time.Second
	}
	need := make(map[int64]int, len(queryIDs))
	runs := map[string]bool{}
	for _, id := range queryIDs {
		q, err := s.Query(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("store: wait labels: %w", err)
		}
		need[id] = q.Overlap
		runs[q.RunID] = true
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		ls, err := s.Labels(ctx, LabelFilter{QueryIDs: queryIDs})
		if err != nil {
			return nil, fmt.Errorf("store: wait labels: %w", err)
		}
		have := make(map[int64]int, len(need))
		var got []Label
		for _, l := range ls {
			if l.Choice != Skip {
				have[l.QueryID]++
				got = append(got, l)
			}
		}
		complete := true
		for id, n := range need {
			if have[id] < n {
				complete = false
				break
			}
		}
		if complete {
			return got, nil
		}
		for run := range runs {
			stop, err := StopRequested(ctx, s, run)
			if err != nil {
				return got, fmt.Errorf("store: wait labels: %w", err)
			}
			if stop {
				return got, fmt.Errorf("store: wait labels of run %s: %w", run, ErrStopRequested)
			}
		}
		select {
		case <-ctx.Done():
			return got, fmt.Errorf("store: wait labels: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// ErrStopRequested is returned by WaitLabels when the run is asked to stop
// while the loop waits for labels.
var ErrStopRequested = fmt.Errorf("store: run stop requested")
