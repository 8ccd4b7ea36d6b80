package idp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fintech-idp/idp/internal/store"
)

// publicToken posts form to the token endpoint as the public client "spa" (no secret).
func (h *harness) publicToken(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	form.Set("client_id", "spa")
	resp, err := http.PostForm(h.ts.URL+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token endpoint answered %d, not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, body
}

// spaExchange redeems code for the "spa" client and reports whether a refresh token came back.
func (h *harness) spaExchange(t *testing.T, code string) (refresh string) {
	t.Helper()
	status, body := h.publicToken(t, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {flowRedirect}, "code_verifier": {testVerifier}})
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, body["error"])
	}
	rt, _ := body["refresh_token"].(string)
	return rt
}

// TestOfflineAccessConsentForPublicClients: a public client allowed offline_access gets a
// refresh token only after the person said "Allow" once; "Not now" signs in without one and asks
// again next time; the answer is remembered, listed on /account and withdrawn there (which signs
// the app out). The token endpoint enforces it whatever pages the browser skipped. A web client
// is not asked.
func TestOfflineAccessConsentForPublicClients(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	if _, _, err := h.admin.CreateClient(context.Background(), ClientSpec{ID: "spa", Name: "Budget Planner", Type: store.ClientSPA,
		RedirectURIs: []string{flowRedirect}, Scopes: []string{"openid", "email", "offline_access"}}); err != nil {
		t.Fatal(err)
	}
	b := newTestBrowser(t)
	authorize := h.authorizeURL(url.Values{"client_id": {"spa"}, "scope": {"openid email offline_access"}, "code_challenge": {testChallenge}})

	// First sign-in: the consent page.
	resp, _ := get(t, b, authorize)
	id := resp.Request.URL.Query().Get("authRequestID")
	resp, body := postForm(t, b, h.ts.URL+"/login", url.Values{"authRequestID": {id}, "email": {flowEmail}, "password": {flowPassword}})
	if resp.Request.URL.Path != consentPath || !strings.Contains(body, "Allow Budget Planner to stay signed in?") {
		t.Fatalf("no consent page after sign-in: %d %s", resp.StatusCode, resp.Request.URL)
	}
	// "Not now": signed in, no refresh token, and asked again next time.
	resp, _ = postForm(t, b, h.ts.URL+consentPath, url.Values{"authRequestID": {id}, "choice": {"decline"}})
	if rt := h.spaExchange(t, rpParams(t, resp).Get("code")); rt != "" {
		t.Error("a refresh token after \"Not now\"")
	}
	resp, body = get(t, b, authorize)
	if resp.Request.URL.Path != consentPath {
		t.Fatalf("not asked again after \"Not now\": %s", resp.Request.URL)
	}
	// "Allow": a refresh token, and no question next time.
	id = resp.Request.URL.Query().Get("authRequestID")
	resp, _ = postForm(t, b, h.ts.URL+consentPath, url.Values{"authRequestID": {id}, "choice": {"allow"}})
	rt := h.spaExchange(t, rpParams(t, resp).Get("code"))
	if rt == "" {
		t.Fatal("no refresh token after \"Allow\"")
	}
	resp, _ = get(t, b, authorize)
	if rt2 := h.spaExchange(t, rpParams(t, resp).Get("code")); rt2 == "" {
		t.Error("the remembered consent gave no refresh token")
	}

	// Listed on /account; "Remove" signs the app out.
	_, body = get(t, b, h.ts.URL+accountPath)
	if !strings.Contains(body, "Apps that stay signed in") || !strings.Contains(body, "Budget Planner") {
		t.Fatalf("the account page does not list the app")
	}
	resp, body = postForm(t, b, h.ts.URL+accountAppsRevokePath, url.Values{"client": {"spa"}})
	if resp.StatusCode != http.StatusOK || strings.Contains(body, "Apps that stay signed in") {
		t.Errorf("after removing: %d, still listed %v", resp.StatusCode, strings.Contains(body, "Budget Planner"))
	}
	status, tb := h.publicToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	wantInvalidGrant(t, "the app's refresh token after removal", status, tb)
	if resp, _ := postForm(t, b, h.ts.URL+accountAppsRevokePath, url.Values{"client": {"spa"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("removing again: %d, want 400", resp.StatusCode)
	}

	// Skipping the page (the callback called with the "declined" marker) gets no refresh token:
	// the token endpoint checks the consent itself.
	stop := &http.Client{Jar: b.Jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == "/authorize/callback" || req.URL.Path == consentPath {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, _ = get(t, stop, authorize)
	callback := resp.Header.Get("Location")
	if !strings.Contains(callback, "/authorize/callback") {
		t.Fatalf("SSO did not lead to the callback: %q", callback)
	}
	resp, _ = get(t, b, callback+"&"+consentDeclinedParam+"="+consentDeclinedValue)
	if rt := h.spaExchange(t, rpParams(t, resp).Get("code")); rt != "" {
		t.Error("a refresh token without consent, by skipping the consent page")
	}

	// A web client is not asked.
	secret := h.rpClient(t)
	if rt := h.offlineGrant(t, b, secret); rt == "" {
		t.Error("the web client got no refresh token")
	}
}
