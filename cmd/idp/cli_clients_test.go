package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// TestCLIClientAuthentication: --secret must be strong, --auth-method and --jwks-file register
// private_key_jwt, --scope sets what a client may ask for, and list shows all of it.
func TestCLIClientAuthentication(t *testing.T) {
	env := cliEnv(t, nil)
	for secret, want := range map[string]string{
		"abc":                                  "at least 32 characters",
		strings.Repeat("a", 40):                "repeats itself",
		"abcdefghijklmnopqrstuvwxyz0123456789": "sequence",
	} {
		_, _, err := runCLI(t, env, "", "clients", "create", "--id", "svc", "--type", "service", "--secret", secret)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--secret %q: %v, want %q", secret, err, want)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pub, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Use: "sig"}}})
	priv, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: "k1", Use: "sig"}}})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "pub.json"), pub, 0o600))
	must(os.WriteFile(filepath.Join(dir, "priv.json"), priv, 0o600))

	if _, _, err := runCLI(t, env, "", "clients", "create", "--id", "svc", "--type", "service", "--auth-method", "private_key_jwt",
		"--jwks-file", filepath.Join(dir, "priv.json")); err == nil || !strings.Contains(err.Error(), "public key") {
		t.Errorf("a private key in --jwks-file: %v", err)
	}
	if _, _, err := runCLI(t, env, "", "clients", "create", "--id", "svc", "--type", "service", "--auth-method", "private_key_jwt"); err == nil ||
		!strings.Contains(err.Error(), "--jwks-file") {
		t.Errorf("private_key_jwt without keys: %v", err)
	}
	if _, _, err := runCLI(t, env, "", "clients", "create", "--id", "s", "--type", "spa", "--redirect-uri", "http://localhost:3000/cb",
		"--auth-method", "client_secret_post"); err == nil || !strings.Contains(err.Error(), "public") {
		t.Errorf("a public client with a secret method: %v", err)
	}
	out, _, err := runCLI(t, env, "", "clients", "create", "--id", "svc", "--type", "service", "--auth-method", "private_key_jwt",
		"--jwks-file", filepath.Join(dir, "pub.json"), "--scope", "ledger:read")
	must(err)
	if strings.Contains(out, "secret") {
		t.Errorf("a private_key_jwt client was given a secret: %s", out)
	}
	if _, _, err := runCLI(t, env, "", "clients", "rotate-secret", "svc", "--yes"); err == nil || !strings.Contains(err.Error(), "private_key_jwt") {
		t.Errorf("rotate-secret of a private_key_jwt client: %v", err)
	}
	_, _, err = runCLI(t, env, "", "clients", "create", "--id", "web", "--type", "web", "--redirect-uri", "https://web.example/cb")
	must(err)
	_, _, err = runCLI(t, env, "", "clients", "update", "web", "--auth-method", "client_secret_post", "--scope", "openid", "--scope", "email")
	must(err)
	out, _, _ = runCLI(t, env, "", "clients", "list")
	for _, want := range []string{"private_key_jwt", "ledger:read", "client_secret_post", "openid email"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
}
