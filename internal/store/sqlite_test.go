package store_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/fintech-idp/idp/internal/store"
	"github.com/fintech-idp/idp/internal/store/storetest"
)

// migratedSQLite migrates a new database in a fresh directory and returns the directory.
func migratedSQLite(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := store.Migrate(t.Context(), "", dir, "up"); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return dir
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, "", migratedSQLite(t))
	})
}

// TestSQLiteShared runs the races against two stores on one file, as two processes would: each
// has its own writer connection, so they meet in SQLite's file lock (busy_timeout, BEGIN
// IMMEDIATE) rather than in database/sql's queue.
func TestSQLiteShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		dir := migratedSQLite(t)
		return open(t, "", dir), open(t, "", dir)
	})
}

// TestSQLiteWAL: the writer turns the file to WAL, which lasts in the file.
func TestSQLiteWAL(t *testing.T) {
	dir := migratedSQLite(t)
	open(t, "", dir)
	db, err := sql.Open("sqlite", filepath.Join(dir, store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Fatalf("journal_mode = %q, want wal", mode)
	}
}

func TestSQLiteMigrations(t *testing.T) {
	testMigrations(t, "", filepath.Join(t.TempDir(), "data"))
}

func TestSQLiteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	s, err := store.Open(t.Context(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for path, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, filepath.Join(dir, store.SQLiteFile): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
	}
	in, ok := s.(store.Instrumented)
	if !ok {
		t.Fatal("the SQLite store does not implement Instrumented")
	}
	if in.Dialect() != "sqlite" || in.PoolStats().Dialect != "sqlite" {
		t.Errorf("dialect %q, stats %+v", in.Dialect(), in.PoolStats())
	}
}
