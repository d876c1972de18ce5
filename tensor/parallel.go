package tensor

import (
	"runtime"
	"sync"
)

// Workers is the number of goroutines kernels split work over. It defaults to
// GOMAXPROCS and may be changed before any kernel runs (tests set it to 1).
var Workers = runtime.GOMAXPROCS(0)

// ParallelFor calls fn over [0, n) split into at most Workers contiguous
// chunks, each of at least grain items, and waits for all of them. Small
// loops run on the calling goroutine.
func ParallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	w := Workers
	if maxw := (n + grain - 1) / grain; w > maxw {
		w = maxw
	}
	if w <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + w - 1) / w
	for lo := chunk; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	fn(0, min(chunk, n))
	wg.Wait()
}
