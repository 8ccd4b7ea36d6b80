package idp

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/fintech-idp/idp/internal/store"
)

const (
	flowEmail    = "ada@example.com"
	flowPassword = "correct horse battery staple"
	flowRedirect = "https://rp.example/cb"
)

func (h *harness) seed(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if _, err := h.admin.CreateUser(ctx, flowEmail, flowPassword, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.admin.CreateClient(ctx, ClientSpec{ID: "web", Type: store.ClientWeb, RedirectURIs: []string{flowRedirect},
		PostLogoutRedirectURIs: []string{"https://rp.example/bye"}}); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) authorizeURL(extra url.Values) string {
	q := url.Values{"client_id": {"web"}, "redirect_uri": {flowRedirect}, "response_type": {"code"}, "scope": {"openid email"},
		"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}, "state": {"st"}}
	for k, v := range extra {
		q[k] = v
	}
	return h.ts.URL + "/authorize?" + q.Encode()
}

// get follows redirects within the IdP and returns the last response (a redirect to the RP
// stops there).
func get(t *testing.T, b *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := b.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func postForm(t *testing.T, b *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := b.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// login runs authorize → login form and returns the response that goes to the RP.
func (h *harness) login(t *testing.T, b *http.Client, extra url.Values) *http.Response {
	t.Helper()
	resp, _ := get(t, b, h.authorizeURL(extra))
	if resp.StatusCode == http.StatusFound {
		return resp // SSO session: straight back to the RP
	}
	id := resp.Request.URL.Query().Get("authRequestID")
	if id == "" {
		t.Fatalf("not at the login page: %s", resp.Request.URL)
	}
	resp, body := postForm(t, b, h.ts.URL+"/login", url.Values{"authRequestID": {id}, "email": {flowEmail}, "password": {flowPassword}})
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login ended with %d: %.300s", resp.StatusCode, body)
	}
	return resp
}

func rpParams(t *testing.T, resp *http.Response) url.Values {
	t.Helper()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), "https://rp.example/") {
		t.Fatalf("not a redirect to the RP: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query()
}

// TestCallbackBoundToBrowser: an auth request id used from another browser yields no code, at
// the login page or at the callback.
func TestCallbackBoundToBrowser(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	victim := newTestBrowser(t)
	resp, _ := get(t, victim, h.authorizeURL(nil))
	id := resp.Request.URL.Query().Get("authRequestID")
	attacker := newTestBrowser(t)
	for _, u := range []string{h.ts.URL + "/login?authRequestID=" + id, h.ts.URL + "/authorize/callback?id=" + id} {
		resp, body := get(t, attacker, u)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, msgExpired) {
			t.Errorf("%s from another browser: %d", u, resp.StatusCode)
		}
	}
	resp, _ = postForm(t, attacker, h.ts.URL+"/login", url.Values{"authRequestID": {id}, "email": {flowEmail}, "password": {flowPassword}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("login post from another browser: %d", resp.StatusCode)
	}
	// The callback of a request nobody signed in to yields no code even in the right browser.
	resp, _ = get(t, victim, h.ts.URL+"/authorize/callback?id="+id)
	if q := rpParams(t, resp); q.Get("code") != "" || q.Get("error") == "" {
		t.Errorf("callback before sign-in: %v", q)
	}
}

// TestSSOSessionPromptAndMaxAge: a second authorize reuses the session; prompt=login and max_age=0
// ask again; prompt=none without a session answers login_required.
func TestSSOSessionPromptAndMaxAge(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	b := newTestBrowser(t)
	if q := rpParams(t, h.login(t, b, url.Values{"prompt": {"none"}})); q.Get("error") != "login_required" {
		t.Fatalf("prompt=none without a session: %v", q)
	}
	// prompt=none redirected straight back, so sign in properly now.
	if q := rpParams(t, h.login(t, b, nil)); q.Get("code") == "" {
		t.Fatalf("first login: %v", q)
	}
	resp, _ := get(t, b, h.authorizeURL(nil))
	if q := rpParams(t, resp); q.Get("code") == "" {
		t.Errorf("second authorize did not reuse the session: %v", q)
	}
	resp, _ = get(t, b, h.authorizeURL(url.Values{"prompt": {"none"}}))
	if q := rpParams(t, resp); q.Get("code") == "" {
		t.Errorf("prompt=none with a session: %v", q)
	}
	for _, extra := range []url.Values{{"prompt": {"login"}}, {"max_age": {"0"}}} {
		resp, _ = get(t, b, h.authorizeURL(extra))
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Request.URL.Path, "/login") {
			t.Errorf("%v did not ask for the password again: %d %s", extra, resp.StatusCode, resp.Request.URL)
		}
	}
}

var lrPattern = regexp.MustCompile(`name="lr" value="([^"]+)"`)

// TestLogoutWithoutHintConfirms: end_session without id_token_hint asks first; "no" keeps the
// session, "yes" ends it; a forged logout link is refused.
func TestLogoutWithoutHintConfirms(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	b := newTestBrowser(t)
	h.login(t, b, nil)
	resp, body := get(t, b, h.ts.URL+"/end_session?client_id=web&post_logout_redirect_uri="+url.QueryEscape("https://rp.example/bye"))
	m := lrPattern.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(body, flowEmail) {
		t.Fatalf("no confirmation page: %d %.300s", resp.StatusCode, body)
	}
	lr := strings.ReplaceAll(m[1], "&#43;", "+")
	postForm(t, b, h.ts.URL+"/logout", url.Values{"lr": {lr}, "confirm": {"no"}})
	if resp, _ := get(t, b, h.authorizeURL(url.Values{"prompt": {"none"}})); rpParams(t, resp).Get("code") == "" {
		t.Error("declining the logout ended the session")
	}
	resp, _ = postForm(t, b, h.ts.URL+"/logout", url.Values{"lr": {lr}, "confirm": {"yes"}})
	if loc := resp.Header.Get("Location"); loc != "https://rp.example/bye" {
		t.Errorf("after logout went to %q", loc)
	}
	if resp, _ := get(t, b, h.authorizeURL(url.Values{"prompt": {"none"}})); rpParams(t, resp).Get("error") != "login_required" {
		t.Error("session survived the logout")
	}
	// Tampered or unregistered.
	resp, body = get(t, b, h.ts.URL+"/logout?lr="+url.QueryEscape(lr+"x"))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not valid") {
		t.Errorf("tampered logout link: %d", resp.StatusCode)
	}
	resp, body = get(t, b, h.ts.URL+"/end_session?client_id=web&post_logout_redirect_uri="+url.QueryEscape("https://evil.example/"))
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(body, "evil.example") {
		t.Errorf("unregistered post_logout_redirect_uri: %d", resp.StatusCode)
	}
}

// TestCrossOriginLoginPostRefused: our pages refuse cross-site form posts.
func TestCrossOriginLoginPostRefused(t *testing.T) {
	h := newHarness(t)
	req, _ := http.NewRequest(http.MethodPost, h.ts.URL+"/login", strings.NewReader("authRequestID=x&email=a&password=b"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site post: %d", resp.StatusCode)
	}
}

// TestPagesEscapeInput: user input is escaped on the page.
func TestPagesEscapeInput(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	b := newTestBrowser(t)
	resp, _ := get(t, b, h.authorizeURL(url.Values{"login_hint": {`"><script>alert(1)</script>@x.io`}}))
	id := resp.Request.URL.Query().Get("authRequestID")
	_, body := postForm(t, b, h.ts.URL+"/login", url.Values{"authRequestID": {id}, "email": {`"><script>alert(1)</script>`}, "password": {"x"}})
	if strings.Contains(body, "<script>alert(1)</script>") {
		t.Error("unescaped input on the login page")
	}
	if !strings.Contains(body, "&lt;script&gt;") {
		t.Error("the submitted email was not kept (escaped) in the form")
	}
}
