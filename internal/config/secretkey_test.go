package config

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func newLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewJSONHandler(&buf, nil)), &buf
}

func TestEnsureSecretKeyGeneratesAndReuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	c := Default()
	c.DataDir = dir
	logger, logs := newLogger()

	if err := c.EnsureSecretKey(logger); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.SecretKey)
	if err != nil || len(raw) != 32 {
		t.Fatalf("SecretKey %q is not 32 base64url bytes (%v)", c.SecretKey, err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() after EnsureSecretKey = %v", err)
	}

	path := filepath.Join(dir, "secret_key")
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode = %o, want %o", p, got, want)
		}
	}
	stored, _ := os.ReadFile(path)
	if strings.TrimSpace(string(stored)) != c.SecretKey {
		t.Fatal("file does not hold the key in use")
	}
	if !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), "generated") {
		t.Errorf("no warning logged: %s", logs.String())
	}
	if strings.Contains(logs.String(), c.SecretKey) {
		t.Fatalf("log leaks the key: %s", logs.String())
	}

	// A restart reuses the same key and warns again.
	again := Default()
	again.DataDir = dir
	logger2, logs2 := newLogger()
	if err := again.EnsureSecretKey(logger2); err != nil {
		t.Fatal(err)
	}
	if again.SecretKey != c.SecretKey {
		t.Fatal("a restart generated a different key")
	}
	if !strings.Contains(logs2.String(), `"level":"WARN"`) || strings.Contains(logs2.String(), c.SecretKey) {
		t.Errorf("reuse log = %s", logs2.String())
	}
}

func TestEnsureSecretKey(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		key     string
		file    string // content of <DataDir>/secret_key; "" = no file
		wantErr bool
		wantKey string // "" = anything non-empty
		noFile  bool   // the file must not be created
	}{
		{"key set in development", EnvDevelopment, goodSecret, "", false, goodSecret, true},
		{"key set in production", EnvProduction, goodSecret, "", false, goodSecret, true},
		{"production without key", EnvProduction, "", "", true, "", true},
		{"unknown env without key", "staging", "", "", true, "", true},
		{"file used, trimmed", EnvDevelopment, "", "  " + goodSecret + "\n", false, goodSecret, false},
		{"file too short", EnvDevelopment, "", "short\n", true, "", false},
		{"empty file", EnvDevelopment, "", "\n", true, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "secret_key")
			if tt.file != "" {
				if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c := Default()
			c.Env, c.SecretKey, c.DataDir = tt.env, tt.key, dir
			logger, logs := newLogger()
			err := c.EnsureSecretKey(logger)
			if (err != nil) != tt.wantErr {
				t.Fatalf("EnsureSecretKey() = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "short") && strings.Contains(err.Error(), tt.file) && tt.file != "\n" {
				t.Errorf("error quotes the file's content: %v", err)
			}
			if !tt.wantErr && (c.SecretKey == "" || (tt.wantKey != "" && c.SecretKey != tt.wantKey)) {
				t.Fatalf("SecretKey = %q, want %q", c.SecretKey, tt.wantKey)
			}
			if _, statErr := os.Stat(path); tt.noFile && statErr == nil {
				t.Fatal("secret_key file created")
			}
			if strings.Contains(logs.String(), goodSecret) {
				t.Fatalf("log leaks the key: %s", logs.String())
			}
		})
	}
}

func TestEnsureSecretKeyWarnsAboutLoosePermissions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret_key")
	if err := os.WriteFile(path, []byte(goodSecret), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // umask may have narrowed WriteFile's mode
		t.Fatal(err)
	}
	c := Default()
	c.DataDir = dir
	logger, logs := newLogger()
	if err := c.EnsureSecretKey(logger); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "readable by other users") {
		t.Fatalf("no permission warning: %s", logs.String())
	}
}

func TestEnsureSecretKeyConcurrentStartsAgree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	const n = 8
	keys := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := Default()
			c.DataDir = dir
			logger, _ := newLogger()
			errs[i] = c.EnsureSecretKey(logger)
			keys[i] = c.SecretKey
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("start %d: %v", i, errs[i])
		}
		if keys[i] != keys[0] {
			t.Fatalf("concurrent starts disagree on the key")
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("data dir holds %d entries, want only secret_key", len(entries))
	}
}
