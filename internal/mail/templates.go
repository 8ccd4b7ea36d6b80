package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"github.com/fintech-idp/idp/internal/i18n"
	htmltemplate "html/template"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode/utf8"
)

// Kind names one email the IdP sends. Its value doubles as the Brevo tag.
type Kind string

// The emails. The comment names the data Render expects.
const (
	KindVerifyCode      Kind = "verify-code"      // CodeData: the code that proves a new account's email
	KindResetCode       Kind = "reset-code"       // CodeData: the code that allows a password reset
	KindSignupExisting  Kind = "signup-existing"  // no data: a sign-up was tried with a registered email
	KindPasswordChanged Kind = "password-changed" // no data: the password changed, sessions ended
	KindLoginLocked     Kind = "login-locked"     // LockedData: too many failed sign-ins
	KindSecurityNotice  Kind = "security-notice"  // NoticeData: two-step turned on/off, number changed, recovery code used
)

// kinds lists every Kind; NewTemplates requires a template for each.
var kinds = []Kind{KindVerifyCode, KindResetCode, KindSignupExisting, KindPasswordChanged, KindLoginLocked, KindSecurityNotice}

// CodeData is the data of KindVerifyCode and KindResetCode.
type CodeData struct {
	Code         string // required: an empty code is a rendering error
	MinutesValid int
}

// LockedData is the data of KindLoginLocked.
type LockedData struct {
	Until time.Time // when sign-ins resume; shown in UTC
}

// NoticeData is the data of KindSecurityNotice: what changed on the account, in fixed sentences
// chosen by the IdP (never text a person typed).
type NoticeData struct {
	Subject string // required: the subject after the brand, e.g. "two-step verification turned on"
	Summary string // required: one sentence saying what happened
	Detail  string // optional: a second sentence (e.g. how many recovery codes are left)
}

//go:embed templates/*.tmpl
var templateFS embed.FS

// Templates renders the emails. It is parsed once and safe for concurrent use.
//
// Each Kind has a text/template file templates/<kind>.txt.tmpl defining "<kind>.subject" and
// "<kind>.text", and an html/template file templates/<kind>.html.tmpl defining "<kind>.html".
// Templates see .Brand, .Subject (HTML only) and .Data (what the caller passed), and the
// functions brand, required (fails on an empty value), minutes ("1 minute", "10 minutes") and
// when (a time.Time in UTC, or a string as it is).
type Templates struct {
	brand string
	langs map[i18n.Lang]*langSet // each language's templates, with t, lang, minutes and when bound to it
}

// langSet is the templates of one language.
type langSet struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// view is what every template executes with.
type view struct {
	Brand   string
	Subject string
	Data    any
}

// maxBrandLen bounds the brand name, which goes into every subject.
const maxBrandLen = 100

// Branding is what every email carries of the operator's brand.
type Branding struct {
	Name    string // IDP_BRAND_NAME (or SENDER_NAME): 1–100 characters, no control characters
	LogoURL string // an absolute https (or development http) URL of the logo, or "" for none
	// OverrideDir (IDP_TEMPLATES_DIR) holds <kind>.html.tmpl / <kind>.txt.tmpl / layout.*.tmpl
	// files that replace the built-in ones by name; other *.tmpl names there are an error.
	OverrideDir string
}

// NewTemplates parses the embedded templates for brandName (IDP_BRAND_NAME) and renders each
// kind once with sample data. A missing or malformed template (a kind's or a shared part), a
// template that fails on valid data, or a brand name that is empty, longer than 100 characters or
// holds a control character, is an error.
func NewTemplates(brandName string) (*Templates, error) {
	return newTemplates(templateFS, Branding{Name: brandName})
}

// NewBrandedTemplates is NewTemplates with a logo and the operator's own templates.
func NewBrandedTemplates(b Branding) (*Templates, error) {
	return newTemplates(templateFS, b)
}

func newTemplates(fsys fs.FS, b Branding) (*Templates, error) {
	brandName := b.Name
	if strings.TrimSpace(brandName) == "" || utf8.RuneCountInString(brandName) > maxBrandLen || hasControl(brandName) {
		return nil, errors.New("mail: brand name must be 1 to 100 characters without control characters")
	}
	if b.LogoURL != "" {
		if u, err := url.Parse(b.LogoURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || hasControl(b.LogoURL) {
			return nil, errors.New("mail: the logo must be an absolute http(s) URL")
		}
	}
	sources, err := templateSources(fsys, b.OverrideDir)
	if err != nil {
		return nil, err
	}
	t := &Templates{brand: brandName, langs: map[i18n.Lang]*langSet{}}
	for _, lang := range i18n.Supported {
		set, err := parseLang(sources, lang, brandName, b.LogoURL)
		if err != nil {
			return nil, err
		}
		t.langs[lang] = set
	}
	// Render every kind once: a missing shared part or a misspelt field fails at start, not
	// when the first person signs up.
	for _, lang := range i18n.Supported {
		for _, k := range kinds {
			if _, _, _, err := t.RenderLang(lang, k, sampleData[k]); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// parseLang parses the templates for one language: {{t "…"}} translates into it, {{lang}} is its
// code, and minutes and when write in it.
func parseLang(sources []templateSource, lang i18n.Lang, brandName, logoURL string) (*langSet, error) {
	funcs := map[string]any{
		"brand":     func() string { return brandName },
		"brandLogo": func() string { return logoURL },
		"required":  required,
		"minutes":   func(n int) (string, error) { return minutes(lang, n) },
		"when":      func(v any) (string, error) { return when(lang, v) },
		"lang":      func() string { return string(lang) },
		"t": func(s string, args ...any) string {
			if len(args) == 0 {
				return i18n.Translate(lang, s)
			}
			return i18n.T(lang, s, args...)
		},
		// th is t for a text with markup (<strong>) in the HTML emails: the text comes from our
		// templates and catalogs, every value is escaped before it goes in.
		"th": func(s string, args ...any) htmltemplate.HTML {
			esc := make([]any, len(args))
			for i, a := range args {
				esc[i] = htmltemplate.HTMLEscapeString(fmt.Sprint(a))
			}
			return htmltemplate.HTML(i18n.T(lang, s, esc...))
		},
	}
	text := texttemplate.New("text").Option("missingkey=error").Funcs(funcs)
	html := htmltemplate.New("html").Option("missingkey=error").Funcs(funcs)
	for _, src := range sources {
		var err error
		if strings.HasSuffix(src.name, ".txt.tmpl") {
			_, err = text.New(src.name).Parse(src.text)
		} else {
			_, err = html.New(src.name).Parse(src.text)
		}
		if err != nil {
			return nil, fmt.Errorf("mail: parsing %s: %w", src.origin, err)
		}
	}
	var missing []string
	for _, k := range kinds {
		for _, name := range []string{string(k) + ".subject", string(k) + ".text"} {
			if text.Lookup(name) == nil {
				missing = append(missing, name)
			}
		}
		if html.Lookup(string(k)+".html") == nil {
			missing = append(missing, string(k)+".html")
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("mail: missing templates: %s", strings.Join(missing, ", "))
	}
	return &langSet{text: text, html: html}, nil
}

type templateSource struct{ name, text, origin string }

// templateSources returns the built-in templates, each replaced by the file of the same name in
// overrideDir when there is one. An email template name there that is not built in is an error
// (a misspelt name must not silently do nothing); page templates (*.html) belong to package ui.
func templateSources(fsys fs.FS, overrideDir string) ([]templateSource, error) {
	paths, err := fs.Glob(fsys, "templates/*.tmpl")
	if err != nil {
		return nil, err
	}
	var out []templateSource
	index := map[string]int{}
	for _, p := range paths {
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		name := path.Base(p)
		index[name] = len(out)
		out = append(out, templateSource{name: name, text: string(b), origin: "built-in " + name})
	}
	if overrideDir == "" {
		return out, nil
	}
	entries, err := os.ReadDir(overrideDir)
	if err != nil {
		return nil, fmt.Errorf("mail: IDP_TEMPLATES_DIR: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".html.tmpl") || strings.HasSuffix(name, ".txt.tmpl")) {
			continue
		}
		i, ok := index[name]
		if !ok {
			return nil, fmt.Errorf("mail: IDP_TEMPLATES_DIR %s: %s is not an email template (built in: %s)", overrideDir, name, strings.Join(builtInNames(out), ", "))
		}
		p := filepath.Join(overrideDir, name)
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("mail: %w", err)
		}
		out[i] = templateSource{name: name, text: string(b), origin: p}
	}
	return out, nil
}

func builtInNames(srcs []templateSource) []string {
	names := make([]string, len(srcs))
	for i, s := range srcs {
		names[i] = s.name
	}
	return names
}

// sampleData is valid data for each Kind, used by the start-up check.
var sampleData = map[Kind]any{
	KindVerifyCode:  CodeData{Code: "000000", MinutesValid: 10},
	KindResetCode:   CodeData{Code: "000000", MinutesValid: 10},
	KindLoginLocked: LockedData{Until: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
	KindSecurityNotice: NoticeData{Subject: "two-step verification turned on",
		Summary: "Two-step verification was turned on.", Detail: "You have 10 recovery codes."},
}

// Render renders the subject, the plain-text body and the HTML body of kind with data (see the
// Kind constants for the data each expects). Data is escaped in the HTML body; the subject is
// one line.
func (t *Templates) Render(kind Kind, data any) (subject, text, html string, err error) {
	return t.RenderLang(i18n.English, kind, data)
}

// RenderLang is Render in the person's language (English when lang is not supported).
func (t *Templates) RenderLang(lang i18n.Lang, kind Kind, data any) (subject, text, html string, err error) {
	set, ok := t.langs[lang]
	if !ok {
		set = t.langs[i18n.English]
	}
	if set.text.Lookup(string(kind)+".subject") == nil {
		return "", "", "", fmt.Errorf("mail: unknown email kind %q", kind)
	}
	v := view{Brand: t.brand, Data: data}
	var b bytes.Buffer
	if err := set.text.ExecuteTemplate(&b, string(kind)+".subject", v); err != nil {
		return "", "", "", fmt.Errorf("mail: rendering %s subject: %w", kind, err)
	}
	subject = strings.TrimSpace(b.String())
	if subject == "" || hasControl(subject) {
		return "", "", "", fmt.Errorf("mail: %s subject is empty or not one line", kind)
	}
	v.Subject = subject

	b.Reset()
	if err := set.text.ExecuteTemplate(&b, string(kind)+".text", v); err != nil {
		return "", "", "", fmt.Errorf("mail: rendering %s text: %w", kind, err)
	}
	text = strings.TrimSpace(b.String()) + "\n"

	b.Reset()
	if err := set.html.ExecuteTemplate(&b, string(kind)+".html", v); err != nil {
		return "", "", "", fmt.Errorf("mail: rendering %s HTML: %w", kind, err)
	}
	return subject, text, b.String(), nil
}

// Message renders kind and returns a Message to "to", tagged with the kind. idempotencyKey must
// stay the same for every retry of the same logical email (see Message).
func (t *Templates) Message(kind Kind, to, idempotencyKey string, data any) (Message, error) {
	subject, text, html, err := t.Render(kind, data)
	if err != nil {
		return Message{}, err
	}
	return Message{
		To:             to,
		Subject:        subject,
		Text:           text,
		HTML:           html,
		Tags:           []string{string(kind)},
		IdempotencyKey: idempotencyKey,
	}, nil
}

// required fails the rendering when a value the email cannot do without (a code) is empty.
func required(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, errors.New("required value is missing")
	case string:
		if strings.TrimSpace(x) == "" {
			return nil, errors.New("required value is empty")
		}
	}
	return v, nil
}

// minutes writes a duration in minutes in words: "1 minute", "10 minutes".
func minutes(lang i18n.Lang, n int) (string, error) {
	if n < 1 {
		return "", fmt.Errorf("minutes valid must be positive, got %d", n)
	}
	if n == 1 {
		return i18n.Translate(lang, "1 minute"), nil
	}
	return i18n.T(lang, "%d minutes", n), nil
}

// when writes a time in UTC ("15:04 UTC on Monday 2 January 2006"; in German and French the
// date as 02.01.2006 / 02/01/2006): the IdP does not know the reader's time zone, and UTC at
// least says which zone it is. A string is written as it is, for callers that format times
// themselves.
func when(lang i18n.Lang, v any) (string, error) {
	switch x := v.(type) {
	case time.Time:
		if x.IsZero() {
			return "", errors.New("time is zero")
		}
		switch lang {
		case i18n.German:
			return x.UTC().Format("02.01.2006, 15:04 MST"), nil
		case i18n.French:
			return x.UTC().Format("02/01/2006 à 15:04 MST"), nil
		}
		return x.UTC().Format("15:04 MST on Monday 2 January 2006"), nil
	case string:
		if x == "" {
			return "", errors.New("time is empty")
		}
		return x, nil
	}
	return "", fmt.Errorf("cannot write %T as a time", v)
}
