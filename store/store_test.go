package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"rlhf/feedback"
	"rlhf/store"
	"rlhf/store/storetest"
)

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "labels.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// PostgresURL returns the test database URL, skipping the test when it is unset.
func postgresURL(t *testing.T) string {
	u := os.Getenv("RLHF_TEST_POSTGRES")
	if u == "" {
		t.Skip("PostgreSQL store tests skipped: set RLHF_TEST_POSTGRES=postgres://user:pass@127.0.0.1:5432/db?sslmode=disable " +
			"(scripts/ci-services.sh starts a server and prints the line)")
	}
	return u
}

// freshSchema creates an empty schema and returns a URL whose connections use it.
func freshSchema(t *testing.T, base string) string {
	t.Helper()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestPostgres(t *testing.T) {
	base := postgresURL(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.Open(context.Background(), freshSchema(t, base))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestOpenURLs(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for _, u := range []string{
		"sqlite://" + filepath.Join(dir, "a.db"),
		"sqlite:" + filepath.Join(dir, "b.db"),
		filepath.Join(dir, "c.db"),
	} {
		s, err := store.Open(ctx, u)
		if err != nil {
			t.Fatalf("open %s: %v", u, err)
		}
		s.Close()
	}
	for _, u := range []string{"", "mysql://x", "sqlite://" + filepath.Join(dir, "missing-dir", "x.db"), "sqlite:///tmp/x.db?mode=memory"} {
		if s, err := store.Open(ctx, u); err == nil {
			s.Close()
			t.Errorf("open %q: no error", u)
		}
	}
}

// TestReopenKeepsData checks that the schema migrates once and data persists.
func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "labels.db")
	s, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRun(ctx, store.Run{ID: "r"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Run(ctx, "r"); err != nil {
		t.Fatalf("run lost across reopen: %v", err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, v int
	if err := db.QueryRow("SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != store.SchemaVersion || v != store.SchemaVersion {
		t.Fatalf("schema_migrations has %d rows, max %d; want %d", n, v, store.SchemaVersion)
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
}

func TestChoiceJSON(t *testing.T) {
	for _, tc := range []struct {
		c    store.Choice
		json string
	}{{0, `0`}, {1, `1`}, {4, `4`}, {store.Tie, `"tie"`}, {store.CantTell, `"cant_tell"`}, {store.Skip, `"skip"`}} {
		b, err := json.Marshal(tc.c)
		if err != nil || string(b) != tc.json {
			t.Errorf("marshal %d = %s, %v; want %s", tc.c, b, err, tc.json)
		}
		var back store.Choice
		if err := json.Unmarshal(b, &back); err != nil || back != tc.c {
			t.Errorf("unmarshal %s = %d, %v", b, back, err)
		}
	}
	for _, bad := range []string{`"1"`, `"left"`, `-1`, `"maybe"`, `1.5`, `99`} {
		var c store.Choice
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("unmarshal %s accepted as %d", bad, c)
		}
	}
	if _, err := json.Marshal(store.Choice(-9)); err == nil {
		t.Error("marshal of an undefined choice succeeded")
	}
	for s, want := range map[string]store.Choice{"left": 0, "right": 1, "2": 2, "tie": store.Tie, "cant_tell": store.CantTell, "skip": store.Skip} {
		if c, err := store.ParseChoice(s); err != nil || c != want {
			t.Errorf("ParseChoice(%q) = %d, %v", s, c, err)
		}
	}
	for _, bad := range []string{"-1", "16", "maybe", "", "Left", "1.0"} {
		if c, err := store.ParseChoice(bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ParseChoice(%q) = %d, %v; want ErrInvalid", bad, c, err)
		}
	}
}

// TestChoiceIsFeedbackChoice checks that a label read from the store carries
// the feedback layer's answer type and constants, with no conversion.
func TestChoiceIsFeedbackChoice(t *testing.T) {
	l := store.Label{Choice: feedback.Tie}
	var c feedback.Choice = l.Choice
	if c != store.Tie || store.CantTell != feedback.CantTell || store.Skip != feedback.Skip {
		t.Fatalf("store and feedback constants differ: %v %v %v", c, store.CantTell, store.Skip)
	}
	if _, ok := feedback.Target(l.Choice); !ok {
		t.Errorf("feedback.Target(store tie) gave no target")
	}
	// Both parsers agree on what they both accept.
	for _, s := range []string{"0", "1", "15", "tie", "cant_tell", "skip"} {
		a, errA := store.ParseChoice(s)
		b, errB := feedback.ParseChoice(s)
		if errA != nil || errB != nil || a != b {
			t.Errorf("%q: store %v, %v; feedback %v, %v", s, a, errA, b, errB)
		}
	}
}

func FuzzParsePayload(f *testing.F) {
	f.Add([]byte(storetest.TextPayload("p", "a", "b")))
	f.Add([]byte(storetest.CartPolePayload()))
	f.Add([]byte(`{"kind":"control","env":"Reacher","dt":0.05,"segments":[{"states":[[0,0,0,0,0.1,0.1]]},{"states":[[0,0,0,0,0.1,0.1]]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, arity, err := store.ParsePayload(b)
		if err != nil {
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		if (kind != store.KindText && kind != store.KindControl) || arity < 2 || arity > store.MaxArity {
			t.Fatalf("accepted kind %q arity %d", kind, arity)
		}
	})
}
