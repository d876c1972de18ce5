package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"rlhf/feedback"
	"rlhf/store"
)

// Default instructions when a run has none.
const (
	defaultTextInstructions = "Read the prompt and the completions. Choose the completion that answers the prompt better: " +
		"more helpful, more accurate, better written. If they are equally good choose Tie; if you cannot judge, Can't tell."
	defaultControlInstructions = "Watch both clips (they loop). Choose the one in which the agent does its task better. " +
		"If they are equally good choose Tie; if you cannot judge, Can't tell."
)

// option is one answer button.
type option struct {
	Value string // the form value: an index or a special answer
	Key   string // keyboard shortcut shown on the button
	Label string
	Class string
}

type labelView struct {
	Empty        bool
	Progress     store.Progress
	RunName      string
	Instructions string
	QueryID      int64
	Slot         int
	Kind         string
	Arity        int
	Text         *store.TextPayload
	Control      string // the control payload JSON, for the canvas script
	Env          string
	Options      []option
	Specials     []option
	ClientKey    string
	ExpiresAt    time.Time
}

func (s *Server) labelPage(w http.ResponseWriter, r *http.Request) {
	a, _ := authFrom(r.Context())
	ctx := r.Context()
	asg, err := s.st.Lease(ctx, a.user.ID, s.cfg.RunID, s.cfg.LeaseTTL)
	if err != nil && !errors.Is(err, store.ErrNoWork) {
		s.internal(w, r, err)
		return
	}
	prog, perr := s.st.Progress(ctx, a.user.ID, s.cfg.RunID)
	if perr != nil {
		s.internal(w, r, perr)
		return
	}
	if errors.Is(err, store.ErrNoWork) {
		s.render(w, r, http.StatusOK, "label", "Nothing to label", labelView{Empty: true, Progress: prog})
		return
	}
	v := labelView{Progress: prog, QueryID: asg.Query.ID, Slot: asg.Slot, Kind: asg.Query.Kind,
		Arity: asg.Query.Arity, ClientKey: randomToken(16), ExpiresAt: asg.ExpiresAt}
	if run, err := s.st.Run(ctx, asg.Query.RunID); err == nil {
		v.RunName, v.Instructions = run.Name, run.Instructions
	}
	switch asg.Query.Kind {
	case store.KindText:
		var p store.TextPayload
		if err := json.Unmarshal(asg.Query.Payload, &p); err != nil {
			s.internal(w, r, err)
			return
		}
		v.Text = &p
		if v.Instructions == "" {
			v.Instructions = defaultTextInstructions
		}
	case store.KindControl:
		var p struct {
			Env string `json:"env"`
		}
		if err := json.Unmarshal(asg.Query.Payload, &p); err != nil {
			s.internal(w, r, err)
			return
		}
		v.Control, v.Env = string(asg.Query.Payload), p.Env
		if v.Instructions == "" {
			v.Instructions = defaultControlInstructions
		}
	}
	v.Options = choiceOptions(asg.Query.Arity)
	v.Specials = []option{
		{Value: "tie", Key: "t", Label: "Tie", Class: "special"},
		{Value: "cant_tell", Key: "c", Label: "Can't tell", Class: "special"},
		{Value: "skip", Key: "s", Label: "Skip", Class: "skip"},
	}
	s.render(w, r, http.StatusOK, "label", "Label", v)
}

func choiceOptions(arity int) []option {
	if arity == 2 {
		return []option{{Value: "0", Key: "1 / ←", Label: "Left is better", Class: "pick"},
			{Value: "1", Key: "2 / →", Label: "Right is better", Class: "pick"}}
	}
	var out []option
	for i := 0; i < arity; i++ {
		k := ""
		if i < 9 {
			k = strconv.Itoa(i + 1)
		}
		out = append(out, option{Value: strconv.Itoa(i), Key: k, Label: "#" + strconv.Itoa(i+1) + " is best", Class: "pick"})
	}
	return out
}

// submission is a label as the browser or an API client sends it.
type submission struct {
	QueryID    int64           `json:"query_id"`
	Slot       int             `json:"slot"`
	Choice     feedback.Choice `json:"choice"`
	Confidence *float64        `json:"confidence,omitempty"`
	Note       string          `json:"note,omitempty"`
	ClientKey  string          `json:"client_key"`
	DurationMS int64           `json:"duration_ms"`
}

func (sub submission) toStore(labelerID int64) store.Submission {
	d := min(max(sub.DurationMS, 0), int64(24*time.Hour/time.Millisecond))
	return store.Submission{QueryID: sub.QueryID, Slot: sub.Slot, LabelerID: labelerID, Choice: sub.Choice,
		Confidence: sub.Confidence, Note: strings.TrimSpace(sub.Note), ClientKey: sub.ClientKey,
		Duration: time.Duration(d) * time.Millisecond}
}

var errBadField = errors.New("bad field")

// parseForm reads a submission from the label form's fields.
func parseForm(r *http.Request) (submission, error) {
	var sub submission
	f := r.PostForm
	var err error
	if sub.QueryID, err = strconv.ParseInt(f.Get("query_id"), 10, 64); err != nil || sub.QueryID <= 0 {
		return sub, errBadField
	}
	if sub.Slot, err = strconv.Atoi(f.Get("slot")); err != nil || sub.Slot < 0 {
		return sub, errBadField
	}
	if sub.Choice, err = store.ParseChoice(f.Get("choice")); err != nil {
		return sub, errBadField
	}
	if c := f.Get("confidence"); c != "" {
		v, err := strconv.ParseFloat(c, 64)
		if err != nil {
			return sub, errBadField
		}
		sub.Confidence = &v
	}
	if d := f.Get("duration_ms"); d != "" {
		if sub.DurationMS, err = strconv.ParseInt(d, 10, 64); err != nil {
			return sub, errBadField
		}
	}
	sub.Note, sub.ClientKey = f.Get("note"), f.Get("client_key")
	return sub, nil
}

// submitStatus maps a store error to an HTTP status and a message for the labeler.
func submitStatus(err error) (int, string) {
	switch {
	case errors.Is(err, store.ErrNotLeased):
		return http.StatusConflict, "This query is not assigned to you (its lease may have expired and gone to someone else). Your label was not saved."
	case errors.Is(err, store.ErrAlreadyLabeled):
		return http.StatusConflict, "You have already labelled this query."
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, "This submission conflicts with an earlier one."
	case errors.Is(err, store.ErrInvalid):
		msg := err.Error()
		if i := strings.LastIndex(msg, "invalid input: "); i >= 0 {
			msg = msg[i+len("invalid input: "):]
		}
		return http.StatusBadRequest, "The label is not valid: " + msg + "."
	}
	return 0, ""
}

func (s *Server) submitForm(w http.ResponseWriter, r *http.Request) {
	a, _ := authFrom(r.Context())
	if err := r.ParseForm(); err != nil {
		s.badForm(w, r, err)
		return
	}
	sub, err := parseForm(r)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "The form is missing a field or has a malformed one.")
		return
	}
	if _, _, err := s.st.Submit(r.Context(), sub.toStore(a.user.ID)); err != nil {
		if code, msg := submitStatus(err); code != 0 {
			s.fail(w, r, code, msg)
			return
		}
		s.internal(w, r, err)
		return
	}
	// The label is committed; only now does the browser hear about it.
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// apiAssignment is GET /api/next's answer.
type apiAssignment struct {
	QueryID   int64           `json:"query_id"`
	Slot      int             `json:"slot"`
	Run       string          `json:"run"`
	Kind      string          `json:"kind"`
	Arity     int             `json:"arity"`
	Payload   json.RawMessage `json:"payload"`
	ExpiresAt time.Time       `json:"expires_at"`
	CSRF      string          `json:"csrf"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// apiNext leases the next query: 200 with the assignment, 204 when there is none.
func (s *Server) apiNext(w http.ResponseWriter, r *http.Request) {
	a, _ := authFrom(r.Context())
	asg, err := s.st.Lease(r.Context(), a.user.ID, s.cfg.RunID, s.cfg.LeaseTTL)
	if errors.Is(err, store.ErrNoWork) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err != nil {
		s.cfg.Log.Error("web: api next", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
		return
	}
	writeJSON(w, http.StatusOK, apiAssignment{QueryID: asg.Query.ID, Slot: asg.Slot, Run: asg.Query.RunID,
		Kind: asg.Query.Kind, Arity: asg.Query.Arity, Payload: asg.Query.Payload, ExpiresAt: asg.ExpiresAt,
		CSRF: a.sess.CSRFToken})
}

// apiSubmit records a JSON submission: 200 {"label_id","duplicate"} once committed.
func (s *Server) apiSubmit(w http.ResponseWriter, r *http.Request) {
	a, _ := authFrom(r.Context())
	var sub submission
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sub); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "request too large"})
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "malformed JSON"})
		return
	}
	l, dup, err := s.st.Submit(r.Context(), sub.toStore(a.user.ID))
	if err != nil {
		if code, msg := submitStatus(err); code != 0 {
			writeJSON(w, code, map[string]string{"error": msg})
			return
		}
		s.cfg.Log.Error("web: api submit", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"label_id": l.ID, "duplicate": dup})
}
