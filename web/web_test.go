package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"rlhf/feedback"
	"rlhf/store"
)

// env is a test app on a loopback server with its store.
type env struct {
	t   testing.TB
	st  store.Store
	srv *httptest.Server
	app *Server
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "labels.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg.Store = st
	app, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	if err := st.CreateRun(context.Background(), store.Run{ID: "r", Name: "Test run", Instructions: "Pick the kinder reply."}); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, st: st, srv: srv, app: app}
}

// user creates an account whose password is the username repeated.
func (e *env) user(name string, role store.Role) int64 {
	e.t.Helper()
	h, err := HashPasswordCost(name+"-password", bcrypt.MinCost)
	if err != nil {
		e.t.Fatal(err)
	}
	id, err := e.st.CreateLabeler(context.Background(), store.Labeler{Username: name, Role: role, PasswordHash: h})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) text(prompt string, completions ...string) int64 {
	e.t.Helper()
	b, _ := json.Marshal(store.TextPayload{Kind: store.KindText, Prompt: prompt, Completions: completions})
	ids, err := e.st.AddQueries(context.Background(), []store.Query{{RunID: "r", Payload: b}})
	if err != nil {
		e.t.Fatal(err)
	}
	return ids[0]
}

// client is a browser-like client: a cookie jar, no redirect following.
type client struct {
	e    *env
	http *http.Client
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, http: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type resp struct {
	code int
	body string
	hdr  http.Header
}

func (c *client) do(req *http.Request) resp {
	c.e.t.Helper()
	r, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, string(b), r.Header}
}

func (c *client) get(path string) resp {
	req, _ := http.NewRequest("GET", c.e.srv.URL+path, nil)
	return c.do(req)
}

func (c *client) post(path string, form url.Values) resp {
	req, _ := http.NewRequest("POST", c.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

var hiddenRE = regexp.MustCompile(`name="(\w+)" value="([^"]*)"`)

// hidden returns the hidden form fields of a page (the last value wins).
func hidden(body string) map[string]string {
	out := map[string]string{}
	for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2]
	}
	return out
}

func (c *client) login(name string) {
	c.e.t.Helper()
	page := c.get("/login")
	r := c.post("/login", url.Values{"csrf": {hidden(page.body)["csrf"]}, "username": {name}, "password": {name + "-password"}})
	if r.code != http.StatusSeeOther || r.hdr.Get("Location") != "/" {
		c.e.t.Fatalf("login %s: %d %s", name, r.code, r.body)
	}
}

// labelForm loads the labeling page and returns its form fields.
func (c *client) labelForm() (map[string]string, string) {
	c.e.t.Helper()
	r := c.get("/")
	if r.code != 200 {
		c.e.t.Fatalf("label page: %d", r.code)
	}
	return hidden(r.body), r.body
}

func (e *env) labels() []store.Label {
	e.t.Helper()
	ls, err := e.st.Labels(context.Background(), store.LabelFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return ls
}

func TestLoginAndLabel(t *testing.T) {
	e := newEnv(t, Config{})
	e.user("ann", store.RoleLabeler)
	q := e.text("Say hello", "Hello there!", "Go away.")
	c := e.client()
	if r := c.get("/"); r.code != http.StatusSeeOther || r.hdr.Get("Location") != "/login" {
		t.Fatalf("anonymous GET / = %d to %q, want redirect to /login", r.code, r.hdr.Get("Location"))
	}
	page := c.get("/login")
	csrf := hidden(page.body)["csrf"]
	if csrf == "" {
		t.Fatal("login form has no CSRF token")
	}
	if r := c.post("/login", url.Values{"username": {"ann"}, "password": {"ann-password"}}); r.code != http.StatusForbidden {
		t.Fatalf("login without CSRF = %d, want 403", r.code)
	}
	page = c.get("/login")
	if r := c.post("/login", url.Values{"csrf": {hidden(page.body)["csrf"]}, "username": {"ann"}, "password": {"wrong-password"}}); r.code != http.StatusUnauthorized {
		t.Fatalf("wrong password = %d, want 401", r.code)
	}
	c.login("ann")
	u, _ := url.Parse(e.srv.URL)
	var sess *http.Cookie
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == sessionCookie {
			sess = ck
		}
	}
	if sess == nil {
		t.Fatal("no session cookie")
	}
	f, body := c.labelForm()
	if f["query_id"] != fmt.Sprint(q) || f["slot"] != "0" || f["csrf"] == "" || len(f["client_key"]) < 16 {
		t.Fatalf("form fields = %v", f)
	}
	for _, want := range []string{"Say hello", "Hello there!", "Go away.", "Pick the kinder reply.", "Test run", `/static/label.js`} {
		if !strings.Contains(body, want) {
			t.Errorf("label page lacks %q", want)
		}
	}
	r := c.post("/label", url.Values{"csrf": {f["csrf"]}, "query_id": {f["query_id"]}, "slot": {f["slot"]},
		"client_key": {f["client_key"]}, "choice": {"1"}, "confidence": {"0.75"}, "note": {"fine"}, "duration_ms": {"1234"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("submit = %d %s", r.code, r.body)
	}
	ls := e.labels()
	if len(ls) != 1 || ls[0].Choice != 1 || *ls[0].Confidence != 0.75 || ls[0].Note != "fine" ||
		ls[0].Duration != 1234*time.Millisecond || ls[0].Labeler != "ann" {
		t.Fatalf("labels = %+v", ls)
	}
	_, body = c.labelForm()
	if !strings.Contains(body, "Nothing to label") {
		t.Fatal("after the only query, the page does not say there is nothing left")
	}
	// Logout ends the session on the server.
	r = c.post("/logout", url.Values{"csrf": {f["csrf"]}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("logout = %d", r.code)
	}
	if r := c.get("/"); r.code != http.StatusSeeOther {
		t.Fatalf("after logout GET / = %d, want redirect", r.code)
	}
}

func TestSecurityHeadersAndCookies(t *testing.T) {
	e := newEnv(t, Config{SecureCookies: true})
	c := e.client()
	r := c.get("/login")
	csp := r.hdr.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
	if r.hdr.Get("X-Frame-Options") != "DENY" || r.hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers = %v", r.hdr)
	}
	sc := r.hdr.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Secure"} {
		if !strings.Contains(sc, want) {
			t.Errorf("cookie %q lacks %s", sc, want)
		}
	}
	if strings.Contains(r.body, "<script>") || strings.Contains(r.body, " onclick=") {
		t.Error("page has inline script")
	}
	if r := c.get("/static/label.js"); r.code != 200 || !strings.Contains(r.hdr.Get("Content-Type"), "javascript") {
		t.Errorf("label.js = %d %s", r.code, r.hdr.Get("Content-Type"))
	}
}

func TestHostileInput(t *testing.T) {
	e := newEnv(t, Config{MaxBodyBytes: 16 << 10})
	ann, _ := e.user("ann", store.RoleLabeler), e.user("bob", store.RoleLabeler)
	e.text(`<script>alert("prompt")</script>`, `<img src=x onerror=alert(1)>`, `</pre><script>alert(2)</script>`)
	e.text("second", "a", "b")
	a, b := e.client(), e.client()
	a.login("ann")
	b.login("bob")
	fa, body := a.labelForm()
	if strings.Contains(body, `<script>alert`) || strings.Contains(body, `<img src=x`) {
		t.Fatal("model text reached the page unescaped")
	}
	if !strings.Contains(body, `&lt;script&gt;alert(&#34;prompt&#34;)&lt;/script&gt;`) {
		t.Fatal("escaped prompt not on the page")
	}
	fb, _ := b.labelForm()
	if fa["query_id"] == fb["query_id"] {
		t.Fatal("two labelers were given the same overlap-1 query")
	}
	submit := func(c *client, f map[string]string, extra url.Values) resp {
		v := url.Values{"csrf": {f["csrf"]}, "query_id": {f["query_id"]}, "slot": {f["slot"]}, "client_key": {f["client_key"]}, "choice": {"0"}}
		for k, x := range extra {
			v[k] = x
		}
		return c.post("/label", v)
	}

	// Missing and wrong CSRF token.
	if r := submit(a, fa, url.Values{"csrf": {""}}); r.code != http.StatusForbidden {
		t.Errorf("missing CSRF = %d, want 403", r.code)
	}
	if r := submit(a, fa, url.Values{"csrf": {fb["csrf"]}}); r.code != http.StatusForbidden {
		t.Errorf("another session's CSRF = %d, want 403", r.code)
	}
	// Oversized body.
	if r := submit(a, fa, url.Values{"note": {strings.Repeat("x", 64<<10)}}); r.code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body = %d, want 413", r.code)
	}
	// Bob submits for Ann's query, with his own valid token.
	if r := submit(b, map[string]string{"csrf": fb["csrf"], "query_id": fa["query_id"], "slot": fa["slot"], "client_key": "bob-key-123456"}, nil); r.code != http.StatusConflict {
		t.Errorf("another labeler's query = %d, want 409", r.code)
	}
	// Malformed fields.
	for name, extra := range map[string]url.Values{
		"choice":     {"choice": {"<script>"}},
		"query_id":   {"query_id": {"1 OR 1=1"}},
		"confidence": {"confidence": {"NaN"}},
		"key":        {"client_key": {"x"}},
		"note":       {"note": {strings.Repeat("n", store.MaxNoteLen+1)}},
		"index":      {"choice": {"7"}},
	} {
		if r := submit(a, fa, extra); r.code != http.StatusBadRequest {
			t.Errorf("bad %s = %d, want 400", name, r.code)
		}
	}
	if n := len(e.labels()); n != 0 {
		t.Fatalf("%d labels stored from hostile requests", n)
	}
	// A note with markup is stored verbatim and shown escaped to admins.
	note := `<script>alert("note")</script>`
	if r := submit(a, fa, url.Values{"note": {note}}); r.code != http.StatusSeeOther {
		t.Fatalf("good submit = %d %s", r.code, r.body)
	}
	ls := e.labels()
	if len(ls) != 1 || ls[0].Note != note || ls[0].LabelerID != ann {
		t.Fatalf("labels = %+v", ls)
	}
	e.user("root", store.RoleAdmin)
	adm := e.client()
	adm.login("root")
	page := adm.get("/admin")
	if page.code != 200 || strings.Contains(page.body, note) || !strings.Contains(page.body, "&lt;script&gt;alert(&#34;note&#34;)") {
		t.Fatalf("admin page shows the note unescaped or not at all (code %d)", page.code)
	}
	// Labelers may not use admin pages.
	if r := a.get("/admin"); r.code != http.StatusForbidden {
		t.Errorf("labeler GET /admin = %d, want 403", r.code)
	}
	if r := a.post("/admin/runs/r/stop", url.Values{"csrf": {fa["csrf"]}}); r.code != http.StatusForbidden {
		t.Errorf("labeler stop = %d, want 403", r.code)
	}
	if r := a.get("/admin/export.jsonl"); r.code != http.StatusForbidden {
		t.Errorf("labeler export = %d, want 403", r.code)
	}
	// Garbage session cookie.
	junk := e.client()
	u, _ := url.Parse(e.srv.URL)
	junk.http.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: strings.Repeat("A", 43)}})
	if r := junk.get("/"); r.code != http.StatusSeeOther {
		t.Errorf("forged session = %d, want redirect to login", r.code)
	}
}

func TestIdempotentSubmit(t *testing.T) {
	e := newEnv(t, Config{})
	e.user("ann", store.RoleLabeler)
	e.text("p", "a", "b")
	e.text("q", "c", "d")
	c := e.client()
	c.login("ann")
	f, _ := c.labelForm()
	v := url.Values{"csrf": {f["csrf"]}, "query_id": {f["query_id"]}, "slot": {f["slot"]}, "client_key": {"fixed-key-0001"}, "choice": {"tie"}}
	for i := 0; i < 3; i++ { // the browser retries after a lost response
		if r := c.post("/label", v); r.code != http.StatusSeeOther {
			t.Fatalf("submit %d = %d %s", i, r.code, r.body)
		}
	}
	ls := e.labels()
	if len(ls) != 1 || ls[0].Choice != feedback.Tie {
		t.Fatalf("labels = %+v, want one tie", ls)
	}
	// A different key for the same query is a second label: refused.
	v.Set("client_key", "other-key-0002")
	if r := c.post("/label", v); r.code != http.StatusConflict {
		t.Fatalf("second label = %d, want 409", r.code)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, Config{LoginBurst: 3, LoginEvery: time.Hour})
	e.user("ann", store.RoleLabeler)
	c := e.client()
	codes := []int{}
	for i := 0; i < 5; i++ {
		page := c.get("/login")
		r := c.post("/login", url.Values{"csrf": {hidden(page.body)["csrf"]}, "username": {"ann"}, "password": {"guess-number-" + fmt.Sprint(i)}})
		codes = append(codes, r.code)
	}
	want := []int{401, 401, 401, 429, 429}
	if fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Fatalf("codes = %v, want %v", codes, want)
	}
	// Even the right password is refused while limited.
	page := c.get("/login")
	if r := c.post("/login", url.Values{"csrf": {hidden(page.body)["csrf"]}, "username": {"ann"}, "password": {"ann-password"}}); r.code != http.StatusTooManyRequests {
		t.Fatalf("right password while limited = %d, want 429", r.code)
	}
}

func TestAdmin(t *testing.T) {
	e := newEnv(t, Config{})
	e.user("root", store.RoleAdmin)
	gold := feedback.Choice(0)
	b, _ := json.Marshal(store.TextPayload{Kind: store.KindText, Prompt: "Say hi", Completions: []string{"hi", "bye"}})
	if _, err := e.st.AddQueries(context.Background(), []store.Query{{RunID: "r", Payload: b, Overlap: 2, Gold: &gold}}); err != nil {
		t.Fatal(err)
	}
	adm := e.client()
	adm.login("root")
	page := adm.get("/admin")
	csrf := hidden(page.body)["csrf"]
	if page.code != 200 || !strings.Contains(page.body, "Stop training") {
		t.Fatalf("admin page %d lacks the stop button", page.code)
	}
	// Invite: without the CSRF token, refused; with it, a password is shown once.
	if r := adm.post("/admin/labelers", url.Values{"username": {"newbie"}, "role": {"labeler"}}); r.code != http.StatusForbidden {
		t.Fatalf("invite without CSRF = %d", r.code)
	}
	r := adm.post("/admin/labelers", url.Values{"csrf": {csrf}, "username": {"newbie"}, "role": {"labeler"}})
	m := regexp.MustCompile(`id="new-password">([^<]+)<`).FindStringSubmatch(r.body)
	if r.code != 200 || m == nil {
		t.Fatalf("invite = %d, no password shown", r.code)
	}
	if r := adm.post("/admin/labelers", url.Values{"csrf": {csrf}, "username": {"newbie"}, "role": {"labeler"}}); r.code != http.StatusConflict {
		t.Fatalf("duplicate invite = %d, want 409", r.code)
	}
	if r := adm.post("/admin/labelers", url.Values{"csrf": {csrf}, "username": {"<b>x</b>"}, "role": {"labeler"}}); r.code != http.StatusBadRequest {
		t.Fatalf("bad username = %d, want 400", r.code)
	}
	// The invited labeler logs in with the shown password and labels.
	nb := e.client()
	lp := nb.get("/login")
	if r := nb.post("/login", url.Values{"csrf": {hidden(lp.body)["csrf"]}, "username": {"newbie"}, "password": {m[1]}}); r.code != http.StatusSeeOther {
		t.Fatalf("invited login = %d", r.code)
	}
	f, _ := nb.labelForm()
	if r := nb.post("/label", url.Values{"csrf": {f["csrf"]}, "query_id": {f["query_id"]}, "slot": {f["slot"]}, "client_key": {f["client_key"]}, "choice": {"0"}, "note": {"easy"}}); r.code != http.StatusSeeOther {
		t.Fatalf("invited labeler submit = %d", r.code)
	}
	// Disable: the labeler's session ends.
	l, err := e.st.LabelerByName(context.Background(), "newbie")
	if err != nil {
		t.Fatal(err)
	}
	if r := adm.post(fmt.Sprintf("/admin/labelers/%d/disable", l.ID), url.Values{"csrf": {csrf}}); r.code != http.StatusSeeOther {
		t.Fatalf("disable = %d", r.code)
	}
	if r := nb.get("/"); r.code != http.StatusSeeOther {
		t.Fatalf("disabled labeler GET / = %d, want redirect to login", r.code)
	}
	me, _ := e.st.LabelerByName(context.Background(), "root")
	if r := adm.post(fmt.Sprintf("/admin/labelers/%d/disable", me.ID), url.Values{"csrf": {csrf}}); r.code != http.StatusBadRequest {
		t.Fatalf("self-disable = %d, want 400", r.code)
	}
	page = adm.get("/admin")
	for _, want := range []string{"newbie", "disabled", "100% <span class=\"muted\">of 1</span>", "easy", "Est. accuracy", "<b>—</b><span>of picks estimated wrong"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("admin page lacks %q", want)
		}
	}
	// Stop the run.
	if r := adm.post("/admin/runs/r/stop", url.Values{"csrf": {csrf}}); r.code != http.StatusSeeOther {
		t.Fatalf("stop = %d", r.code)
	}
	if run, _ := e.st.Run(context.Background(), "r"); run.State != store.RunStopRequested {
		t.Fatalf("run state = %q, want stop_requested", run.State)
	}
	if r := adm.post("/admin/runs/nope/stop", url.Values{"csrf": {csrf}}); r.code != http.StatusNotFound {
		t.Fatalf("stop missing run = %d", r.code)
	}
	// Export.
	r = adm.get("/admin/export.jsonl?run=r&kind=text")
	if r.code != 200 || !strings.HasPrefix(r.hdr.Get("Content-Type"), "application/jsonl") {
		t.Fatalf("export = %d %s", r.code, r.hdr.Get("Content-Type"))
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.body)), &rec); err != nil {
		t.Fatalf("export line %q: %v", r.body, err)
	}
	if rec["prompt"] != "Say hi" || rec["chosen"] != "hi" || rec["rejected"] != "bye" || rec["labeler"] != "newbie" {
		t.Fatalf("export record = %v", rec)
	}
	if r := adm.get("/admin/export.jsonl?kind=video"); r.code != http.StatusBadRequest {
		t.Fatalf("bad kind = %d", r.code)
	}
}

func TestAPI(t *testing.T) {
	e := newEnv(t, Config{})
	e.user("ann", store.RoleLabeler)
	q := e.text("p", "a", "b", "c")
	c := e.client()
	c.login("ann")
	r := c.get("/api/next")
	var a apiAssignment
	if err := json.Unmarshal([]byte(r.body), &a); err != nil || r.code != 200 {
		t.Fatalf("next = %d %s %v", r.code, r.body, err)
	}
	if a.QueryID != q || a.Arity != 3 || a.Kind != "text" || a.CSRF == "" {
		t.Fatalf("assignment = %+v", a)
	}
	post := func(body string, csrf string) resp {
		req, _ := http.NewRequest("POST", e.srv.URL+"/api/label", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		return c.do(req)
	}
	body := fmt.Sprintf(`{"query_id":%d,"slot":0,"choice":2,"client_key":"api-key-00001","duration_ms":500}`, q)
	if r := post(body, ""); r.code != http.StatusForbidden {
		t.Fatalf("API without CSRF = %d", r.code)
	}
	if r := post(`{"query_id":`, a.CSRF); r.code != http.StatusBadRequest {
		t.Fatalf("truncated JSON = %d", r.code)
	}
	if r := post(`{"query_id":1,"unknown":true}`, a.CSRF); r.code != http.StatusBadRequest {
		t.Fatalf("unknown field = %d", r.code)
	}
	for i, wantDup := range []bool{false, true} {
		r := post(body, a.CSRF)
		var out struct {
			LabelID   int64 `json:"label_id"`
			Duplicate bool  `json:"duplicate"`
		}
		if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.code != 200 || out.Duplicate != wantDup || out.LabelID == 0 {
			t.Fatalf("submit %d = %d %s", i, r.code, r.body)
		}
	}
	if r := c.get("/api/next"); r.code != http.StatusNoContent {
		t.Fatalf("next with nothing left = %d", r.code)
	}
	if r := post(string(bytes.Repeat([]byte(" "), 70<<10))+"{}", a.CSRF); r.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized JSON = %d", r.code)
	}
	if ls := e.labels(); len(ls) != 1 || ls[0].Choice != 2 {
		t.Fatalf("labels = %+v", ls)
	}
}

func TestControlPage(t *testing.T) {
	e := newEnv(t, Config{})
	e.user("ann", store.RoleLabeler)
	p := DemoControl("Acrobot-v1")
	b, _ := json.Marshal(p)
	if _, err := e.st.AddQueries(context.Background(), []store.Query{{RunID: "r", Payload: b}}); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.login("ann")
	_, body := c.labelForm()
	m := regexp.MustCompile(`data-payload="([^"]+)"`).FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, "/static/control.js") {
		t.Fatal("control page lacks the payload or the canvas script")
	}
	var back store.ControlPayload
	if err := json.Unmarshal([]byte(htmlUnescape(m[1])), &back); err != nil {
		t.Fatalf("payload attribute does not decode: %v", err)
	}
	if back.Env != "Acrobot-v1" || len(back.Segments) != 2 || len(back.Segments[0].States) != len(p.Segments[0].States) {
		t.Fatalf("payload round trip: env %q, %d segments", back.Env, len(back.Segments))
	}
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&#34;", `"`, "&quot;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

func TestDemoPayloadsValid(t *testing.T) {
	for _, env := range []string{"CartPole-v1", "Pendulum-v1", "Acrobot-v1", "Reacher"} {
		b, _ := json.Marshal(DemoControl(env))
		if kind, n, err := store.ParsePayload(b); err != nil || kind != store.KindControl || n != 2 {
			t.Errorf("%s: %s %d %v", env, kind, n, err)
		}
	}
}

func TestImportQueries(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	in := `{"run":"r","payload":{"kind":"text","prompt":"p","completions":["a","b"]},"policy_version":"v3","overlap":2,"gold":1}

{"kind":"text","prompt":"bare","completions":["x","y","z"]}
`
	n, err := ImportQueries(ctx, e.st, strings.NewReader(in), "imported")
	if err != nil || n != 2 {
		t.Fatalf("import = %d, %v", n, err)
	}
	qs, _ := e.st.Queries(ctx, "r")
	if len(qs) != 1 || qs[0].Overlap != 2 || qs[0].PolicyVersion != "v3" || qs[0].Gold == nil || *qs[0].Gold != 1 {
		t.Fatalf("queries of r = %+v", qs)
	}
	qs, _ = e.st.Queries(ctx, "imported")
	if len(qs) != 1 || qs[0].Arity != 3 {
		t.Fatalf("queries of imported = %+v", qs)
	}
	for _, bad := range []string{`{"payload":{"kind":"text","prompt":"p","completions":["a"]}}`, `not json`, `{"kind":"control","env":"Nope"}`} {
		if _, err := ImportQueries(ctx, e.st, strings.NewReader(bad), "x"); err == nil {
			t.Errorf("import %q accepted", bad)
		}
	}
	if all, _ := e.st.Queries(ctx, ""); len(all) != 2 {
		t.Fatalf("a failed import stored queries: %d total", len(all))
	}
}

func TestEnsureAdmin(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	created, err := EnsureAdmin(ctx, e.st, "boss", "a-long-password")
	if err != nil || !created {
		t.Fatalf("first = %v, %v", created, err)
	}
	created, err = EnsureAdmin(ctx, e.st, "boss", "another-password")
	if err != nil || created {
		t.Fatalf("second = %v, %v", created, err)
	}
	if _, err := EnsureAdmin(ctx, e.st, "shorty", "short"); err == nil {
		t.Fatal("short password accepted")
	}
	l, _ := e.st.LabelerByName(ctx, "boss")
	if l.Role != store.RoleAdmin || bcrypt.CompareHashAndPassword(l.PasswordHash, []byte("a-long-password")) != nil {
		t.Fatalf("admin = %+v", l)
	}
}

// FuzzSubmitForm posts arbitrary form bodies to the label endpoint: the server
// must answer with a client error or a redirect, never a 5xx or a panic.
func FuzzSubmitForm(f *testing.F) {
	f.Add("query_id=1&slot=0&choice=0&client_key=abcdefgh12")
	f.Add("query_id=1&slot=0&choice=tie&confidence=2&client_key=abcdefgh12")
	f.Add("query_id=-1&slot=99999999999&choice=%00&note=%3Cscript%3E")
	f.Add("%%%&&==")
	e := newEnv(f, Config{})
	id := e.user("ann", store.RoleLabeler)
	e.text("p", "a", "b")
	token, csrf := randomToken(32), randomToken(32)
	if err := e.st.CreateSession(context.Background(), store.Session{IDHash: hashToken(token), LabelerID: id, CSRFToken: csrf,
		ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		f.Fatal(err)
	}
	if _, err := e.st.Lease(context.Background(), id, "", time.Hour); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/label", strings.NewReader("csrf="+url.QueryEscape(csrf)+"&"+body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: token})
		w := httptest.NewRecorder()
		e.app.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("body %q: status %d", body, w.Code)
		}
	})
}

// FuzzImportQueries feeds arbitrary JSONL to the importer: it either stores
// exactly the lines it reports or nothing, and never panics.
func FuzzImportQueries(f *testing.F) {
	f.Add(`{"kind":"text","prompt":"p","completions":["a","b"]}`)
	f.Add(`{"run":"x","overlap":3,"payload":{"kind":"control","env":"Pendulum-v1","dt":0.05,"segments":[{"states":[[0,0]]},{"states":[[1,1]]}]}}`)
	f.Add("{\"kind\":\"text\",\"prompt\":\"p\",\"completions\":[\"a\",\"b\"]}\n{\"kind\":\"text\"}")
	e := newEnv(f, Config{})
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, in string) {
		before, err := e.st.Queries(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		n, err := ImportQueries(ctx, e.st, strings.NewReader(in), "fuzz")
		after, err2 := e.st.Queries(ctx, "")
		if err2 != nil {
			t.Fatal(err2)
		}
		if err != nil {
			n = 0
		}
		if len(after) != len(before)+n {
			t.Fatalf("import reported %d (err %v) but %d queries were added", n, err, len(after)-len(before))
		}
	})
}
