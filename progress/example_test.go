package progress_test

import (
	"fmt"
	"os"
	"time"

	"rlhf/progress"
)

func Example() {
	// A fake clock that advances 1 s per reading, so the output is fixed.
	t := time.Unix(0, 0)
	clock := func() time.Time { t = t.Add(time.Second); return t }

	// Written to a pipe or file, the bar prints plain lines at most every
	// Interval and once at the end.
	bar := progress.NewWithOptions(os.Stdout, 6, "train", progress.Options{Interval: 3 * time.Second, Now: clock})
	for i := 0; i < 6; i++ {
		bar.SetStatus(fmt.Sprintf("loss %.2f", 3-0.25*float64(i)))
		bar.Add(1)
	}
	bar.Finish()
	// Output:
	// train 3/6 (50%) 1.00/s elapsed 3s ETA 3s | loss 2.50
	// train 6/6 (100%) 1.00/s elapsed 6s ETA 0s | loss 1.75
	// train 6/6 (100%) 0.86/s done in 7s | loss 1.75
}
