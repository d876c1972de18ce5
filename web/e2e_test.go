package web

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"rlhf/feedback"
	"rlhf/store"
)

const chromiumPath = "/usr/bin/chromium"

// TestBrowserLabeling drives headless Chromium: a labeler logs in, labels
// three queries with the keyboard only, and the labels are in the database.
func TestBrowserLabeling(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skip("browser test skipped: " + chromiumPath + " is missing (apt-get install chromium, or run scripts/ci-services.sh)")
	}
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	e := newEnv(t, Config{})
	e.user("ann", store.RoleLabeler)
	q1 := e.text(`Greet <b>me</b>`, "Hello!", `<script>document.title="pwned"</script>`)
	q2 := e.text("Count to three", "1, 2, 3", "3, 2, 1")
	q3 := e.text("Name a colour", "blue", "blue")

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1200, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The first Run starts the browser and must not carry a timeout; a
	// watchdog bounds the whole test instead.
	watchdog := time.AfterFunc(90*time.Second, cancel)
	defer watchdog.Stop()

	err := chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/login"),
		chromedp.SendKeys(chromedp.CSS("#username"), "ann"),
		chromedp.SendKeys(chromedp.CSS("#password"), "ann-password"),
		chromedp.Submit(chromedp.CSS("#login-form")),
		chromedp.WaitVisible(chromedp.CSS("#label-form")),
	)
	if err != nil {
		t.Fatalf("login in the browser: %v", err)
	}
	// currentQuery returns the query id on the page, or "" once nothing is left.
	currentQuery := func() string {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](
			`(function(){var f=document.getElementById("label-form");return f?f.elements.query_id.value:(document.querySelector(".empty")?"":"?")})()`))
		if err != nil {
			return "?"
		}
		return v
	}
	keys := []string{"1", kb.ArrowRight, "t"}
	for i, key := range keys {
		before := currentQuery()
		if before == "" || before == "?" {
			t.Fatalf("step %d: no query on the page (%q)", i, before)
		}
		if err := chromedp.Do(ctx, chromedp.KeyEvent(key)); err != nil {
			t.Fatalf("step %d: key %q: %v", i, key, err)
		}
		after := before
		for n := 0; n < 100 && (after == before || after == "?"); n++ { // bounded: 10 s
			time.Sleep(100 * time.Millisecond)
			after = currentQuery()
		}
		if after == before || after == "?" {
			t.Fatalf("step %d: the page did not move on from query %s", i, before)
		}
	}
	if q := currentQuery(); q != "" {
		t.Fatalf("after three labels the page shows query %q, want the empty page", q)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil || title == "pwned" {
		t.Fatalf("page title %q (%v): model text ran as script", title, err)
	}

	ls := e.labels()
	if len(ls) != 3 {
		t.Fatalf("%d labels in the database, want 3", len(ls))
	}
	want := map[int64]feedback.Choice{q1: 0, q2: 1, q3: feedback.Tie}
	for _, l := range ls {
		if c, ok := want[l.QueryID]; !ok || c != l.Choice {
			t.Errorf("label for query %d = %v, want %v", l.QueryID, l.Choice, c)
		}
		if len(l.ClientKey) != 36 { // crypto.randomUUID() from the page script
			t.Errorf("client key %q is not the browser's UUID", l.ClientKey)
		}
		if l.Duration <= 0 || l.Labeler != "ann" {
			t.Errorf("label %+v: duration or labeler missing", l)
		}
	}
}
