package store

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store/pgtest"
)

// TestClientsRegisteredBeforeScopes: clients stored before migration 000005 keep what they could
// do: web, spa and native clients may ask for openid profile email, web clients offline_access
// too; confidential clients authenticate with client_secret_basic, public ones with none; a
// service client gets no scope until granted one.
func TestClientsRegisteredBeforeScopes(t *testing.T) {
	for name, url := range map[string]func(t *testing.T) string{
		"sqlite":   func(*testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return pgtest.FreshSchema(t) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			dbURL, dir := url(t), filepath.Join(t.TempDir(), "data")
			if err := Migrate(ctx, dbURL, dir, "up"); err != nil {
				t.Fatal(err)
			}
			for v, _, _ := MigrationVersion(ctx, dbURL, dir); v > 4; v, _, _ = MigrationVersion(ctx, dbURL, dir) {
				if err := Migrate(ctx, dbURL, dir, "down"); err != nil {
					t.Fatal(err)
				}
			}
			st, err := Open(ctx, dbURL, dir)
			if err != nil {
				t.Fatal(err)
			}
			s := st.(*sqlStore)
			for _, c := range [][2]string{{"old-web", "web"}, {"old-spa", "spa"}, {"old-native", "native"}, {"old-svc", "service"}} {
				if _, err := s.wr.exec(ctx, `INSERT INTO clients (id, type, secret_hash, created_at) VALUES (?, ?, '', ?)`, c[0], c[1], time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			st.Close()
			if err := Migrate(ctx, dbURL, dir, "up"); err != nil {
				t.Fatal(err)
			}
			st, err = Open(ctx, dbURL, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for id, want := range map[string]struct {
				method string
				scopes []string
			}{
				"old-web":    {AuthSecretBasic, []string{"openid", "profile", "email", "offline_access"}},
				"old-spa":    {AuthNone, []string{"openid", "profile", "email"}},
				"old-native": {AuthNone, []string{"openid", "profile", "email"}},
				"old-svc":    {AuthSecretBasic, nil},
			} {
				c, err := st.GetClient(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if c.AuthMethod != want.method || !slices.Equal(c.Scopes, want.scopes) {
					t.Errorf("%s after the migration: %s %v, want %s %v", id, c.AuthMethod, c.Scopes, want.method, want.scopes)
				}
			}
		})
	}
}
