package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"rlhf/store"
)

// Cookie names.
const (
	sessionCookie   = "rlhf_session"
	loginCSRFCookie = "rlhf_login_csrf"
)

// BcryptCost is the bcrypt work factor for stored passwords.
const BcryptCost = 12

// MinPasswordLen is the shortest password HashPassword accepts.
const MinPasswordLen = 10

// HashPassword returns the bcrypt hash (cost BcryptCost) to store for a password.
func HashPassword(password string) ([]byte, error) { return HashPasswordCost(password, BcryptCost) }

// HashPasswordCost is HashPassword with a chosen bcrypt cost (tests and
// benchmarks use bcrypt.MinCost to stay fast).
func HashPasswordCost(password string, cost int) ([]byte, error) {
	if len(password) < MinPasswordLen {
		return nil, fmt.Errorf("web: password shorter than %d characters", MinPasswordLen)
	}
	if len(password) > 72 {
		return nil, errors.New("web: password longer than 72 bytes (bcrypt's limit)")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return nil, fmt.Errorf("web: hash password: %w", err)
	}
	return h, nil
}

// NewPassword returns a random password for an invited labeler (20 characters, ~120 bits).
func NewPassword() string { return randomToken(15) }

// randomToken returns n random bytes, base64url-encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("web: crypto/rand failed: " + err.Error()) // the OS has no entropy: nothing is safe
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// dummyHash is compared against when a username does not exist, so that the
// response time does not reveal which usernames exist.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("not a real password, ever"), BcryptCost)
	return h
})

type authKey struct{}

type authInfo struct {
	sess store.Session
	user store.Labeler
}

func authFrom(ctx context.Context) (authInfo, bool) {
	a, ok := ctx.Value(authKey{}).(authInfo)
	return a, ok
}

// auth wraps h: it needs a valid session whose labeler has at least role,
// and on POST the session's CSRF token (form field csrf or header X-CSRF-Token).
func (s *Server) auth(role store.Role, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		var a authInfo
		if err == nil && c.Value != "" && len(c.Value) < 200 {
			a.sess, a.user, err = s.st.Session(r.Context(), hashToken(c.Value))
		} else {
			err = store.ErrNotFound
		}
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				s.internal(w, r, err)
				return
			}
			if r.Method == http.MethodGet && !isAPI(r) {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			s.fail(w, r, http.StatusUnauthorized, "Please log in.")
			return
		}
		ctx := context.WithValue(r.Context(), authKey{}, a)
		r = r.WithContext(ctx)
		if role == store.RoleAdmin && a.user.Role != store.RoleAdmin {
			s.fail(w, r, http.StatusForbidden, "This page is for admins.")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// ParseForm reads only form-encoded bodies; a JSON body stays for the handler.
			if err := r.ParseForm(); err != nil {
				s.badForm(w, r, err)
				return
			}
			tok := r.Header.Get("X-CSRF-Token")
			if tok == "" {
				tok = r.PostForm.Get("csrf")
			}
			if subtle.ConstantTimeCompare([]byte(tok), []byte(a.sess.CSRFToken)) != 1 {
				s.fail(w, r, http.StatusForbidden, "The form's security token is missing or stale. Reload the page and try again.")
				return
			}
		}
		h(w, r)
	}
}

func isAPI(r *http.Request) bool {
	return len(r.URL.Path) >= 5 && r.URL.Path[:5] == "/api/"
}

// badForm answers a form that could not be parsed: 413 for an oversized body.
func (s *Server) badForm(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		s.fail(w, r, http.StatusRequestEntityTooLarge, "The request is too large.")
		return
	}
	s.fail(w, r, http.StatusBadRequest, "The form could not be read.")
}

type loginData struct {
	CSRF     string
	Username string
	Error    string
}

// setCookie sets an HttpOnly, SameSite=Lax cookie, Secure when configured or
// when the request came over TLS.
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.cfg.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode})
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, r, http.StatusOK, "", "")
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, username, msg string) {
	tok := randomToken(24)
	s.setCookie(w, r, loginCSRFCookie, tok, 3600)
	s.render(w, r, status, "login", "Log in", loginData{CSRF: tok, Username: username, Error: msg})
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.badForm(w, r, err)
		return
	}
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		s.renderLogin(w, r, http.StatusForbidden, "", "The login form expired. Please try again.")
		return
	}
	user, pass := r.PostForm.Get("username"), r.PostForm.Get("password")
	if len(user) > 64 || len(pass) > 72 {
		s.renderLogin(w, r, http.StatusBadRequest, "", "Username or password too long.")
		return
	}
	if !s.limiter.allow("addr:"+clientAddr(r)) || !s.limiter.allow("user:"+user) {
		w.Header().Set("Retry-After", fmt.Sprint(int(s.cfg.LoginEvery.Seconds())+1))
		s.renderLogin(w, r, http.StatusTooManyRequests, user, "Too many login attempts. Wait a little and try again.")
		return
	}
	l, err := s.st.LabelerByName(r.Context(), user)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internal(w, r, err)
		return
	}
	hash := dummyHash()
	if err == nil {
		hash = l.PasswordHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil || err != nil || l.Disabled {
		s.renderLogin(w, r, http.StatusUnauthorized, user, "Wrong username or password, or the account is disabled.")
		return
	}
	tok := randomToken(32)
	now := time.Now()
	if err := s.st.CreateSession(r.Context(), store.Session{IDHash: hashToken(tok), LabelerID: l.ID,
		CSRFToken: randomToken(32), CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}); err != nil {
		s.internal(w, r, err)
		return
	}
	s.setCookie(w, r, sessionCookie, tok, int(s.cfg.SessionTTL.Seconds()))
	s.setCookie(w, r, loginCSRFCookie, "", -1)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	a, _ := authFrom(r.Context())
	if err := s.st.DeleteSession(r.Context(), a.sess.IDHash); err != nil {
		s.internal(w, r, err)
		return
	}
	s.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// limiter is a token bucket per key: burst tokens, one more every `every`.
type limiter struct {
	mu      sync.Mutex
	burst   float64
	every   time.Duration
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(burst int, every time.Duration) *limiter {
	return &limiter{burst: float64(burst), every: every, buckets: map[string]*bucket{}}
}

// allow takes a token for key, reporting whether one was left.
func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if len(l.buckets) > 100000 { // bound memory: forget full buckets
		for k, b := range l.buckets {
			if b.tokens+now.Sub(b.last).Seconds()/l.every.Seconds() >= l.burst {
				delete(l.buckets, k)
			}
		}
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()/l.every.Seconds())
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
