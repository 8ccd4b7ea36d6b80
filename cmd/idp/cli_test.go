package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/idp"
	"github.com/fintech-idp/idp/internal/password"
	"github.com/fintech-idp/idp/internal/store"
)

// cliEnv is a development environment on a fresh SQLite directory.
func cliEnv(t *testing.T, extra map[string]string) func(string) string {
	t.Helper()
	env := map[string]string{"IDP_ENV": "development", "IDP_DATA_DIR": filepath.Join(t.TempDir(), "data")}
	for k, v := range extra {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

func runCLI(t *testing.T, getenv func(string) string, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, getenv, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

// TestCLIBadInput: every mistake gets a usage error (exit 2) or a clear error naming the problem,
// and nothing is written.
func TestCLIBadInput(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		stdin string
		usage bool     // exit status 2
		want  []string // all of these in the error
	}{
		{"unknown command", []string{"frobnicate"}, "", true, []string{`unknown command "frobnicate"`}},
		{"unknown flag", []string{"serve", "--nope"}, "", true, []string{"flag provided but not defined: -nope"}},
		{"bad port", []string{"serve", "--port", "eighty"}, "", true, []string{"port"}},
		{"migrate without verb", []string{"migrate"}, "", true, []string{"up, down or version"}},
		{"migrate bad verb", []string{"migrate", "sideways"}, "", true, []string{`"sideways"`}},
		{"users create no email", []string{"users", "create", "--password", "correct horse battery staple"}, "", true, []string{"--email is required"}},
		{"users create both passwords", []string{"users", "create", "--email", "a@b.co", "--password", "x", "--password-stdin"}, "x\n", true, []string{"exactly one of --password or --password-stdin"}},
		{"users create bad email and short password", []string{"users", "create", "--email", "not-an-email", "--password", "short"}, "", false,
			[]string{"email is not a valid address", "Use at least 15 characters"}},
		{"users create dotless domain", []string{"users", "create", "--email", "a@localhost", "--password", "correct horse battery staple"}, "", false,
			[]string{"email is not a valid address"}},
		{"clients create everything wrong", []string{"clients", "create", "--id", "bad id!", "--type", "desktop", "--redirect-uri", "not a uri"}, "", true,
			[]string{"--id must be", "--type must be one of web, spa, native, service", `--redirect-uri "not a uri": must be an absolute URI`}},
		{"clients create web without redirect", []string{"clients", "create", "--id", "w", "--type", "web"}, "", true, []string{"needs at least one --redirect-uri"}},
		{"clients create spa with secret", []string{"clients", "create", "--id", "s", "--type", "spa", "--redirect-uri", "http://localhost:3000/cb", "--secret", "abc"}, "", true,
			[]string{"public: it cannot have a --secret"}},
		{"clients create service with redirect", []string{"clients", "create", "--id", "svc", "--type", "service", "--redirect-uri", "https://x.example/cb"}, "", true,
			[]string{"takes no redirect URIs"}},
		{"clients create fragment", []string{"clients", "create", "--id", "w", "--type", "web", "--redirect-uri", "https://x.example/cb#frag"}, "", true,
			[]string{"must not contain a fragment"}},
		{"clients create bad token format", []string{"clients", "create", "--id", "w", "--type", "web", "--redirect-uri", "https://x.example/cb", "--access-token", "paseto"}, "", true,
			[]string{"--access-token must be opaque or jwt"}},
		{"clients delete without id", []string{"clients", "delete"}, "", true, []string{"name the client"}},
		{"clients delete unknown", []string{"clients", "delete", "ghost", "--yes"}, "", false, []string{`no client with id "ghost"`}},
		{"keys bad verb", []string{"keys", "spin"}, "", true, []string{`"spin"`}},
		{"users reset-mfa without user", []string{"users", "reset-mfa", "--yes"}, "", true, []string{"name the user: idp users reset-mfa EMAIL-OR-ID"}},
		{"users reset-mfa unknown user", []string{"users", "reset-mfa", "ghost@example.com", "--yes"}, "", false, []string{`users reset-mfa: no user "ghost@example.com"`}},
		{"users reset-mfa unknown flag", []string{"users", "reset-mfa", "ghost@example.com", "--force"}, "", true, []string{"flag provided but not defined: -force"}},
		{"users unknown subcommand", []string{"users", "reset-2fa", "a@b.co"}, "", true, []string{"reset-mfa"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := cliEnv(t, nil)
			_, _, err := runCLI(t, env, tc.stdin, tc.args...)
			if err == nil {
				t.Fatal("want an error")
			}
			var u usageError
			if got := errors.As(err, &u); got != tc.usage {
				t.Errorf("usage error = %v, want %v (%v)", got, tc.usage, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			// Nothing half-written: no user, and no client but the development one.
			out, _, err := runCLI(t, env, "", "users", "list")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Count(out, "\n") != 1 {
				t.Errorf("users were written:\n%s", out)
			}
			out, _, err = runCLI(t, env, "", "clients", "list")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Count(out, "\n") != 1 {
				t.Errorf("clients were written:\n%s", out)
			}
		})
	}
}

func TestCLIHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"users", "--help"}, {"clients", "-h"}, {"keys", "--help"}, {"audit", "--help"}, {"migrate", "--help"}, {"backup", "--help"}, {"healthcheck", "--help"}, {"serve", "--help"}, {"users", "create", "--help"}, {"users", "reset-mfa", "--help"}, {"users", "import", "--help"}, {"clients", "create", "--help"}, {"keys", "list", "--help"}, {"migrate", "up", "--help"}} {
		out, errOut, err := runCLI(t, cliEnv(t, nil), "", args...)
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%v: %v", args, err)
		}
		if !strings.Contains(out+errOut, "Usage") {
			t.Errorf("%v printed no usage:\n%s%s", args, out, errOut)
		}
	}
}

// TestCLIConfigProblemsAllAtOnce: production without an https issuer and without a secret key
// names both problems in one error.
func TestCLIConfigProblemsAllAtOnce(t *testing.T) {
	env := cliEnv(t, map[string]string{"IDP_ENV": "production", "ISSUER": "http://idp.example.com"})
	_, _, err := runCLI(t, env, "", "serve")
	if err == nil {
		t.Fatal("want an error")
	}
	for _, w := range []string{"ISSUER", "SECRET_KEY"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %s", err, w)
		}
	}
}

// TestCLIProductionRules: https redirect URIs, the development secret refused.
func TestCLIProductionRules(t *testing.T) {
	env := cliEnv(t, map[string]string{"IDP_ENV": "production", "ISSUER": "https://idp.example.com", "SECRET_KEY": strings.Repeat("s", 40),
		"SMTP_URL": "smtp://mail.example.com:587", "SENDER_EMAIL": "no-reply@example.com"})
	_, _, err := runCLI(t, env, "", "clients", "create", "--id", "w", "--type", "web", "--redirect-uri", "http://app.example.com/cb")
	if err == nil || !strings.Contains(err.Error(), "must use https in production") {
		t.Errorf("http redirect in production: %v", err)
	}
	if _, _, err := runCLI(t, env, "", "clients", "create", "--id", "n", "--type", "native", "--redirect-uri", "http://127.0.0.1/cb"); err != nil {
		t.Errorf("native loopback in production: %v", err)
	}
	_, _, err = runCLI(t, env, "", "clients", "create", "--id", "w", "--type", "web", "--redirect-uri", "https://app.example.com/cb", "--secret", "dev-secret")
	if err == nil {
		t.Error("production accepted the development secret")
	}
}

// TestCLIClientsLifecycle: create prints the secret once, list shows it, delete asks first.
func TestCLIClientsLifecycle(t *testing.T) {
	env := cliEnv(t, nil)
	out, _, err := runCLI(t, env, "", "clients", "create", "--id", "bank", "--type", "web", "--redirect-uri", "https://bank.example/cb", "--name", "Bank")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "client secret (shown once") {
		t.Errorf("no secret printed: %s", out)
	}
	out, _, _ = runCLI(t, env, "", "clients", "list")
	if !strings.Contains(out, "bank") || !strings.Contains(out, "https://bank.example/cb") {
		t.Errorf("list = %s", out)
	}
	if _, _, err := runCLI(t, env, "", "clients", "create", "--id", "bank", "--type", "web", "--redirect-uri", "https://x.example/cb"); err == nil ||
		!strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate id: %v", err)
	}
	if _, _, err := runCLI(t, env, "n\n", "clients", "delete", "bank"); err == nil {
		t.Error("delete went ahead without confirmation")
	}
	if _, _, err := runCLI(t, env, "yes\n", "clients", "delete", "bank"); err != nil {
		t.Errorf("confirmed delete: %v", err)
	}
	out, _, _ = runCLI(t, env, "", "clients", "list")
	if strings.Contains(out, "bank") {
		t.Errorf("client still listed: %s", out)
	}
}

func TestCLIKeysRotate(t *testing.T) {
	env := cliEnv(t, nil)
	out, _, err := runCLI(t, env, "", "keys", "rotate")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "new active signing key") || strings.Count(out, "true") < 2 {
		t.Errorf("rotate output:\n%s", out)
	}
	out, _, _ = runCLI(t, env, "", "keys", "list")
	if lines := strings.Count(out, "\n"); lines != 3 { // header + new + old
		t.Errorf("keys list:\n%s", out)
	}
}

func TestCLIMigrate(t *testing.T) {
	env := cliEnv(t, nil)
	var up, down int
	out, _, err := runCLI(t, env, "", "migrate", "up")
	if _, serr := fmt.Sscanf(out, "schema version %d", &up); err != nil || serr != nil || up < 2 {
		t.Fatalf("migrate up: %v %q", err, out)
	}
	out, _, err = runCLI(t, env, "", "migrate", "down", "--yes")
	// Down goes one migration back (numbers may skip: each change owns its number).
	if _, serr := fmt.Sscanf(out, "schema version %d", &down); err != nil || serr != nil || down >= up || down < 1 {
		t.Fatalf("migrate down from %d: %v %q", up, err, out)
	}
	if _, _, err := runCLI(t, env, "n\n", "migrate", "down"); err == nil {
		t.Error("migrate down went ahead without confirmation")
	}
}

// TestProductionRefusesKnownSecret: a client holding the well-known development secret (left from
// a development run on the same database) stops a production start; the development client is
// never created in production.
func TestProductionRefusesKnownSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	dev := cliEnv(t, map[string]string{"IDP_DATA_DIR": dir})
	// The CLI no longer lets anyone choose dev-secret; a database from older days may hold it.
	if _, _, err := runCLI(t, dev, "", "clients", "create", "--id", "old-demo", "--type", "web",
		"--redirect-uri", "https://x.example/cb", "--secret", "dev-secret"); err == nil {
		t.Fatal("the CLI gave another client the development secret")
	}
	if _, _, err := runCLI(t, dev, "", "migrate", "up"); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := password.NewHasher(password.DefaultParams()).Hash(idp.DevClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	err = st.CreateClient(t.Context(), &store.Client{ID: "old-demo", Type: store.ClientWeb, SecretHash: hash,
		RedirectURIs: []string{"https://x.example/cb"}, CreatedAt: time.Now()})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	prod := cliEnv(t, map[string]string{"IDP_DATA_DIR": dir, "IDP_ENV": "production", "ISSUER": "https://idp.example.com",
		"SECRET_KEY": strings.Repeat("s", 40), "SMTP_URL": "smtp://mail.example.com:587", "SENDER_EMAIL": "no-reply@example.com",
		"IDP_METRICS_ADDR": "off", "PORT": "0"})
	_, _, err = runCLI(t, prod, "", "serve")
	if err == nil || !strings.Contains(err.Error(), "well-known development secret") || !strings.Contains(err.Error(), "old-demo") {
		t.Fatalf("production start: %v", err)
	}
	if _, _, err := runCLI(t, prod, "", "clients", "delete", "old-demo", "--yes"); err != nil {
		t.Fatal(err)
	}
	out, _, _ := runCLI(t, prod, "", "clients", "list")
	if strings.Contains(out, "fintech-dashboard") {
		t.Error("the development client exists in production")
	}
}

// TestCLIHelpNamesResetMFA: the command is listed in idp --help and idp users --help.
func TestCLIHelpNamesResetMFA(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"revoke-sessions|reset-mfa|delete"}},
		{[]string{"users", "--help"}, []string{"idp users reset-mfa USER [--yes]", "lost their phone"}},
	} {
		out, errOut, err := runCLI(t, cliEnv(t, nil), "", tc.args...)
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%v: %v", tc.args, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out+errOut, w) {
				t.Errorf("%v lacks %q:\n%s%s", tc.args, w, out, errOut)
			}
		}
	}
}

// openTestStore opens the database the CLI environment getenv names; it is closed at the end of
// the test.
func openTestStore(t *testing.T, getenv func(string) string) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), getenv("DATABASE_URL"), getenv("IDP_DATA_DIR"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// enableMFA turns two-step on for the user as the enrolment pages would: phone number and
// recovery codes (their hashes are never checked here).
func enableMFA(t *testing.T, st store.Store, email, phone string, codes int) *store.User {
	t.Helper()
	ctx := context.Background()
	u, err := st.GetUserByEmail(ctx, idp.NormalizeEmail(email))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := st.SetUserMFA(ctx, u.ID, phone, true, now); err != nil {
		t.Fatal(err)
	}
	hashes := make([]string, codes)
	for i := range hashes {
		hashes[i] = fmt.Sprintf("recovery-code-hash-%d", i)
	}
	if err := st.ReplaceRecoveryCodes(ctx, u.ID, hashes, now); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestCLIResetMFA: reset-mfa asks first; then it turns two-step off (phone number and recovery
// codes gone), revokes every session and writes one mfa.reset audit event by the operator; a
// user without two-step on is left alone, without a question and with exit status 0.
func TestCLIResetMFA(t *testing.T) {
	for name, databaseURL := range storeEnvs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			env := cliEnv(t, map[string]string{"DATABASE_URL": databaseURL(t)})
			const email, phone = "lost.phone@example.com", "+447700900123"
			if _, _, err := runCLI(t, env, "correct horse battery staple\n", "users", "create", "--email", email, "--password-stdin", "--verified"); err != nil {
				t.Fatal(err)
			}
			st := openTestStore(t, env)
			u := enableMFA(t, st, email, phone, 3)
			now := time.Now().UTC()
			for i := range 2 {
				if err := st.CreateSession(ctx, &store.Session{ID: fmt.Sprintf("s%d-%s", i, u.ID), TokenHash: fmt.Sprintf("th%d-%s", i, u.ID),
					UserID: u.ID, AuthTime: now, AMR: []string{"pwd", "sms", "mfa"}, ACR: "mfa",
					CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
			}
			state := func() (mfa bool, phone string, codes, sessions, events int) {
				t.Helper()
				got, err := st.GetUser(ctx, u.ID)
				if err != nil {
					t.Fatal(err)
				}
				codes, err = st.CountUnusedRecoveryCodes(ctx, u.ID)
				if err != nil {
					t.Fatal(err)
				}
				live, err := st.ListSessions(ctx, u.ID, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				audit, err := st.SearchAudit(ctx, store.AuditFilter{UserID: u.ID, Type: "mfa.reset"})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range audit {
					if e.Detail["by"] != "operator" {
						t.Errorf("mfa.reset detail = %v, want by=operator", e.Detail)
					}
				}
				return got.MFAEnabled, got.PhoneE164, codes, len(live), len(audit)
			}

			// Not confirmed: nothing changes.
			if _, _, err := runCLI(t, env, "n\n", "users", "reset-mfa", email); err == nil || !strings.Contains(err.Error(), "not confirmed, nothing changed") {
				t.Fatalf("unconfirmed reset-mfa: %v", err)
			}
			if mfa, ph, codes, sessions, events := state(); !mfa || ph != phone || codes != 3 || sessions != 2 || events != 0 {
				t.Fatalf("after a refused confirmation: mfa=%v phone=%q codes=%d sessions=%d events=%d", mfa, ph, codes, sessions, events)
			}

			// Confirmed at the prompt.
			out, _, err := runCLI(t, env, "yes\n", "users", "reset-mfa", email)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range []string{
				"turned two-step verification off for lost.phone@example.com: phone +44******0123 removed, 3 unused recovery codes deleted",
				"revoked 2 sessions of lost.phone@example.com and all their refresh tokens",
				"emailed lost.phone@example.com about it",
			} {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, phone) {
				t.Errorf("output shows the whole phone number:\n%s", out)
			}
			if mfa, ph, codes, sessions, events := state(); mfa || ph != "" || codes != 0 || sessions != 0 || events != 1 {
				t.Fatalf("after reset-mfa: mfa=%v phone=%q codes=%d sessions=%d events=%d", mfa, ph, codes, sessions, events)
			}

			// Again, by id and without --yes: nothing to do, no question asked, no second event.
			out, errOut, err := runCLI(t, env, "", "users", "reset-mfa", u.ID)
			if err != nil {
				t.Fatalf("reset-mfa of a user without two-step: %v", err)
			}
			if !strings.Contains(out, "lost.phone@example.com has no two-step verification on: nothing changed") || strings.Contains(errOut, "[y/N]") {
				t.Errorf("reset-mfa of a user without two-step:\n%s%s", out, errOut)
			}
			if _, _, _, _, events := state(); events != 1 {
				t.Errorf("%d mfa.reset events, want 1", events)
			}
		})
	}
}
