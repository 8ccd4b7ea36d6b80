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
	for _, args := range [][]string{{"--help"}, {"help"}, {"users", "--help"}, {"clients", "-h"}, {"keys", "--help"}, {"audit", "--help"}, {"migrate", "--help"}, {"backup", "--help"}, {"healthcheck", "--help"}, {"serve", "--help"}, {"users", "create", "--help"}, {"clients", "create", "--help"}, {"keys", "list", "--help"}, {"migrate", "up", "--help"}} {
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
	if _, serr := fmt.Sscanf(out, "schema version %d", &down); err != nil || serr != nil || down != up-1 {
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
	if _, _, err := runCLI(t, dev, "", "clients", "create", "--id", "old-demo", "--type", "web",
		"--redirect-uri", "https://x.example/cb", "--secret", "dev-secret"); err != nil {
		t.Fatal(err)
	}
	prod := cliEnv(t, map[string]string{"IDP_DATA_DIR": dir, "IDP_ENV": "production", "ISSUER": "https://idp.example.com",
		"SECRET_KEY": strings.Repeat("s", 40), "SMTP_URL": "smtp://mail.example.com:587", "SENDER_EMAIL": "no-reply@example.com",
		"IDP_METRICS_ADDR": "off", "PORT": fmt.Sprint(freePort(t))})
	_, _, err := runCLI(t, prod, "", "serve")
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
