package ui

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type pageData struct {
	Title, Nonce string
	Brand        struct{ Name, Color, Logo string }
	DevOutbox    bool
	Refresh      int
}

func TestParseBuiltIn(t *testing.T) {
	p, err := Parse()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range PageNames {
		if _, ok := p.pages[name]; !ok {
			t.Errorf("page %s missing", name)
		}
	}
}

// TestParseWithOverrides: a page in IDP_TEMPLATES_DIR replaces the built-in one by name, the
// others stay; a template that does not parse, or a file that is no template, stops the start
// with its name (and line).
func TestParseWithOverrides(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("logged_out.html", `{{define "content"}}<h1>Bye from Acme</h1>{{end}}`)
	write("verify-code.html.tmpl", `email templates belong to internal/mail`)
	p, err := ParseWith(dir)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := p.Render(&buf, "logged_out", pageData{Title: "Signed out"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Bye from Acme") || !strings.Contains(buf.String(), "<!doctype html>") {
		t.Errorf("override not used inside the built-in layout: %s", buf.String())
	}

	write("login.html", "{{define \"content\"}}\n<p>{{.Nope</p>{{end}}")
	_, err = ParseWith(dir)
	if err == nil || !strings.Contains(err.Error(), "login.html") || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("a broken template: err = %v, want its file name and line 2", err)
	}
	os.Remove(filepath.Join(dir, "login.html"))

	write("logn.html", "typo")
	if _, err = ParseWith(dir); err == nil || !strings.Contains(err.Error(), "logn.html is not a page template") {
		t.Errorf("a misspelt file: err = %v", err)
	}
	if _, err = ParseWith(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "IDP_TEMPLATES_DIR") {
		t.Errorf("a missing directory: err = %v", err)
	}
}
