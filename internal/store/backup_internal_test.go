package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fintech-idp/idp/migrations"
)

// TestPGToolTarget: what pg_dump and pg_restore get from DATABASE_URL: a URL without the password
// and without the parameters libpq does not know, and the password apart.
func TestPGToolTarget(t *testing.T) {
	for _, tc := range []struct {
		name, in, url, password string
	}{
		{"password in user info", "postgres://idp:s3cret@db:5432/idp?sslmode=require", "postgres://idp@db:5432/idp?sslmode=require", "s3cret"},
		{"password parameter", "postgresql://idp@db/idp?password=s3cret&sslmode=verify-full", "postgresql://idp@db/idp?sslmode=verify-full", "s3cret"},
		{"escaped password", "postgres://idp:p%40ss%2Fw0rd@db/idp", "postgres://idp@db/idp", "p@ss/w0rd"},
		{"pgx and pgxpool parameters dropped", "postgres://idp@db/idp?pool_max_conns=10&search_path=idp&statement_cache_capacity=0&application_name=idp&connect_timeout=5",
			"postgres://idp@db/idp?application_name=idp&connect_timeout=5", ""},
		{"sslpassword is a secret too", "postgres://idp@db/idp?sslkey=/k&sslpassword=s3cret", "postgres://idp@db/idp?sslkey=%2Fk", ""},
		{"no user", "postgres://db/idp", "postgres://db/idp", ""},
		{"password without a user name", "postgres://:s3cret@db/idp", "postgres://db/idp", "s3cret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pgToolTarget(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.url != tc.url || got.password != tc.password {
				t.Fatalf("got %q and password %q, want %q and %q", got.url, got.password, tc.url, tc.password)
			}
		})
	}
	if _, err := pgToolTarget("postgres://idp:s3cret@db:port/idp"); err == nil {
		t.Error("an unreadable URL was accepted")
	} else if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q repeats the URL", err)
	}
}

// TestLatestMigration: RestoreSQLite compares a backup's version with the newest embedded file;
// both directories end at the same number.
func TestLatestMigration(t *testing.T) {
	pg, err := latestMigration(migrations.Postgres, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	lite, err := latestMigration(migrations.SQLite, "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	if pg == 0 || pg != lite {
		t.Fatalf("latest postgres %d, sqlite %d", pg, lite)
	}
}

// TestRestoreSQLiteRefusesNewerSchema: a backup made by a newer release (a schema version this
// program has no migration for) is refused, and nothing is left in the data directory.
func TestRestoreSQLiteRefusesNewerSchema(t *testing.T) {
	src := filepath.Join(t.TempDir(), "data")
	if err := Migrate(t.Context(), "", src, "up"); err != nil {
		t.Fatal(err)
	}
	st, err := openSQLite(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.wr.exec(t.Context(), `UPDATE schema_migrations SET version = 999`); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	out := filepath.Join(t.TempDir(), "newer.db")
	if err := BackupSQLite(t.Context(), src, out); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "data")
	err = RestoreSQLite(t.Context(), out, target, false)
	if err == nil || !strings.Contains(err.Error(), "999") {
		t.Fatalf("restore of a newer schema: %v", err)
	}
	entries, _ := os.ReadDir(target)
	if len(entries) != 0 {
		t.Fatalf("left in the data directory: %v", entries)
	}
}
