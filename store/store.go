// Package store is the durable store of human feedback: the queries a training
// run asks about, the labels people give, the labelers and their sessions, and
// each run's control state (so a labeling admin can stop a training loop).
//
// Two backends implement one [Store] interface: SQLite (pure Go, the embedded
// default, one file in the run directory) and PostgreSQL (pgx v5, for several
// servers or many labelers). [Open] picks one from a URL. Both share the same
// SQL, versioned schema migrations, and one conformance suite (store/storetest).
//
// # Formats
//
// A query's payload is JSON, one of two kinds:
//
//	{"kind":"text","prompt":"...","completions":["...","..."]}          (2 or k completions)
//	{"kind":"control","env":"CartPole-v1","dt":0.02,
//	 "segments":[{"states":[[...],...]},{"states":[[...],...]}]}
//
// Control state layouts, one row per time step:
//
//	CartPole-v1  [x, x_dot, theta, theta_dot]        theta 0 = upright, x in metres, track ±2.4
//	Pendulum-v1  [theta, theta_dot]                  theta 0 = upright, counter-clockwise positive
//	Acrobot-v1   [theta1, theta2, dtheta1, dtheta2]  theta1 0 = hanging down, links of length 1
//	Reacher      [q1, q2, dq1, dq2, target_x, target_y]  two links of length 0.1, arena ±0.2
//
// A label's [Choice] is an index (0 = left/first, 1 = right/second, i for k-way)
// or one of "tie", "cant_tell", "skip"; in JSON an index is a number and the
// others are those strings.
//
// # The training loop's side
//
// A loop creates a [Run], posts queries with [Store.AddQueries], waits for
// labels with [WaitLabels] (or polls [Store.Labels] with an AfterID cursor), and
// at each step boundary calls [StopRequested]; when it sees a stop it finishes
// the step, saves, and calls [Store.SetRunState] with [RunStopped].
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"rlhf/feedback"
)

// Errors returned by every backend. Test with errors.Is.
var (
	// ErrNotFound: no such run, query, labeler or session.
	ErrNotFound = errors.New("store: not found")
	// ErrNoWork: no query is open for this labeler right now.
	ErrNoWork = errors.New("store: no query available")
	// ErrNotLeased: the labeler does not hold this query's slot (never leased it,
	// or it expired and someone else took it).
	ErrNotLeased = errors.New("store: query slot not leased by this labeler")
	// ErrAlreadyLabeled: the labeler already labelled this query (under another key).
	ErrAlreadyLabeled = errors.New("store: query already labelled by this labeler")
	// ErrConflict: a unique key is taken (an existing username or run id, or a
	// client key reused for another query).
	ErrConflict = errors.New("store: conflict")
	// ErrInvalid: the input is malformed (bad payload, bad choice, ...).
	ErrInvalid = errors.New("store: invalid input")
)

// Store is the durable store behind the labeling app and the training loop.
// Implementations are safe for concurrent use, by several goroutines and by
// several processes sharing the database.
type Store interface {
	RunStore
	QueryStore
	LabelStore
	LabelerStore
	// Close releases the database.
	Close() error
}

// RunStore holds training runs and their control state.
type RunStore interface {
	// CreateRun records a new run in state RunRunning unless r.State is set.
	// ErrConflict if the id exists.
	CreateRun(ctx context.Context, r Run) error
	// Run returns one run, or ErrNotFound.
	Run(ctx context.Context, id string) (Run, error)
	// Runs lists all runs, newest first.
	Runs(ctx context.Context) ([]Run, error)
	// SetRunState changes a run's control state (an admin's stop request, the
	// loop acknowledging it). ErrNotFound if there is no such run.
	SetRunState(ctx context.Context, id string, state RunState) error
}

// QueryStore holds what labelers are asked to compare.
type QueryStore interface {
	// AddQueries validates and stores queries (all or none) and returns their ids
	// in order. A zero Overlap means 1. The run must exist.
	AddQueries(ctx context.Context, qs []Query) ([]int64, error)
	// Query returns one query, or ErrNotFound.
	Query(ctx context.Context, id int64) (Query, error)
	// Queries lists a run's queries ("" = all runs) in id order.
	Queries(ctx context.Context, runID string) ([]Query, error)
}

// LabelStore hands out queries under a lease and records labels.
type LabelStore interface {
	// Lease gives the labeler one query slot to label, held for ttl. A labeler
	// who already holds an unexpired lease gets the same one back (with its
	// expiry renewed). A slot is never leased to two labelers at once, and a
	// labeler never gets a query they already labelled or skipped. runID ""
	// means any run. ErrNoWork if nothing is open.
	Lease(ctx context.Context, labelerID int64, runID string, ttl time.Duration) (Assignment, error)
	// Submit records a label for a slot the labeler holds. It is idempotent in
	// ClientKey: a second submit with the same key returns the first label and
	// dup = true. The label is committed durably before Submit returns.
	// A Skip releases the slot for other labelers (and is stored with Slot -1).
	Submit(ctx context.Context, s Submission) (l Label, dup bool, err error)
	// Labels lists labels matching f in id order.
	Labels(ctx context.Context, f LabelFilter) ([]Label, error)
	// Progress counts a labeler's labels and the query slots still open to them.
	Progress(ctx context.Context, labelerID int64, runID string) (Progress, error)
}

// LabelerStore holds labeler accounts and login sessions.
type LabelerStore interface {
	// CreateLabeler adds an account and returns its id; ErrConflict if the
	// username is taken.
	CreateLabeler(ctx context.Context, l Labeler) (int64, error)
	// Labeler returns one account by id, or ErrNotFound.
	Labeler(ctx context.Context, id int64) (Labeler, error)
	// LabelerByName returns one account by username, or ErrNotFound.
	LabelerByName(ctx context.Context, username string) (Labeler, error)
	// Labelers lists all accounts by id.
	Labelers(ctx context.Context) ([]Labeler, error)
	// SetLabelerDisabled disables or re-enables an account. Disabling also ends
	// its sessions and releases its unexpired leases.
	SetLabelerDisabled(ctx context.Context, id int64, disabled bool) error
	// SetPasswordHash replaces an account's password hash.
	SetPasswordHash(ctx context.Context, id int64, hash []byte) error
	// CreateSession stores a login session.
	CreateSession(ctx context.Context, s Session) error
	// Session returns an unexpired session by its id hash together with its
	// (enabled) labeler; ErrNotFound otherwise.
	Session(ctx context.Context, idHash string) (Session, Labeler, error)
	// DeleteSession ends a session (logout). Deleting a missing one is not an error.
	DeleteSession(ctx context.Context, idHash string) error
}

// RunState is a run's control state. The loop polls it at step boundaries.
type RunState string

// Run states.
const (
	RunRunning       RunState = "running"        // the loop is (or may be) working
	RunStopRequested RunState = "stop_requested" // an admin asked the loop to halt
	RunStopped       RunState = "stopped"        // the loop halted (or the run is an offline data set)
)

// Valid reports whether s is one of the defined states.
func (s RunState) Valid() bool {
	return s == RunRunning || s == RunStopRequested || s == RunStopped
}

// Run is one training run (or one labeling data set).
type Run struct {
	ID           string    // chosen by the caller, e.g. the run directory's name
	Name         string    // human-readable title
	Instructions string    // task instructions shown to labelers (plain text)
	State        RunState  // control state
	CreatedAt    time.Time // set by the store
	UpdatedAt    time.Time // last state change, set by the store
}

// Query kinds.
const (
	KindText    = "text"
	KindControl = "control"
)

// Query is one comparison to label: two (or k) completions of a prompt, or two
// trajectory segments, with the provenance of how they were produced.
type Query struct {
	ID            int64           // set by the store
	RunID         string          // the run that asked
	Kind          string          // KindText or KindControl, set from Payload by the store
	Arity         int             // number of completions or segments, set by the store
	Payload       json.RawMessage // TextPayload or ControlPayload as JSON
	PolicyVersion string          // e.g. "step-1200" or a checkpoint hash
	Sampler       json.RawMessage // sampler settings as a JSON object (temperature, top_k, seed, ...); may be empty
	Overlap       int             // how many labelers label it (for agreement); 0 means 1
	Gold          *Choice         // the known answer for gold queries, nil otherwise
	CreatedAt     time.Time       // set by the store
}

// TextPayload is a text query: a prompt and k >= 2 completions.
type TextPayload struct {
	Kind        string   `json:"kind"` // "text"
	Prompt      string   `json:"prompt"`
	Completions []string `json:"completions"`
}

// ControlPayload is a control query: k >= 2 trajectory segments of one environment.
type ControlPayload struct {
	Kind     string    `json:"kind"` // "control"
	Env      string    `json:"env"`  // e.g. "CartPole-v1"
	DT       float64   `json:"dt"`   // seconds per state row
	Segments []Segment `json:"segments"`
}

// Segment is one recorded trajectory piece: states[t] is the state at step t
// in the env's layout (see the package doc).
type Segment struct {
	States [][]float64 `json:"states"` // (T, state dim)
}

// StateDim returns the state length an environment's control payload must
// have, and false for an environment the labeling app cannot draw.
func StateDim(env string) (int, bool) {
	switch {
	case env == "CartPole-v1":
		return 4, true
	case env == "Pendulum-v1":
		return 2, true
	case env == "Acrobot-v1":
		return 4, true
	case env == "Reacher" || strings.HasPrefix(env, "Reacher-"):
		return 6, true
	}
	return 0, false
}

// Maximum sizes accepted in a payload, to keep one query from swamping a page.
const (
	MaxArity       = 16      // completions or segments per query
	MaxSegmentLen  = 10000   // states per segment
	MaxPayloadSize = 4 << 20 // bytes of payload JSON
)

// ParsePayload validates a query payload and returns its kind and arity.
func ParsePayload(raw []byte) (kind string, arity int, err error) {
	if len(raw) > MaxPayloadSize {
		return "", 0, fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrInvalid, len(raw), MaxPayloadSize)
	}
	var head struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return "", 0, fmt.Errorf("%w: payload: %v", ErrInvalid, err)
	}
	switch head.Kind {
	case KindText:
		var p TextPayload
		if err := json.Unmarshal(raw, &p); err != nil {
			return "", 0, fmt.Errorf("%w: text payload: %v", ErrInvalid, err)
		}
		if n := len(p.Completions); n < 2 || n > MaxArity {
			return "", 0, fmt.Errorf("%w: text payload has %d completions, want 2..%d", ErrInvalid, n, MaxArity)
		}
		return KindText, len(p.Completions), nil
	case KindControl:
		var p ControlPayload
		if err := json.Unmarshal(raw, &p); err != nil {
			return "", 0, fmt.Errorf("%w: control payload: %v", ErrInvalid, err)
		}
		dim, ok := StateDim(p.Env)
		if !ok {
			return "", 0, fmt.Errorf("%w: control payload: unknown env %q", ErrInvalid, p.Env)
		}
		if !(p.DT > 0 && p.DT < 10) {
			return "", 0, fmt.Errorf("%w: control payload: dt %v not in (0, 10)", ErrInvalid, p.DT)
		}
		if n := len(p.Segments); n < 2 || n > MaxArity {
			return "", 0, fmt.Errorf("%w: control payload has %d segments, want 2..%d", ErrInvalid, n, MaxArity)
		}
		for i, s := range p.Segments {
			if len(s.States) == 0 || len(s.States) > MaxSegmentLen {
				return "", 0, fmt.Errorf("%w: control payload: segment %d has %d states, want 1..%d", ErrInvalid, i, len(s.States), MaxSegmentLen)
			}
			for t, st := range s.States {
				if len(st) != dim {
					return "", 0, fmt.Errorf("%w: control payload: segment %d state %d has length %d, %s wants %d", ErrInvalid, i, t, len(st), p.Env, dim)
				}
				for _, v := range st {
					if math.IsNaN(v) || math.IsInf(v, 0) {
						return "", 0, fmt.Errorf("%w: control payload: segment %d state %d is not finite", ErrInvalid, i, t)
					}
				}
			}
		}
		return KindControl, len(p.Segments), nil
	}
	return "", 0, fmt.Errorf("%w: payload kind %q, want %q or %q", ErrInvalid, head.Kind, KindText, KindControl)
}

// Choice is a labeler's answer: the feedback layer's [feedback.Choice], so a
// label read from the store is already the domain type. Non-negative values
// index the completions or segments (0 = left/first, 1 = right/second, i for
// k-way); the negative values are the special answers below. In JSON an index
// is a number and a special answer its string name ("tie", "cant_tell", "skip").
type Choice = feedback.Choice

// Special answers (the feedback layer's constants).
const (
	Tie      = feedback.Tie      // equally good
	CantTell = feedback.CantTell // the labeler cannot judge
	Skip     = feedback.Skip     // the labeler passes; the slot goes to someone else
)

// ParseChoice parses a decimal index, "left" (0), "right" (1), or a special
// answer name, as the labeling form sends them. Unlike [feedback.ParseChoice]
// it accepts "left" and "right", and its errors wrap [ErrInvalid].
func ParseChoice(s string) (Choice, error) {
	switch s {
	case "left":
		return 0, nil
	case "right":
		return 1, nil
	}
	c, err := feedback.ParseChoice(s)
	if err != nil || int(c) >= MaxArity {
		return 0, fmt.Errorf("%w: choice %q", ErrInvalid, s)
	}
	return c, nil
}

// Assignment is a query slot leased to one labeler.
type Assignment struct {
	Query     Query
	Slot      int       // 0..Overlap-1
	LeasedAt  time.Time // when this labeler took it
	ExpiresAt time.Time // after this another labeler may take the slot
}

// Submission is a label as the labeling app receives it.
type Submission struct {
	QueryID    int64
	Slot       int
	LabelerID  int64
	Choice     Choice
	Confidence *float64      // optional, in [0, 1]
	Note       string        // optional free text (untrusted; escape on display)
	Duration   time.Duration // time the labeler spent on the query
	ClientKey  string        // idempotency key generated by the client, 8..64 bytes
}

// Maximum sizes of a submission's free-form fields.
const (
	MaxNoteLen      = 4000
	MaxClientKeyLen = 64
	MinClientKeyLen = 8
)

// Validate checks a submission's own fields (not the lease).
func (s Submission) Validate() error {
	if s.Confidence != nil && !(*s.Confidence >= 0 && *s.Confidence <= 1) {
		return fmt.Errorf("%w: confidence %v not in [0, 1]", ErrInvalid, *s.Confidence)
	}
	if len(s.Note) > MaxNoteLen {
		return fmt.Errorf("%w: note of %d bytes exceeds %d", ErrInvalid, len(s.Note), MaxNoteLen)
	}
	if n := len(s.ClientKey); n < MinClientKeyLen || n > MaxClientKeyLen {
		return fmt.Errorf("%w: client key of %d bytes, want %d..%d", ErrInvalid, n, MinClientKeyLen, MaxClientKeyLen)
	}
	if s.Duration < 0 {
		return fmt.Errorf("%w: negative duration", ErrInvalid)
	}
	if s.Choice < Skip {
		return fmt.Errorf("%w: choice %d", ErrInvalid, int(s.Choice))
	}
	return nil
}

// Label is a recorded answer.
type Label struct {
	ID         int64
	QueryID    int64
	RunID      string
	LabelerID  int64
	Labeler    string // the labeler's username
	Slot       int    // the query slot it filled; -1 for a skip
	Choice     Choice
	Confidence *float64
	Note       string
	CreatedAt  time.Time
	Duration   time.Duration
	ClientKey  string
}

// LabelFilter selects labels; zero fields do not filter.
type LabelFilter struct {
	RunID     string
	QueryIDs  []int64
	LabelerID int64
	AfterID   int64 // only labels with ID > AfterID (a polling cursor)
	Since     time.Time
	Limit     int // at most this many (0 = no limit)
}

// Progress is a labeler's count of work done and left.
type Progress struct {
	Labeled int // labels by this labeler (including skips)
	Open    int // query slots this labeler could still take
}

// Role is what an account may do.
type Role string

// Roles.
const (
	RoleLabeler Role = "labeler" // labels queries
	RoleAdmin   Role = "admin"   // labels, and manages labelers, runs and exports
)

// Valid reports whether r is a defined role.
func (r Role) Valid() bool { return r == RoleLabeler || r == RoleAdmin }

// Labeler is an account.
type Labeler struct {
	ID           int64
	Username     string
	Role         Role
	Disabled     bool
	PasswordHash []byte // bcrypt
	CreatedAt    time.Time
}

// Session is a login session. The store keeps only a hash of the session id
// (the cookie value), so a leaked database does not leak live sessions.
type Session struct {
	IDHash    string // hex SHA-256 of the cookie value
	LabelerID int64
	CSRFToken string // per-session token every form and POST must carry
	CreatedAt time.Time
	ExpiresAt time.Time
}
