// Package web is the labeling web app: labelers log in, compare two (or k)
// text completions or animated control segments, and submit labels; admins
// invite and disable labelers, watch throughput and agreement, export labels
// as JSONL, and stop a running training loop.
//
// It is plain net/http and html/template with embedded assets (no front-end
// build). Every page but the login page needs a session; every POST needs the
// session's CSRF token (the login form uses a double-submit cookie); bodies are
// size-limited; login is rate limited; responses carry a strict CSP (no inline
// scripts) and frame-ancestors 'none'. A label is committed to the store before
// the browser gets its acknowledgement.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"rlhf/store"
)

//go:embed assets
var assets embed.FS

// Config configures a Server. Zero fields take the defaults shown.
type Config struct {
	Store store.Store // required
	// RunID restricts labeling to one run; "" hands out queries of every run.
	RunID string
	// LeaseTTL is how long a labeler holds a query before another may take it. Default 10 min.
	LeaseTTL time.Duration
	// SessionTTL is how long a login lasts. Default 12 h.
	SessionTTL time.Duration
	// SecureCookies sets the Secure flag on cookies; set it when serving over
	// TLS (directly or behind a TLS-terminating proxy).
	SecureCookies bool
	// MaxBodyBytes caps every request body. Default 64 KiB.
	MaxBodyBytes int64
	// LoginBurst and LoginEvery rate-limit login attempts per client address
	// and per username: LoginBurst attempts at once, then one per LoginEvery.
	// Defaults 5 and 12 s.
	LoginBurst int
	LoginEvery time.Duration
	// Log receives request errors. Default slog.Default().
	Log *slog.Logger
}

// Server is the labeling app's http.Handler.
type Server struct {
	cfg     Config
	st      store.Store
	mux     *http.ServeMux
	pages   map[string]*template.Template
	limiter *limiter
}

// New checks cfg, parses the templates and returns the app.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("web: new server: nil store")
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 10 * time.Minute
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.LoginBurst <= 0 {
		cfg.LoginBurst = 5
	}
	if cfg.LoginEvery <= 0 {
		cfg.LoginEvery = 12 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Server{cfg: cfg, st: cfg.Store, mux: http.NewServeMux(), pages: map[string]*template.Template{},
		limiter: newLimiter(cfg.LoginBurst, cfg.LoginEvery)}
	funcs := template.FuncMap{
		"add":     func(a, b int) int { return a + b },
		"pct":     fmtPct,
		"fmt2":    fmtStat,
		"since":   func(t time.Time) string { return since(t) },
		"timefmt": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	}
	for _, page := range []string{"login", "label", "admin", "message"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "assets/layout.html", "assets/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parse template %s: %w", page, err)
		}
		s.pages[page] = t
	}
	static, err := fs.Sub(assets, "assets/static")
	if err != nil {
		return nil, fmt.Errorf("web: static assets: %w", err)
	}
	staticFiles := http.StripPrefix("/static/", http.FileServerFS(static))

	m := s.mux
	m.Handle("GET /static/", cacheStatic(staticFiles))
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("POST /logout", s.auth(store.RoleLabeler, s.logout))
	m.HandleFunc("GET /{$}", s.auth(store.RoleLabeler, s.labelPage))
	m.HandleFunc("POST /label", s.auth(store.RoleLabeler, s.submitForm))
	m.HandleFunc("GET /api/next", s.auth(store.RoleLabeler, s.apiNext))
	m.HandleFunc("POST /api/label", s.auth(store.RoleLabeler, s.apiSubmit))
	m.HandleFunc("GET /admin", s.auth(store.RoleAdmin, s.adminPage))
	m.HandleFunc("POST /admin/labelers", s.auth(store.RoleAdmin, s.adminInvite))
	m.HandleFunc("POST /admin/labelers/{id}/disable", s.auth(store.RoleAdmin, s.adminDisable(true)))
	m.HandleFunc("POST /admin/labelers/{id}/enable", s.auth(store.RoleAdmin, s.adminDisable(false)))
	m.HandleFunc("POST /admin/runs/{id}/stop", s.auth(store.RoleAdmin, s.adminStop))
	m.HandleFunc("GET /admin/export.jsonl", s.auth(store.RoleAdmin, s.adminExport))
	return s, nil
}

// ServeHTTP adds the security headers and a body size limit to every request,
// then routes it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	}
	s.mux.ServeHTTP(w, r)
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

// page is what every template gets besides its own data.
type page struct {
	Title string
	User  *store.Labeler // nil on the login page
	CSRF  string
	Data  any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	p := page{Title: title, Data: data}
	if a, ok := authFrom(r.Context()); ok {
		p.User, p.CSRF = &a.user, a.sess.CSRFToken
	}
	var b strings.Builder
	if err := s.pages[name].Execute(&b, p); err != nil {
		s.cfg.Log.Error("web: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

// fail renders a plain message page with status.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, "message", http.StatusText(status), msg)
}

// internal logs err and answers 500 without leaking details.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	s.cfg.Log.Error("web: request", "method", r.Method, "path", r.URL.Path, "err", err)
	s.fail(w, r, http.StatusInternalServerError, "Something went wrong on the server. Please try again.")
}

func fmtStat(f float64) string {
	if f != f { // NaN: not enough data
		return "—"
	}
	return fmt.Sprintf("%.2f", f)
}

// fmtPct is a share as a whole percentage, "—" for NaN (not enough data).
func fmtPct(f float64) string {
	if f != f {
		return "—"
	}
	return fmt.Sprintf("%.0f%%", 100*f)
}

func since(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}
