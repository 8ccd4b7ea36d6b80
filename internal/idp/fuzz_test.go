package idp

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/fintech-idp/idp/internal/secrets"
	"github.com/fintech-idp/idp/internal/store"
)

// Fuzz targets for the parsers that read what a browser or client sends. Their seed corpora run
// with every `go test`; `.ci/run` fuzzes each for a while (go test -fuzz).

// FuzzEmail: an address ValidateEmail accepts after NormalizeEmail is bounded, valid UTF-8,
// holds no control, format (zero-width, bidirectional), space or line-break character — nothing
// that could split a mail header or look like another address — and normalises to itself.
func FuzzEmail(f *testing.F) {
	for _, s := range []string{"ada@example.com", " Ada@Example.COM ", "a@b", "a@b.c", "anna.berg+bank@example.co.uk",
		"a\x00b@example.com", "a\u200b@example.com", "\u202eada@example.com", "ada@exa\u200dmple.com",
		"ada@example.com\r\nBcc: eve@example.com", "\xff@example.com", "ädä@exämple.com", "a@b@c.com",
		strings.Repeat("a", 250) + "@example.com", "a@.com", "a@example..com", "\ufeffada@example.com",
		"ada\u2028@example.com", "ada@example.com\u0085", "İ@example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		e := NormalizeEmail(raw)
		if ValidateEmail(e) != nil {
			return
		}
		if len(e) > maxEmailLen || !utf8.ValidString(e) {
			t.Fatalf("accepted %q: too long or not UTF-8", e)
		}
		for _, r := range e {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) || r == utf8.RuneError {
				t.Fatalf("accepted %q with %U", e, r)
			}
		}
		if strings.Count(e, "@") != 1 || NormalizeEmail(e) != e {
			t.Fatalf("accepted %q: not one @ or not normalised", e)
		}
	})
}

// FuzzReadCode: whatever is pasted, an accepted code is exactly six ASCII digits.
func FuzzReadCode(f *testing.F) {
	for _, s := range []string{"123456", " 123-456 ", "12345", "1234567", "١٢٣٤٥٦", "12345\x00", "12 34 56", "abcdef", "123456\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		code, ok := readCode(v)
		if !ok {
			return
		}
		if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
			t.Fatalf("readCode(%q) = %q", v, code)
		}
	})
}

// FuzzSealedHandle: the page-handle opener refuses anything it did not seal itself, and what it
// sealed opens to the same handle.
func FuzzSealedHandle(f *testing.F) {
	kr, err := secrets.NewKeyring(strings.Repeat("k", 40))
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	s := sealer{kr: kr, now: func() time.Time { return now }}
	sealed := handle{UserID: "u1", Purpose: store.PurposeVerify, CodeID: "c1", Expires: now.Add(time.Hour).Unix()}
	good, err := s.seal(sealed)
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range []string{good, good[:len(good)-1], good + "A", "", "AAAA", strings.Repeat("A", 5000), "not base64!", good[1:]} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h, err := s.open(v)
		if err != nil {
			if h != (handle{}) {
				t.Fatalf("open(%q) failed but returned %+v", v, h)
			}
			return
		}
		// Authenticated encryption: only a value this key sealed opens, and it opens to what was
		// sealed. (The fuzzing engine's workers each seal the seed anew with their own random
		// nonce, so "the same string" cannot be the test: the sealed handle is.)
		if h != sealed {
			t.Fatalf("open(%q) accepted a value that was never sealed: %+v", v, h)
		}
	})
}

// FuzzRedirectURI: the redirect URIs the library accepts for a client are exactly the registered
// ones — and, for the development dashboard client in development only, http://localhost:<port>/callback
// with a numeric port and nothing else (no userinfo, no other host). Registration
// (checkRedirectURI) accepts only absolute URIs without a fragment.
func FuzzRedirectURI(f *testing.F) {
	registered := []string{"https://rp.example/cb", "http://localhost:5000/callback"}
	dev := &client{c: &store.Client{ID: DevClientID, Type: store.ClientWeb, RedirectURIs: registered}, devMode: true}
	prod := &client{c: &store.Client{ID: "rp", Type: store.ClientWeb, RedirectURIs: registered}}
	for _, s := range append(registered, "https://rp.example/cb/", "https://rp.example/cb?x=1", "https://RP.example/cb",
		"http://localhost:8080/callback", "http://localhost:5000@evil.example/callback", "http://localhost:80/callback/../x",
		"http://localhost:1/callback", "http://localhost:123456/callback", "http://localhost:5000/callback#f",
		"http://localhost:50a0/callback", "javascript:alert(1)", "https://rp.example/cb\x00", "com.example.app:/cb") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		for _, c := range []*client{dev, prod} {
			if op.ValidateAuthReqRedirectURI(c, uri, oidc.ResponseTypeCode) != nil {
				continue
			}
			if uri == registered[0] || uri == registered[1] {
				continue
			}
			u, err := url.Parse(uri)
			if c != dev || err != nil || u.Scheme != "http" || u.Host != u.Hostname()+":"+u.Port() ||
				u.Hostname() != "localhost" || u.User != nil || u.Path != "/callback" || u.RawQuery != "" ||
				u.Fragment != "" || u.Port() == "" || strings.Trim(u.Port(), "0123456789") != "" || uri != "http://"+u.Host+"/callback" {
				t.Fatalf("client %s accepted redirect URI %q", c.c.ID, uri)
			}
		}
		for _, production := range []bool{false, true} {
			if checkRedirectURI(uri, store.ClientWeb, production) == nil {
				u, err := url.Parse(uri)
				if err != nil || !u.IsAbs() || strings.Contains(uri, "#") {
					t.Fatalf("registration accepted %q", uri)
				}
			}
		}
	})
}

// FuzzParseForm: any body, with any content type, is either read or refused with the fixed 400
// page; never a 5xx, never the parser's own error text.
func FuzzParseForm(f *testing.F) {
	h := newHarness(f)
	for _, s := range []struct{ ct, body string }{
		{"application/x-www-form-urlencoded", "email=a%40b.co&password=x"},
		{"application/x-www-form-urlencoded", "a=%zz"},
		{"application/x-www-form-urlencoded", "a=1&a=2&a=3"},
		{"application/x-www-form-urlencoded", strings.Repeat("a=1&", 40000)},
		{"application/x-www-form-urlencoded; charset=utf-16", "a=1"},
		{"multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--\r\n"},
		{"multipart/form-data", "garbage"},
		{"application/json", `{"email":"a@b.co"}`},
		{"", "a=1"},
		{"text/plain", "\x00\xff"},
	} {
		f.Add(s.ct, s.body)
	}
	f.Fuzz(func(t *testing.T, ct, body string) {
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		ok := h.srv.parseForm(rec, req)
		switch {
		case ok && rec.Code != http.StatusOK:
			t.Fatalf("parsed but answered %d", rec.Code)
		case !ok && rec.Code != http.StatusBadRequest:
			t.Fatalf("refused with %d, want 400", rec.Code)
		case !ok && !strings.Contains(rec.Body.String(), "The form could not be read"):
			t.Fatalf("refusal without the fixed message: %.200s", rec.Body.String())
		}
	})
}

// TestBadParams pins the rule the fuzzers and TestHostileInput rely on.
func TestBadParams(t *testing.T) {
	for _, tc := range []struct {
		name string
		vs   url.Values
		bad  bool
	}{
		{"plain", url.Values{"a": {"1"}, "b": {"zwei ü"}}, false},
		{"tab and newline", url.Values{"a": {"x\ty\r\nz"}}, false},
		{"repeated", url.Values{"a": {"1", "2"}}, true},
		{"repeated resource (RFC 8707)", url.Values{"resource": {"https://a.example", "https://b.example"}}, false},
		{"NUL", url.Values{"a": {"x\x00"}}, true},
		{"escape", url.Values{"a": {"\x1b[2J"}}, true},
		{"DEL", url.Values{"a": {"\x7f"}}, true},
		{"invalid UTF-8 value", url.Values{"a": {"\xff"}}, true},
		{"invalid UTF-8 name", url.Values{"\xff": {"1"}}, true},
	} {
		if got := badParams(tc.vs); got != tc.bad {
			t.Errorf("%s: badParams = %v, want %v", tc.name, got, tc.bad)
		}
	}
}
