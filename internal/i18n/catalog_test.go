package i18n

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// root is the repository root, seen from this package.
const root = "../.."

// templateKeyRE finds the literal keys of {{t "…"}} and {{th "…"}} in a template.
var templateKeyRE = regexp.MustCompile(`\{\{-?\s*th?\s+"((?:[^"\\]|\\.)*)"`)

// templateKeys returns the literal keys of every template under dir with the given suffix.
func templateKeys(t *testing.T, dir, suffix string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, dir, "*"+suffix))
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates in %s: %v", dir, err)
	}
	keys := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range templateKeyRE.FindAllStringSubmatch(string(b), -1) {
			k, err := strconv.Unquote(`"` + m[1] + `"`)
			if err != nil {
				t.Fatalf("%s: key %q: %v", f, m[1], err)
			}
			keys[k] = f
		}
	}
	return keys
}

// messageLike says whether a Go string literal is a sentence a person reads: it starts with a
// capital letter, has a space, and ends like a sentence. Log messages and error strings start in
// lower case by convention, so they do not count.
func messageLike(s string) bool {
	if len(s) < 8 || !strings.Contains(s, " ") || strings.ContainsAny(s, "\n\t") {
		return false
	}
	first := s[0]
	last := s[len(s)-1]
	return first >= 'A' && first <= 'Z' && strings.ContainsRune(".!?", rune(last))
}

// notForPeople are sentences in the Go code that no page or email shows: OAuth error
// descriptions for relying parties, operator messages of the CLI, log text.
var notForPeople = regexp.MustCompile(`(?i)client|token|grant|redirect_uri|scope|PKCE|code_challenge|authorization header|form body|POST|x-www-form|IDP_|SECRET_KEY|request_uri|JWT|JWKS|issuer|audience|resource|introspect|the user is not|unsupported|The request|Only the S256|invalid_|Send the access token|Send parameters|code_verifier`)

// goMessages returns the sentences of the hosted pages' Go packages.
func goMessages(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, dir := range []string{"internal/idp", "internal/password"} {
		files, _ := filepath.Glob(filepath.Join(root, dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			fset := token.NewFileSet()
			file, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				s, ok := constString(n)
				if !ok {
					return true
				}
				if messageLike(s) && !notForPeople.MatchString(s) {
					out[s] = fset.Position(n.Pos()).String()
				}
				return false // a folded "a" + "b" is one sentence, not two halves
			})
		}
	}
	return out
}

// constString returns the value of a string literal or of literals joined with +.
func constString(n ast.Node) (string, bool) {
	switch x := n.(type) {
	case *ast.BasicLit:
		if x.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(x.Value)
		return s, err == nil
	case *ast.BinaryExpr:
		if x.Op != token.ADD {
			return "", false
		}
		a, ok1 := constString(x.X)
		b, ok2 := constString(x.Y)
		return a + b, ok1 && ok2
	case *ast.ParenExpr:
		return constString(x.X)
	}
	return "", false
}

// TestCatalogsComplete fails when a text of a page, an email or a handler has no German or no
// French translation, or a translation does not take the same values as its English text.
func TestCatalogsComplete(t *testing.T) {
	if err := Load(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for k, v := range templateKeys(t, "ui/templates", ".html") {
		want[k] = v
	}
	for k, v := range templateKeys(t, "internal/mail/templates", ".tmpl") {
		want[k] = v
	}
	for k, v := range goMessages(t) {
		want[k] = v
	}
	var missing []string
	for _, l := range Supported[1:] {
		for k, where := range want {
			if !Has(l, k) {
				missing = append(missing, string(l)+": "+strconv.Quote(k)+" ("+where+")")
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d texts without a translation (add them to internal/i18n/locales/<lang>.json):\n%s", len(missing), strings.Join(missing, "\n"))
	}
	verbs := regexp.MustCompile(`%(?:\[\d+\])?[dsv]`)
	for _, l := range Supported[1:] {
		for _, k := range Keys(l) {
			tr := Translate(l, k)
			if len(verbs.FindAllString(k, -1)) != len(verbs.FindAllString(tr, -1)) {
				t.Errorf("%s: %q takes other values than %q", l, tr, k)
			}
			if strings.Count(k, "<") != strings.Count(tr, "<") {
				t.Errorf("%s: %q has other markup than %q", l, tr, k)
			}
		}
	}
	de, fr := Keys(German), Keys(French)
	if strings.Join(de, "\x00") != strings.Join(fr, "\x00") {
		t.Errorf("de.json and fr.json translate different texts (%d and %d keys)", len(de), len(fr))
	}
}

// TestTemplatesHaveNoBareText: every word a page shows goes through {{t}}, so a text added to a
// template without a translation cannot slip past TestCatalogsComplete. The development outbox and
// development notes are for developers and stay English.
func TestTemplatesHaveNoBareText(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "ui/templates/*.html"))
	actions := regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	devNote := regexp.MustCompile(`(?s)<p class="[^"]*dev-[^"]*">.*?</p>|<style[^>]*>.*?</style>`)
	tags := regexp.MustCompile(`(?s)<[^>]*>`)
	word := regexp.MustCompile(`\p{L}{2,}`)
	for _, f := range files {
		if filepath.Base(f) == "outbox.html" {
			continue
		}
		b, _ := os.ReadFile(f)
		s := devNote.ReplaceAllString(string(b), "")
		s = actions.ReplaceAllString(s, " ")
		s = tags.ReplaceAllString(s, " ")
		if w := word.FindAllString(s, -1); len(w) > 0 {
			t.Errorf("%s shows text outside {{t}}: %v", filepath.Base(f), w)
		}
	}
}

func TestNegotiation(t *testing.T) {
	for _, tt := range []struct{ header, want string }{
		{"de-CH,de;q=0.9,en;q=0.8", "de"},
		{"fr-FR", "fr"},
		{"es-ES,fr;q=0.5", "fr"},
		{"ja", "en"},
		{"", "en"},
		{"garbage;;q=x", "en"},
	} {
		if got := FromAcceptLanguage(tt.header); string(got) != tt.want {
			t.Errorf("FromAcceptLanguage(%q) = %s, want %s", tt.header, got, tt.want)
		}
	}
	if l, ok := FromUILocales("es fr-CA de"); !ok || l != French {
		t.Errorf("ui_locales: %s %v", l, ok)
	}
	if _, ok := FromUILocales("es ja"); ok {
		t.Error("ui_locales without a supported language matched")
	}
}
