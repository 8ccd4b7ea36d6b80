package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// serviceToken gets a client_credentials token for the granted resource with x/oauth2 and checks
// it as a resource server would (README.md, "Resource servers"): the signature against the JWKS,
// iss, aud = the resource's audience, typ at+jwt, the scope; introspection answers the resource
// server and the token's own client. A scope the client may not ask for is invalid_scope, an
// unknown resource invalid_target, and a client_secret_basic client sending client_secret_post
// is refused.
func (f *flowEnv) serviceToken(t *testing.T) *oauth2.Token {
	t.Helper()
	ctx := context.Background()
	cc := clientcredentials.Config{ClientID: f.svcID, ClientSecret: f.svcSec, TokenURL: f.provider.Endpoint().TokenURL,
		Scopes: []string{"ledger:read"}, EndpointParams: url.Values{"resource": {f.apiAudience}}, AuthStyle: oauth2.AuthStyleInHeader}
	st, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("client_credentials: %v", err)
	}
	hdr := jwtHeader(t, st.AccessToken)
	if hdr["typ"] != "at+jwt" || hdr["alg"] != "RS256" {
		t.Errorf("service access token header = %v", hdr)
	}
	keys := oidc.NewRemoteKeySet(ctx, f.idp.issuer+"/keys")
	atv := oidc.NewVerifier(f.idp.issuer, keys, &oidc.Config{ClientID: f.apiAudience})
	tok, err := atv.Verify(ctx, st.AccessToken)
	if err != nil {
		t.Fatalf("the service access token does not verify for its audience: %v", err)
	}
	var cl struct {
		Scope    string `json:"scope"`
		ClientID string `json:"client_id"`
	}
	if err := tok.Claims(&cl); err != nil || cl.Scope != "ledger:read" || cl.ClientID != f.svcID || tok.Subject != f.svcID {
		t.Errorf("service token claims: %+v sub %s (%v)", cl, tok.Subject, err)
	}
	if _, err := oidc.NewVerifier(f.idp.issuer, keys, &oidc.Config{ClientID: f.svcID}).Verify(ctx, st.AccessToken); err == nil {
		t.Error("the service token is also meant for the service itself")
	}
	for who, creds := range map[string][2]string{"the resource server": {f.apiID, f.apiSec}, "its own client": {f.svcID, f.svcSec}} {
		if got := f.introspect(t, creds[0], creds[1], st.AccessToken); got["active"] != true || got["client_id"] != f.svcID {
			t.Errorf("introspection of the service token by %s = %v", who, got)
		}
	}
	if got := f.introspect(t, f.oauth.ClientID, f.oauth.ClientSecret, st.AccessToken); got["active"] != false {
		t.Errorf("introspection of the service token by an unrelated client = %v", got)
	}

	wrong := cc
	wrong.Scopes = []string{"admin", "ledger:write", "superuser"}
	if _, err := wrong.Token(ctx); tokenError(err) != "invalid_scope" {
		t.Errorf("scope admin ledger:write superuser: %v", err)
	}
	wrong = cc
	wrong.EndpointParams = url.Values{"resource": {"https://unknown.example"}}
	if _, err := wrong.Token(ctx); tokenError(err) != "invalid_target" {
		t.Errorf("unknown resource: %v", err)
	}
	wrong = cc
	wrong.AuthStyle = oauth2.AuthStyleInParams // client_secret_post for a client_secret_basic client
	if _, err := wrong.Token(ctx); tokenError(err) != "invalid_client" {
		t.Errorf("client_secret_post for a client_secret_basic client: %v", err)
	}
	// Credentials in the URL are refused.
	resp, err := http.Get(f.provider.Endpoint().TokenURL + "?" + url.Values{"grant_type": {"client_credentials"},
		"client_id": {f.svcID}, "client_secret": {f.svcSec}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /oauth/token with the secret in the query: %d", resp.StatusCode)
	}
	return st
}

// privateKeyJWT registers a service client with a JWKS file through the CLI and gets a token
// with a signed client assertion (RFC 7523); the same assertion again is refused.
func (f *flowEnv) privateKeyJWT(t *testing.T) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Use: "sig", Algorithm: "ES256"}}})
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	f.idp.cli(t, "", "clients", "create", "--id", "settlement-job", "--type", "service", "--auth-method", "private_key_jwt",
		"--jwks-file", file, "--scope", "ledger:read", "--resource", "ledger-api")
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertion, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: "settlement-job", Subject: "settlement-job",
		Audience: jwt.Audience{f.provider.Endpoint().TokenURL}, ID: oauth2.GenerateVerifier(),
		IssuedAt: jwt.NewNumericDate(time.Now()), Expiry: jwt.NewNumericDate(time.Now().Add(time.Minute))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	send := func() (int, map[string]any) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion": {assertion}}
		resp, err := http.Post(f.provider.Endpoint().TokenURL, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	status, body := send()
	at, _ := body["access_token"].(string)
	if status != http.StatusOK || at == "" {
		t.Fatalf("private_key_jwt: %d %v", status, body)
	}
	f.keep(at, assertion)
	if _, err := oidc.NewVerifier(f.idp.issuer, oidc.NewRemoteKeySet(context.Background(), f.idp.issuer+"/keys"),
		&oidc.Config{ClientID: f.apiAudience}).Verify(context.Background(), at); err != nil {
		t.Errorf("the private_key_jwt client's token: %v", err)
	}
	if status, body := send(); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("a replayed assertion: %d %v", status, body)
	}
}

// TestEndToEndClientAuthThrottle: through the real binary on both stores, parallel wrong secrets
// for one client get IDP_CLIENT_AUTH_LIMIT answers invalid_client and the rest 429 with
// Retry-After.
func TestEndToEndClientAuthThrottle(t *testing.T) {
	for name, dbURL := range storeEnvs(t) {
		t.Run(name, func(t *testing.T) {
			p := startIdP(t, dbURL(t), map[string]string{"IDP_CLIENT_AUTH_LIMIT": "3", "IDP_CLIENT_AUTH_WINDOW": "5m"})
			p.cli(t, "", "clients", "create", "--id", "batch", "--type", "service")
			const n = 12
			answers := make(chan string, n)
			start := make(chan struct{})
			for i := range n {
				go func() {
					<-start
					form := url.Values{"grant_type": {"client_credentials"}}
					req, _ := http.NewRequest(http.MethodPost, p.issuer+"/oauth/token", strings.NewReader(form.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth("batch", "wrong-secret-"+strings.Repeat("x", i))
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						answers <- err.Error()
						return
					}
					defer resp.Body.Close()
					var body struct {
						Error string `json:"error"`
					}
					_ = json.NewDecoder(resp.Body).Decode(&body)
					answer := http.StatusText(resp.StatusCode) + " " + body.Error
					if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
						answer += " without Retry-After"
					}
					answers <- answer
				}()
			}
			close(start)
			count := map[string]int{}
			for range n {
				count[<-answers]++
			}
			if count["Unauthorized invalid_client"] != 3 || count["Too Many Requests temporarily_unavailable"] != n-3 {
				t.Errorf("%d parallel wrong secrets: %v", n, count)
			}
		})
	}
}
