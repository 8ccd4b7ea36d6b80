package idp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/fintech-idp/idp/internal/store"
)

// tokenClaims decodes the payload of a JWT access token (the signature is checked elsewhere).
func tokenClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.20s", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

type ccAnswer struct {
	oauthAnswer
	Scope string `json:"scope"`
}

func (h *harness) clientCredentials(t *testing.T, id, secret string, form url.Values) ccAnswer {
	t.Helper()
	f := url.Values{"grant_type": {"client_credentials"}}
	for k, v := range form {
		f[k] = v
	}
	resp, err := http.DefaultClient.Do(h.tokenRequest("/oauth/token", f, id, secret))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a ccAnswer
	_ = json.NewDecoder(resp.Body).Decode(&a)
	a.Status = resp.StatusCode
	return a
}

func (h *harness) introspectAs(t *testing.T, id, secret, token string) map[string]any {
	t.Helper()
	resp, err := http.DefaultClient.Do(h.tokenRequest("/oauth/introspect", url.Values{"token": {token}}, id, secret))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
		t.Fatalf("introspect as %s: %d %v", id, resp.StatusCode, err)
	}
	return m
}

// TestServiceScopesAndAudiences: a service client gets only the scopes it is allowed
// (invalid_scope otherwise, RFC 6749 §5.2), for a resource it is granted; the token's aud is the
// resource's audience and it carries only that resource's scopes (RFC 8707); with several
// resources it must name one (invalid_target). Introspection answers the token's own client and
// the resource servers it is meant for; anyone else sees active:false (RFC 7662 §4).
func TestServiceScopesAndAudiences(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ledger, ledgerSecret, err := h.admin.CreateResource(ctx, ResourceSpec{ID: "ledger-api", Audience: "https://ledger.example",
		Scopes: []string{"ledger:read", "ledger:write"}, NewClient: true})
	if err != nil {
		t.Fatal(err)
	}
	crm, crmSecret, err := h.admin.CreateResource(ctx, ResourceSpec{ID: "crm-api", Audience: "https://crm.example",
		Scopes: []string{"crm:read"}, NewClient: true})
	if err != nil {
		t.Fatal(err)
	}
	_, svcSecret, err := h.admin.CreateClient(ctx, ClientSpec{ID: "svc", Type: store.ClientService, Scopes: []string{"ledger:read", "crm:read"}})
	if err != nil {
		t.Fatal(err)
	}
	_, otherSecret, err := h.admin.CreateClient(ctx, ClientSpec{ID: "other", Type: store.ClientService})
	if err != nil {
		t.Fatal(err)
	}

	// Granted nothing yet: nothing beyond its own allowed scopes, and never someone else's.
	if a := h.clientCredentials(t, "svc", svcSecret, url.Values{"scope": {"admin ledger:write superuser"}}); a.Status != 400 || a.Error != "invalid_scope" {
		t.Errorf("scope=admin ledger:write superuser: %d %q scope %q", a.Status, a.Error, a.Scope)
	}
	if a := h.clientCredentials(t, "svc", svcSecret, url.Values{"resource": {ledger.Audience}}); a.Status != 400 || a.Error != "invalid_target" {
		t.Errorf("a resource not granted: %d %q", a.Status, a.Error)
	}

	if err := h.admin.SetClientResources(ctx, "svc", []string{"ledger-api"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		form      url.Values
		errc      string
		aud       string
		wantScope string
	}{
		{"one resource, no scope asked: its allowed scopes", nil, "", ledger.Audience, "ledger:read"},
		{"one resource named", url.Values{"resource": {ledger.Audience}, "scope": {"ledger:read"}}, "", ledger.Audience, "ledger:read"},
		{"a scope of the resource the client may not ask for", url.Values{"scope": {"ledger:write"}}, "invalid_scope", "", ""},
		{"an allowed scope of another resource", url.Values{"scope": {"crm:read"}}, "invalid_scope", "", ""},
		{"a scope nobody has", url.Values{"scope": {"admin"}}, "invalid_scope", "", ""},
		{"a user scope", url.Values{"scope": {"openid"}}, "invalid_scope", "", ""},
		{"an unknown resource", url.Values{"resource": {"https://unknown.example"}}, "invalid_target", "", ""},
		{"two resources at once", url.Values{"resource": {ledger.Audience, crm.Audience}}, "invalid_target", "", ""},
	}
	var ledgerToken string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := h.clientCredentials(t, "svc", svcSecret, tc.form)
			if tc.errc != "" {
				if a.Status != 400 || a.Error != tc.errc || a.AccessToken != "" {
					t.Errorf("got %d %q, want 400 %q", a.Status, a.Error, tc.errc)
				}
				return
			}
			if a.Status != 200 {
				t.Fatalf("got %d %q (%s)", a.Status, a.Error, a.Description)
			}
			cl := tokenClaims(t, a.AccessToken)
			if aud := audienceOf(cl["aud"]); !slices.Equal(aud, []string{tc.aud}) || cl["scope"] != tc.wantScope || a.Scope != tc.wantScope {
				t.Errorf("aud %v scope %v (response %q), want %s and %q", cl["aud"], cl["scope"], a.Scope, tc.aud, tc.wantScope)
			}
			ledgerToken = a.AccessToken
		})
	}

	// Several resources: the request must name one.
	if err := h.admin.SetClientResources(ctx, "svc", []string{"ledger-api", "crm-api"}); err != nil {
		t.Fatal(err)
	}
	if a := h.clientCredentials(t, "svc", svcSecret, nil); a.Status != 400 || a.Error != "invalid_target" {
		t.Errorf("several resources, none named: %d %q", a.Status, a.Error)
	}
	a := h.clientCredentials(t, "svc", svcSecret, url.Values{"resource": {crm.Audience}})
	if cl := tokenClaims(t, a.AccessToken); a.Status != 200 || !slices.Equal(audienceOf(cl["aud"]), []string{crm.Audience}) || cl["scope"] != "crm:read" {
		t.Errorf("resource=crm: %d %q %v", a.Status, a.Error, cl)
	}

	// Introspection of the ledger token.
	for _, tc := range []struct {
		who, secret string
		active      bool
	}{
		{"ledger-api", ledgerSecret, true}, // the resource server it is meant for
		{"svc", svcSecret, true},           // its own client
		{"crm-api", crmSecret, false},      // a resource server it is not meant for
		{"other", otherSecret, false},      // anyone else
	} {
		got := h.introspectAs(t, tc.who, tc.secret, ledgerToken)
		if got["active"] != tc.active {
			t.Errorf("introspection by %s: %v, want active=%v", tc.who, got, tc.active)
		}
		if !tc.active && len(got) != 1 {
			t.Errorf("introspection by %s says more than active:false: %v", tc.who, got)
		}
	}
}

func audienceOf(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			s, _ := x.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// TestAuthorizeRefusesScopesNotAllowed: at /authorize a scope the client is not registered for
// ends at the relying party with invalid_scope (RFC 6749 §4.1.2.1); a client registered without
// --scope keeps openid profile email (and offline_access for a web client).
func TestAuthorizeRefusesScopesNotAllowed(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	b := newTestBrowser(t)
	b.CheckRedirect = noRedirect
	for scope, wantErr := range map[string]string{
		"openid admin":                        "invalid_scope",
		"openid phone":                        "invalid_scope",
		"openid profile email offline_access": "",
	} {
		resp, _ := get(t, b, h.authorizeURL(url.Values{"scope": {scope}}))
		if wantErr == "" {
			if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
				t.Errorf("scope %q: %d %s", scope, resp.StatusCode, resp.Header.Get("Location"))
			}
			continue
		}
		if got := rpParams(t, resp).Get("error"); got != wantErr {
			t.Errorf("scope %q: error %q, want %q", scope, got, wantErr)
		}
	}
}

// TestPersonTokenForResource: a web client granted an API gets, from the code grant, an access
// token whose aud is the API's audience and whose scopes are the API's plus the OpenID Connect
// ones (userinfo still works); a refresh may name the API too, and an API not granted is
// invalid_target.
func TestPersonTokenForResource(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.admin.CreateUser(ctx, flowEmail, flowPassword, true); err != nil {
		t.Fatal(err)
	}
	jwtTokens := true
	_, secret, err := h.admin.CreateClient(ctx, ClientSpec{ID: "web", Type: store.ClientWeb, RedirectURIs: []string{flowRedirect},
		AccessTokenJWT: &jwtTokens, Scopes: []string{"openid", "email", "offline_access", "ledger:read", "crm:read"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []ResourceSpec{{ID: "ledger-api", Audience: "https://ledger.example", Scopes: []string{"ledger:read"}},
		{ID: "crm-api", Audience: "https://crm.example", Scopes: []string{"crm:read"}}} {
		if _, _, err := h.admin.CreateResource(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.admin.SetClientResources(ctx, "web", []string{"ledger-api"}); err != nil {
		t.Fatal(err)
	}
	cfg := &oauth2.Config{ClientID: "web", ClientSecret: secret, RedirectURL: flowRedirect,
		Scopes:   []string{"openid", "email", "offline_access", "ledger:read", "crm:read"},
		Endpoint: oauth2.Endpoint{AuthURL: h.ts.URL + "/authorize", TokenURL: h.ts.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()
	b := newTestBrowser(t)
	resp, _ := get(t, b, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	id := resp.Request.URL.Query().Get("authRequestID")
	resp, _ = postForm(t, b, h.ts.URL+"/login", url.Values{"authRequestID": {id}, "email": {flowEmail}, "password": {flowPassword}})
	tok, err := cfg.Exchange(ctx, rpParams(t, resp).Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	cl := tokenClaims(t, tok.AccessToken)
	if !slices.Equal(audienceOf(cl["aud"]), []string{"https://ledger.example"}) || cl["scope"] != "openid email offline_access ledger:read" {
		t.Errorf("code grant token: aud %v scope %q", cl["aud"], cl["scope"])
	}
	req, _ := http.NewRequest(http.MethodGet, h.ts.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if a := doOAuth(t, req); a.Status != 200 {
		t.Errorf("userinfo with the API's token: %d %s", a.Status, a.Error)
	}
	refresh := func(resource string) oauthAnswer {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
		if resource != "" {
			form.Set("resource", resource)
		}
		a := doOAuth(t, h.tokenRequest("/oauth/token", form, "web", secret))
		return a
	}
	if a := refresh("https://crm.example"); a.Status != 400 || a.Error != "invalid_target" {
		t.Errorf("refresh for an API not granted: %d %s", a.Status, a.Error)
	}
}

// TestNarrowedScopesRefused: scopes are checked at every grant against the client's current
// list, so a refresh after the operator took a scope away is invalid_scope (RFC 6749 §5.2), and
// the refresh token stays usable once the scope is back.
func TestNarrowedScopesRefused(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.admin.CreateUser(ctx, flowEmail, flowPassword, true); err != nil {
		t.Fatal(err)
	}
	c, secret, err := h.admin.CreateClient(ctx, ClientSpec{ID: "web", Type: store.ClientWeb, RedirectURIs: []string{flowRedirect}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &oauth2.Config{ClientID: "web", ClientSecret: secret, RedirectURL: flowRedirect, Scopes: []string{"openid", "email", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: h.ts.URL + "/authorize", TokenURL: h.ts.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()
	b := newTestBrowser(t)
	resp, _ := get(t, b, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	id := resp.Request.URL.Query().Get("authRequestID")
	resp, _ = postForm(t, b, h.ts.URL+"/login", url.Values{"authRequestID": {id}, "email": {flowEmail}, "password": {flowPassword}})
	tok, err := cfg.Exchange(ctx, rpParams(t, resp).Get("code"), oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("exchange: %v", err)
	}
	refresh := func() oauthAnswer {
		return doOAuth(t, h.tokenRequest("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "web", secret))
	}
	c.Scopes = []string{"openid", "offline_access"}
	if err := h.st.UpdateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if a := refresh(); a.Status != 400 || a.Error != "invalid_scope" {
		t.Errorf("refresh with a scope taken away: %d %s", a.Status, a.Error)
	}
	c.Scopes = DefaultScopes(store.ClientWeb)
	if err := h.st.UpdateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if a := refresh(); a.Status != 200 || a.AccessToken == "" {
		t.Errorf("refresh once the scope is back: %d %s (%s)", a.Status, a.Error, a.Description)
	}
}
