package idp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fintech-idp/idp/internal/store"
)

// TestSecurityHeadersOnEveryResponse: pages, the API, JWKS, probes, static files and errors all
// carry the security headers; HSTS exactly when the issuer is https (TLS may end at a proxy, so
// the request's own scheme does not matter).
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	requests := []struct {
		name, method, path, body string
		page                     bool // one of our HTML pages: its own, stricter policy
	}{
		{"discovery", http.MethodGet, "/.well-known/openid-configuration", "", false},
		{"JWKS", http.MethodGet, "/keys", "", false},
		{"token error", http.MethodPost, "/oauth/token", "grant_type=nonsense", false},
		{"userinfo without token", http.MethodGet, "/userinfo", "", false},
		{"healthz", http.MethodGet, "/healthz", "", false},
		{"readyz", http.MethodGet, "/readyz", "", false},
		{"static", http.MethodGet, "/static/style.css", "", false},
		{"authorize error", http.MethodGet, "/authorize?client_id=nobody", "", true},
		{"login page", http.MethodGet, "/login", "", true},
		{"not found", http.MethodGet, "/no-such-page", "", true},
	}
	for _, env := range []struct {
		name   string
		change func(*Options)
		hsts   bool
	}{
		{"development http issuer", nil, false},
		{"production https issuer", func(o *Options) {
			o.Issuer, o.Development, o.Outbox = "https://id.example.test", false, nil
		}, true},
	} {
		t.Run(env.name, func(t *testing.T) {
			h := newHarnessWith(t, env.change)
			for _, rq := range requests {
				req := httptest.NewRequest(rq.method, rq.path, strings.NewReader(rq.body))
				if rq.body != "" {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				rec := httptest.NewRecorder()
				h.srv.Handler().ServeHTTP(rec, req)
				got := rec.Result().Header
				if v := got.Get("Strict-Transport-Security"); env.hsts != (v != "") || env.hsts && v != "max-age=63072000; includeSubDomains" {
					t.Errorf("%s: Strict-Transport-Security = %q, want it %v", rq.name, v, map[bool]string{true: "set", false: "absent"}[env.hsts])
				}
				for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
					if v := got.Get(k); v != want {
						t.Errorf("%s (%d): %s = %q, want %q", rq.name, rec.Code, k, v, want)
					}
				}
				csp := got.Get("Content-Security-Policy")
				if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.HasPrefix(csp, "default-src 'none'") {
					t.Errorf("%s (%d): Content-Security-Policy = %q", rq.name, rec.Code, csp)
				}
				if isPage := strings.Contains(csp, "style-src"); isPage != rq.page {
					t.Errorf("%s: page policy %v, want %v: %q", rq.name, isPage, rq.page, csp)
				}
			}
		})
	}
}

// TestCORSOnlyOnTheBackChannel: a spa client's origin gets CORS (without credentials) on the
// token endpoint; the endpoints a browser navigates to never answer CORS, preflight or not.
func TestCORSOnlyOnTheBackChannel(t *testing.T) {
	h := newHarness(t)
	const origin = "https://spa.example.test"
	if _, _, err := h.admin.CreateClient(context.Background(), ClientSpec{ID: "spa", Type: store.ClientSPA,
		RedirectURIs: []string{origin + "/callback"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		cors         bool
	}{
		{http.MethodOptions, "/oauth/token", true},
		{http.MethodOptions, "/authorize", false},
		{http.MethodGet, "/authorize?client_id=spa", false},
		{http.MethodOptions, "/authorize/callback", false},
		{http.MethodGet, "/end_session", false},
		{http.MethodGet, "/login", false},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		req.Header.Set("Origin", origin)
		if tc.method == http.MethodOptions {
			req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		}
		rec := httptest.NewRecorder()
		h.srv.Handler().ServeHTTP(rec, req)
		got := rec.Result().Header.Get("Access-Control-Allow-Origin")
		if tc.cors != (got == origin) || !tc.cors && got != "" {
			t.Errorf("%s %s: Access-Control-Allow-Origin = %q, want CORS %v", tc.method, tc.path, got, tc.cors)
		}
		if c := rec.Result().Header.Get("Access-Control-Allow-Credentials"); c != "" {
			t.Errorf("%s %s: Access-Control-Allow-Credentials = %q", tc.method, tc.path, c)
		}
	}
}
