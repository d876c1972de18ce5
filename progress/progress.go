// Package progress shows the progress of long jobs. On a terminal a Bar
// redraws one line in place (bar, count/total, rate, ETA, status); written to
// a pipe or file, as in CI logs, it prints a plain line at most every few
// seconds and once at the end.
//
//	bar := progress.New(os.Stderr, steps, "ppo")
//	for i := 0; i < steps; i++ {
//		...
//		bar.SetStatus(fmt.Sprintf("loss %.3f", loss))
//		bar.Add(1)
//	}
//	bar.Finish()
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Mode chooses between in-place redrawing and plain lines.
type Mode int

const (
	// Auto redraws in place if the writer is a terminal, else prints plain lines.
	Auto Mode = iota
	// Terminal always redraws in place with carriage returns.
	Terminal
	// Plain always prints whole lines.
	Plain
)

// Options tunes a Bar; the zero value gives New's behaviour.
type Options struct {
	// Mode selects terminal or plain output; Auto detects.
	Mode Mode
	// Interval is the least time between plain lines; 0 means 10 s.
	Interval time.Duration
	// Redraw is the least time between terminal redraws; 0 means 100 ms.
	Redraw time.Duration
	// Width is the terminal width in columns; 0 means detect, else 80.
	Width int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Bar tracks progress towards a total and reports it to a writer. All
// methods are safe for concurrent use. Write errors are ignored: progress
// output is advisory and must not stop the job.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	total    int
	label    string
	count    int
	status   string
	term     bool
	width    int
	interval time.Duration
	now      func() time.Time
	start    time.Time
	last     time.Time // last output
	drawn    bool      // a terminal line is on screen
	done     bool
}

// New returns a bar counting towards total (0 or less if unknown), writing
// to w with the given label.
func New(w io.Writer, total int, label string) *Bar {
	return NewWithOptions(w, total, label, Options{})
}

// NewWithOptions is New with explicit options.
func NewWithOptions(w io.Writer, total int, label string, o Options) *Bar {
	b := &Bar{w: w, total: total, label: label, now: o.Now, width: o.Width}
	if b.now == nil {
		b.now = time.Now
	}
	isTerm, cols := terminalWidth(w)
	switch o.Mode {
	case Terminal:
		b.term = true
	case Auto:
		b.term = isTerm
	}
	if b.width == 0 {
		b.width = cols
	}
	if b.width <= 0 {
		b.width = 80
	}
	if b.term {
		b.interval = o.Redraw
		if b.interval <= 0 {
			b.interval = 100 * time.Millisecond
		}
	} else {
		b.interval = o.Interval
		if b.interval <= 0 {
			b.interval = 10 * time.Second
		}
	}
	b.start = b.now()
	b.last = b.start
	return b
}

// Add advances the count by n.
func (b *Bar) Add(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.count += n
	b.maybeDraw()
}

// Set sets the count to i.
func (b *Bar) Set(i int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.count = i
	b.maybeDraw()
}

// SetStatus sets a short status shown after the counters, e.g. "loss 3.21".
// It shows from the next Add, Set or Finish, so that a status set just before
// Add is printed with the count it belongs to.
func (b *Bar) SetStatus(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.status = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
}

// Count returns the current count.
func (b *Bar) Count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.count
}

// Finish writes the final state and ends the line. Later calls, and updates
// after Finish, print nothing.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.done = true
	now := b.now()
	if b.term {
		io.WriteString(b.w, "\r"+b.termLine(now, true)+"\x1b[K\n")
	} else {
		io.WriteString(b.w, b.plainLine(now, true)+"\n")
	}
}

// maybeDraw writes an update if enough time has passed. Called with mu held.
func (b *Bar) maybeDraw() {
	if b.done {
		return
	}
	now := b.now()
	if b.term && !b.drawn || now.Sub(b.last) >= b.interval {
		b.last = now
		if b.term {
			b.drawn = true
			io.WriteString(b.w, "\r"+b.termLine(now, false)+"\x1b[K")
		} else {
			io.WriteString(b.w, b.plainLine(now, false)+"\n")
		}
	}
}

// stats returns the rate in units per second and the ETA (negative if unknown).
func (b *Bar) stats(now time.Time) (elapsed time.Duration, rate float64, eta time.Duration) {
	elapsed = now.Sub(b.start)
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(b.count) / s
	}
	eta = -1
	if b.total > 0 && rate > 0 {
		left := float64(b.total - b.count)
		if left < 0 {
			left = 0
		}
		eta = time.Duration(min(left/rate, 1e9) * float64(time.Second)) // capped near 30 years
	}
	return
}

// plainLine renders a line for logs:
//
//	label 420/1000 (42%) 12.3/s elapsed 34s ETA 47s | loss 3.21
func (b *Bar) plainLine(now time.Time, final bool) string {
	elapsed, rate, eta := b.stats(now)
	var s strings.Builder
	if b.label != "" {
		s.WriteString(b.label + " ")
	}
	s.WriteString(b.counter())
	if b.total > 0 {
		fmt.Fprintf(&s, " (%d%%)", percent(b.count, b.total))
	}
	fmt.Fprintf(&s, " %s", fmtRate(rate))
	if final {
		fmt.Fprintf(&s, " done in %s", fmtDur(elapsed))
	} else {
		fmt.Fprintf(&s, " elapsed %s", fmtDur(elapsed))
		if eta >= 0 {
			fmt.Fprintf(&s, " ETA %s", fmtDur(eta))
		}
	}
	if b.status != "" {
		s.WriteString(" | " + b.status)
	}
	return s.String()
}

// termLine renders the in-place line, fitted to the terminal width:
//
//	label  42% [########............] 420/1000 12.3/s ETA 47s loss 3.21
func (b *Bar) termLine(now time.Time, final bool) string {
	elapsed, rate, eta := b.stats(now)
	tail := " " + b.counter() + " " + fmtRate(rate)
	switch {
	case final:
		tail += " done in " + fmtDur(elapsed)
	case eta >= 0:
		tail += " ETA " + fmtDur(eta)
	default:
		tail += " " + fmtDur(elapsed)
	}
	if b.status != "" {
		tail += " " + b.status
	}
	head := b.label
	if b.total > 0 {
		if head != "" {
			head += " "
		}
		head += fmt.Sprintf("%3d%% ", percent(b.count, b.total))
		// The bar takes what is left of the line, between 10 and 40 cells.
		cells := b.width - 1 - utf8.RuneCountInString(head) - utf8.RuneCountInString(tail) - 2
		cells = min(max(cells, 10), 40)
		filled := cells * min(max(b.count, 0), b.total) / b.total
		head += "[" + strings.Repeat("#", filled) + strings.Repeat(".", cells-filled) + "]"
	}
	return truncate(head+tail, b.width-1)
}

func (b *Bar) counter() string {
	if b.total > 0 {
		return fmt.Sprintf("%d/%d", b.count, b.total)
	}
	return fmt.Sprintf("%d", b.count)
}

func percent(count, total int) int {
	p := int(int64(count) * 100 / int64(total))
	return min(max(p, 0), 100)
}

// truncate cuts s to at most n runes.
func truncate(s string, n int) string {
	if n < 1 {
		n = 1
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// fmtRate prints units per second with about three significant digits.
func fmtRate(r float64) string {
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f/s", r)
	case r >= 10:
		return fmt.Sprintf("%.1f/s", r)
	default:
		return fmt.Sprintf("%.2f/s", r)
	}
}

// fmtDur prints a duration as 12s, 4m05s or 2h03m.
func fmtDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
}
