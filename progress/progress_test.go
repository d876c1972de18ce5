package progress

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a manual clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestPlainMode(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	b := NewWithOptions(&buf, 1000, "ppo", Options{Now: c.now})
	if b.term {
		t.Fatal("a bytes.Buffer was taken for a terminal")
	}
	c.advance(5 * time.Second)
	b.Add(100)
	if buf.Len() != 0 {
		t.Fatalf("printed before the interval: %q", buf.String())
	}
	c.advance(5 * time.Second)
	b.SetStatus("loss 3.21\nsecond line")
	b.Add(150) // 250 at 10 s: 25/s, 750 left -> 30 s
	want := "ppo 250/1000 (25%) 25.0/s elapsed 10s ETA 30s | loss 3.21 second line\n"
	if buf.String() != want {
		t.Fatalf("got  %q\nwant %q", buf.String(), want)
	}
	c.advance(9 * time.Second)
	b.Set(400)
	if strings.Count(buf.String(), "\n") != 1 {
		t.Fatalf("printed twice within the interval: %q", buf.String())
	}
	c.advance(71 * time.Second) // 90 s
	b.Set(1000)
	b.Finish()
	b.Finish()
	b.Add(5)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines: %q", len(lines), buf.String())
	}
	if want := "ppo 1000/1000 (100%) 11.1/s elapsed 1m30s ETA 0s | loss 3.21 second line"; lines[1] != want {
		t.Errorf("line 2 = %q, want %q", lines[1], want)
	}
	if want := "ppo 1000/1000 (100%) 11.1/s done in 1m30s | loss 3.21 second line"; lines[2] != want {
		t.Errorf("final = %q, want %q", lines[2], want)
	}
	if strings.Contains(buf.String(), "\r") {
		t.Error("carriage return in plain mode")
	}
}

func TestPlainUnknownTotal(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	b := NewWithOptions(&buf, 0, "", Options{Now: c.now, Interval: time.Second})
	c.advance(2 * time.Second)
	b.Add(3)
	c.advance(2 * time.Hour)
	b.Finish()
	want := "3 1.50/s elapsed 2s\n3 0.00/s done in 2h00m\n"
	if buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
}

func TestTerminalMode(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	b := NewWithOptions(&buf, 100, "rm", Options{Mode: Terminal, Width: 60, Now: c.now})
	c.advance(time.Second)
	b.Add(10) // first update draws at once
	first := buf.String()
	if !strings.HasPrefix(first, "\r") || !strings.HasSuffix(first, "\x1b[K") || strings.Contains(first, "\n") {
		t.Fatalf("first draw %q", first)
	}
	c.advance(10 * time.Millisecond)
	b.Add(10) // within the redraw interval: nothing
	if buf.String() != first {
		t.Fatalf("redrew within the interval: %q", buf.String())
	}
	c.advance(time.Second)
	b.SetStatus("acc 0.71")
	b.Add(30) // 50/100 after 2.01 s
	out := buf.String()[len(first):]
	line := strings.TrimSuffix(strings.TrimPrefix(out, "\r"), "\x1b[K")
	if !strings.HasPrefix(line, "rm  50% [") || !strings.Contains(line, "] 50/100 24.9/s ETA 2s acc 0.71") {
		t.Fatalf("line %q", line)
	}
	if n := len([]rune(line)); n > 59 {
		t.Errorf("line is %d columns, terminal has 60", n)
	}
	bar := line[strings.Index(line, "[")+1 : strings.Index(line, "]")]
	if filled := strings.Count(bar, "#"); filled != len(bar)/2 {
		t.Errorf("bar %q is not half full", bar)
	}
	c.advance(time.Second)
	b.Set(100)
	b.Finish()
	if !strings.HasSuffix(buf.String(), "\x1b[K\n") || !strings.Contains(buf.String(), "100% [") ||
		!strings.Contains(buf.String(), "100/100 33.2/s done in 3s acc 0.71") {
		t.Errorf("final output %q", buf.String())
	}
}

func TestTerminalNarrow(t *testing.T) {
	var buf bytes.Buffer
	b := NewWithOptions(&buf, 10, "a very long label indeed", Options{Mode: Terminal, Width: 20})
	b.SetStatus("status that is long too")
	b.Add(1)
	for _, l := range strings.Split(buf.String(), "\r") {
		l = strings.TrimSuffix(l, "\x1b[K")
		if len([]rune(l)) > 19 {
			t.Errorf("line %q exceeds the width", l)
		}
	}
}

func TestConcurrentAdds(t *testing.T) {
	var buf bytes.Buffer
	b := NewWithOptions(&buf, 8000, "x", Options{Mode: Terminal, Redraw: time.Nanosecond})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				b.Add(1)
				if i%100 == 0 {
					b.SetStatus("g")
				}
			}
		}()
	}
	wg.Wait()
	b.Finish()
	if b.Count() != 8000 {
		t.Fatalf("count %d, want 8000", b.Count())
	}
	if !strings.Contains(buf.String(), "8000/8000") {
		t.Error("final count not shown")
	}
}

func TestDetectNonTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if b := New(f, 10, "x"); b.term {
		t.Error("a regular file was taken for a terminal")
	}
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	if b := New(w, 10, "x"); b.term {
		t.Error("a pipe was taken for a terminal")
	}
}

func TestFmtDur(t *testing.T) {
	cases := map[time.Duration]string{
		0: "0s", 1500 * time.Millisecond: "2s", 59 * time.Second: "59s", 61 * time.Second: "1m01s",
		3599 * time.Second: "59m59s", 3661 * time.Second: "1h01m", -time.Second: "0s",
	}
	for d, want := range cases {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
}
