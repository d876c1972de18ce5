package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"rlhf/store"
)

// A training loop posts queries, a labeler (here simulated; normally the web
// app) leases and labels them, the loop collects the labels, and an admin's
// stop request halts the loop at its next step boundary.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "store-example")
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "labels.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	st.CreateRun(ctx, store.Run{ID: "run-1", Name: "sentiment", Instructions: "Pick the happier completion."})
	ann, _ := st.CreateLabeler(ctx, store.Labeler{Username: "ann", Role: store.RoleLabeler, PasswordHash: []byte("bcrypt hash")})

	// The loop posts a pair.
	ids, _ := st.AddQueries(ctx, []store.Query{{RunID: "run-1", PolicyVersion: "step-100",
		Payload: []byte(`{"kind":"text","prompt":"The movie was","completions":["wonderful.","a waste of time."]}`)}})

	// A labeler leases it and answers "left".
	a, _ := st.Lease(ctx, ann, "", 10*time.Minute)
	st.Submit(ctx, store.Submission{QueryID: a.Query.ID, Slot: a.Slot, LabelerID: ann, Choice: 0, ClientKey: "b1946ac9-2d1f"})

	// The loop waits for the labels of its queries.
	labels, _ := store.WaitLabels(ctx, st, ids, 10*time.Millisecond)
	fmt.Println(len(labels), "label; choice", labels[0].Choice, "by", labels[0].Labeler)

	// An admin presses stop; the loop sees it at the next step boundary.
	st.SetRunState(ctx, "run-1", store.RunStopRequested)
	stop, _ := store.StopRequested(ctx, st, "run-1")
	fmt.Println("stop requested:", stop)
	st.SetRunState(ctx, "run-1", store.RunStopped)

	// Labels leave as TRL-style JSONL.
	n, _ := store.Export(ctx, st, &discard{}, store.ExportOptions{RunID: "run-1"})
	fmt.Println("exported", n)
	// Output:
	// 1 label; choice 0 by ann
	// stop requested: true
	// exported 1
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
