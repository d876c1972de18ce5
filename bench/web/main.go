// Command web is the labeling app's load benchmark: it serves the app on
// 127.0.0.1 against SQLite or PostgreSQL, runs N simulated labelers that log
// in and then label as fast as they can (lease a query over /api/next, submit
// over /api/label, now and then resend a submit as a browser retry would) for
// a fixed time, and reports labels/s, latency percentiles, and the number of
// lost or duplicated labels, which must be zero.
//
//	go run ./bench/web -db sqlite -labelers 50 -duration 60s
//	go run ./bench/web -db "$RLHF_TEST_POSTGRES" -labelers 50 -duration 60s
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"rlhf/store"
	"rlhf/web"
)

func main() {
	dbFlag := flag.String("db", "sqlite", `database: "sqlite" (a fresh file in a temp dir), a sqlite path/URL, or a postgres:// URL`)
	labelers := flag.Int("labelers", 50, "concurrent simulated labelers")
	duration := flag.Duration("duration", 60*time.Second, "how long the labelers work")
	queries := flag.Int("queries", 40000, "queries to seed (each with -overlap slots)")
	overlap := flag.Int("overlap", 2, "labelers per query")
	maxReq := flag.Int("max-requests", 200000, "bound on submits per labeler")
	retryEvery := flag.Int("retry-every", 10, "resend every n-th submit with the same key (0: never)")
	flag.Parse()
	if err := run(*dbFlag, *labelers, *duration, *queries, *overlap, *maxReq, *retryEvery); err != nil {
		fmt.Fprintln(os.Stderr, "bench/web:", err)
		os.Exit(1)
	}
}

type sample struct {
	next, submit time.Duration
}

type ack struct {
	query, label int64
	slot         int
	labeler      string
}

func run(dbURL string, nLabelers int, duration time.Duration, nQueries, overlap, maxReq, retryEvery int) error {
	ctx := context.Background()
	backend := "sqlite"
	if dbURL == "sqlite" {
		dir, err := os.MkdirTemp("", "rlhf-bench-web")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dbURL = "sqlite://" + filepath.Join(dir, "labels.db")
	}
	if strings.HasPrefix(dbURL, "postgres") {
		backend = "postgres"
	}
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer st.Close()

	// A run and accounts of our own, so a shared database is fine.
	tag := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	if err := st.CreateRun(ctx, store.Run{ID: tag, Name: "web load benchmark"}); err != nil {
		return err
	}
	t0 := time.Now()
	const batch = 2000
	for done := 0; done < nQueries; done += batch {
		var qs []store.Query
		for i := done; i < min(done+batch, nQueries); i++ {
			b, _ := json.Marshal(store.TextPayload{Kind: store.KindText, Prompt: fmt.Sprintf("Prompt %d: write a line about the sea.", i),
				Completions: []string{"The sea keeps its own time.", "Sea is big and wet."}})
			qs = append(qs, store.Query{RunID: tag, Payload: b, Overlap: overlap, PolicyVersion: "bench"})
		}
		if _, err := st.AddQueries(ctx, qs); err != nil {
			return err
		}
	}
	seedTime := time.Since(t0)
	const password = "bench-password-1"
	hash, err := web.HashPasswordCost(password, bcrypt.MinCost)
	if err != nil {
		return err
	}
	names := make([]string, nLabelers)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", tag, i)
		if _, err := st.CreateLabeler(ctx, store.Labeler{Username: names[i], Role: store.RoleLabeler, PasswordHash: hash}); err != nil {
			return err
		}
	}

	app, err := web.New(web.Config{Store: st, RunID: tag, LoginBurst: 1000})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	transport := &http.Transport{MaxIdleConns: 4 * nLabelers, MaxIdleConnsPerHost: 4 * nLabelers}

	var mu sync.Mutex
	var samples []sample
	var acks []ack
	var errs []string
	retries, retryDupOK := 0, 0
	exhausted := 0
	start := make(chan struct{})
	var deadline time.Time
	var wg sync.WaitGroup
	for i := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fail := func(err error) {
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
			}
			c, csrf, err := login(transport, base, names[i], password)
			if err != nil {
				fail(err)
				return
			}
			<-start
			for n := 0; n < maxReq && time.Now().Before(deadline); n++ {
				t1 := time.Now()
				a, ok, err := next(c, base)
				if err != nil {
					fail(err)
					return
				}
				if !ok {
					mu.Lock()
					exhausted++
					mu.Unlock()
					return
				}
				t2 := time.Now()
				body := fmt.Sprintf(`{"query_id":%d,"slot":%d,"choice":%d,"client_key":"%s-%d-%d","duration_ms":%d}`,
					a.QueryID, a.Slot, (i+n)%2, names[i], a.QueryID, a.Slot, 1000+n%500)
				id, dup, err := submit(c, base, csrf, body)
				if err != nil {
					fail(err)
					return
				}
				t3 := time.Now()
				if dup {
					fail(fmt.Errorf("fresh submit of query %d reported as duplicate", a.QueryID))
				}
				retried, retryOK := false, false
				if retryEvery > 0 && n%retryEvery == retryEvery-1 {
					id2, dup2, err := submit(c, base, csrf, body)
					retried, retryOK = true, err == nil && dup2 && id2 == id
				}
				mu.Lock()
				samples = append(samples, sample{next: t2.Sub(t1), submit: t3.Sub(t2)})
				acks = append(acks, ack{query: a.QueryID, label: id, slot: a.Slot, labeler: names[i]})
				if retried {
					retries++
					if retryOK {
						retryDupOK++
					}
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(200 * time.Millisecond) // let the logins finish
	deadline = time.Now().Add(duration)
	begin := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(begin)

	// Check the database against what the server acknowledged.
	ls, err := st.Labels(ctx, store.LabelFilter{RunID: tag})
	if err != nil {
		return err
	}
	stored := map[int64]store.Label{}
	slotSeen := map[[2]int64]int{}
	pairSeen := map[string]int{}
	for _, l := range ls {
		stored[l.ID] = l
		slotSeen[[2]int64{l.QueryID, int64(l.Slot)}]++
		pairSeen[fmt.Sprint(l.QueryID, "/", l.LabelerID)]++
	}
	lost, dups, unacked := 0, 0, 0
	ackedIDs := map[int64]bool{}
	for _, a := range acks {
		if ackedIDs[a.label] {
			dups++ // the server acknowledged one label as two fresh submits
		}
		ackedIDs[a.label] = true
		if l, ok := stored[a.label]; !ok || l.QueryID != a.query || l.Slot != a.slot || l.Labeler != a.labeler {
			lost++
		}
	}
	for _, n := range slotSeen {
		dups += n - 1
	}
	for _, n := range pairSeen {
		dups += n - 1
	}
	for id := range stored {
		if !ackedIDs[id] {
			unacked++
		}
	}

	sub := make([]time.Duration, len(samples))
	nxt := make([]time.Duration, len(samples))
	cyc := make([]time.Duration, len(samples))
	for i, s := range samples {
		sub[i], nxt[i], cyc[i] = s.submit, s.next, s.next+s.submit
	}
	fmt.Printf("backend: %s  labelers: %d  duration: %v  GOMAXPROCS: %d  seeded %d queries x %d slots in %v\n",
		backend, nLabelers, duration, runtime.GOMAXPROCS(0), nQueries, overlap, seedTime.Round(time.Millisecond))
	fmt.Printf("labels acknowledged: %d in %.1f s = %.1f labels/s\n", len(acks), elapsed.Seconds(), float64(len(acks))/elapsed.Seconds())
	fmt.Printf("submit latency   p50 %v  p99 %v  max %v\n", pct(sub, 50), pct(sub, 99), pct(sub, 100))
	fmt.Printf("lease latency    p50 %v  p99 %v  max %v\n", pct(nxt, 50), pct(nxt, 99), pct(nxt, 100))
	fmt.Printf("lease+submit     p50 %v  p99 %v\n", pct(cyc, 50), pct(cyc, 99))
	fmt.Printf("retried submits: %d, answered as the same label: %d\n", retries, retryDupOK)
	fmt.Printf("labels in database: %d; lost: %d; duplicated: %d; stored but unacknowledged: %d\n", len(ls), lost, dups, unacked)
	if exhausted > 0 {
		fmt.Printf("note: %d labelers ran out of queries before the deadline (seed more with -queries)\n", exhausted)
	}
	if len(errs) > 0 {
		fmt.Printf("errors: %d, first: %s\n", len(errs), errs[0])
	}
	if lost != 0 || dups != 0 || retryDupOK != retries || len(errs) > 0 {
		return errors.New("FAILED: lost or duplicated labels, broken idempotency, or request errors")
	}
	return nil
}

func pct(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p / 100)
	return s[i].Round(10 * time.Microsecond)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// login logs in through the login form and returns a client holding the
// session cookie, plus the session's CSRF token.
func login(tr http.RoundTripper, base, user, pass string) (*http.Client, string, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := c.Get(base + "/login")
	if err != nil {
		return nil, "", err
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	m := csrfRE.FindSubmatch(b)
	if m == nil {
		return nil, "", errors.New("login page has no CSRF token")
	}
	r, err = c.PostForm(base+"/login", url.Values{"csrf": {string(m[1])}, "username": {user}, "password": {pass}})
	if err != nil {
		return nil, "", err
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusSeeOther {
		return nil, "", fmt.Errorf("login %s: status %d", user, r.StatusCode)
	}
	a, ok, err := next(c, base)
	if err != nil || !ok {
		return nil, "", fmt.Errorf("login %s: first lease: ok=%v %v", user, ok, err)
	}
	return c, a.CSRF, nil
}

type assignment struct {
	QueryID int64  `json:"query_id"`
	Slot    int    `json:"slot"`
	CSRF    string `json:"csrf"`
}

func next(c *http.Client, base string) (assignment, bool, error) {
	var a assignment
	r, err := c.Get(base + "/api/next")
	if err != nil {
		return a, false, err
	}
	defer r.Body.Close()
	if r.StatusCode == http.StatusNoContent {
		return a, false, nil
	}
	if r.StatusCode != 200 {
		b, _ := io.ReadAll(r.Body)
		return a, false, fmt.Errorf("next: status %d: %s", r.StatusCode, b)
	}
	return a, true, json.NewDecoder(r.Body).Decode(&a)
}

func submit(c *http.Client, base, csrf, body string) (int64, bool, error) {
	req, err := http.NewRequest("POST", base+"/api/label", strings.NewReader(body))
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	r, err := c.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer r.Body.Close()
	if r.StatusCode != 200 {
		b, _ := io.ReadAll(r.Body)
		return 0, false, fmt.Errorf("submit: status %d: %s", r.StatusCode, b)
	}
	var out struct {
		LabelID   int64 `json:"label_id"`
		Duplicate bool  `json:"duplicate"`
	}
	err = json.NewDecoder(r.Body).Decode(&out)
	return out.LabelID, out.Duplicate, err
}
