package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestEndToEndProtocolDetails drives, through the real binary and go-oidc/x/oauth2 as the client,
// what a relying party sees of the protocol rules: iss in authorization responses (RFC 9207),
// revocation of a refresh token sent with the wrong hint (RFC 7009 §2.1), Bearer errors from
// userinfo (RFC 6750 §3), 413 for an oversized body, request_uri refused, and the end of
// unredeemed sign-ins at "sign out everywhere".
func TestEndToEndProtocolDetails(t *testing.T) {
	for name, dbURL := range storeEnvs(t) {
		t.Run(name, func(t *testing.T) {
			f := setupFlow(t, dbURL(t))
			ctx := context.Background()
			b := newBrowser(t)

			// RFC 9207: discovery says so, and both a code and an error carry iss.
			var disc struct {
				IssParam bool `json:"authorization_response_iss_parameter_supported"`
			}
			if err := f.provider.Claims(&disc); err != nil || !disc.IssParam {
				t.Errorf("discovery authorization_response_iss_parameter_supported = %v (%v)", disc.IssParam, err)
			}
			tok, _, _ := f.login(t, b)
			// login consumed the redirect; sign in again (SSO) to look at the response itself.
			verifier := oauth2.GenerateVerifier()
			status, _ := signIn(t, b, f.oauth.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), f.email, f.password)
			q := f.rp.next(t)
			if status != http.StatusOK || q.Get("code") == "" || q.Get("iss") != f.idp.issuer {
				t.Errorf("code response %v, want iss=%s", q, f.idp.issuer)
			}
			if _, err := f.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
				t.Errorf("exchange: %v", err)
			}
			status, _ = signIn(t, newBrowser(t), f.oauth.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier),
				oauth2.SetAuthURLParam("prompt", "none")), f.email, f.password)
			if q := f.rp.next(t); status != http.StatusOK || q.Get("error") != "login_required" || q.Get("iss") != f.idp.issuer {
				t.Errorf("error response %v, want login_required with iss", q)
			}

			// request_uri is answered with request_uri_not_supported, with iss.
			status, _ = signIn(t, b, f.oauth.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier),
				oauth2.SetAuthURLParam("request_uri", "urn:example:req")), f.email, f.password)
			if q := f.rp.next(t); status != http.StatusOK || q.Get("error") != "request_uri_not_supported" || q.Get("iss") != f.idp.issuer || q.Get("code") != "" {
				t.Errorf("request_uri answer %v", q)
			}

			// userinfo: a bad token gets a Bearer challenge with invalid_token.
			req, _ := http.NewRequest(http.MethodGet, f.provider.UserInfoEndpoint(), nil)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken+"x")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(got, `Bearer realm="idp", error="invalid_token"`) {
				t.Errorf("userinfo with a bad token: %d %q", resp.StatusCode, got)
			}

			// /revoke: a refresh token sent as an access token is revoked all the same.
			f.revokeHinted(t, tok.RefreshToken, "access_token")
			if _, err := f.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); tokenError(err) != "invalid_grant" {
				t.Errorf("refresh after revocation with the access_token hint: %v", err)
			}

			// 413 for a body over 64 KiB, at the token endpoint and a page.
			for _, path := range []string{"/oauth/token", "/end_session"} {
				resp, err := http.Post(f.idp.issuer+path, "application/x-www-form-urlencoded", strings.NewReader("x="+strings.Repeat("a", 70<<10)))
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusRequestEntityTooLarge {
					t.Errorf("POST %s with 70 KiB: %d, want 413", path, resp.StatusCode)
				}
			}

			// "Sign out everywhere" ends a code that reached the app but was not exchanged.
			verifier = oauth2.GenerateVerifier()
			signIn(t, b, f.oauth.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), f.email, f.password)
			pending := f.rp.next(t).Get("code")
			f.signOutEverywhere(t, b)
			if _, err := f.oauth.Exchange(ctx, pending, oauth2.VerifierOption(verifier)); tokenError(err) != "invalid_grant" {
				t.Errorf("a code minted before sign-out everywhere: %v", err)
			}
		})
	}
}

// revokeHinted revokes token with the given token_type_hint as the flow's web client.
func (f *flowEnv) revokeHinted(t *testing.T, token, hint string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.idp.issuer+"/revoke", strings.NewReader(url.Values{"token": {token}, "token_type_hint": {hint}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(f.oauth.ClientID, f.oauth.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: status %d", resp.StatusCode)
	}
}

// signOutEverywhere presses "Sign out everywhere" on /account in browser b.
func (f *flowEnv) signOutEverywhere(t *testing.T, b *http.Client) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.idp.issuer+"/account/sessions/revoke-all", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", f.idp.issuer)
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign out everywhere: %d", resp.StatusCode)
	}
}

// TestEndToEndOfflineConsent: a public (spa) app allowed offline_access gets a refresh token only
// after the person allows it on the consent page; x/oauth2 is the app, PKCE without a secret.
func TestEndToEndOfflineConsent(t *testing.T) {
	f := setupFlow(t, "")
	ctx := context.Background()
	f.idp.cli(t, "", "clients", "create", "--id", "planner", "--type", "spa", "--name", "Budget Planner",
		"--redirect-uri", f.rp.url+"/callback", "--scope", "openid", "--scope", "email", "--scope", "offline_access")
	app := &oauth2.Config{ClientID: "planner", Endpoint: f.provider.Endpoint(), RedirectURL: f.rp.url + "/callback",
		Scopes: []string{"openid", "email", "offline_access"}}
	b := newBrowser(t)

	// Sign in: the consent page comes after the password.
	verifier := oauth2.GenerateVerifier()
	status, body := signIn(t, b, app.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), f.email, f.password)
	if status != http.StatusOK || !strings.Contains(body, "Allow Budget Planner to stay signed in?") {
		t.Fatalf("no consent page: %d %.300s", status, body)
	}
	id := regexp.MustCompile(`name="authRequestID" value="([^"]+)"`).FindStringSubmatch(body)
	if id == nil {
		t.Fatalf("the consent page has no form: %.300s", body)
	}
	req, _ := http.NewRequest(http.MethodPost, f.idp.issuer+"/consent", strings.NewReader(url.Values{"authRequestID": {id[1]}, "choice": {"allow"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", f.idp.issuer)
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	q := f.rp.next(t)
	if q.Get("iss") != f.idp.issuer {
		t.Errorf("the response after consent has no iss: %v", q)
	}
	tok, err := app.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("exchange after consent: %v, refresh token %v", err, tok != nil && tok.RefreshToken != "")
	}
	f.keep(tok.AccessToken, tok.RefreshToken, q.Get("code"), verifier)
	if _, err := app.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Errorf("refresh: %v", err)
	}
}
