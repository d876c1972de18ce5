package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// migrations are the schema versions in order; migration i brings the schema
// to version i+1. Never edit a released migration: append a new one.
//
// Types are the intersection SQLite and PostgreSQL both understand. Times are
// BIGINT microseconds since the Unix epoch (UTC), booleans INTEGER 0/1, JSON
// TEXT. {{id}} is the auto-increment primary key column type of the dialect.
//
// Uniqueness is what keeps concurrent labelers from losing or duplicating
// labels: a query slot holds at most one label (query_id, slot), a labeler
// labels a query at most once (query_id, labeler_id), and a client key names
// at most one label per labeler (labeler_id, client_key).
var migrations = []string{
	// 1: the initial schema.
	`CREATE TABLE runs (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		instructions TEXT NOT NULL,
		state TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL
	);
	CREATE TABLE labelers (
		id {{id}},
		username TEXT NOT NULL UNIQUE,
		role TEXT NOT NULL,
		disabled INTEGER NOT NULL DEFAULT 0,
		password_hash TEXT NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE queries (
		id {{id}},
		run_id TEXT NOT NULL REFERENCES runs(id),
		kind TEXT NOT NULL,
		arity INTEGER NOT NULL,
		payload TEXT NOT NULL,
		policy_version TEXT NOT NULL,
		sampler TEXT NOT NULL,
		overlap INTEGER NOT NULL,
		gold INTEGER,
		created_at BIGINT NOT NULL
	);
	CREATE INDEX queries_run ON queries (run_id, id);
	CREATE TABLE slots (
		query_id BIGINT NOT NULL REFERENCES queries(id),
		slot INTEGER NOT NULL,
		run_id TEXT NOT NULL,
		done INTEGER NOT NULL DEFAULT 0,
		labeler_id BIGINT,
		leased_at BIGINT NOT NULL DEFAULT 0,
		lease_expires BIGINT NOT NULL DEFAULT 0,
		PRIMARY KEY (query_id, slot)
	);
	CREATE INDEX slots_open ON slots (query_id, slot) WHERE done = 0;
	CREATE INDEX slots_open_run ON slots (run_id, query_id, slot) WHERE done = 0;
	CREATE INDEX slots_labeler ON slots (labeler_id, done, query_id);
	CREATE TABLE labels (
		id {{id}},
		query_id BIGINT NOT NULL REFERENCES queries(id),
		run_id TEXT NOT NULL,
		labeler_id BIGINT NOT NULL REFERENCES labelers(id),
		slot INTEGER,
		choice INTEGER NOT NULL,
		confidence DOUBLE PRECISION,
		note TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		duration_us BIGINT NOT NULL,
		client_key TEXT NOT NULL,
		UNIQUE (query_id, slot),
		UNIQUE (query_id, labeler_id),
		UNIQUE (labeler_id, client_key)
	);
	CREATE INDEX labels_run ON labels (run_id, id);
	CREATE INDEX labels_created ON labels (created_at);
	CREATE TABLE sessions (
		id_hash TEXT PRIMARY KEY,
		labeler_id BIGINT NOT NULL REFERENCES labelers(id),
		csrf TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		expires_at BIGINT NOT NULL
	)`,
}

// SchemaVersion is the schema version this build migrates to.
var SchemaVersion = len(migrations)

// migrate brings the database to SchemaVersion, one transaction per version.
// Concurrent servers starting at once are serialised (an advisory lock on
// PostgreSQL, the immediate write lock on SQLite).
func (s *sqlStore) migrate(ctx context.Context) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if s.d.postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7283401)`); err != nil {
				return fmt.Errorf("store: migrate lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("store: create schema_migrations: %w", err)
		}
		var have int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
			return fmt.Errorf("store: read schema version: %w", err)
		}
		if have > len(migrations) {
			return fmt.Errorf("store: database schema version %d is newer than this program's %d", have, len(migrations))
		}
		for v := have + 1; v <= len(migrations); v++ {
			src := strings.ReplaceAll(migrations[v-1], "{{id}}", s.d.idColumn)
			for _, stmt := range strings.Split(src, ";\n") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("store: migration %d: %w", v, err)
				}
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`),
				v, time.Now().UnixMicro()); err != nil {
				return fmt.Errorf("store: record migration %d: %w", v, err)
			}
		}
		return nil
	})
}
