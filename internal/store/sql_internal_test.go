package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fintech-idp/idp/internal/store/pgtest"
)

// migratedSQLiteStore is a fresh SQLite store for the tests of the SQL plumbing.
func migratedSQLiteStore(t *testing.T) *sqlStore {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := Migrate(t.Context(), "", dir, "up"); err != nil {
		t.Fatal(err)
	}
	s, err := openSQLite(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func countClients(t *testing.T, s *sqlStore) int {
	t.Helper()
	var n int
	if err := s.rd.row(t.Context(), `SELECT count(*) FROM clients`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWithTx(t *testing.T) {
	s := migratedSQLiteStore(t)
	ctx := t.Context()
	insert := func(tx runner, id string) error {
		_, err := tx.exec(ctx, `INSERT INTO clients (id, type, created_at) VALUES (?, 'web', ?)`, id, time.Now())
		return err
	}
	errBoom := errors.New("boom")

	t.Run("an error rolls back", func(t *testing.T) {
		err := s.withTx(ctx, func(tx runner) error {
			if err := insert(tx, "rolled-back"); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) || countClients(t, s) != 0 {
			t.Fatalf("err %v, %d clients", err, countClients(t, s))
		}
	})
	t.Run("afterCommit commits, then returns the error", func(t *testing.T) {
		err := s.withTx(ctx, func(tx runner) error {
			if err := insert(tx, "kept"); err != nil {
				return err
			}
			return afterCommit(ErrCodeReplayed)
		})
		if err != ErrCodeReplayed || countClients(t, s) != 1 {
			t.Fatalf("err %v, %d clients", err, countClients(t, s))
		}
	})
	t.Run("a panic rolls back and the writer stays usable", func(t *testing.T) {
		func() {
			defer func() { _ = recover() }()
			_ = s.withTx(ctx, func(tx runner) error {
				_ = insert(tx, "panicked")
				panic("boom")
			})
		}()
		if err := s.withTx(ctx, func(tx runner) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if countClients(t, s) != 1 {
			t.Fatalf("%d clients after a panic", countClients(t, s))
		}
	})
	for _, code := range []string{"40001", "40P01"} {
		t.Run("retries "+code, func(t *testing.T) {
			retrying := *s
			d := *s.d
			d.attempts = 3
			retrying.d = &d
			runs := 0
			err := retrying.withTx(ctx, func(tx runner) error {
				runs++
				if runs < 3 {
					return translate(&pgconn.PgError{Code: code})
				}
				return nil
			})
			if err != nil || runs != 3 {
				t.Fatalf("err %v after %d runs, want success after 3", err, runs)
			}
			runs = 0
			err = retrying.withTx(ctx, func(tx runner) error {
				runs++
				return translate(&pgconn.PgError{Code: code})
			})
			if err == nil || runs != 3 {
				t.Fatalf("err %v after %d runs, want an error after 3", err, runs)
			}
		})
	}
	t.Run("other errors are not retried", func(t *testing.T) {
		retrying := *s
		d := *s.d
		d.attempts = 3
		retrying.d = &d
		runs := 0
		_ = retrying.withTx(ctx, func(tx runner) error { runs++; return translate(&pgconn.PgError{Code: "23505"}) })
		if runs != 1 {
			t.Fatalf("%d runs", runs)
		}
	})
}

func TestRebind(t *testing.T) {
	q := `UPDATE t SET a = ? WHERE b = ? AND c IN (SELECT d FROM e WHERE f = ?)`
	if got := postgresDialect.rebind(q); got != `UPDATE t SET a = $1 WHERE b = $2 AND c IN (SELECT d FROM e WHERE f = $3)` {
		t.Errorf("postgres: %s", got)
	}
	if got := sqliteDialect.rebind(q); got != q {
		t.Errorf("sqlite: %s", got)
	}
}

func TestTranslate(t *testing.T) {
	s := migratedSQLiteStore(t)
	ctx := t.Context()
	_, err := s.wr.exec(ctx, `INSERT INTO sessions (id, token_hash, user_id, auth_time, created_at, last_seen_at, expires_at) VALUES ('s', 'h', 'nobody', 0, 0, 0, 0)`)
	sqliteFK := err
	_, _ = s.wr.exec(ctx, `INSERT INTO clients (id, type, created_at) VALUES ('c', 'web', 0)`)
	_, sqliteUnique := s.wr.exec(ctx, `INSERT INTO clients (id, type, created_at) VALUES ('c', 'web', 0)`)
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"no rows", sql.ErrNoRows, ErrNotFound},
		{"postgres unique", &pgconn.PgError{Code: "23505"}, ErrConflict},
		{"postgres foreign key", &pgconn.PgError{Code: "23503"}, ErrNotFound},
		{"sqlite unique (already translated)", sqliteUnique, ErrConflict},
		{"sqlite foreign key (already translated)", sqliteFK, ErrNotFound},
		{"cancelled", context.Canceled, context.Canceled},
	} {
		if got := translate(tc.err); !errors.Is(got, tc.want) {
			t.Errorf("%s: translate(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
	if got := translate(errors.New("disk full")); got == nil || errors.Is(got, ErrNotFound) || errors.Is(got, ErrConflict) {
		t.Errorf("other error: %v", got)
	}
}

// migratedPostgresStore is a fresh PostgreSQL store in a schema of its own; it skips or fails as
// pgtest does without IDP_TEST_DATABASE_URL.
func migratedPostgresStore(t *testing.T) *sqlStore {
	t.Helper()
	dbURL := pgtest.FreshSchema(t)
	if err := Migrate(t.Context(), dbURL, "", "up"); err != nil {
		t.Fatal(err)
	}
	s, err := openPostgres(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestEmailCodesGoWithTheirUser: email_codes references users ON DELETE CASCADE in both schemas
// (DeleteUser deletes them itself, but an operator deleting a user by hand must not leave codes
// behind either).
func TestEmailCodesGoWithTheirUser(t *testing.T) {
	stores := map[string]func(t *testing.T) *sqlStore{"sqlite": migratedSQLiteStore}
	if os.Getenv("IDP_TEST_DATABASE_URL") != "" || os.Getenv("IDP_TEST_DB_REQUIRED") == "1" {
		stores["postgres"] = migratedPostgresStore
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s, ctx, now := open(t), t.Context(), time.Now()
			for _, id := range []string{"gone", "kept"} {
				if err := s.CreateUser(ctx, &User{ID: id, Email: id + "@example.com", CreatedAt: now, UpdatedAt: now}); err != nil {
					t.Fatal(err)
				}
				for _, p := range []string{PurposeVerify, PurposeReset} {
					c := &EmailCode{ID: id + "-" + p, UserID: id, Purpose: p, CodeHash: "h", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
					if err := s.CreateEmailCode(ctx, c); err != nil {
						t.Fatal(err)
					}
				}
			}
			if _, err := s.wr.exec(ctx, `DELETE FROM users WHERE id = ?`, "gone"); err != nil {
				t.Fatal(err)
			}
			var gone, kept int
			if err := s.rd.row(ctx, `SELECT count(*) FROM email_codes WHERE user_id = ?`, "gone").Scan(&gone); err != nil {
				t.Fatal(err)
			}
			if err := s.rd.row(ctx, `SELECT count(*) FROM email_codes WHERE user_id = ?`, "kept").Scan(&kept); err != nil {
				t.Fatal(err)
			}
			if gone != 0 || kept != 2 {
				t.Fatalf("%d codes of the deleted user left, %d of the other, want 0 and 2", gone, kept)
			}
		})
	}
}

// TestDeleteUserWaitsForReferringInserts: with PostgreSQL at READ COMMITTED, a session insert
// that is still uncommitted when DeleteUser starts is invisible to its DELETE FROM sessions. The
// user row lock (FOR UPDATE, which conflicts with the insert's key-share lock) makes DeleteUser
// wait for it and then delete the session too; without it, DELETE FROM users would wait and then
// fail on the foreign key. (SQLite runs write transactions one at a time.)
func TestDeleteUserWaitsForReferringInserts(t *testing.T) {
	s := migratedPostgresStore(t)
	ctx, now := t.Context(), time.Now()
	if err := s.CreateUser(ctx, &User{ID: "u", Email: "u@example.com", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	tx, err := s.wr.x.(*sql.DB).BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := (runner{d: s.d, x: tx}).exec(ctx, `INSERT INTO sessions (id, token_hash, user_id, auth_time, created_at, last_seen_at, expires_at)
		VALUES ('s', 'h', 'u', ?, ?, ?, ?)`, now, now, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var txPID int
	if err := tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&txPID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.DeleteUser(ctx, "u") }()
	// Commit only once DeleteUser is waiting behind the uncommitted insert (PostgreSQL names the
	// insert's backend among its blockers): committing earlier could let DeleteUser start after
	// the commit and pass without the lock.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("DeleteUser returned (%v) while a session insert for the user was uncommitted", err)
		default:
		}
		var blocked int
		if err := s.rd.row(ctx, `SELECT count(*) FROM pg_stat_activity WHERE ? = ANY(pg_blocking_pids(pid))`, txPID).Scan(&blocked); err != nil {
			t.Fatal(err)
		}
		if blocked > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("DeleteUser never waited for the uncommitted insert")
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("DeleteUser after the insert committed: %v", err)
	}
	if _, err := s.GetSession(ctx, "s"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the session inserted meanwhile: %v, want ErrNotFound", err)
	}
}

// advisoryHeld counts the granted advisory locks on key in the current database.
func advisoryHeld(t *testing.T, s *sqlStore, key int64) int {
	t.Helper()
	var n int
	err := s.rd.row(t.Context(), `SELECT count(*) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND ((classid::bigint << 32) | objid::bigint) = ?`, key).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAdvisoryLock: WithLock holds a session advisory lock on the key of (schema, name) while fn
// runs and none afterwards (the connection went back to the pool unlocked); another schema's lock
// of the same name is another lock.
func TestAdvisoryLock(t *testing.T) {
	s, other := migratedPostgresStore(t), migratedPostgresStore(t)
	ctx := t.Context()
	var schema string
	if err := s.rd.row(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	key := advisoryKey(schema, "housekeeping")
	var during, otherRan int
	ran, err := s.WithLock(ctx, "housekeeping", func(ctx context.Context) error {
		during = advisoryHeld(t, s, key)
		if ok, err := other.WithLock(ctx, "housekeeping", noopFn); ok && err == nil {
			otherRan = 1
		}
		return nil
	})
	if !ran || err != nil {
		t.Fatalf("ran %v, err %v", ran, err)
	}
	if during != 1 {
		t.Errorf("%d advisory locks on the key while fn ran, want 1", during)
	}
	if otherRan != 1 {
		t.Error("the same name in another schema was locked out")
	}
	if n := advisoryHeld(t, s, key); n != 0 {
		t.Errorf("%d advisory locks on the key after WithLock returned, want 0", n)
	}
	if st := s.PoolStats(); st.AcquiredConns != 0 {
		t.Errorf("%d connections still acquired after WithLock returned", st.AcquiredConns)
	}
}

func noopFn(context.Context) error { return nil }

// TestDeleteAuditBeforeInBatches: more events than one batch all go, and the count adds up.
func TestDeleteAuditBeforeInBatches(t *testing.T) {
	s := migratedSQLiteStore(t)
	ctx, now := t.Context(), time.Now()
	defer func(n int) { auditDeleteBatch = n }(auditDeleteBatch)
	auditDeleteBatch = 3
	for i := range 10 {
		at := now.Add(-time.Duration(10-i) * time.Hour) // 8 before the cut-off, 2 after
		if i >= 8 {
			at = now.Add(time.Duration(i) * time.Minute)
		}
		if err := s.AppendAudit(ctx, &AuditEvent{At: at, Type: "login.succeeded"}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteAuditBefore(ctx, now)
	if err != nil || n != 8 {
		t.Fatalf("deleted %d (err %v), want 8", n, err)
	}
	left, err := s.SearchAudit(ctx, AuditFilter{})
	if err != nil || len(left) != 2 {
		t.Fatalf("%d events left (err %v), want 2", len(left), err)
	}
}
