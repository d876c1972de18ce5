package store

import (
	"context"
	"path/filepath"
	"testing"
)

// TestSQLitePragmas checks the durability settings every pooled connection gets.
func TestSQLitePragmas(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db := s.(*sqlStore).db
	var mode string
	var sync, fk, busy int
	for i := 0; i < 3; i++ { // several pooled connections
		conn, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.QueryRowContext(context.Background(), "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		conn.QueryRowContext(context.Background(), "PRAGMA synchronous").Scan(&sync)
		conn.QueryRowContext(context.Background(), "PRAGMA foreign_keys").Scan(&fk)
		conn.QueryRowContext(context.Background(), "PRAGMA busy_timeout").Scan(&busy)
		if mode != "wal" || sync != 2 || fk != 1 || busy != 10000 {
			t.Fatalf("conn %d: journal_mode=%s synchronous=%d foreign_keys=%d busy_timeout=%d; want wal, 2 (FULL), 1, 10000",
				i, mode, sync, fk, busy)
		}
	}
}

func TestRebind(t *testing.T) {
	s := &sqlStore{d: postgresDialect}
	if got := s.q("SELECT a FROM t WHERE x = ? AND (? = '' OR y = ?)"); got != "SELECT a FROM t WHERE x = $1 AND ($2 = '' OR y = $3)" {
		t.Fatalf("rebind = %q", got)
	}
	s = &sqlStore{d: sqliteDialect}
	if got := s.q("x = ?"); got != "x = ?" {
		t.Fatalf("sqlite rebind changed the query: %q", got)
	}
}
