package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Workers is the number of goroutines kernels split work over. It defaults to
// GOMAXPROCS and may be changed before any kernel runs (tests set it to 1).
var Workers = runtime.GOMAXPROCS(0)

// ParallelFor calls fn over [0, n) split into at most Workers contiguous
// chunks, each of at least grain items, and waits for all of them. Small
// loops run on the calling goroutine. The other chunks go to a crew of
// helper goroutines that wait for work spinning briefly before they park,
// so that the short parallel sections of a training step (a few tens of
// microseconds each) do not each pay for waking a thread; a call made while
// the crew is busy (a nested or concurrent one) starts goroutines instead.
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
	chunk := (n + w - 1) / w
	if c := getCrew(w - 1); c != nil {
		c.run(n, chunk, fn)
		return
	}
	var wg sync.WaitGroup
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

// crewSpin is how many times a helper checks for new work (and a caller
// for a helper's end), yielding its thread in between, before it parks;
// about 10-30 µs on a current CPU. Tests lower it to exercise parking.
var crewSpin atomic.Int32

func init() { crewSpin.Store(200) }

// crew is a set of helper goroutines that run the chunks of one
// ParallelFor at a time.
type crew struct {
	busy    atomic.Bool // held by the ParallelFor using the crew
	helpers []*helper
}

// helper is one goroutine of a crew. The caller publishes a job by setting
// fn, lo, hi and then bumping seq; the helper runs it and stores seq into
// done.
type helper struct {
	seq, done atomic.Uint64
	fn        func(lo, hi int)
	lo, hi    int
	sleeping  atomic.Bool
	wake      chan struct{} // a token for a parked helper
	waiting   atomic.Bool
	finished  chan struct{} // a token for a caller parked in wait
}

var (
	crewMu  sync.Mutex
	theCrew atomic.Pointer[crew]
)

// getCrew returns the crew, holding it for the caller, if it has at least
// k helpers (started on first use, grown when Workers grows) and is free;
// otherwise nil.
func getCrew(k int) *crew {
	c := theCrew.Load()
	if c == nil || len(c.helpers) < k {
		crewMu.Lock()
		c = theCrew.Load()
		if c == nil || len(c.helpers) < k {
			// A new, larger crew replaces the old one; the old one's
			// helpers park for good (nothing publishes to them).
			nc := &crew{}
			for range k {
				h := &helper{wake: make(chan struct{}, 1), finished: make(chan struct{}, 1)}
				nc.helpers = append(nc.helpers, h)
				go h.loop()
			}
			theCrew.Store(nc)
			c = nc
		}
		crewMu.Unlock()
	}
	if !c.busy.CompareAndSwap(false, true) {
		return nil
	}
	return c
}

// run deals the chunks after the first to the helpers, runs the first
// itself, waits for the helpers and frees the crew (also when fn panics on
// the calling goroutine).
func (c *crew) run(n, chunk int, fn func(lo, hi int)) {
	used := 0
	defer func() {
		for _, h := range c.helpers[:used] {
			h.wait()
		}
		c.busy.Store(false)
	}()
	for lo := chunk; lo < n; lo += chunk {
		h := c.helpers[used]
		h.fn, h.lo, h.hi = fn, lo, min(lo+chunk, n)
		h.seq.Add(1) // publishes fn, lo, hi
		if h.sleeping.CompareAndSwap(true, false) {
			h.wake <- struct{}{}
		}
		used++
	}
	fn(0, min(chunk, n))
}

// wait returns when the helper has finished its latest job: spinning
// first, then parked until the helper hands it a token. A token says only
// that the helper finished a job, possibly the one before (a helper that
// was slow to look at waiting after it), so wait checks again.
func (h *helper) wait() {
	want := h.seq.Load()
	for spins := 0; h.done.Load() != want; spins++ {
		if spins < int(crewSpin.Load()) {
			runtime.Gosched()
			continue
		}
		h.waiting.Store(true)
		if h.done.Load() == want && h.waiting.CompareAndSwap(true, false) {
			break
		}
		<-h.finished
	}
	h.fn = nil
}

// loop is a helper's life: wait for a job, run it, report it done.
func (h *helper) loop() {
	var seen uint64
	for {
		spins := 0
		for h.seq.Load() == seen {
			if spins < int(crewSpin.Load()) {
				spins++
				runtime.Gosched()
				continue
			}
			// Park. The caller wakes a helper it finds sleeping; check
			// again after announcing it, so that a job published in
			// between is not missed.
			h.sleeping.Store(true)
			if h.seq.Load() != seen && h.sleeping.CompareAndSwap(true, false) {
				break
			}
			<-h.wake
			spins = 0
		}
		seen = h.seq.Load()
		h.fn(h.lo, h.hi)
		h.done.Store(seen)
		if h.waiting.CompareAndSwap(true, false) {
			h.finished <- struct{}{}
		}
	}
}
