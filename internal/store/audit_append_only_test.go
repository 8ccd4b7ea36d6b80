package store_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fintech-idp/idp/internal/store"
)

// appendOnlyCase is a statement run directly against the database, around the store.
type appendOnlyCase struct {
	name, sql string
	refused   bool
}

// checkAppendOnly appends an old event through the store, runs each statement through exec, and
// checks which are refused and that the event is unchanged; then retention still deletes it.
func checkAppendOnly(t *testing.T, s store.Store, exec func(ctx context.Context, sql string) error, cases []appendOnlyCase) {
	t.Helper()
	ctx := t.Context()
	old := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Millisecond)
	ev := store.AuditEvent{At: old, Type: "login.failed", UserID: "u1", IP: "192.0.2.7", Detail: map[string]string{"reason": "bad_password"}}
	if err := s.AppendAudit(ctx, &ev); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		err := exec(ctx, tc.sql)
		if tc.refused && (err == nil || !strings.Contains(err.Error(), "append-only")) {
			t.Errorf("%s: error %v, want the append-only refusal", tc.name, err)
		}
		if !tc.refused && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		got, err := s.ListAudit(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Type != ev.Type || got[0].UserID != ev.UserID || got[0].IP != ev.IP || !got[0].At.Equal(ev.At) {
			t.Fatalf("after %s the trail is %+v, want %+v", tc.name, got, ev)
		}
	}
	// Retention, the one way out.
	n, err := s.DeleteAuditBefore(ctx, old.Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("DeleteAuditBefore = %d, %v; want 1, nil", n, err)
	}
}

// TestPostgresAuditAppendOnly: UPDATE, DELETE and TRUNCATE of audit events are refused by the
// database itself; only the store's retention deletes.
func TestPostgresAuditAppendOnly(t *testing.T) {
	dbURL := migratedPostgres(t)
	s := open(t, dbURL, "")
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	checkAppendOnly(t, s, func(ctx context.Context, q string) error {
		_, err := conn.Exec(ctx, q)
		return err
	}, []appendOnlyCase{
		{"update", `UPDATE audit_events SET type = 'login.succeeded'`, true},
		{"update one column", `UPDATE audit_events SET ip = '' WHERE user_id = 'u1'`, true},
		{"delete", `DELETE FROM audit_events`, true},
		{"truncate", `TRUNCATE audit_events`, true},
		{"setting outside a transaction does not last", `SELECT set_config('idp.audit_retention', 'on', true)`, false},
		{"delete after it", `DELETE FROM audit_events`, true},
	})
}

// TestSQLiteAuditAppendOnly: UPDATE of audit events is refused by the database itself.
func TestSQLiteAuditAppendOnly(t *testing.T) {
	dir := migratedSQLite(t)
	s := open(t, "", dir)
	db, err := sql.Open("sqlite", filepath.Join(dir, store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`PRAGMA busy_timeout = 10000`); err != nil {
		t.Fatal(err)
	}
	checkAppendOnly(t, s, func(ctx context.Context, q string) error {
		_, err := db.ExecContext(ctx, q)
		return err
	}, []appendOnlyCase{
		{"update", `UPDATE audit_events SET type = 'login.succeeded'`, true},
		{"update one column", `UPDATE audit_events SET ip = '' WHERE user_id = 'u1'`, true},
	})
}

// auditTriggerThere is the probe of migration 000007 for usable: an error unless the append-only
// trigger of audit_events exists.
func auditTriggerThere(t *testing.T, databaseURL, dataDir string) error {
	t.Helper()
	var n int
	if databaseURL != "" {
		conn, err := pgx.Connect(t.Context(), databaseURL)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		err = conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
			WHERE g.tgname = 'audit_events_append_only' AND c.relname = 'audit_events' AND pg_table_is_visible(c.oid)`).Scan(&n)
		if err != nil {
			return err
		}
	} else {
		db, err := sql.Open("sqlite", filepath.Join(dataDir, store.SQLiteFile))
		if err != nil {
			return err
		}
		defer db.Close()
		if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_events_no_update'`).Scan(&n); err != nil {
			return err
		}
	}
	if n != 1 {
		return errors.New("no append-only trigger on audit_events")
	}
	return nil
}
