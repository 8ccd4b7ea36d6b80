package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// secretKeyFile is the development secret key's file name inside DataDir.
const secretKeyFile = "secret_key"

// EnsureSecretKey makes sure SecretKey is set. When it is set already, nothing happens. Outside
// development a missing key is an error. In development the key is read from
// <DataDir>/secret_key, or, the first time, 32 random bytes are generated, written there
// base64url-encoded (file 0600, DataDir created 0700) and used; either way a warning is logged
// (never the key), because such a key is fine for a laptop and wrong for production. Keeping it
// in a file means sessions, tokens and encrypted signing keys survive restarts. logger may be nil
// (slog.Default()).
func (c *Config) EnsureSecretKey(logger *slog.Logger) error {
	if c.SecretKey != "" {
		return nil
	}
	if c.Env != EnvDevelopment {
		return fmt.Errorf("%s is required in production: set it to at least %d random characters.", varSecretKey, minSecretKeyLen)
	}
	if c.DataDir == "" {
		return fmt.Errorf("%s must not be empty: the development secret key is kept there.", varDataDir)
	}
	if logger == nil {
		logger = slog.Default()
	}
	path := filepath.Join(c.DataDir, secretKeyFile)

	key, err := readSecretKeyFile(path, logger)
	if errors.Is(err, fs.ErrNotExist) {
		var created bool
		key, created, err = createSecretKeyFile(c.DataDir, path)
		if err == nil && created {
			logger.Warn("generated a development secret key; set "+varSecretKey+" in production", "path", path)
		}
		if err == nil && !created { // another process created it first
			key, err = readSecretKeyFile(path, logger)
		}
	} else if err == nil {
		logger.Warn("using the development secret key from a file; set "+varSecretKey+" in production", "path", path)
	}
	if err != nil {
		return err
	}
	c.SecretKey = key
	return nil
}

// readSecretKeyFile returns the key stored at path. Errors wrap fs.ErrNotExist when there is no
// file.
func readSecretKeyFile(path string, logger *slog.Logger) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("reading the development secret key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("the development secret key file is readable by other users; chmod 600 it", "path", path)
	}
	key := strings.TrimSpace(string(b))
	if utf8.RuneCountInString(key) < minSecretKeyLen {
		return "", fmt.Errorf("%s holds fewer than %d characters: delete it to have a new development secret key generated.", path, minSecretKeyLen)
	}
	return key, nil
}

// createSecretKeyFile writes a new random key to path unless the file exists (created false).
// The key is written to a temporary file first and hard-linked into place, which fails if path
// exists: two processes starting together agree on one key, and neither ever reads a half-written
// file. Where hard links are not supported, an O_EXCL create does nearly as well.
func createSecretKeyFile(dir, path string) (key string, created bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", false, fmt.Errorf("creating %s for the development secret key: %w", varDataDir, err)
	}
	raw := make([]byte, 32)
	rand.Read(raw) // never fails (crypto/rand, Go ≥ 1.24)
	key = base64.RawURLEncoding.EncodeToString(raw)

	tmp, err := os.CreateTemp(dir, ".secret_key-*") // mode 0600
	if err != nil {
		return "", false, fmt.Errorf("creating the development secret key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := writeAndClose(tmp, key); err != nil {
		return "", false, err
	}
	err = os.Link(tmp.Name(), path)
	switch {
	case err == nil:
		return key, true, nil
	case errors.Is(err, fs.ErrExist):
		return "", false, nil
	}

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("creating the development secret key file: %w", err)
	}
	if err := writeAndClose(f, key); err != nil {
		os.Remove(path)
		return "", false, err
	}
	return key, true, nil
}

func writeAndClose(f *os.File, key string) error {
	_, err := f.WriteString(key + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing the development secret key file: %w", err)
	}
	return nil
}
