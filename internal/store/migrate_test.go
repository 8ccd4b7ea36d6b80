package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

// open opens the store Open picks and closes it at cleanup.
func open(t *testing.T, databaseURL, dataDir string) store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), databaseURL, dataDir)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// versions are the numbers of the files in migrations/, oldest first (numbers may skip: each
// change owns its number), and latestVersion the newest.
var versions = []uint{1, 2, 3, 4, 5, 6, 7, 10}

var latestVersion = versions[len(versions)-1]

// before returns the version below v (0 below the first).
func before(v uint) uint {
	prev := uint(0)
	for _, x := range versions {
		if x == v {
			return prev
		}
		prev = x
	}
	panic("unknown migration version")
}

func wantVersion(t *testing.T, databaseURL, dataDir string, want uint) {
	t.Helper()
	v, dirty, err := store.MigrationVersion(t.Context(), databaseURL, dataDir)
	if err != nil {
		t.Fatalf("MigrationVersion: %v", err)
	}
	if v != want || dirty {
		t.Fatalf("version %d (dirty %v), want %d", v, dirty, want)
	}
}

// usable reports whether the tables of each migration up to version are there, by reading from
// one table of each: the error of the first read that fails, nil when all succeed.
func usable(t *testing.T, databaseURL, dataDir string, version uint) error {
	t.Helper()
	s, err := store.Open(t.Context(), databaseURL, dataDir)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	probes := map[uint]func() error{
		// Each probe reads a table that later migrations leave as it is: the code reads the
		// newest columns.
		1: func() error { _, err := s.ListSigningKeys(t.Context()); return err },
		2: func() error {
			_, err := s.GetCounter(t.Context(), "probe", time.Minute, time.Now())
			if errors.Is(err, store.ErrNotFound) {
				return nil // the table is there and empty
			}
			return err
		},
		3: func() error { _, err := s.CountUnusedRecoveryCodes(t.Context(), "probe"); return err },
		4: func() error { _, err := s.ListOfflineConsents(t.Context(), "probe"); return err },
		5: func() error { _, err := s.ListResources(t.Context()); return err },
		6: func() error {
			_, err := s.GetUserByEmail(t.Context(), "probe@example.com") // reads users.session_epoch
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		},
		7:  func() error { return auditTriggerThere(t, databaseURL, dataDir) },
		10: func() error { _, err := s.ListClients(t.Context()); return err },
	}
	if len(probes) != len(versions) {
		t.Fatalf("usable has %d probes for %d migrations", len(probes), len(versions))
	}
	for _, v := range versions {
		if v > version {
			break
		}
		if err := probes[v](); err != nil {
			return err
		}
	}
	return nil
}

// testMigrations walks an empty database up, down one migration at a time to nothing, and up
// again.
func testMigrations(t *testing.T, databaseURL, dataDir string) {
	ctx := t.Context()
	wantVersion(t, databaseURL, dataDir, 0)
	if err := store.Migrate(ctx, databaseURL, dataDir, "down"); err == nil {
		t.Fatal("down with nothing applied succeeded")
	}
	for _, dir := range []string{"up", "up"} { // the second finds nothing to do
		if err := store.Migrate(ctx, databaseURL, dataDir, dir); err != nil {
			t.Fatalf("migrate %s: %v", dir, err)
		}
		wantVersion(t, databaseURL, dataDir, latestVersion)
	}
	if err := usable(t, databaseURL, dataDir, latestVersion); err != nil {
		t.Fatalf("after up: %v", err)
	}
	for v := latestVersion; v > 0; v = before(v) {
		if err := store.Migrate(ctx, databaseURL, dataDir, "down"); err != nil {
			t.Fatalf("migrate down from %d: %v", v, err)
		}
		wantVersion(t, databaseURL, dataDir, before(v))
		if err := usable(t, databaseURL, dataDir, before(v)); err != nil {
			t.Fatalf("after down to %d, the older tables: %v", before(v), err)
		}
		if err := usable(t, databaseURL, dataDir, v); err == nil {
			t.Fatalf("after down to %d, the tables of %d are still there", before(v), v)
		}
	}
	if err := store.Migrate(ctx, databaseURL, dataDir, "down"); err == nil {
		t.Fatal("down past the first migration succeeded")
	}
	if err := store.Migrate(ctx, databaseURL, dataDir, "up"); err != nil {
		t.Fatalf("migrate up again: %v", err)
	}
	wantVersion(t, databaseURL, dataDir, latestVersion)
	if err := usable(t, databaseURL, dataDir, latestVersion); err != nil {
		t.Fatalf("after up again: %v", err)
	}
	if err := store.Migrate(ctx, databaseURL, dataDir, "sideways"); err == nil {
		t.Fatal("an unknown direction was accepted")
	}
}

func TestOpenRejectsOtherURLs(t *testing.T) {
	for _, u := range []string{"mysql://root:secret@localhost/idp", "sqlite:///tmp/x.db", "localhost:5432"} {
		if _, err := store.Open(t.Context(), u, t.TempDir()); err == nil {
			t.Errorf("Open(%q) succeeded", u)
		} else if containsAny(err.Error(), "secret", u) {
			t.Errorf("Open(%q) error %q repeats the URL", u, err)
		}
		if err := store.Migrate(t.Context(), u, t.TempDir(), "up"); err == nil {
			t.Errorf("Migrate(%q) succeeded", u)
		}
	}
	if _, err := store.Open(t.Context(), "", ""); err == nil {
		t.Error("Open without a data directory succeeded")
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
