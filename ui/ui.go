package ui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Static returns the static assets (CSS) rooted at "static".
func Static() fs.FS {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the directory is embedded: cannot fail
	}
	return sub
}

// Pages is the set of page templates, parsed once at start.
type Pages struct {
	pages map[string]*template.Template
}

// PageNames lists every page; Parse fails when one is missing, so a typo is a start-up error.
var PageNames = []string{"login", "error", "logout", "logged_out", "signup", "code", "reset_request", "reset_password", "account", "outbox", "mfa", "mfa_recovery", "mfa_enrol", "recovery_codes"}

// Parse parses the layout with each page.
func Parse() (*Pages, error) {
	p := &Pages{pages: make(map[string]*template.Template)}
	for _, name := range PageNames {
		t, err := template.New("layout.html").ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: parse page %q: %w", name, err)
		}
		p.pages[name] = t
	}
	return p, nil
}

// Render executes the page into a buffer first, so a template error never leaves half a page
// on the wire, then copies it to w.
func (p *Pages) Render(w io.Writer, name string, data any) error {
	t, ok := p.pages[name]
	if !ok {
		return fmt.Errorf("ui: unknown page %q", name)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return fmt.Errorf("ui: render %q: %w", name, err)
	}
	_, err := buf.WriteTo(w)
	return err
}
