// Package feedback is the shared feedback layer of rlhf: what is compared, who
// compares it, and how the answers are kept.
//
// It serves both domains with one set of types:
//
//   - control: a [Query] holds two trajectory [Segment]s and a labeler says which
//     one shows more progress towards the goal (Christiano et al. 2017);
//   - text: a [Query] holds a prompt and k completions (k = 4 in Ziegler et al.
//     2019) and a labeler picks the best one.
//
// A [Label] records the answer as a [Choice]: an item index, or [Tie], [CantTell]
// or [Skip]. [SoftTarget] and [Target] turn it into the preference target a
// reward model trains on. Every source of labels (people through the web app,
// synthetic oracles, AI judges) implements the one-method [Labeler] interface;
// the synthetic ones here ([Oracle], [Boltzmann], [Noisy]) work from a true
// score function supplied by the caller. Preference data moves in and out as
// JSONL ([ReadPairs], [ReadBestOf], [ReadControl], [WriteFile], [Appender]).
// [SelectActive], [SelectUniform] and [Schedule] decide what to ask and when;
// [CohenKappa], [KrippendorffAlpha] and [Accuracy] measure how well labelers agree.
//
// The package imports nothing from the ML side; reward models and training
// loops import it.
package feedback

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Kind says what a query compares.
type Kind string

// The two kinds of query.
const (
	KindText    Kind = "text"    // completions of a prompt
	KindControl Kind = "control" // trajectory segments
)

// MaxItems is the largest number of items one query may compare.
const MaxItems = 16

// Segment is a piece of a control trajectory, by reference, by payload, or both.
// States[t] is the observation at step t in the environment's layout; Actions
// and Rewards, when present, have one row per step too. Rewards and Return are
// the environment's true reward: hidden from human labelers, used by synthetic
// oracles and for evaluation.
type Segment struct {
	Env     string      `json:"env,omitempty"`     // environment name, e.g. "CartPole-v1"
	DT      float64     `json:"dt,omitempty"`      // seconds per step, for playback
	Episode int         `json:"episode,omitempty"` // episode number within the run
	Start   int         `json:"start,omitempty"`   // index of the first step within the episode
	Ref     string      `json:"ref,omitempty"`     // where the data or a rendered clip lives (path or URL)
	States  [][]float64 `json:"states,omitempty"`  // (T, state dim)
	Actions [][]float64 `json:"actions,omitempty"` // (T, action dim)
	Rewards []float64   `json:"rewards,omitempty"` // (T) true per-step rewards
	Return  float64     `json:"return"`            // true return of the segment: the sum of Rewards
}

// Len returns the number of steps in the segment's payload.
func (s *Segment) Len() int { return max(len(s.States), len(s.Actions), len(s.Rewards)) }

// Item is one thing being compared: a completion of a prompt, or a segment.
type Item struct {
	ID         string   `json:"id,omitempty"`         // optional identifier (a sample or segment id)
	Prompt     string   `json:"prompt,omitempty"`     // text: the prompt, shared by the query's items
	Completion string   `json:"completion,omitempty"` // text: the completion being judged
	Segment    *Segment `json:"segment,omitempty"`    // control: the segment being judged
}

// Query asks a labeler to compare 2 (or k) items, with the provenance of how
// they were produced.
type Query struct {
	ID            string         `json:"id"`
	Kind          Kind           `json:"kind"`
	Items         []Item         `json:"items"`
	Run           string         `json:"run,omitempty"`            // the run that asked
	PolicyVersion string         `json:"policy_version,omitempty"` // e.g. "step-1200" or a checkpoint hash
	Sampler       map[string]any `json:"sampler,omitempty"`        // sampler settings: temperature, top_k, seed, ...
	Created       time.Time      `json:"created,omitzero"`
}

// TextQuery returns a text query comparing completions of one prompt.
func TextQuery(id, prompt string, completions ...string) Query {
	items := make([]Item, len(completions))
	for i, c := range completions {
		items[i] = Item{Prompt: prompt, Completion: c}
	}
	return Query{ID: id, Kind: KindText, Items: items}
}

// ControlQuery returns a control query comparing trajectory segments.
func ControlQuery(id string, segments ...Segment) Query {
	items := make([]Item, len(segments))
	for i := range segments {
		items[i] = Item{Segment: &segments[i]}
	}
	return Query{ID: id, Kind: KindControl, Items: items}
}

// Validate reports whether q is well formed: an id, a known kind, 2 to
// [MaxItems] items, and items of the query's kind.
func (q *Query) Validate() error {
	if q.ID == "" {
		return errors.New("feedback: query has no id")
	}
	if n := len(q.Items); n < 2 || n > MaxItems {
		return fmt.Errorf("feedback: query %s has %d items, want 2..%d", q.ID, n, MaxItems)
	}
	switch q.Kind {
	case KindText:
		for i, it := range q.Items {
			if it.Segment != nil {
				return fmt.Errorf("feedback: text query %s: item %d holds a segment", q.ID, i)
			}
		}
	case KindControl:
		for i, it := range q.Items {
			if it.Segment == nil {
				return fmt.Errorf("feedback: control query %s: item %d has no segment", q.ID, i)
			}
		}
	default:
		return fmt.Errorf("feedback: query %s has kind %q, want %q or %q", q.ID, q.Kind, KindText, KindControl)
	}
	return nil
}

// Choice is a labeler's answer. Non-negative values index the query's items
// (0 = left/first, 1 = right/second, i for k-way); the negative values are the
// special answers. In JSON an index is a number and a special answer is its
// name ("tie", "cant_tell", "skip"), the same encoding the store uses.
type Choice int

// Special answers.
const (
	Tie      Choice = -1 // equally good: a preference target of 1/k for each item
	CantTell Choice = -2 // the labeler cannot judge: no training signal
	Skip     Choice = -3 // the labeler passes: no training signal
)

// IsIndex reports whether c picks one item.
func (c Choice) IsIndex() bool { return c >= 0 }

// ValidFor reports whether c is a legal answer to a query with k items.
func (c Choice) ValidFor(k int) bool {
	return (c >= 0 && int(c) < k) || c == Tie || c == CantTell || c == Skip
}

// String returns the index in decimal or the special answer's name.
func (c Choice) String() string {
	switch c {
	case Tie:
		return "tie"
	case CantTell:
		return "cant_tell"
	case Skip:
		return "skip"
	}
	return strconv.Itoa(int(c))
}

// ParseChoice parses a decimal index or a special answer's name.
func ParseChoice(s string) (Choice, error) {
	switch s {
	case "tie":
		return Tie, nil
	case "cant_tell":
		return CantTell, nil
	case "skip":
		return Skip, nil
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || i >= MaxItems {
		return 0, fmt.Errorf("feedback: choice %q: want an index 0..%d, \"tie\", \"cant_tell\" or \"skip\"", s, MaxItems-1)
	}
	return Choice(i), nil
}

// MarshalJSON writes an index as a number and a special answer as a string.
func (c Choice) MarshalJSON() ([]byte, error) {
	if c >= 0 {
		return strconv.AppendInt(nil, int64(c), 10), nil
	}
	if c < Skip {
		return nil, fmt.Errorf("feedback: marshal choice %d: undefined", int(c))
	}
	return []byte(`"` + c.String() + `"`), nil
}

// UnmarshalJSON reads a number or a special answer's name.
func (c *Choice) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("feedback: choice: %w", err)
		}
		if s != "tie" && s != "cant_tell" && s != "skip" {
			return fmt.Errorf("feedback: choice %q: want a number, \"tie\", \"cant_tell\" or \"skip\"", s)
		}
	} else {
		s = string(b)
	}
	v, err := ParseChoice(s)
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Source says what kind of labeler produced a label.
type Source string

// Label sources.
const (
	SourceHuman     Source = "human"
	SourceSynthetic Source = "synthetic"
	SourceAI        Source = "ai"
)

// Label is a labeler's answer to one query.
type Label struct {
	QueryID    string        `json:"query_id"`
	Choice     Choice        `json:"choice"`
	Confidence *float64      `json:"confidence,omitempty"` // optional, in [0, 1]
	Note       string        `json:"note,omitempty"`
	Labeler    string        `json:"labeler,omitempty"` // who answered: a username or a synthetic labeler's name
	Source     Source        `json:"source,omitempty"`
	Time       time.Time     `json:"time,omitzero"`     // when the answer was given
	Duration   time.Duration `json:"duration,omitzero"` // how long the labeler took
}

// Check reports whether l is a legal answer to a query with k items.
func (l *Label) Check(k int) error {
	if !l.Choice.ValidFor(k) {
		return fmt.Errorf("feedback: label for query %s: choice %s is not valid for %d items", l.QueryID, l.Choice, k)
	}
	if c := l.Confidence; c != nil && !(*c >= 0 && *c <= 1) {
		return fmt.Errorf("feedback: label for query %s: confidence %v not in [0, 1]", l.QueryID, *c)
	}
	return nil
}

// SoftTarget returns the preference target over k items that a label gives:
// one-hot on the chosen item, 1/k on every item for a tie. CantTell, Skip and
// choices out of range give no target (false): such labels are dropped from
// training.
func SoftTarget(c Choice, k int) ([]float64, bool) {
	if k < 2 || !c.ValidFor(k) {
		return nil, false
	}
	switch {
	case c.IsIndex():
		t := make([]float64, k)
		t[c] = 1
		return t, true
	case c == Tie:
		t := make([]float64, k)
		for i := range t {
			t[i] = 1 / float64(k)
		}
		return t, true
	}
	return nil, false
}

// Target returns the pairwise preference target p = P(first item preferred):
// 1 if the first item was chosen, 0 if the second, 0.5 for a tie (Christiano et
// al. 2017 train a tie as half a preference each way). CantTell, Skip and
// indices other than 0 and 1 give no target (false).
func Target(c Choice) (p float64, ok bool) {
	switch c {
	case 0:
		return 1, true
	case 1:
		return 0, true
	case Tie:
		return 0.5, true
	}
	return 0, false
}

// finite reports whether every score is a finite number.
func finite(scores []float64) bool {
	for _, s := range scores {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return false
		}
	}
	return true
}
