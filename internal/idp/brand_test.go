package idp

import (
	"bytes"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writePNG(t *testing.T, path string) {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 4, 2))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func getBody(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestBrandLogoAndTemplates: a logo file is served and heads every page and email; a page in
// IDP_TEMPLATES_DIR replaces the built-in one.
func TestBrandLogoAndTemplates(t *testing.T) {
	dir := t.TempDir()
	logoFile := filepath.Join(dir, "logo.png")
	writePNG(t, logoFile)
	tmplDir := filepath.Join(dir, "templates")
	os.Mkdir(tmplDir, 0o755)
	os.WriteFile(filepath.Join(tmplDir, "logged_out.html"), []byte(`{{define "content"}}<h1>Acme says goodbye</h1>{{end}}`), 0o600)
	h := newHarnessWith(t, func(o *Options) { o.BrandLogo, o.TemplatesDir = logoFile, tmplDir })

	resp, body := getBody(t, h.ts.URL+brandLogoPath)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(body, "\x89PNG") {
		t.Fatalf("logo: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	_, page := getBody(t, h.ts.URL+signupPath)
	if !strings.Contains(page, `<img class="brand-logo" src="/brand/logo" alt="FinTech ID">`) {
		t.Errorf("the sign-up page has no logo: %.600s", page)
	}
	_, page = getBody(t, h.ts.URL+loggedOutPath)
	if !strings.Contains(page, "Acme says goodbye") || !strings.Contains(page, `class="brand-logo"`) {
		t.Errorf("the overridden page is not used inside the layout: %.600s", page)
	}
	h.signup(t, newTestBrowser(t), "logo@example.com", ownerPW)
	msgs := h.outbox.Outbox()
	if len(msgs) == 0 || !strings.Contains(msgs[0].HTML, `src="`+h.ts.URL+`/brand/logo"`) {
		t.Errorf("the email does not show the logo by its absolute URL")
	}
}

// TestBrandLogoURL: a logo URL is put in the pages and allowed by their CSP, nothing else is.
func TestBrandLogoURL(t *testing.T) {
	h := newHarnessWith(t, func(o *Options) { o.BrandLogo = "https://cdn.acme.example/logo.svg" })
	resp, page := getBody(t, h.ts.URL+signupPath)
	if !strings.Contains(page, `src="https://cdn.acme.example/logo.svg"`) {
		t.Errorf("no logo: %.500s", page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https://cdn.acme.example;") {
		t.Errorf("CSP = %q", csp)
	}
	if resp, _ := getBody(t, h.ts.URL+brandLogoPath); resp.StatusCode != http.StatusNotFound {
		t.Errorf("%s with a URL logo: %d", brandLogoPath, resp.StatusCode)
	}
}

func TestLoadLogo(t *testing.T) {
	dir := t.TempDir()
	png := filepath.Join(dir, "a.png")
	writePNG(t, png)
	svg := filepath.Join(dir, "a.svg")
	os.WriteFile(svg, []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="4" height="2"></svg>`), 0o600)
	txt := filepath.Join(dir, "a.txt")
	os.WriteFile(txt, []byte("hello"), 0o600)
	big := filepath.Join(dir, "big.png")
	os.WriteFile(big, bytes.Repeat([]byte{0}, maxLogoBytes+1), 0o600)
	tests := []struct {
		name, value string
		dev, ok     bool
		ct          string
	}{
		{"png", png, false, true, "image/png"},
		{"svg", svg, false, true, "image/svg+xml"},
		{"https", "https://cdn.example/l.png", false, true, ""},
		{"http in development", "http://localhost:9000/l.png", true, true, ""},
		{"http in production", "http://cdn.example/l.png", false, false, ""},
		{"javascript", "javascript://alert(1)", true, false, ""},
		{"quote in URL", `https://cdn.example/l.png"onerror="x`, false, false, ""},
		{"not an image", txt, false, false, ""},
		{"too big", big, false, false, ""},
		{"missing", filepath.Join(dir, "nope.png"), false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := loadLogo(tt.value, tt.dev)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if tt.ok && l.contentType != tt.ct {
				t.Errorf("content type %q, want %q", l.contentType, tt.ct)
			}
		})
	}
}
