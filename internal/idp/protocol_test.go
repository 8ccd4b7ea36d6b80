package idp

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fintech-idp/idp/internal/store"
)

// signInRP signs in with browser b at the "rp" client (scope) and returns the RP's redirect.
func (h *harness) signInRP(t *testing.T, b *http.Client, extra url.Values) *http.Response {
	t.Helper()
	q := url.Values{"client_id": {"rp"}, "scope": {"openid email"}, "code_challenge": {testChallenge}}
	for k, v := range extra {
		q[k] = v
	}
	resp, _ := get(t, b, h.authorizeURL(q))
	if id := resp.Request.URL.Query().Get("authRequestID"); id != "" {
		resp, _ = postForm(t, b, h.ts.URL+"/login", url.Values{"authRequestID": {id}, "email": {flowEmail}, "password": {flowPassword}})
	}
	return resp
}

// TestAuthorizationResponsesCarryIss: iss is in every authorization response, success and error,
// redirect and form_post (RFC 9207 §2), and nowhere else.
func TestAuthorizationResponsesCarryIss(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	h.rpClient(t)

	t.Run("code", func(t *testing.T) {
		q := rpParams(t, h.signInRP(t, newTestBrowser(t), nil))
		if q.Get("code") == "" || q.Get("iss") != h.ts.URL || q.Get("state") != "st" {
			t.Errorf("success response %v, want code, state and iss=%s", q, h.ts.URL)
		}
	})
	t.Run("error from /authorize", func(t *testing.T) {
		resp, _ := get(t, newTestBrowser(t), h.authorizeURL(url.Values{"client_id": {"rp"}, "prompt": {"none"}}))
		if q := rpParams(t, resp); q.Get("error") != "login_required" || q.Get("iss") != h.ts.URL {
			t.Errorf("error response %v, want login_required with iss", q)
		}
	})
	t.Run("form_post", func(t *testing.T) {
		b := newTestBrowser(t)
		h.signInRP(t, b, nil) // an SSO session, so that authorize answers at once
		resp, body := get(t, b, h.authorizeURL(url.Values{"client_id": {"rp"}, "code_challenge": {testChallenge}, "response_mode": {"form_post"}}))
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="code"`) {
			t.Fatalf("no form_post page: %d %.300s", resp.StatusCode, body)
		}
		if !strings.Contains(body, `<input type="hidden" name="iss" value="`+h.ts.URL+`"/>`) {
			t.Errorf("the form_post page has no iss: %s", body)
		}
	})
	t.Run("not on other redirects", func(t *testing.T) {
		for _, tc := range []struct{ in, want string }{
			{"https://rp.example/cb?code=c&state=s", "https://rp.example/cb?code=c&iss=ISS&state=s"},
			{"https://rp.example/cb#error=access_denied", "https://rp.example/cb#error=access_denied&iss=ISS"},
			{"https://rp.example/bye?state=s", "https://rp.example/bye?state=s"},                 // logout
			{"ISS/login?authRequestID=x&code=1", "ISS/login?authRequestID=x&code=1"},             // our own page
			{"/authorize/callback?id=x", "/authorize/callback?id=x"},                             // relative: ours
			{"https://rp.example/cb?code=c&iss=other", "https://rp.example/cb?code=c&iss=other"}, // already set
		} {
			in := strings.ReplaceAll(tc.in, "ISS", h.ts.URL)
			want := strings.ReplaceAll(tc.want, "ISS", url.QueryEscape(h.ts.URL))
			if strings.HasPrefix(tc.in, "ISS") {
				want = in
			}
			if got := withIss(in, h.ts.URL); got != want {
				t.Errorf("withIss(%q) = %q, want %q", in, got, want)
			}
		}
	})
}

// TestRevokeWidensTheSearch: a refresh token sent with token_type_hint=access_token is revoked
// all the same (RFC 7009 §2.1), with its access token.
func TestRevokeWidensTheSearch(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	secret := h.rpClient(t)
	rt := h.offlineGrant(t, newTestBrowser(t), secret)
	req, _ := http.NewRequest(http.MethodPost, h.ts.URL+"/revoke", strings.NewReader(url.Values{"token": {rt}, "token_type_hint": {"access_token"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("rp", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	status, body := h.refresh(t, secret, rt)
	wantInvalidGrant(t, "the revoked refresh token", status, body)
}

// TestRequestURINotSupported: request_uri is answered, not ignored (OpenID Connect Core §6.2):
// at a registered redirect_uri with request_uri_not_supported, else on our page.
func TestRequestURINotSupported(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	h.rpClient(t)
	resp, _ := get(t, newTestBrowser(t), h.authorizeURL(url.Values{"client_id": {"rp"}, "request_uri": {"https://attacker.example/req.jwt"}}))
	q := rpParams(t, resp)
	if q.Get("error") != "request_uri_not_supported" || q.Get("state") != "st" || q.Get("iss") != h.ts.URL || q.Get("code") != "" {
		t.Errorf("answer %v, want request_uri_not_supported with state and iss", q)
	}
	resp, body := get(t, newTestBrowser(t), h.authorizeURL(url.Values{"client_id": {"rp"}, "redirect_uri": {"https://evil.example/cb"},
		"request_uri": {"https://attacker.example/req.jwt"}}))
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, "request_uri") {
		t.Errorf("unregistered redirect_uri: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestUserinfoBearerErrors: userinfo answers as a protected resource (RFC 6750 §3), not with
// Basic: a bad token gets error="invalid_token", no token a bare Bearer challenge.
func TestUserinfoBearerErrors(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name, auth, challenge, errCode string
	}{
		{"bad token", "Bearer not-a-token", `Bearer realm="idp", error="invalid_token"`, "invalid_token"},
		{"no token", "", `Bearer realm="idp"`, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, h.ts.URL+"/userinfo", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(got, tc.challenge) {
				t.Errorf("%d WWW-Authenticate %q, want 401 %q", resp.StatusCode, got, tc.challenge)
			}
			if tc.auth == "" && strings.Contains(got, "error=") {
				t.Errorf("a request without a token got an error code: %q", got)
			}
			if !strings.Contains(string(body), `"error":"`+tc.errCode+`"`) {
				t.Errorf("body %s, want error %s", body, tc.errCode)
			}
		})
	}
}

// TestBodyLimit: every endpoint refuses a body over 64 KiB with 413 before parsing it; one of
// 64 KiB is read as usual.
func TestBodyLimit(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	big := "x=" + strings.Repeat("a", maxBodyBytes) // 2 bytes over
	ok := "x=" + strings.Repeat("a", maxBodyBytes-2)
	for _, path := range []string{"/end_session", "/oauth/token", "/oauth/introspect", "/revoke", "/userinfo", "/login", "/signup", "/authorize", "/no-such-page"} {
		t.Run(path, func(t *testing.T) {
			for _, chunked := range []bool{false, true} {
				var body io.Reader = strings.NewReader(big)
				if chunked {
					body = io.MultiReader(strings.NewReader(big)) // no length known: sent chunked
				}
				req, _ := http.NewRequest(http.MethodPost, h.ts.URL+path, body)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusRequestEntityTooLarge {
					t.Errorf("chunked %v: %d, want 413", chunked, resp.StatusCode)
				}
				if apiPath(path) && !strings.Contains(string(b), `"error":"invalid_request"`) {
					t.Errorf("chunked %v: API answer %s is not OAuth JSON", chunked, b)
				}
			}
			req, _ := http.NewRequest(http.MethodPost, h.ts.URL+path, strings.NewReader(ok))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusRequestEntityTooLarge || resp.StatusCode >= 500 {
				t.Errorf("a 64 KiB body: %d", resp.StatusCode)
			}
		})
	}
}

// TestUnconfiguredGrantsRefused: the JWT-bearer grant (and the other grants no client can be
// registered for) get a fixed unsupported_grant_type, never the assertion parser's text.
func TestUnconfiguredGrantsRefused(t *testing.T) {
	h := newHarness(t)
	secret := h.rpClient(t)
	for _, gt := range []string{"urn:ietf:params:oauth:grant-type:jwt-bearer", "urn:ietf:params:oauth:grant-type:token-exchange",
		"urn:ietf:params:oauth:grant-type:device_code"} {
		for _, assertion := range []string{"not.a.jwt", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0."} {
			status, body := h.tokenCall(t, "rp", secret, url.Values{"grant_type": {gt}, "assertion": {assertion}, "subject_token": {assertion}})
			if status != http.StatusBadRequest || body["error"] != "unsupported_grant_type" || body["error_description"] != msgGrantType {
				t.Errorf("%s: %d %v, want 400 unsupported_grant_type with the fixed text", gt, status, body)
			}
		}
	}
}

// TestNativeLoopbackRedirects: a native client's loopback redirect may use any port, but the
// scheme, host literal, path and query registered (RFC 8252 §7.3).
func TestNativeLoopbackRedirects(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	if _, _, err := h.admin.CreateClient(context.Background(), ClientSpec{ID: "app", Type: store.ClientNative,
		RedirectURIs: []string{"http://127.0.0.1/cb", "com.example.app:/cb"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"http://127.0.0.1/cb", true},
		{"http://127.0.0.1:51004/cb", true},
		{"com.example.app:/cb", true},
		{"http://localhost:51004/cb", false},
		{"https://127.0.0.1:51004/cb", false},
		{"http://[::1]:51004/cb", false},
		{"http://127.0.0.1:51004/other", false},
		{"http://127.0.0.1:51004/cb?x=1", false},
		{"http://127.0.0.2:51004/cb", false},
		{"com.example.app:/other", false},
	} {
		t.Run(tc.uri, func(t *testing.T) {
			resp, _ := get(t, newTestBrowser(t), h.authorizeURL(url.Values{"client_id": {"app"}, "redirect_uri": {tc.uri}}))
			atLogin := resp.Request.URL.Path == loginPath
			if atLogin != tc.ok {
				t.Errorf("at the login page %v (%d %s), want %v", atLogin, resp.StatusCode, resp.Request.URL.Path, tc.ok)
			}
			if !tc.ok && resp.StatusCode != http.StatusBadRequest {
				t.Errorf("refused with %d, want 400", resp.StatusCode)
			}
		})
	}
}

// TestCodeVerifierFormat: a code_verifier outside 43-128 unreserved characters is refused
// (RFC 7636 §4.1); the code stays unspent, and the right verifier still redeems it.
func TestCodeVerifierFormat(t *testing.T) {
	for _, tc := range []struct {
		v  string
		ok bool
	}{
		{strings.Repeat("a", 43), true},
		{strings.Repeat("A0-._~", 21) + "zz", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 42), false},
		{strings.Repeat("a", 129), false},
		{strings.Repeat("a", 42) + "+", false},
		{strings.Repeat("a", 42) + "/", false},
		{strings.Repeat("a", 42) + "é", false},
		{"x", false},
		{"", false},
	} {
		if got := validVerifier(tc.v); got != tc.ok {
			t.Errorf("validVerifier(%q) = %v", tc.v, got)
		}
	}
	h := newHarness(t)
	h.seed(t)
	secret := h.rpClient(t)
	code := rpParams(t, h.signInRP(t, newTestBrowser(t), nil)).Get("code")
	for _, v := range []string{"x", strings.Repeat("a", 42) + "+"} {
		status, body := h.tokenCall(t, "rp", secret, url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {flowRedirect}, "code_verifier": {v}})
		if status != http.StatusBadRequest || body["error"] != "invalid_request" || body["error_description"] != msgCodeVerifier {
			t.Errorf("verifier %q: %d %v", v, status, body["error"])
		}
	}
	if status, body := h.exchange(t, secret, code); status != http.StatusOK {
		t.Errorf("the right verifier after refused ones: %d %v", status, body["error"])
	}
}
