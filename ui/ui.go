package ui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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
var PageNames = []string{"login", "error", "logout", "logged_out", "signup", "code", "reset_request", "reset_password", "account", "outbox", "mfa", "mfa_recovery", "mfa_enrol", "recovery_codes", "consent"}

// Parse parses the layout with each page from the embedded templates.
func Parse() (*Pages, error) { return ParseWith("") }

// ParseWith parses the pages, taking any of layout.html and the <page>.html files from
// overrideDir (IDP_TEMPLATES_DIR) instead of the built-in ones. A file there that is not a page
// (nor an email template, which internal/mail reads from the same directory) is refused, so a
// misspelt name does not silently do nothing; a template that does not parse stops the start
// with its file name and line.
func ParseWith(overrideDir string) (*Pages, error) {
	over, err := overrides(overrideDir)
	if err != nil {
		return nil, err
	}
	p := &Pages{pages: make(map[string]*template.Template)}
	for _, name := range PageNames {
		t := template.New("layout.html").Funcs(placeholderFuncs)
		for _, file := range []string{"layout.html", name + ".html"} {
			src, origin, err := source(over, overrideDir, file)
			if err != nil {
				return nil, err
			}
			target := t // the layout is the page's root template; the page adds "content"
			if file != "layout.html" {
				target = t.New(file)
			}
			if _, err := target.Parse(src); err != nil {
				return nil, fmt.Errorf("ui: page %q: %s: %w", name, origin, err)
			}
		}
		p.pages[name] = t
	}
	return p, nil
}

// IsEmailTemplate reports whether a file name in IDP_TEMPLATES_DIR belongs to internal/mail.
func IsEmailTemplate(name string) bool {
	return strings.HasSuffix(name, ".html.tmpl") || strings.HasSuffix(name, ".txt.tmpl")
}

// overrides lists the page templates in dir (nil when dir is empty) and refuses unknown names.
func overrides(dir string) (map[string]bool, error) {
	if dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("ui: IDP_TEMPLATES_DIR: %w", err)
	}
	known := map[string]bool{"layout.html": true}
	for _, n := range PageNames {
		known[n+".html"] = true
	}
	over := map[string]bool{}
	var unknown []string
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir() || strings.HasPrefix(name, ".") || IsEmailTemplate(name):
		case known[name]:
			over[name] = true
		default:
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("ui: IDP_TEMPLATES_DIR %s: %s is not a page template (pages: layout.html, %s.html)",
			dir, strings.Join(unknown, ", "), strings.Join(PageNames, ".html, "))
	}
	return over, nil
}

// source returns a template's text and where it came from (for error messages).
func source(over map[string]bool, dir, file string) (text, origin string, err error) {
	if over[file] {
		path := filepath.Join(dir, file)
		b, err := os.ReadFile(path)
		if err != nil {
			return "", "", fmt.Errorf("ui: %w", err)
		}
		return string(b), path, nil
	}
	b, err := fs.ReadFile(templateFS, "templates/"+file)
	if err != nil {
		return "", "", fmt.Errorf("ui: built-in template %s: %w", file, err)
	}
	return string(b), "built-in " + file, nil
}

// LangLink is one entry of the language switch every page shows.
type LangLink struct {
	Code, Name, URL string
	Current         bool
}

// Locale is what a page is rendered in: its language, a translator for its texts, and the links
// of the language switch (each keeps the person where they are).
type Locale struct {
	Lang      string
	Translate func(text string, args ...any) string
	Links     []LangLink
}

// placeholderFuncs declare the per-request functions at parse time; Render binds the real ones:
// {{t "Sign in"}} or {{t .Message}} translates, {{lang}} is the page's language code, and
// {{langLinks}} lists the language switch.
var placeholderFuncs = template.FuncMap{
	"t":         func(s string, args ...any) string { return sprintf(s, args...) },
	"th":        func(s string, args ...any) template.HTML { return trustedHTML(s, args) },
	"lang":      func() string { return "en" },
	"langLinks": func() []LangLink { return nil },
}

// sprintf formats only when there are values: a text without verbs stays as it is.
func sprintf(s string, args ...any) string {
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// trustedHTML is {{th}}: a translated text with markup (<strong>, <span id=…>) from the
// templates and the catalogs, which are ours, with every value HTML-escaped before it goes in.
func trustedHTML(translated string, args []any) template.HTML {
	esc := make([]any, len(args))
	for i, a := range args {
		esc[i] = template.HTMLEscapeString(fmt.Sprint(a))
	}
	return template.HTML(sprintf(translated, esc...))
}

// Render is RenderLocale in English without a language switch.
func (p *Pages) Render(w io.Writer, name string, data any) error {
	return p.RenderLocale(w, name, data, Locale{})
}

// RenderLocale executes the page in loc into a buffer first, so a template error never leaves
// half a page on the wire, then copies it to w. The parsed page is never executed itself: each
// render runs a clone with loc's functions bound.
func (p *Pages) RenderLocale(w io.Writer, name string, data any, loc Locale) error {
	base, ok := p.pages[name]
	if !ok {
		return fmt.Errorf("ui: unknown page %q", name)
	}
	t, err := base.Clone()
	if err != nil {
		return fmt.Errorf("ui: clone %q: %w", name, err)
	}
	funcs := template.FuncMap{}
	if loc.Translate != nil {
		funcs["t"] = loc.Translate
		funcs["th"] = func(key string, args ...any) template.HTML { return trustedHTML(loc.Translate(key), args) }
	}
	if loc.Lang != "" {
		funcs["lang"] = func() string { return loc.Lang }
	}
	funcs["langLinks"] = func() []LangLink { return loc.Links }
	t.Funcs(funcs)
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return fmt.Errorf("ui: render %q: %w", name, err)
	}
	_, err = buf.WriteTo(w)
	return err
}
