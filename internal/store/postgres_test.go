package store_test

import (
	"testing"

	"github.com/fintech-idp/idp/internal/store"
	"github.com/fintech-idp/idp/internal/store/pgtest"
	"github.com/fintech-idp/idp/internal/store/storetest"
)

// migratedPostgres returns the URL of a fresh, migrated schema.
func migratedPostgres(t *testing.T) string {
	t.Helper()
	dbURL := pgtest.FreshSchema(t)
	if err := store.Migrate(t.Context(), dbURL, "", "up"); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return dbURL
}

func TestPostgres(t *testing.T) {
	pgtest.BaseURL(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, migratedPostgres(t), "")
	})
}

// TestPostgresShared runs the races against two stores (two pools) on one schema, as two
// replicas would.
func TestPostgresShared(t *testing.T) {
	pgtest.BaseURL(t)
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		dbURL := migratedPostgres(t)
		return open(t, dbURL, ""), open(t, dbURL, "")
	})
}

func TestPostgresMigrations(t *testing.T) {
	testMigrations(t, pgtest.FreshSchema(t), "")
}

// TestPostgresConcurrentMigrations: two replicas starting at once both run `migrate up`; the
// advisory lock makes one wait for the other and neither fails.
func TestPostgresConcurrentMigrations(t *testing.T) {
	dbURL := pgtest.FreshSchema(t)
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- store.Migrate(t.Context(), dbURL, "", "up") }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
	v, dirty, err := store.MigrationVersion(t.Context(), dbURL, "")
	if err != nil || v != latestVersion || dirty {
		t.Fatalf("version %d dirty %v err %v, want %d", v, dirty, err, latestVersion)
	}
}

func TestPostgresInstrumented(t *testing.T) {
	s := open(t, migratedPostgres(t), "")
	in, ok := s.(store.Instrumented)
	if !ok {
		t.Fatal("the PostgreSQL store does not implement Instrumented")
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := in.PoolStats()
	if in.Dialect() != "postgres" || st.Dialect != "postgres" || st.MaxConns == 0 || st.TotalConns == 0 {
		t.Errorf("dialect %q, stats %+v", in.Dialect(), st)
	}
}
