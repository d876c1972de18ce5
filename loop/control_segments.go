package loop

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math/rand/v2"
	"os"

	"rlhf/env"
	"rlhf/feedback"
)

// pool keeps the recorded steps of the most recent episodes, the material
// candidate segments are cut from (Christiano et al. 2017 compare segments
// of recent trajectories).
type pool struct {
	env      string
	segLen   int
	maxSteps int
	eps      []poolEpisode
	steps    int
	next     int // number of episodes ever added: the id of the next one
	// terminal holds the last (obs, action) of recent episodes that the task
	// ended, flattened, for the absorbing-state baseline.
	terminalObs, terminalAct [][]float64
}

type poolEpisode struct {
	id    int
	steps []env.StepRecord
}

// maxTerminal bounds the terminal steps kept for the baseline.
const maxTerminal = 256

func newPool(envName string, segLen, maxSteps int) *pool {
	return &pool{env: envName, segLen: segLen, maxSteps: maxSteps}
}

// add appends recorded episodes and drops the oldest ones beyond maxSteps
// (always keeping the newest episode).
func (p *pool) add(eps []env.Episode) {
	for _, e := range eps {
		if len(e.Steps) == 0 {
			continue
		}
		p.eps = append(p.eps, poolEpisode{id: p.next, steps: e.Steps})
		p.next++
		p.steps += len(e.Steps)
		if e.Terminated {
			last := e.Steps[len(e.Steps)-1]
			p.terminalObs = append(p.terminalObs, last.Obs)
			p.terminalAct = append(p.terminalAct, last.Action)
			if n := len(p.terminalObs); n > maxTerminal {
				p.terminalObs = p.terminalObs[n-maxTerminal:]
				p.terminalAct = p.terminalAct[n-maxTerminal:]
			}
		}
	}
	drop := 0
	for drop < len(p.eps)-1 && p.steps > p.maxSteps {
		p.steps -= len(p.eps[drop].steps)
		drop++
	}
	p.eps = p.eps[drop:]
}

// starts is the number of segment start positions an episode offers. A
// terminated episode offers every step: a segment that runs past the end is
// padded with absorbing steps, so segments that contain the failure are drawn
// as often as any other (for CartPole they are the only ones whose true
// returns differ: every living step scores 1). An episode cut off by the time
// limit, or still running, offers len-segLen+1 (0 when shorter than a segment).
func (p *pool) starts(e *poolEpisode) int {
	n := len(e.steps)
	if e.steps[n-1].Terminated {
		return n
	}
	return max(n-p.segLen+1, 0)
}

// ready reports whether any segment can be cut.
func (p *pool) ready() bool {
	for i := range p.eps {
		if p.starts(&p.eps[i]) > 0 {
			return true
		}
	}
	return false
}

// sample cuts one segment at a start drawn uniformly among all start
// positions of the pool.
func (p *pool) sample(r *rand.Rand) (feedback.Segment, error) {
	total := 0
	for i := range p.eps {
		total += p.starts(&p.eps[i])
	}
	if total == 0 {
		return feedback.Segment{}, fmt.Errorf("loop: no recorded episode yields a segment of %d steps", p.segLen)
	}
	k := r.IntN(total)
	for i := range p.eps {
		e := &p.eps[i]
		n := p.starts(e)
		if k >= n {
			k -= n
			continue
		}
		seg, ok, err := env.SegmentAt(p.env, e.steps, k, p.segLen, true)
		if err != nil {
			return feedback.Segment{}, fmt.Errorf("loop: %w", err)
		}
		if !ok {
			return feedback.Segment{}, fmt.Errorf("loop: episode %d: no segment at %d", e.id, k)
		}
		return toFeedback(seg, e.id), nil
	}
	panic("loop: pool sample out of range")
}

// toFeedback converts a recorded segment to the feedback layer's form: the
// observations the agent saw as States (what the reward model reads), the
// actions, and the true per-step scores as Rewards (what a synthetic labeler
// compares; hidden from people).
func toFeedback(s env.Segment, episode int) feedback.Segment {
	fs := feedback.Segment{Env: s.Env, DT: s.DT, Episode: episode, Start: s.Start}
	for _, st := range s.Steps {
		fs.States = append(fs.States, st.Obs)
		fs.Actions = append(fs.Actions, st.Action)
		fs.Rewards = append(fs.Rewards, st.Score)
		fs.Return += st.Score
	}
	return fs
}

// PoolFile holds the pool of recent episodes at a checkpoint (gob), so that
// a resumed run cuts its segments from the same episodes as an
// uninterrupted one.
const PoolFile = "pool.gob"

// poolSnapshot is the pool's saved form.
type poolSnapshot struct {
	Env                      string
	SegLen, MaxSteps         int
	Steps, Next              int
	IDs                      []int
	Episodes                 [][]env.StepRecord
	TerminalObs, TerminalAct [][]float64
}

// save writes the pool to path atomically.
func (p *pool) save(path string) error {
	s := poolSnapshot{Env: p.env, SegLen: p.segLen, MaxSteps: p.maxSteps, Steps: p.steps, Next: p.next,
		TerminalObs: p.terminalObs, TerminalAct: p.terminalAct}
	for _, e := range p.eps {
		s.IDs = append(s.IDs, e.id)
		s.Episodes = append(s.Episodes, e.steps)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&s); err != nil {
		return fmt.Errorf("loop: save pool: %w", err)
	}
	if err := writeAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("loop: save pool: %w", err)
	}
	return nil
}

// load replaces the pool's episodes with those saved at path by a pool of
// the same task and sizes.
func (p *pool) load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("loop: load pool: %w", err)
	}
	defer f.Close()
	var s poolSnapshot
	if err := gob.NewDecoder(f).Decode(&s); err != nil {
		return fmt.Errorf("loop: load pool %s: %w", path, err)
	}
	if s.Env != p.env || s.SegLen != p.segLen || s.MaxSteps != p.maxSteps {
		return fmt.Errorf("loop: load pool %s: saved for %s (segments of %d, %d steps), want %s (%d, %d)",
			path, s.Env, s.SegLen, s.MaxSteps, p.env, p.segLen, p.maxSteps)
	}
	if len(s.IDs) != len(s.Episodes) || len(s.TerminalObs) != len(s.TerminalAct) {
		return fmt.Errorf("loop: load pool %s: %d ids for %d episodes, %d terminal observations for %d actions",
			path, len(s.IDs), len(s.Episodes), len(s.TerminalObs), len(s.TerminalAct))
	}
	steps := 0
	eps := make([]poolEpisode, len(s.IDs))
	for i, id := range s.IDs {
		if len(s.Episodes[i]) == 0 || id < 0 || id >= s.Next {
			return fmt.Errorf("loop: load pool %s: episode %d (id %d of %d) is empty or out of range", path, i, id, s.Next)
		}
		eps[i] = poolEpisode{id: id, steps: s.Episodes[i]}
		steps += len(s.Episodes[i])
	}
	if steps != s.Steps {
		return fmt.Errorf("loop: load pool %s: %d steps recorded, %d counted", path, steps, s.Steps)
	}
	p.eps, p.steps, p.next = eps, s.Steps, s.Next
	p.terminalObs, p.terminalAct = s.TerminalObs, s.TerminalAct
	return nil
}
