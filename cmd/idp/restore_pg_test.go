package main

import (
	"context"
	"io"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/fintech-idp/idp/internal/store/pgtest"
)

// TestBackupRestoreDrillPostgres is the backup drill (README, "Backups") on PostgreSQL, through the CLI and
// a real OIDC client: a user, a client and a live refresh token on a running IdP → `idp backup`
// (pg_dump) → `idp restore` (pg_restore) into another fresh database → the first IdP stops → a new
// IdP with the same SECRET_KEY serves the restored database: the refresh token from before the
// backup still refreshes, tokens signed before it still verify, and the user signs in with their
// password. Restored with another SECRET_KEY, the signing key cannot be opened: the IdP never
// turns ready, and says why, until `idp keys rotate` seals a new key with the new SECRET_KEY.
func TestBackupRestoreDrillPostgres(t *testing.T) {
	pgtest.BaseURL(t) // skips, or fails when IDP_TEST_DB_REQUIRED=1, without a test database
	pgtest.RequireClientTools(t)
	ctx := context.Background()
	secret := strings.Repeat("pg-drill-secret-", 3)
	// Whole databases (public schema), as an operator would back up and restore them.
	source, target := pgtest.FreshDatabase(t), pgtest.FreshDatabase(t)
	backup := filepath.Join(t.TempDir(), "idp.dump")
	restoreInto := func(t *testing.T, databaseURL, secretKey string) *testIdP {
		t.Helper()
		p := &testIdP{env: map[string]string{"IDP_ENV": "development", "DATABASE_URL": databaseURL,
			"SECRET_KEY": secretKey, "IDP_DATA_DIR": filepath.Join(t.TempDir(), "data")}}
		if out := p.cli(t, "", "restore", "--in", backup); !strings.Contains(out, "restored") {
			t.Fatalf("restore: %s", out)
		}
		return p
	}

	// The first IdP lives in a subtest: its cleanups stop it when it ends. The relying party
	// outlives it: the redirect URI registered for the client, restored unchanged from the backup,
	// must still reach this test (listening again on its port later could find it taken).
	relyingParty := startRP(t)
	var (
		f        *flowEnv
		before   *oauth2.Token
		beforeID string // the ID token issued before the backup
	)
	if !t.Run("backup of a live IdP", func(t *testing.T) {
		f = setupFlowOn(t, relyingParty, source, map[string]string{"SECRET_KEY": secret})
		before, _, _ = f.login(t, newBrowser(t))
		if before.RefreshToken == "" {
			t.Fatal("no refresh token despite offline_access")
		}
		beforeID, _ = before.Extra("id_token").(string)
		if out := f.idp.cli(t, "", "backup", "--out", backup); !strings.Contains(out, "backup written") {
			t.Fatalf("backup: %s", out)
		}
		restoreInto(t, target, secret)
	}) {
		t.FailNow()
	}

	p2 := startIdP(t, target, map[string]string{"SECRET_KEY": secret})
	f.rebind(t, p2)
	refreshed, err := f.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: before.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("the refresh token from before the backup does not work after the restore: %v", err)
	}
	// The restored signing key is the active one: what it signed before verifies, and it signs on.
	if err := verifiesWith(ctx, p2, beforeID); err != nil {
		t.Errorf("an ID token from before the backup does not verify against the restored IdP: %v", err)
	}
	raw, _ := refreshed.Extra("id_token").(string)
	if got, want := jwtHeader(t, raw)["kid"], jwtHeader(t, beforeID)["kid"]; got != want {
		t.Errorf("the restored IdP signs with key %v, not the restored key %v", got, want)
	}
	f.login(t, newBrowser(t)) // the user signs in with their password
	if out := p2.cli(t, "", "users", "list"); !strings.Contains(out, f.email) {
		t.Errorf("users after restore:\n%s", out)
	}
	if out := p2.cli(t, "", "clients", "list"); !strings.Contains(out, "bank-web") || !strings.Contains(out, f.svcID) {
		t.Errorf("clients after restore:\n%s", out)
	}

	t.Run("with another SECRET_KEY the signing key cannot be opened", func(t *testing.T) {
		other := strings.Repeat("not-the-drill-secret-", 2)
		databaseURL := pgtest.FreshDatabase(t)
		p := restoreInto(t, databaseURL, other) // restore itself never opens the keys
		err, serverLog := serveFails(t, p2, map[string]string{"DATABASE_URL": databaseURL, "SECRET_KEY": other})
		if err == nil || !strings.Contains(err.Error(), "was SECRET_KEY changed?") || !strings.Contains(err.Error(), "idp keys rotate") {
			t.Errorf("serve with another SECRET_KEY: %v, want a refusal that says why and the way back\n%s", err, serverLog)
		}

		// The way back: a new key sealed with the new SECRET_KEY. The lost key stays published,
		// so tokens it signed verify until they expire; refresh tokens never depended on it.
		p.cli(t, "", "keys", "rotate")
		p3 := startIdP(t, databaseURL, map[string]string{"SECRET_KEY": other})
		f.rebind(t, p3)
		if _, err := f.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: before.RefreshToken}).Token(); err != nil {
			t.Errorf("refresh after keys rotate: %v", err)
		}
		if err := verifiesWith(ctx, p3, beforeID); err != nil {
			t.Errorf("an ID token signed with the lost key no longer verifies: %v", err)
		}
		f.login(t, newBrowser(t)) // passwords never depended on SECRET_KEY
	})
}

// verifiesWith checks the signature of a JWT against p's published keys (JWKS). Only the
// signature: each test IdP has an issuer of its own, where a restored production IdP would keep
// the old one.
func verifiesWith(ctx context.Context, p *testIdP, jwt string) error {
	_, err := oidc.NewRemoteKeySet(ctx, p.issuer+"/keys").VerifySignature(ctx, jwt)
	return err
}

// serveFails runs `idp serve` configured like like plus extra and returns the error it stops
// with (nil when it started instead: then it is stopped) and its log.
func serveFails(t *testing.T, like *testIdP, extra map[string]string) (error, string) {
	t.Helper()
	env := maps.Clone(like.env)
	env["PORT"] = "0" // the development issuer follows the port the system picks
	delete(env, "ISSUER")
	env["IDP_METRICS_ADDR"] = "off"
	maps.Copy(env, extra)
	p := &testIdP{env: env, stderr: &syncBuffer{}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := run(ctx, []string{"serve"}, p.getenv, strings.NewReader(""), io.Discard, p.stderr)
	if ctx.Err() != nil {
		return nil, p.stderr.String()
	}
	return err, p.stderr.String()
}
