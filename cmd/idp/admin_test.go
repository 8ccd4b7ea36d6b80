package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestBackupRestoreDrill: users, clients and live refresh tokens survive backup → restore into a
// fresh data directory → a new IdP on it: the user signs in and the refresh token still works.
func TestBackupRestoreDrill(t *testing.T) {
	secret := strings.Repeat("drill-secret-", 4)
	f := setupFlowWith(t, "", map[string]string{"SECRET_KEY": secret})
	tok, _, _ := f.login(t, newBrowser(t))
	backup := filepath.Join(t.TempDir(), "idp.backup")
	out := f.idp.cli(t, "", "backup", "--out", backup)
	if !strings.Contains(out, "backup written") {
		t.Fatalf("backup: %s", out)
	}

	// A fresh data directory, restored from the file, served by a new process.
	restored := map[string]string{"SECRET_KEY": secret, "IDP_DATA_DIR": filepath.Join(t.TempDir(), "restored")}
	fresh := &testIdP{env: map[string]string{"IDP_ENV": "development", "IDP_DATA_DIR": restored["IDP_DATA_DIR"], "SECRET_KEY": secret}}
	fresh.cli(t, "", "restore", "--in", backup)
	p2 := startIdP(t, "", restored)
	f.rebind(t, p2)
	if _, err := f.oauth.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Fatalf("the refresh token from before the backup does not work after the restore: %v", err)
	}
	f.login(t, newBrowser(t)) // the user signs in with their password
	if out := p2.cli(t, "", "users", "list"); !strings.Contains(out, f.email) {
		t.Errorf("users after restore:\n%s", out)
	}
}

// TestAdminCommands: users show/disable/enable/revoke-sessions/reset-mfa/delete, clients
// update/rotate-secret, audit search, keys reencrypt — over the same store a live server uses.
func TestAdminCommands(t *testing.T) {
	f := setupFlow(t, "")
	ctx := context.Background()
	tok, _, _ := f.login(t, newBrowser(t))
	p := f.idp

	if out := p.cli(t, "", "users", "show", f.email); !strings.Contains(out, "email verified") || !strings.Contains(out, "true") {
		t.Errorf("users show:\n%s", out)
	}
	// Disabling kills tokens and sessions at once.
	p.cli(t, "", "users", "disable", f.email)
	if _, err := f.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); tokenError(err) != "invalid_grant" {
		t.Errorf("refresh of a disabled user: %v", err)
	}
	if _, err := f.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("access token of a disabled user still works")
	}
	p.cli(t, "", "users", "enable", f.email)
	tok, _, _ = f.login(t, newBrowser(t))
	p.cli(t, "", "users", "revoke-sessions", f.email, "--yes")
	if _, err := f.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); tokenError(err) != "invalid_grant" {
		t.Errorf("refresh after revoke-sessions: %v", err)
	}
	// Resetting two-step (a lost phone) also signs the person out everywhere.
	tok, _, _ = f.login(t, newBrowser(t))
	enableMFA(t, openTestStore(t, p.getenv), f.email, "+447700900123", 10)
	if out := p.cli(t, "", "users", "reset-mfa", f.email, "--yes"); !strings.Contains(out, "turned two-step verification off") {
		t.Errorf("users reset-mfa:\n%s", out)
	}
	if _, err := f.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); tokenError(err) != "invalid_grant" {
		t.Errorf("refresh after reset-mfa: %v", err)
	}
	if out := p.cli(t, "", "users", "show", f.email); !regexp.MustCompile(`two-step\s+false`).MatchString(out) {
		t.Errorf("users show after reset-mfa:\n%s", out)
	}

	// Clients.
	p.cli(t, "", "clients", "update", "bank-web", "--name", "Bank 2", "--redirect-uri", f.rp.url+"/callback", "--redirect-uri", f.rp.url+"/cb2")
	if out := p.cli(t, "", "clients", "list"); !strings.Contains(out, "Bank 2") || !strings.Contains(out, "/cb2") {
		t.Errorf("clients update:\n%s", out)
	}
	out := p.cli(t, "", "clients", "rotate-secret", "bank-web", "--yes")
	m := regexp.MustCompile(`\(shown once, store it now\): (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("rotate-secret: %s", out)
	}
	if _, err := f.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: "rt_x"}).Token(); tokenError(err) != "invalid_client" {
		t.Errorf("the old secret still authenticates: %v", err)
	}
	f.oauth.ClientSecret = m[1]
	f.login(t, newBrowser(t))

	// Audit search.
	if out := p.cli(t, "", "audit", "search", "--user", f.email, "--type", "login.*", "--json"); !strings.Contains(out, `"login.succeeded"`) {
		t.Errorf("audit search:\n%s", out)
	}
	if out := p.cli(t, "", "audit", "tail", "-n", "5"); strings.Count(out, "\n") != 5 {
		t.Errorf("audit tail -n 5:\n%s", out)
	}

	// Delete.
	p.cli(t, "", "users", "delete", f.email, "--yes")
	if out := p.cli(t, "", "users", "list"); strings.Contains(out, f.email) {
		t.Error("deleted user still listed")
	}
}

// TestKeysReencrypt: after SECRET_KEY changes (old one in SECRET_KEY_PREVIOUS), reencrypt
// re-seals the signing keys and the server starts with only the new secret.
func TestKeysReencrypt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	oldKey, newKey := strings.Repeat("o", 40), strings.Repeat("n", 40)
	p := &testIdP{env: map[string]string{"IDP_ENV": "development", "IDP_DATA_DIR": dir, "SECRET_KEY": oldKey}}
	p.cli(t, "", "keys", "rotate") // two keys sealed with the old secret
	p.env["SECRET_KEY"], p.env["SECRET_KEY_PREVIOUS"] = newKey, oldKey
	if out := p.cli(t, "", "keys", "reencrypt"); !strings.Contains(out, "re-sealed 2 signing keys") {
		t.Fatalf("reencrypt: %s", out)
	}
	if out := p.cli(t, "", "keys", "reencrypt"); !strings.Contains(out, "re-sealed 0 signing keys") {
		t.Errorf("second reencrypt: %s", out)
	}
	startIdP(t, "", map[string]string{"IDP_DATA_DIR": dir, "SECRET_KEY": newKey})
}
