package loop

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"rlhf/feedback"
)

// Answer is a labeler's answer to one posted query, or the error it gave.
type Answer struct {
	Query feedback.Query
	Label feedback.Label
	Err   error
}

// Broker hands queries to a Labeler that may be slow (a person in the web
// app) and collects the answers as they arrive, so that training need not
// wait: Post never blocks, Poll takes whatever has arrived, Wait blocks for a
// number of answers. Workers goroutines call the labeler, each on one query
// at a time; they stop when the broker's context ends or Close is called.
type Broker struct {
	lab     feedback.Labeler
	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex
	queue   []feedback.Query // posted, not yet taken by a worker
	pending map[string]feedback.Query
	done    []Answer
	wake    chan struct{} // signalled when queue grows
	arrived chan struct{} // signalled when an answer arrives
	wg      sync.WaitGroup
}

// NewBroker starts workers goroutines that answer posted queries with lab.
func NewBroker(ctx context.Context, lab feedback.Labeler, workers int) *Broker {
	ctx, cancel := context.WithCancel(ctx)
	b := &Broker{
		lab: lab, ctx: ctx, cancel: cancel,
		pending: map[string]feedback.Query{},
		wake:    make(chan struct{}, 1), arrived: make(chan struct{}, 1),
	}
	for range max(workers, 1) {
		b.wg.Go(b.work)
	}
	return b
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Post queues queries for the labeler; it never blocks.
func (b *Broker) Post(qs ...feedback.Query) {
	b.mu.Lock()
	for _, q := range qs {
		b.queue = append(b.queue, q)
		b.pending[q.ID] = q
	}
	b.mu.Unlock()
	signal(b.wake)
}

// Pending returns the queries posted and not yet answered, in no fixed order.
func (b *Broker) Pending() []feedback.Query {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]feedback.Query, 0, len(b.pending))
	for _, q := range b.pending {
		out = append(out, q)
	}
	return out
}

// NumPending returns the number of queries posted and not yet answered.
func (b *Broker) NumPending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}

func (b *Broker) work() {
	for {
		b.mu.Lock()
		var q feedback.Query
		ok := len(b.queue) > 0
		if ok {
			q = b.queue[0]
			b.queue = b.queue[1:]
		}
		more := len(b.queue) > 0
		b.mu.Unlock()
		if !ok {
			select {
			case <-b.ctx.Done():
				return
			case <-b.wake:
				continue
			}
		}
		if more {
			signal(b.wake) // let another worker take the next one
		}
		l, err := b.lab.Label(b.ctx, q)
		if err != nil && b.ctx.Err() != nil {
			return // stopping: the query stays pending
		}
		if err == nil && l.QueryID != q.ID {
			err = fmt.Errorf("loop: labeler answered query %q with a label for %q", q.ID, l.QueryID)
		}
		b.mu.Lock()
		delete(b.pending, q.ID)
		b.done = append(b.done, Answer{Query: q, Label: l, Err: err})
		b.mu.Unlock()
		signal(b.arrived)
	}
}

// Poll returns the answers that have arrived since the last Poll or Wait,
// without blocking.
func (b *Broker) Poll() []Answer {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.done
	b.done = nil
	return out
}

// Wait blocks until at least n answers have arrived since the last Poll or
// Wait (or no query is left pending), then returns them all. It returns
// early with ctx's error, keeping the answers for the next call.
func (b *Broker) Wait(ctx context.Context, n int) ([]Answer, error) {
	for {
		b.mu.Lock()
		enough := len(b.done) >= n || len(b.pending) == 0
		b.mu.Unlock()
		if enough {
			return b.Poll(), nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-b.ctx.Done():
			return nil, errors.New("loop: broker closed")
		case <-b.arrived:
		}
	}
}

// Close stops the workers and waits for them; queries still pending stay
// listed by Pending.
func (b *Broker) Close() {
	b.cancel()
	b.wg.Wait()
}
