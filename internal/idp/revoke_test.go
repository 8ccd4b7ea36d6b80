package idp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fintech-idp/idp/internal/store"
)

// testVerifier is a PKCE code_verifier of the unreserved set (RFC 7636 §4.1); testChallenge its
// S256 challenge.
var (
	testVerifier  = strings.Repeat("Vv0-._~", 7)[:48]
	testChallenge = func() string {
		sum := sha256.Sum256([]byte(testVerifier))
		return base64.RawURLEncoding.EncodeToString(sum[:])
	}()
)

// rpClient registers a confidential web client "rp" at flowRedirect and returns its secret.
func (h *harness) rpClient(t *testing.T) string {
	t.Helper()
	_, secret, err := h.admin.CreateClient(context.Background(), ClientSpec{ID: "rp", Type: store.ClientWeb, RedirectURIs: []string{flowRedirect}})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// rpAuthorize is an authorize URL of the "rp" client with testChallenge.
func (h *harness) rpAuthorize(scope string) string {
	return h.authorizeURL(url.Values{"client_id": {"rp"}, "scope": {scope}, "code_challenge": {testChallenge}})
}

// tokenCall posts form to the token endpoint as client id:secret and returns the status and the
// decoded JSON body.
func (h *harness) tokenCall(t *testing.T, id, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.ts.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
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

// exchange redeems code for the "rp" client.
func (h *harness) exchange(t *testing.T, secret, code string) (int, map[string]any) {
	t.Helper()
	return h.tokenCall(t, "rp", secret, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {flowRedirect}, "code_verifier": {testVerifier}})
}

// wantInvalidGrant fails unless the token endpoint answered 400 invalid_grant.
func wantInvalidGrant(t *testing.T, what string, status int, body map[string]any) {
	t.Helper()
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("%s: %d %v, want 400 invalid_grant", what, status, body["error"])
	}
}

// offlineGrant signs in with browser b at the "rp" client asking for offline_access and returns
// the refresh token of the exchange.
func (h *harness) offlineGrant(t *testing.T, b *http.Client, secret string) string {
	t.Helper()
	resp, _ := get(t, b, h.rpAuthorize("openid email offline_access"))
	if id := resp.Request.URL.Query().Get("authRequestID"); id != "" {
		resp, _ = postForm(t, b, h.ts.URL+"/login", url.Values{"authRequestID": {id}, "email": {flowEmail}, "password": {flowPassword}})
	}
	status, body := h.exchange(t, secret, rpParams(t, resp).Get("code"))
	rt, _ := body["refresh_token"].(string)
	if status != http.StatusOK || rt == "" {
		t.Fatalf("exchange with offline_access: %d, error %v, refresh token %v", status, body["error"], rt != "")
	}
	return rt
}

// refresh presents a refresh token of the "rp" client.
func (h *harness) refresh(t *testing.T, secret, rt string) (int, map[string]any) {
	t.Helper()
	return h.tokenCall(t, "rp", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// TestSignOutEverywhereEndsUnredeemedSignIns: "sign out everywhere" also ends what the person's
// sessions authenticated and no app redeemed yet: a code already at the app does not exchange, and
// a finished sign-in whose callback was not visited yields no code.
func TestSignOutEverywhereEndsUnredeemedSignIns(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	secret := h.rpClient(t)
	b := newTestBrowser(t)

	// A sign-in whose code reached the app but was not exchanged.
	resp, _ := get(t, b, h.rpAuthorize("openid email"))
	id := resp.Request.URL.Query().Get("authRequestID")
	resp, _ = postForm(t, b, h.ts.URL+"/login", url.Values{"authRequestID": {id}, "email": {flowEmail}, "password": {flowPassword}})
	code := rpParams(t, resp).Get("code")
	if code == "" {
		t.Fatalf("no code: %v", resp.Header.Get("Location"))
	}
	// A second sign-in in the same session, stopped before its callback.
	stop := &http.Client{Jar: b.Jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == "/authorize/callback" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, _ = get(t, stop, h.rpAuthorize("openid email"))
	callback := resp.Header.Get("Location")
	if !strings.Contains(callback, "/authorize/callback") {
		t.Fatalf("SSO did not lead to the callback: %d %q", resp.StatusCode, callback)
	}

	resp, _ = postForm(t, b, h.ts.URL+accountRevokeAllPath, url.Values{})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign out everywhere: %d", resp.StatusCode)
	}

	status, body := h.exchange(t, secret, code)
	wantInvalidGrant(t, "the code minted before the sign-out", status, body)
	u, _ := url.Parse(callback)
	resp, _ = get(t, b, u.ResolveReference(u).String())
	if resp.StatusCode == http.StatusFound && rpParams(t, resp).Get("code") != "" {
		t.Errorf("the callback after the sign-out issued a code")
	}
}

// endedStore is a store whose SaveAuthCode finds the sign-in ended, as it does when a revocation
// commits between the callback's lookup of the request and its code.
type endedStore struct{ store.Store }

func (endedStore) SaveAuthCode(context.Context, *store.AuthCode) error { return store.ErrNotFound }

// TestCallbackOfEndedSignIn: a callback whose sign-in ended meanwhile answers the app with
// login_required (and iss), not a server error, and no code.
func TestCallbackOfEndedSignIn(t *testing.T) {
	h := newHarnessWith(t, func(o *Options) { o.Store = endedStore{o.Store} })
	h.seed(t)
	h.rpClient(t)
	q := rpParams(t, h.signInRP(t, newTestBrowser(t), nil))
	if q.Get("error") != "login_required" || q.Get("error_description") != msgSignInEnded || q.Get("code") != "" || q.Get("iss") != h.ts.URL {
		t.Errorf("answer %v, want login_required with iss and no code", q)
	}
}
