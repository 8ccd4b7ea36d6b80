package mail

import (
	"flag"
	"github.com/fintech-idp/idp/internal/i18n"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// kindData is valid data for every Kind.
var kindData = map[Kind]any{
	KindVerifyCode:      CodeData{Code: "739104", MinutesValid: 10},
	KindResetCode:       CodeData{Code: "502318", MinutesValid: 15},
	KindSignupExisting:  nil,
	KindPasswordChanged: nil,
	KindLoginLocked:     LockedData{Until: time.Date(2025, 1, 2, 14, 30, 0, 0, time.FixedZone("CET", 3600))},
	KindSecurityNotice: NoticeData{Subject: "a recovery code was used", Summary: "A recovery code was used to sign in.",
		Detail: "You have 9 recovery codes left."},
}

func mustTemplates(t *testing.T, brand string) *Templates {
	t.Helper()
	tp, err := NewTemplates(brand)
	if err != nil {
		t.Fatalf("NewTemplates(%q): %v", brand, err)
	}
	return tp
}

// TestRenderEveryKind renders each kind and compares it with testdata/<kind>.golden (go test
// -update rewrites them), besides checking what every email must hold.
func TestRenderEveryKind(t *testing.T) {
	if len(kindData) != len(kinds) {
		t.Fatalf("kindData covers %d kinds, want %d", len(kindData), len(kinds))
	}
	tp := mustTemplates(t, "Acme Pay")
	tests := []struct {
		kind     Kind
		subject  string
		mustHold []string // in both bodies
	}{
		{KindVerifyCode, "Acme Pay — security code to verify your email", []string{"739104", "10 minutes"}},
		{KindResetCode, "Acme Pay — security code to reset your password", []string{"502318", "15 minutes"}},
		{KindSignupExisting, "Acme Pay — someone tried to sign up with your email", []string{"maybe you", "nothing was changed", "reset your password"}},
		{KindPasswordChanged, "Acme Pay — your password was changed", []string{"every session was signed out", "reset your password now", "support"}},
		{KindLoginLocked, "Acme Pay — sign-ins to your account are paused", []string{"13:30 UTC on Thursday 2 January 2025", "consider changing"}},
		{KindSecurityNotice, "Acme Pay — a recovery code was used", []string{"A recovery code was used to sign in.",
			"You have 9 recovery codes left.", "If it wasn't you, reset your password now"}},
	}
	if len(tests) != len(kinds) {
		t.Fatalf("%d kinds have a case, want every one of the %d", len(tests), len(kinds))
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			subject, text, html, err := tp.Render(tt.kind, kindData[tt.kind])
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if subject != tt.subject {
				t.Errorf("subject = %q, want %q", subject, tt.subject)
			}
			never := "will never ask you for a code or your password by phone, chat or email"
			for _, want := range append(tt.mustHold, never, "Acme Pay") {
				if !strings.Contains(text, want) {
					t.Errorf("text lacks %q", want)
				}
				if !strings.Contains(html, want) {
					t.Errorf("HTML lacks %q", want)
				}
			}
			// Plain, self-contained HTML: inline styles, nothing fetched from elsewhere.
			for _, banned := range []string{"<img", "<link", "<style", "<script", "http://", "https://", "url("} {
				if strings.Contains(strings.ToLower(html), banned) {
					t.Errorf("HTML holds %q", banned)
				}
			}
			if !strings.Contains(html, `<html lang="en">`) || !strings.Contains(html, "<title>"+tt.subject+"</title>") {
				t.Error("HTML lacks lang or title")
			}
			if code, ok := kindData[tt.kind].(CodeData); ok {
				if !strings.Contains(html, "monospace") || !strings.Contains(html, "font-size:32px") ||
					!strings.Contains(html, ">"+code.Code+"</span>") {
					t.Error("the code is not shown large and monospace")
				}
			}
			got := "Subject: " + subject + "\n\n----- text -----\n" + text + "\n----- html -----\n" + html
			golden := filepath.Join("testdata", string(tt.kind)+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the rendering (go test -update rewrites it):\n%s", golden, got)
			}
		})
	}
}

func TestRenderEscapesHTML(t *testing.T) {
	const brand = `<script>alert("brand")</script>`
	const code = `<b onclick="x">&'1`
	tp := mustTemplates(t, brand)
	tests := []struct {
		kind Kind
		data any
	}{
		{KindVerifyCode, CodeData{Code: code, MinutesValid: 5}},
		{KindResetCode, map[string]any{"Code": code, "MinutesValid": 5}},
		{KindSignupExisting, nil},
		{KindPasswordChanged, nil},
		{KindLoginLocked, map[string]any{"Until": `<i>tomorrow</i>`}},
		{KindSecurityNotice, NoticeData{Subject: `<i>tomorrow</i> notice`, Summary: `<b onclick="x">&'1`, Detail: `<script>alert(1)</script>`}},
	}
	if len(tests) != len(kinds) {
		t.Fatalf("%d kinds have a case, want every one of the %d", len(tests), len(kinds))
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			subject, text, html, err := tp.Render(tt.kind, tt.data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			for _, raw := range []string{"<script>", `<b onclick`, "<i>tomorrow"} {
				if strings.Contains(html, raw) {
					t.Errorf("HTML holds unescaped %q", raw)
				}
			}
			if !strings.Contains(html, "&lt;script&gt;alert(&#34;brand&#34;)&lt;/script&gt;") {
				t.Error("HTML lacks the escaped brand")
			}
			if _, isCode := tt.data.(CodeData); isCode && !strings.Contains(html, "&lt;b onclick=&#34;x&#34;&gt;&amp;&#39;1") {
				t.Error("HTML lacks the escaped code")
			}
			if _, isNotice := tt.data.(NoticeData); isNotice && (!strings.Contains(html, "&lt;b onclick=&#34;x&#34;&gt;&amp;&#39;1") ||
				!strings.Contains(html, "&lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(html, "&lt;i&gt;tomorrow&lt;/i&gt; notice")) {
				t.Error("HTML lacks the escaped summary, detail or subject")
			}
			// Plain text and the subject are not HTML: they keep the characters as they are.
			if !strings.HasPrefix(subject, brand+" — ") || !strings.Contains(text, brand) {
				t.Errorf("subject %q or text changed the brand", subject)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	tp := mustTemplates(t, "Acme Pay")
	tests := []struct {
		name string
		kind Kind
		data any
	}{
		{"unknown kind", Kind("newsletter"), nil},
		{"layout is not a kind", Kind("footer"), nil},
		{"code kind without data", KindVerifyCode, nil},
		{"empty code", KindVerifyCode, CodeData{Code: "", MinutesValid: 10}},
		{"blank code", KindResetCode, CodeData{Code: "  ", MinutesValid: 10}},
		{"no minutes", KindResetCode, CodeData{Code: "502318"}},
		{"map without code", KindVerifyCode, map[string]any{"MinutesValid": 10}},
		{"wrong data type", KindVerifyCode, LockedData{}},
		{"zero time", KindLoginLocked, LockedData{}},
		{"time of the wrong type", KindLoginLocked, map[string]any{"Until": 42}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, err := tp.Render(tt.kind, tt.data); err == nil {
				t.Fatalf("Render(%q, %#v) succeeded", tt.kind, tt.data)
			}
		})
	}
}

func TestNewTemplatesBrand(t *testing.T) {
	tests := []struct {
		name  string
		brand string
		ok    bool
	}{
		{"plain", "Acme Pay", true},
		{"non-ASCII", "Zahlungsdienst Müller", true},
		{"100 characters", strings.Repeat("é", 100), true},
		{"empty", "", false},
		{"blank", "   ", false},
		{"101 characters", strings.Repeat("é", 101), false},
		{"line break", "Acme\r\nBcc: eve@example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewTemplates(tt.brand)
			if (err == nil) != tt.ok {
				t.Fatalf("NewTemplates(%q) error = %v, want ok = %v", tt.brand, err, tt.ok)
			}
		})
	}
}

// TestNewTemplatesMissing removes each template file in turn, shared layouts included: each one
// missing is a start-up error.
func TestNewTemplatesMissing(t *testing.T) {
	full := fstest.MapFS{}
	err := fs.WalkDir(templateFS, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templateFS, path)
		full[path] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newTemplates(full, Branding{Name: "Acme Pay"}); err != nil {
		t.Fatalf("all files: %v", err)
	}
	for path := range full {
		t.Run(path, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for p, f := range full {
				if p != path {
					fsys[p] = f
				}
			}
			if _, err := newTemplates(fsys, Branding{Name: "Acme Pay"}); err == nil {
				t.Fatalf("NewTemplates without %s succeeded", path)
			}
		})
	}
	t.Run("malformed", func(t *testing.T) {
		fsys := fstest.MapFS{}
		for p, f := range full {
			fsys[p] = f
		}
		fsys["templates/verify-code.html.tmpl"] = &fstest.MapFile{Data: []byte(`{{define "verify-code.html"}}{{.Data.Code`)}
		if _, err := newTemplates(fsys, Branding{Name: "Acme Pay"}); err == nil {
			t.Fatal("NewTemplates with a malformed template succeeded")
		}
	})
}

func TestTemplatesMessage(t *testing.T) {
	tp := mustTemplates(t, "Acme Pay")
	m, err := tp.Message(KindVerifyCode, "ann.lee@example.com", "verify-code:2f1c9e:1", kindData[KindVerifyCode])
	if err != nil {
		t.Fatal(err)
	}
	if err := m.validate(); err != nil {
		t.Errorf("Message() built an invalid message: %v", err)
	}
	if len(m.Tags) != 1 || m.Tags[0] != "verify-code" || m.IdempotencyKey != "verify-code:2f1c9e:1" ||
		m.To != "ann.lee@example.com" || !strings.Contains(m.Text, "739104") {
		t.Errorf("Message() = %+v", m)
	}
	if _, err := tp.Message(KindVerifyCode, "ann.lee@example.com", "k", nil); err == nil {
		t.Error("Message() without data succeeded")
	}
}

func TestMinutes(t *testing.T) {
	tests := []struct {
		n    int
		want string
		ok   bool
	}{
		{1, "1 minute", true},
		{2, "2 minutes", true},
		{60, "60 minutes", true},
		{0, "", false},
		{-5, "", false},
	}
	for _, tt := range tests {
		got, err := minutes(i18n.English, tt.n)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("minutes(%d) = %q, %v; want %q, ok %v", tt.n, got, err, tt.want, tt.ok)
		}
	}
}

// TestBrandedTemplates: the logo heads every HTML email (with the brand as alt text), a file in
// IDP_TEMPLATES_DIR replaces the built-in template of that name, and a misspelt or broken one
// stops the start with its name.
func TestBrandedTemplates(t *testing.T) {
	dir := t.TempDir()
	tp, err := NewBrandedTemplates(Branding{Name: "Acme Pay", LogoURL: "https://id.acme.example/static/brand-logo", OverrideDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kinds {
		_, _, html, err := tp.Render(k, sampleData[k])
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(html, `<img src="https://id.acme.example/static/brand-logo" alt="Acme Pay"`) {
			t.Errorf("%s: no logo in %s", k, html)
		}
	}
	if _, err := NewBrandedTemplates(Branding{Name: "Acme Pay", LogoURL: "javascript:alert(1)"}); err == nil {
		t.Error("a javascript: logo URL was accepted")
	}

	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("verify-code.txt.tmpl", `{{define "verify-code.subject"}}{{brand}}: your code{{end}}{{define "verify-code.text"}}Code: {{required .Data.Code}}{{end}}`)
	write("login.html", "page templates are package ui's")
	tp, err = NewBrandedTemplates(Branding{Name: "Acme Pay", OverrideDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	subject, text, html, err := tp.Render(KindVerifyCode, CodeData{Code: "123456", MinutesValid: 10})
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Acme Pay: your code" || text != "Code: 123456\n" || !strings.Contains(html, "123456") {
		t.Errorf("override not used: %q %q", subject, text)
	}

	write("verify-code.html.tmpl", "{{define \"verify-code.html\"}}\n{{.Data.Code")
	if _, err := NewBrandedTemplates(Branding{Name: "Acme Pay", OverrideDir: dir}); err == nil ||
		!strings.Contains(err.Error(), "verify-code.html.tmpl") || !strings.Contains(err.Error(), ":2") {
		t.Errorf("broken override: err = %v, want its name and line", err)
	}
	os.Remove(filepath.Join(dir, "verify-code.html.tmpl"))
	write("verfy-code.txt.tmpl", "typo")
	if _, err := NewBrandedTemplates(Branding{Name: "Acme Pay", OverrideDir: dir}); err == nil ||
		!strings.Contains(err.Error(), "verfy-code.txt.tmpl is not an email template") {
		t.Errorf("misspelt override: err = %v", err)
	}
}
