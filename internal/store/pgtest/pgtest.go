// Package pgtest gives tests a PostgreSQL database of their own: IDP_TEST_DATABASE_URL with a
// fresh schema on search_path (or, where a test needs a whole database, a fresh database on the
// same server), dropped at cleanup. Without IDP_TEST_DATABASE_URL the test skips,
// unless IDP_TEST_DB_REQUIRED=1 (CI), where it fails instead: a missing database must never pass
// silently.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"testing"

	"github.com/jackc/pgx/v5"
)

// BaseURL returns IDP_TEST_DATABASE_URL, skipping or failing the test when it is unset.
func BaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("IDP_TEST_DATABASE_URL")
	if u == "" {
		if os.Getenv("IDP_TEST_DB_REQUIRED") == "1" {
			t.Fatal("IDP_TEST_DB_REQUIRED=1 but IDP_TEST_DATABASE_URL is not set")
		}
		t.Skip("IDP_TEST_DATABASE_URL not set; set it (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL tests")
	}
	return u
}

// RequireClientTools skips the test when pg_dump or pg_restore is not on PATH, and fails it
// instead when IDP_TEST_DB_REQUIRED=1: CI installs the PostgreSQL client tools (.ci/run), so
// there a missing tool must not pass as a skipped backup test.
func RequireClientTools(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("IDP_TEST_DB_REQUIRED") == "1" {
				t.Fatalf("IDP_TEST_DB_REQUIRED=1 but %s is not on PATH (apt-get install postgresql-client)", tool)
			}
			t.Skipf("%s is not on PATH; install the PostgreSQL client tools to run this test", tool)
		}
	}
}

// FreshSchema creates a schema of its own for one test and returns the database URL with
// search_path pointing at it, so parallel package runs and reruns never see each other's tables.
func FreshSchema(t testing.TB) string {
	t.Helper()
	base := BaseURL(t)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "idp_test_" + hex.EncodeToString(b)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to IDP_TEST_DATABASE_URL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("connect for cleanup: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("IDP_TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// FreshDatabase creates a database of its own on the server of IDP_TEST_DATABASE_URL (the role
// needs CREATEDB) and returns the URL of IDP_TEST_DATABASE_URL pointing at it instead, dropped at
// cleanup (connections still open to it are terminated). For tests that need the public schema
// or a whole database, such as restoring a backup.
func FreshDatabase(t testing.TB) string {
	t.Helper()
	base := BaseURL(t)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "idp_test_" + hex.EncodeToString(b)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to IDP_TEST_DATABASE_URL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("connect for cleanup: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("IDP_TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}
