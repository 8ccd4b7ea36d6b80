package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store"
	"github.com/fintech-idp/idp/internal/store/pgtest"
)

// backupFixture is what a backup must carry: users, clients, a rotated refresh token family, a
// signing key and an audit event.
type backupFixture struct {
	users   []store.User
	clients []store.Client
	first   store.RefreshToken // used (rotated)
	rotated store.RefreshToken // live
	key     store.SigningKey
	event   store.AuditEvent
}

func seedBackup(t *testing.T, s store.Store) backupFixture {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var f backupFixture
	for i := range 3 {
		u := store.User{ID: fmt.Sprintf("user-%d", i), Email: fmt.Sprintf("user-%d@example.com", i), PasswordHash: "$argon2id$h", EmailVerified: true, CreatedAt: now, UpdatedAt: now}
		must(t, s.CreateUser(ctx, &u))
		f.users = append(f.users, u)
	}
	for _, id := range []string{"dashboard", "ledger"} {
		c := store.Client{ID: id, Name: id, Type: store.ClientWeb, SecretHash: "$argon2id$s", RedirectURIs: []string{"https://" + id + "/cb"}, CreatedAt: now}
		must(t, s.CreateClient(ctx, &c))
		f.clients = append(f.clients, c)
	}
	ar := &store.AuthRequest{ID: "ar", ClientID: "dashboard", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	must(t, s.CreateAuthRequest(ctx, ar))
	must(t, s.CreateSession(ctx, &store.Session{ID: "sess", TokenHash: "hash-sess", UserID: "user-0", AuthTime: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}))
	must(t, s.CompleteAuthRequest(ctx, ar.ID, &store.AuthRequest{Subject: "user-0", AuthTime: now, SessionID: "sess"}, now))
	must(t, s.SaveAuthCode(ctx, &store.AuthCode{Hash: "code", AuthRequestID: ar.ID, ExpiresAt: now.Add(time.Minute)}))
	token := func(id string) *store.RefreshToken {
		return &store.RefreshToken{ID: id, Hash: "hash-" + id, ClientID: "dashboard", Subject: "user-0", Scopes: []string{"openid", "offline_access"},
			AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour), FamilyExpiresAt: now.Add(72 * time.Hour)}
	}
	first := token("rt-1")
	must(t, s.IssueTokens(ctx, store.IssueParams{Now: now, CodeHash: "code", Access: store.AccessToken{ID: "at-1", ClientID: "dashboard", Subject: "user-0", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, Refresh: first}))
	rotated := token("rt-2")
	must(t, s.IssueTokens(ctx, store.IssueParams{Now: now, RotateRefreshHash: first.Hash, Access: store.AccessToken{ID: "at-2", ClientID: "dashboard", Subject: "user-0", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, Refresh: rotated}))
	first.UsedAt = &now
	f.first, f.rotated = *first, *rotated
	f.key = store.SigningKey{ID: "kid-1", Algorithm: "RS256", PrivateEnc: []byte{0, 1, 2, 0xff}, PublicJWK: []byte(`{"kid":"kid-1"}`), CreatedAt: now}
	must(t, s.CreateSigningKey(ctx, &f.key))
	f.event = store.AuditEvent{At: now, Type: "user.created", UserID: "user-0", Detail: map[string]string{"by": "test"}}
	must(t, s.AppendAudit(ctx, &f.event))
	return f
}

// check fails unless s holds everything of the fixture.
func (f backupFixture) check(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	for _, u := range f.users {
		got, err := s.GetUser(ctx, u.ID)
		must(t, err)
		if got.Email != u.Email || got.PasswordHash != u.PasswordHash || !got.CreatedAt.Equal(u.CreatedAt) {
			t.Fatalf("restored user %+v, want %+v", got, u)
		}
	}
	for _, c := range f.clients {
		got, err := s.GetClient(ctx, c.ID)
		must(t, err)
		if got.SecretHash != c.SecretHash || strings.Join(got.RedirectURIs, " ") != strings.Join(c.RedirectURIs, " ") {
			t.Fatalf("restored client %+v, want %+v", got, c)
		}
	}
	for _, want := range []store.RefreshToken{f.first, f.rotated} {
		got, err := s.GetRefreshToken(ctx, want.Hash)
		must(t, err)
		if got.FamilyID != f.first.ID || (got.UsedAt != nil) != (want.UsedAt != nil) || !got.ExpiresAt.Equal(want.ExpiresAt) {
			t.Fatalf("restored refresh token %+v, want %+v", got, want)
		}
	}
	keys, err := s.ListSigningKeys(ctx)
	must(t, err)
	if len(keys) != 1 || string(keys[0].PrivateEnc) != string(f.key.PrivateEnc) {
		t.Fatalf("restored keys %+v, want %+v", keys, f.key)
	}
	events, err := s.SearchAudit(ctx, store.AuditFilter{Type: "user.created"})
	must(t, err)
	if len(events) != 1 || events[0].ID != f.event.ID || events[0].Detail["by"] != "test" {
		t.Fatalf("restored audit events %+v, want %+v", events, f.event)
	}
	// The audit numbering continues after the restored events.
	next := store.AuditEvent{Type: "after.restore"}
	must(t, s.AppendAudit(ctx, &next))
	if next.ID <= f.event.ID {
		t.Fatalf("audit id %d after restoring id %d", next.ID, f.event.ID)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// writeWhile keeps writing to s (users and audit events) until the returned stop is called, which
// returns how many users it created; it fails the test on a write error. It returns once the
// writer has started writing, so that what follows overlaps with writes.
func writeWhile(t *testing.T, s store.Store) (stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var (
		n       atomic.Int32
		wg      sync.WaitGroup
		started = make(chan struct{})
		once    sync.Once
		werr    error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			now := time.Now()
			u := &store.User{ID: fmt.Sprintf("writer-%d", i), Email: fmt.Sprintf("writer-%d@example.com", i), CreatedAt: now, UpdatedAt: now}
			err := s.CreateUser(ctx, u)
			if err == nil {
				err = s.AppendAudit(ctx, &store.AuditEvent{Type: "writer.wrote", UserID: u.ID})
			}
			if err != nil {
				if ctx.Err() == nil {
					werr = err
				}
				return
			}
			if n.Add(1) == 5 {
				once.Do(func() { close(started) })
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		cancel()
		wg.Wait()
		t.Fatalf("the writer did not get going: %v", werr)
	}
	return func() int {
		cancel()
		wg.Wait()
		if werr != nil {
			t.Fatalf("concurrent write: %v", werr)
		}
		return int(n.Load())
	}
}

// countWriterUsers counts the users writeWhile made.
func countWriterUsers(t *testing.T, s store.Store) int {
	t.Helper()
	users, err := s.ListUsers(t.Context())
	must(t, err)
	n := 0
	for _, u := range users {
		if strings.HasPrefix(u.ID, "writer-") {
			n++
		}
	}
	return n
}

func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	must(t, err)
	if fi.Mode() != want {
		t.Fatalf("%s: mode %v, want %v", path, fi.Mode(), want)
	}
}

// TestSQLiteBackupRestore: an online backup taken while another goroutine writes restores into a
// fresh data directory with everything that was there; restore refuses to replace a database
// without force, and refuses files that are not an IdP database.
func TestSQLiteBackupRestore(t *testing.T) {
	ctx := t.Context()
	dir := migratedSQLite(t)
	src := open(t, "", dir)
	f := seedBackup(t, src)
	out := filepath.Join(t.TempDir(), "idp-backup.db")

	stop := writeWhile(t, src)
	start := time.Now()
	err := store.BackupSQLite(ctx, dir, out)
	took := time.Since(start)
	written := stop()
	must(t, err)
	t.Logf("backup took %v while %d users were written", took, written)
	wantMode(t, out, 0o600)

	restored := filepath.Join(t.TempDir(), "restored")
	must(t, store.RestoreSQLite(ctx, out, restored, false))
	wantMode(t, filepath.Join(restored, store.SQLiteFile), 0o600)
	wantVersion(t, "", restored, latestVersion)
	must(t, store.Migrate(ctx, "", restored, "up"))
	s := open(t, "", restored)
	f.check(t, s)
	if n := countWriterUsers(t, s); n > written {
		t.Fatalf("the backup holds %d of the writer's users, more than the %d it wrote", n, written)
	}

	t.Run("restore refuses to replace a database without force", func(t *testing.T) {
		marker := &store.User{ID: "marker", Email: "marker@example.com", CreatedAt: time.Now(), UpdatedAt: time.Now()}
		must(t, s.CreateUser(ctx, marker))
		if err := store.RestoreSQLite(ctx, out, restored, false); err == nil {
			t.Fatal("restore over an existing database succeeded without force")
		}
		if _, err := s.GetUser(ctx, marker.ID); err != nil {
			t.Fatalf("the existing database changed: %v", err)
		}
		wantOnlyDatabaseFiles(t, restored)
	})
	t.Run("with force it replaces the database", func(t *testing.T) {
		must(t, s.Close()) // as the operator stops the server first
		must(t, store.RestoreSQLite(ctx, out, restored, true))
		s := open(t, "", restored)
		f.check(t, s)
		if _, err := s.GetUser(ctx, "marker"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a user made after the backup survived the forced restore: %v", err)
		}
	})
	t.Run("an empty database file is no database", func(t *testing.T) {
		d := t.TempDir()
		must(t, os.WriteFile(filepath.Join(d, store.SQLiteFile), nil, 0o600))
		must(t, store.RestoreSQLite(ctx, out, d, false))
		f.check(t, open(t, "", d))
	})
	t.Run("refuses what is not an IdP database", func(t *testing.T) {
		bad := t.TempDir()
		text := filepath.Join(bad, "notes.txt")
		must(t, os.WriteFile(text, []byte(strings.Repeat("not a database\n", 100)), 0o600))
		other := filepath.Join(bad, "other.db")
		db, err := sql.Open("sqlite", other)
		must(t, err)
		_, err = db.Exec(`CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)`)
		must(t, err)
		must(t, db.Close())
		for name, file := range map[string]string{"text": text, "another SQLite database": other, "missing": filepath.Join(bad, "nope.db")} {
			target := filepath.Join(t.TempDir(), "data")
			if err := store.RestoreSQLite(ctx, file, target, false); err == nil {
				t.Errorf("%s: restore succeeded", name)
			} else {
				t.Logf("%s: %v", name, err)
			}
			wantOnlyDatabaseFiles(t, target)
			if _, err := os.Stat(filepath.Join(target, store.SQLiteFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: a refused restore left a database file (%v)", name, err)
			}
		}
	})
	t.Run("backup refuses an existing file and a missing database", func(t *testing.T) {
		if err := store.BackupSQLite(ctx, restored, out); err == nil {
			t.Fatal("backup overwrote an existing file")
		}
		f.check(t, open(t, "", restored)) // out is untouched: it still restores (checked above)
		empty := t.TempDir()
		if err := store.BackupSQLite(ctx, empty, filepath.Join(t.TempDir(), "b.db")); err == nil {
			t.Fatal("backup of a missing database succeeded")
		}
		if _, err := os.Stat(filepath.Join(empty, store.SQLiteFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("backup created a database: %v", err)
		}
		if err := store.BackupSQLite(ctx, restored, ""); err == nil {
			t.Fatal("backup without an output file succeeded")
		}
	})
}

// wantOnlyDatabaseFiles fails when dir (if it exists) holds anything but a database and SQLite's
// own files: no temporary copy of a refused restore may stay behind.
func wantOnlyDatabaseFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	must(t, err)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), store.SQLiteFile) {
			t.Errorf("%s left in the data directory", e.Name())
		}
	}
}

// withSearchPath returns databaseURL with search_path set to schema.
func withSearchPath(t *testing.T, databaseURL, schema string) string {
	t.Helper()
	u, err := url.Parse(databaseURL)
	must(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// currentSchema is the schema of a pgtest URL: its search_path, or public.
func currentSchema(t *testing.T, databaseURL string) string {
	t.Helper()
	u, err := url.Parse(databaseURL)
	must(t, err)
	if sp := u.Query().Get("search_path"); sp != "" {
		return sp
	}
	return "public"
}

// TestPostgresBackupRestore: pg_dump of a live database (written to meanwhile) restores into a
// fresh database on the same server with everything that was there, and restores again over it.
// Both layouts: the IdP in a schema of its own (search_path in DATABASE_URL) and in public.
func TestPostgresBackupRestore(t *testing.T) {
	pgtest.BaseURL(t)
	pgtest.RequireClientTools(t)
	for _, tc := range []struct {
		name   string
		source func(t testing.TB) string
	}{
		{"own schema", pgtest.FreshSchema},
		{"public schema", pgtest.FreshDatabase},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			srcURL := tc.source(t)
			must(t, store.Migrate(ctx, srcURL, "", "up"))
			src := open(t, srcURL, "")
			f := seedBackup(t, src)
			out := filepath.Join(t.TempDir(), "idp.dump")

			stop := writeWhile(t, src)
			start := time.Now()
			err := store.BackupPostgres(ctx, srcURL, out)
			took := time.Since(start)
			written := stop()
			must(t, err)
			t.Logf("pg_dump took %v while %d users were written", took, written)
			wantMode(t, out, 0o600)

			// The restore target: a fresh database, reached with the source's search_path
			// (pg_restore recreates the schema the dump came from).
			target := pgtest.FreshDatabase(t)
			if schema := currentSchema(t, srcURL); schema != "public" {
				target = withSearchPath(t, target, schema)
			}
			start = time.Now()
			must(t, store.RestorePostgres(ctx, out, target))
			t.Logf("pg_restore took %v", time.Since(start))
			wantVersion(t, target, "", latestVersion)
			must(t, store.Migrate(ctx, target, "", "up"))
			s := open(t, target, "")
			f.check(t, s)
			if n := countWriterUsers(t, s); n > written {
				t.Fatalf("the backup holds %d of the writer's users, more than the %d it wrote", n, written)
			}

			t.Run("again over the restored data", func(t *testing.T) {
				marker := &store.User{ID: "marker", Email: "marker@example.com", CreatedAt: time.Now(), UpdatedAt: time.Now()}
				must(t, s.CreateUser(ctx, marker))
				must(t, s.Close()) // as the operator stops the servers first
				must(t, store.RestorePostgres(ctx, out, target))
				s := open(t, target, "")
				f.check(t, s)
				if _, err := s.GetUser(ctx, marker.ID); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("a user made after the backup survived the restore: %v", err)
				}
			})
			t.Run("backup refuses an existing file", func(t *testing.T) {
				if err := store.BackupPostgres(ctx, srcURL, out); err == nil {
					t.Fatal("backup overwrote an existing file")
				}
			})
		})
	}
	t.Run("restore refuses what is not a pg_dump archive", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "notes.txt")
		must(t, os.WriteFile(bad, []byte("not an archive"), 0o600))
		if err := store.RestorePostgres(t.Context(), bad, pgtest.FreshDatabase(t)); err == nil {
			t.Fatal("restore of a text file succeeded")
		}
	})
	t.Run("backup refuses a database without our schema", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "idp.dump")
		if err := store.BackupPostgres(t.Context(), pgtest.FreshSchema(t), out); err == nil {
			t.Fatal("backup of an unmigrated schema succeeded")
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a failed backup left its file: %v", err)
		}
	})
}

// fakePGTools puts a pg_dump and a pg_restore on PATH (and nothing else) that record their
// arguments and PGPASSWORD in dir; pg_dump writes a minimal archive header to its --file. With
// FAKE_PG_FAIL set they print it and fail.
func fakePGTools(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		script := `#!/bin/sh
if [ -n "$FAKE_PG_FAIL" ]; then echo "` + tool + `: error: $FAKE_PG_FAIL" >&2; exit 1; fi
: > "` + dir + `/` + tool + `.args"
for a in "$@"; do
	printf '%s\n' "$a" >> "` + dir + `/` + tool + `.args"
	case "$a" in --file=*) printf 'PGDMP' > "${a#--file=}";; esac
done
printf '%s' "$PGPASSWORD" > "` + dir + `/` + tool + `.password"
`
		must(t, os.WriteFile(filepath.Join(dir, tool), []byte(script), 0o700))
	}
	t.Setenv("PATH", dir)
	return dir
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// TestPostgresBackupToolArguments: the password reaches pg_dump and pg_restore through PGPASSWORD
// and never their command line; pgx's own parameters are not passed on; a schema on search_path
// limits the dump to it; a tool's failure is reported with what it printed.
func TestPostgresBackupToolArguments(t *testing.T) {
	dbURL := migratedPostgres(t)
	schema := currentSchema(t, dbURL)
	u, err := url.Parse(dbURL)
	must(t, err)
	const password = "s3cret-Pa55word"
	u.User = url.UserPassword(u.User.Username(), password) // the test server trusts: any password does
	q := u.Query()
	q.Set("pool_max_conns", "3")
	u.RawQuery = q.Encode()
	withPassword := u.String()

	dir := fakePGTools(t)
	out := filepath.Join(t.TempDir(), "idp.dump")
	must(t, store.BackupPostgres(t.Context(), withPassword, out))
	args := readLines(t, filepath.Join(dir, "pg_dump.args"))
	all := strings.Join(args, " ")
	for _, want := range []string{"--format=custom", "--no-owner", "--file=" + out, `--schema="` + schema + `"`} {
		if !strings.Contains(all, want) {
			t.Errorf("pg_dump arguments %q lack %q", args, want)
		}
	}
	for _, not := range []string{password, "pool_max_conns", "search_path"} {
		if strings.Contains(all, not) {
			t.Errorf("pg_dump arguments %q hold %q", args, not)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "pg_dump.password")); string(b) != password {
		t.Errorf("pg_dump got PGPASSWORD %q, want the URL's password", b)
	}

	must(t, store.RestorePostgres(t.Context(), out, withPassword))
	args = readLines(t, filepath.Join(dir, "pg_restore.args"))
	all = strings.Join(args, " ")
	for _, want := range []string{"--clean", "--if-exists", "--no-owner", "--single-transaction", out} {
		if !strings.Contains(all, want) {
			t.Errorf("pg_restore arguments %q lack %q", args, want)
		}
	}
	if strings.Contains(all, password) {
		t.Errorf("pg_restore arguments %q hold the password", args)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "pg_restore.password")); string(b) != password {
		t.Errorf("pg_restore got PGPASSWORD %q, want the URL's password", b)
	}

	t.Setenv("FAKE_PG_FAIL", "disk full")
	failed := filepath.Join(t.TempDir(), "failed.dump")
	err = store.BackupPostgres(t.Context(), withPassword, failed)
	if err == nil || !strings.Contains(err.Error(), "pg_dump: error: disk full") || strings.Contains(err.Error(), password) {
		t.Errorf("a failing pg_dump gave %v", err)
	}
	if _, err := os.Stat(failed); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed backup left its file: %v", err)
	}
	if err := store.RestorePostgres(t.Context(), out, withPassword); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("a failing pg_restore gave %v", err)
	}
}

// TestPostgresBackupToolsMissing: without pg_dump or pg_restore on PATH the error names the tool
// (and never the URL); nothing is written. It needs no database.
func TestPostgresBackupToolsMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	const dbURL = "postgres://idp:s3cret@127.0.0.1:1/idp"
	out := filepath.Join(t.TempDir(), "idp.dump")
	err := store.BackupPostgres(t.Context(), dbURL, out)
	if err == nil || !strings.Contains(err.Error(), "pg_dump") || containsAny(err.Error(), "s3cret", dbURL) {
		t.Errorf("backup without pg_dump: %v", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("backup without pg_dump wrote %s: %v", out, err)
	}
	err = store.RestorePostgres(t.Context(), out, dbURL)
	if err == nil || !strings.Contains(err.Error(), "pg_restore") || containsAny(err.Error(), "s3cret", dbURL) {
		t.Errorf("restore without pg_restore: %v", err)
	}
}
