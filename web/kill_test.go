package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"rlhf/store"
)

// TestMain lets the test binary double as the server that TestKill9 kills:
// with RLHF_WEB_KILL_CHILD set to a database path it serves that database.
func TestMain(m *testing.M) {
	if db := os.Getenv("RLHF_WEB_KILL_CHILD"); db != "" {
		os.Exit(killChild(db))
	}
	os.Exit(m.Run())
}

func killChild(db string) int {
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	app, err := New(Config{Store: st})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	err = http.Serve(ln, app)
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// TestKill9 submits labels to a server in another process, kills it with
// SIGKILL while submits are in flight, reopens the database and checks that
// every label the server acknowledged is there, once.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test skipped in -short mode")
	}
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "labels.db")
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRun(ctx, store.Run{ID: "r"}); err != nil {
		t.Fatal(err)
	}
	var qs []store.Query
	for i := 0; i < 400; i++ {
		b, _ := json.Marshal(store.TextPayload{Kind: store.KindText, Prompt: fmt.Sprint("p", i), Completions: []string{"a", "b"}})
		qs = append(qs, store.Query{RunID: "r", Payload: b})
	}
	if _, err := st.AddQueries(ctx, qs); err != nil {
		t.Fatal(err)
	}
	const workers = 4
	for i := 0; i < workers; i++ {
		h, _ := HashPasswordCost("kill-password", bcrypt.MinCost)
		if _, err := st.CreateLabeler(ctx, store.Labeler{Username: fmt.Sprint("w", i), Role: store.RoleLabeler, PasswordHash: h}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RLHF_WEB_KILL_CHILD="+db)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		t.Fatalf("child did not report its address: %q %v", line, err)
	}
	base := "http://" + strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))

	type ack struct{ query, label int64 }
	var mu sync.Mutex
	var acks []ack
	enough := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, csrf, err := apiLogin(base, fmt.Sprint("w", i), "kill-password")
			if err != nil {
				t.Error(err)
				return
			}
			for n := 0; n < 100; n++ { // bounded; the kill ends it sooner
				q, err := apiNextQuery(c, base)
				if err != nil {
					return // the server is gone
				}
				body := fmt.Sprintf(`{"query_id":%d,"slot":0,"choice":%d,"client_key":"kill-%d-%d"}`, q, n%2, i, q)
				id, err := apiPostLabel(c, base, csrf, body)
				if err != nil {
					return
				}
				mu.Lock()
				acks = append(acks, ack{q, id})
				if len(acks) >= 40 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-enough:
	case <-time.After(30 * time.Second):
		t.Fatal("the server acknowledged too few labels in 30 s")
	}
	// Kill while the workers keep submitting.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	cmd.Wait()
	wg.Wait()

	st, err = store.Open(ctx, db)
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer st.Close()
	ls, err := st.Labels(ctx, store.LabelFilter{})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[int64]int64{}
	perQuery := map[int64]int{}
	for _, l := range ls {
		stored[l.ID] = l.QueryID
		perQuery[l.QueryID]++
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range acks {
		if q, ok := stored[a.label]; !ok || q != a.query {
			t.Errorf("acknowledged label %d (query %d) missing after kill -9", a.label, a.query)
		}
	}
	for q, n := range perQuery {
		if n > 1 {
			t.Errorf("query %d has %d labels", q, n)
		}
	}
	t.Logf("%d labels acknowledged before the kill, %d in the database after it", len(acks), len(ls))
	if len(ls) < len(acks) {
		t.Fatalf("%d stored < %d acknowledged", len(ls), len(acks))
	}
}

// apiLogin logs in through the login form and returns a client with the
// session cookie and the session's CSRF token.
func apiLogin(base, user, pass string) (*http.Client, string, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := c.Get(base + "/login")
	if err != nil {
		return nil, "", err
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	r, err = c.PostForm(base+"/login", url.Values{"csrf": {hidden(string(b))["csrf"]}, "username": {user}, "password": {pass}})
	if err != nil {
		return nil, "", err
	}
	r.Body.Close()
	if r.StatusCode != http.StatusSeeOther {
		return nil, "", fmt.Errorf("login %s: status %d", user, r.StatusCode)
	}
	r, err = c.Get(base + "/api/next")
	if err != nil {
		return nil, "", err
	}
	defer r.Body.Close()
	var a apiAssignment
	if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
		return nil, "", fmt.Errorf("login %s: next: %w", user, err)
	}
	return c, a.CSRF, nil
}

func apiNextQuery(c *http.Client, base string) (int64, error) {
	r, err := c.Get(base + "/api/next")
	if err != nil {
		return 0, err
	}
	defer r.Body.Close()
	if r.StatusCode != 200 {
		return 0, fmt.Errorf("next: status %d", r.StatusCode)
	}
	var a apiAssignment
	if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
		return 0, err
	}
	return a.QueryID, nil
}

func apiPostLabel(c *http.Client, base, csrf, body string) (int64, error) {
	req, _ := http.NewRequest("POST", base+"/api/label", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	r, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer r.Body.Close()
	var out struct {
		LabelID int64 `json:"label_id"`
	}
	if r.StatusCode != 200 {
		return 0, fmt.Errorf("label: status %d", r.StatusCode)
	}
	if err := json.NewDecoder(r.Body).Decode(&out); err != nil {
		return 0, err
	}
	return out.LabelID, nil
}
