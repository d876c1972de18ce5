package tensor

import (
	"sync"
	"testing"
	"time"
)

// ParallelFor's crew under load: concurrent callers, nested calls (which
// start goroutines while the crew is busy), chunks of uneven length, and
// helpers and callers that park on every call (spin limit 1); every chunk
// must be done when ParallelFor returns.
func TestParallelForCrew(t *testing.T) {
	old := crewSpin.Load()
	crewSpin.Store(1)
	defer crewSpin.Store(old)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for it := range 1500 {
				n := 2 + (it+g)%7
				out := make([]int, n)
				ParallelFor(n, 1, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						if it%3 == 0 {
							time.Sleep(time.Microsecond * time.Duration(it%50))
						}
						out[i] = i * 2
						if it%5 == 0 {
							inner := make([]int, 3)
							ParallelFor(3, 1, func(a, b int) {
								for j := a; j < b; j++ {
									inner[j] = j
								}
							})
							if inner[2] != 2 {
								t.Errorf("inner %v (g %d it %d i %d)", inner, g, it, i)
							}
						}
					}
				})
				for i, v := range out {
					if v != i*2 {
						t.Fatalf("g %d it %d: out[%d] = %d", g, it, i, v)
					}
				}
			}
		})
	}
	wg.Wait()
}

// A panic in the caller's own chunk propagates, and the crew is waited for
// and freed for the next call.
func TestParallelForPanicFreesCrew(t *testing.T) {
	if Workers < 2 {
		t.Skip("one worker: no crew")
	}
	done := make([]bool, 4)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic in chunk 0 did not reach the caller")
			}
		}()
		ParallelFor(4, 1, func(lo, hi int) {
			if lo == 0 {
				panic("chunk 0")
			}
			for i := lo; i < hi; i++ {
				done[i] = true
			}
		})
	}()
	if !done[3] {
		t.Error("the helper's chunk was not waited for")
	}
	c := getCrew(1)
	if c == nil {
		t.Fatal("the crew is still held after the panic")
	}
	c.busy.Store(false)
}
