package web

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"time"

	"rlhf/feedback"
	"rlhf/store"
)

type runRow struct {
	store.Run
	Labels int
}

type labelerRow struct {
	store.Labeler
	Labels     int
	LastLabel  time.Time
	MedianSecs float64
	Agreement  labelerAgreement
	Self       bool
}

type bar struct {
	X, Y, W, H float64
	Count      int
	Hour       string
}

type adminView struct {
	Notice      string
	NoticeError bool
	NewUser     string
	NewPassword string
	Runs        []runRow
	Labelers    []labelerRow
	Total       int
	LastHour    int
	LastDay     int
	ActiveHour  int
	Bars        []bar
	BarMax      int
	Alpha       float64
	AlphaUnits  int
	Kappas      []pairKappa
	GoldQueries int
	// PeopleError is labelers' error rate estimated from their agreement
	// (the one-coin model; NaN without a query picked by two of them).
	PeopleError float64
	Notes       []store.Label // the latest labels with a note, newest first
}

func (s *Server) adminPage(w http.ResponseWriter, r *http.Request) {
	s.renderAdmin(w, r, http.StatusOK, adminView{})
}

func (s *Server) renderAdmin(w http.ResponseWriter, r *http.Request, status int, v adminView) {
	a, _ := authFrom(r.Context())
	ctx := r.Context()
	runs, err := s.st.Runs(ctx)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	labelers, err := s.st.Labelers(ctx)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	labels, err := s.st.Labels(ctx, store.LabelFilter{RunID: s.cfg.RunID})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	queries, err := s.st.Queries(ctx, s.cfg.RunID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	gold := map[int64]feedback.Choice{}
	arity := make(map[int64]int, len(queries))
	for _, q := range queries {
		arity[q.ID] = q.Arity
		if q.Gold != nil {
			gold[q.ID] = *q.Gold
		}
	}
	v.GoldQueries = len(gold)
	names := map[int64]string{}
	for _, l := range labelers {
		names[l.ID] = l.Username
	}
	per, kappas, alpha := agreementStats(labels, gold, names)
	v.Alpha, v.Kappas = alpha, kappas
	estimated, peopleError := oneCoin(labels, arity)
	v.PeopleError = peopleError
	if len(v.Kappas) > 30 {
		v.Kappas = v.Kappas[:30]
	}
	multi := map[int64]int{}
	for _, l := range labels {
		if ratable(l.Choice) {
			multi[l.QueryID]++
		}
	}
	for _, n := range multi {
		if n >= 2 {
			v.AlphaUnits++
		}
	}

	now := time.Now()
	perRun := map[string]int{}
	count := map[int64]int{}
	last := map[int64]time.Time{}
	durs := map[int64][]float64{}
	activeHour := map[int64]bool{}
	const hours = 24
	buckets := make([]int, hours)
	start := now.Truncate(time.Hour).Add(-(hours - 1) * time.Hour)
	for i := len(labels) - 1; i >= 0 && len(v.Notes) < 20; i-- {
		if labels[i].Note != "" {
			v.Notes = append(v.Notes, labels[i])
		}
	}
	for _, l := range labels {
		v.Total++
		perRun[l.RunID]++
		count[l.LabelerID]++
		if l.CreatedAt.After(last[l.LabelerID]) {
			last[l.LabelerID] = l.CreatedAt
		}
		durs[l.LabelerID] = append(durs[l.LabelerID], l.Duration.Seconds())
		age := now.Sub(l.CreatedAt)
		if age < time.Hour {
			v.LastHour++
			activeHour[l.LabelerID] = true
		}
		if age < 24*time.Hour {
			v.LastDay++
		}
		if i := int(l.CreatedAt.Sub(start) / time.Hour); i >= 0 && i < hours {
			buckets[i]++
		}
	}
	v.ActiveHour = len(activeHour)
	for _, b := range buckets {
		v.BarMax = max(v.BarMax, b)
	}
	const chartW, chartH = 720.0, 110.0
	bw := chartW / hours
	for i, c := range buckets {
		h := 0.0
		if v.BarMax > 0 {
			h = chartH * float64(c) / float64(v.BarMax)
		}
		v.Bars = append(v.Bars, bar{X: float64(i)*bw + 1, Y: chartH - h, W: bw - 2, H: h, Count: c,
			Hour: start.Add(time.Duration(i) * time.Hour).UTC().Format("15:04")})
	}
	for _, run := range runs {
		v.Runs = append(v.Runs, runRow{Run: run, Labels: perRun[run.ID]})
	}
	for _, l := range labelers {
		row := labelerRow{Labeler: l, Labels: count[l.ID], LastLabel: last[l.ID], MedianSecs: median(durs[l.ID]),
			Self: l.ID == a.user.ID}
		if ag := per[l.ID]; ag != nil {
			row.Agreement = *ag
		} else {
			row.Agreement = labelerAgreement{WithOther: nan, GoldAcc: nan, Kappa: nan}
		}
		row.Agreement.Estimated = nan
		if a, ok := estimated[l.ID]; ok {
			row.Agreement.Estimated = a
		}
		v.Labelers = append(v.Labelers, row)
	}
	s.render(w, r, status, "admin", "Admin", v)
}

var nan = ratio(0, 0)

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return nan
	}
	c := append([]float64(nil), xs...)
	sort.Float64s(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

var usernameRE = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,64}$`)

// adminInvite creates a labeler with a random password, shown once to the admin.
func (s *Server) adminInvite(w http.ResponseWriter, r *http.Request) {
	user, role := r.PostForm.Get("username"), store.Role(r.PostForm.Get("role"))
	if !usernameRE.MatchString(user) {
		s.renderAdmin(w, r, http.StatusBadRequest, adminView{Notice: "Usernames are 1-64 letters, digits, or _ . @ -.", NoticeError: true})
		return
	}
	if !role.Valid() {
		s.renderAdmin(w, r, http.StatusBadRequest, adminView{Notice: "Unknown role.", NoticeError: true})
		return
	}
	pw := NewPassword()
	hash, err := HashPassword(pw)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if _, err := s.st.CreateLabeler(r.Context(), store.Labeler{Username: user, Role: role, PasswordHash: hash}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			s.renderAdmin(w, r, http.StatusConflict, adminView{Notice: fmt.Sprintf("The username %q is taken.", user), NoticeError: true})
			return
		}
		s.internal(w, r, err)
		return
	}
	s.renderAdmin(w, r, http.StatusOK, adminView{NewUser: user, NewPassword: pw})
}

func (s *Server) adminDisable(disable bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, _ := authFrom(r.Context())
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			s.fail(w, r, http.StatusBadRequest, "Bad labeler id.")
			return
		}
		if id == a.user.ID && disable {
			s.renderAdmin(w, r, http.StatusBadRequest, adminView{Notice: "You cannot disable your own account.", NoticeError: true})
			return
		}
		if err := s.st.SetLabelerDisabled(r.Context(), id, disable); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				s.fail(w, r, http.StatusNotFound, "No such labeler.")
				return
			}
			s.internal(w, r, err)
			return
		}
		http.Redirect(w, r, "/admin", http.StatusSeeOther)
	}
}

// adminStop asks a running training loop to halt at its next step boundary.
func (s *Server) adminStop(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	run, err := s.st.Run(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, "No such run.")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if run.State == store.RunRunning {
		if err := s.st.SetRunState(r.Context(), id, store.RunStopRequested); err != nil {
			s.internal(w, r, err)
			return
		}
	}
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}

var fileSafe = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// adminExport streams labels as JSONL (see store.Export for the records).
// Query parameters: run, kind (text|control), all=1 for ties/can't tell/skips too.
func (s *Server) adminExport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opt := store.ExportOptions{RunID: q.Get("run"), Kind: q.Get("kind"), All: q.Get("all") == "1"}
	if opt.Kind != "" && opt.Kind != store.KindText && opt.Kind != store.KindControl {
		s.fail(w, r, http.StatusBadRequest, "kind must be text or control.")
		return
	}
	name := "labels"
	if opt.RunID != "" {
		name += "-" + fileSafe.ReplaceAllString(opt.RunID, "_")
	}
	if opt.Kind != "" {
		name += "-" + opt.Kind
	}
	w.Header().Set("Content-Type", "application/jsonl; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.jsonl"`)
	w.Header().Set("Cache-Control", "no-store")
	if _, err := store.Export(r.Context(), s.st, w, opt); err != nil {
		s.cfg.Log.Error("web: export", "err", err)
	}
}
