package idp

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/fintech-idp/idp/internal/store"
)

// TestExpiredAccessTokenIsDead: userinfo and introspection check expiry themselves (the library
// decrypts opaque tokens without looking at it).
func TestExpiredAccessTokenIsDead(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.admin.CreateUser(ctx, flowEmail, flowPassword, true); err != nil {
		t.Fatal(err)
	}
	_, secret, err := h.admin.CreateClient(ctx, ClientSpec{ID: "web", Type: store.ClientWeb, RedirectURIs: []string{flowRedirect}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &oauth2.Config{ClientID: "web", ClientSecret: secret, RedirectURL: flowRedirect, Scopes: []string{"openid", "email"},
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
	userinfo := func() int {
		req, _ := http.NewRequest(http.MethodGet, h.ts.URL+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	introspect := func() string {
		req, _ := http.NewRequest(http.MethodPost, h.ts.URL+"/oauth/introspect", strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("web", secret) // the token's own client (the introspection policy)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		sb.Write(buf[:n])
		return sb.String()
	}
	if st := userinfo(); st != http.StatusOK {
		t.Fatalf("fresh token at userinfo: %d", st)
	}
	if !strings.Contains(introspect(), `"active":true`) {
		t.Fatal("fresh token inactive")
	}
	h.clock.Advance(15*time.Minute + time.Second)
	if st := userinfo(); st == http.StatusOK {
		t.Error("expired token accepted at userinfo")
	}
	if got := introspect(); !strings.Contains(got, `"active":false`) {
		t.Errorf("expired token introspected as %s", got)
	}
}
