package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/fintech-idp/idp/internal/store/pgtest"
)

// testIdP is a real `idp serve` (the same run() main calls) on a free port.
type testIdP struct {
	issuer  string
	metrics string // the /metrics URL (its own listener)
	env     map[string]string
	stderr  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// boundAddrs reads what a server started with PORT=0 (and IDP_METRICS_ADDR=127.0.0.1:0) bound
// from its JSON log: the issuer of the "listening" line and the address of "metrics listening".
// Asking the system for a port and binding it later would race other processes for it.
func boundAddrs(log string) (issuer, metricsAddr string) {
	for _, line := range strings.Split(log, "\n") {
		var rec struct{ Msg, Issuer, Addr string }
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch rec.Msg {
		case "listening":
			issuer = rec.Issuer
		case "metrics listening":
			metricsAddr = rec.Addr
		}
	}
	return issuer, metricsAddr
}

// storeEnvs returns the database settings to run a flow against: SQLite always, PostgreSQL when
// the test database is configured (required in CI).
func storeEnvs(t *testing.T) map[string]func(t *testing.T) string {
	t.Helper()
	return map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return pgtest.FreshSchema(t) },
	}
}

func startIdP(t *testing.T, databaseURL string, extra map[string]string) *testIdP {
	t.Helper()
	env := map[string]string{
		// The system picks both ports; the log says which (boundAddrs), and the development
		// issuer follows the public one.
		"IDP_METRICS_ADDR": "127.0.0.1:0",
		"IDP_ENV":          "development",
		"PORT":             "0",
		"IDP_DATA_DIR":     filepath.Join(t.TempDir(), "data"),
		"DATABASE_URL":     databaseURL,
		// Cheap but valid hashing parameters keep the race-detector run fast.
		"IDP_ARGON2_MEMORY_KIB": "19456",
		"IDP_LOG_LEVEL":         "debug",
	}
	for k, v := range extra {
		env[k] = v
	}
	p := &testIdP{env: env, stderr: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, p.getenv, strings.NewReader(""), io.Discard, p.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop within 30s of cancellation")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", p.stderr.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if p.issuer == "" {
			issuer, metricsAddr := boundAddrs(p.stderr.String())
			if issuer != "" {
				p.issuer = issuer
				if metricsAddr != "" {
					p.metrics = "http://" + metricsAddr + "/metrics"
				}
			}
		}
		if p.issuer != "" {
			resp, err := http.Get(p.issuer + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return p
				}
			}
		}
		select {
		case err := <-done:
			t.Fatalf("server exited: %v\n%s", err, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready:\n%s", p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *testIdP) getenv(k string) string { return p.env[k] }

// cli runs an idp subcommand against the same database and returns stdout.
func (p *testIdP) cli(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(context.Background(), args, p.getenv, strings.NewReader(stdin), &out, &errb); err != nil {
		t.Fatalf("idp %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// rp is a relying party listening for real on its own port.
type rp struct {
	url   string
	codes chan url.Values
}

func startRP(t *testing.T) *rp {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &rp{url: "http://" + l.Addr().String(), codes: make(chan url.Values, 8)}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.codes <- req.URL.Query()
		_, _ = io.WriteString(w, "rp ok")
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

func (r *rp) next(t *testing.T) url.Values {
	t.Helper()
	select {
	case v := <-r.codes:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("the relying party got no redirect")
		return nil
	}
}

// browser is a cookie-keeping HTTP client that follows redirects like a browser.
func newBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 20 * time.Second}
}

var hiddenAuthReq = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)

// signIn follows authURL in the browser; when the login form appears it submits email and
// password. It returns the final response body (the RP's page).
func signIn(t *testing.T, b *http.Client, authURL, email, password string) (status int, body string) {
	t.Helper()
	resp, err := b.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := hiddenAuthReq.FindSubmatch(page)
	if m == nil {
		return resp.StatusCode, string(page)
	}
	if !bytes.Contains(page, []byte(`autocomplete="username"`)) || !bytes.Contains(page, []byte(`autocomplete="current-password"`)) {
		t.Error("login form lacks the standard autocomplete attributes")
	}
	form := url.Values{"authRequestID": {string(m[1])}, "email": {email}, "password": {password}}
	req, _ := http.NewRequest(http.MethodPost, resp.Request.URL.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", resp.Request.URL.Scheme+"://"+resp.Request.URL.Host)
	resp, err = b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

type flowEnv struct {
	idp      *testIdP
	rp       *rp
	provider *oidc.Provider
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	email    string
	password string
	svcID    string
	svcSec   string
	// The resource server the service client is granted: its audience, and the client it
	// introspects as.
	apiAudience, apiID, apiSec string

	mu        sync.Mutex
	secrets   []string          // every credential the flow saw: none may appear in the server's log
	verifiers map[string]string // code → the PKCE verifier its sign-in used
}

// verifierOf is the PKCE verifier of the sign-in that produced code.
func (f *flowEnv) verifierOf(code string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.verifiers[code]
}

func (f *flowEnv) keep(vals ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range vals {
		if v != "" {
			f.secrets = append(f.secrets, v)
		}
	}
}

func setupFlow(t *testing.T, databaseURL string) *flowEnv {
	t.Helper()
	return setupFlowWith(t, databaseURL, nil)
}

// rebind points the flow at another IdP (same clients and users, e.g. restored from a backup).
func (f *flowEnv) rebind(t *testing.T, p *testIdP) {
	t.Helper()
	prov, err := oidc.NewProvider(context.Background(), p.issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	f.idp, f.provider = p, prov
	f.oauth.Endpoint = prov.Endpoint()
	f.verifier = prov.Verifier(&oidc.Config{ClientID: f.oauth.ClientID})
}

func setupFlowWith(t *testing.T, databaseURL string, extra map[string]string) *flowEnv {
	t.Helper()
	return setupFlowOn(t, startRP(t), databaseURL, extra)
}

// setupFlowOn is setupFlowWith with a relying party the caller owns (one that must outlive t).
func setupFlowOn(t *testing.T, r *rp, databaseURL string, extra map[string]string) *flowEnv {
	t.Helper()
	p := startIdP(t, databaseURL, extra)
	f := &flowEnv{idp: p, rp: r, email: "ada@example.com", password: "correct horse battery staple"}
	p.cli(t, f.password+"\n", "users", "create", "--email", "Ada@Example.com", "--password-stdin", "--verified")
	out := p.cli(t, "", "clients", "create", "--id", "bank-web", "--type", "web", "--name", "Bank",
		"--redirect-uri", r.url+"/callback", "--post-logout-redirect-uri", r.url+"/bye")
	secret := regexp.MustCompile(`client secret \(shown once, store it now\): (\S+)`).FindStringSubmatch(out)
	if secret == nil {
		t.Fatalf("clients create printed no secret: %q", out)
	}
	// A resource server and a service client granted it, as README.md shows.
	out = p.cli(t, "", "resources", "create", "--id", "ledger-api", "--audience", "https://ledger.example",
		"--scope", "ledger:read", "--scope", "ledger:write")
	api := regexp.MustCompile(`client secret \(shown once, store it now\): (\S+)`).FindStringSubmatch(out)
	if api == nil {
		t.Fatalf("resources create printed no secret: %q", out)
	}
	f.apiAudience, f.apiID, f.apiSec = "https://ledger.example", "ledger-api", api[1]
	out = p.cli(t, "", "clients", "create", "--id", "reports-job", "--type", "service", "--scope", "ledger:read", "--resource", "ledger-api")
	svc := regexp.MustCompile(`: (\S+)\n`).FindStringSubmatch(out)
	if svc == nil {
		t.Fatalf("clients create printed no secret: %q", out)
	}
	f.svcID, f.svcSec = "reports-job", svc[1]
	f.keep(f.password, secret[1], svc[1], api[1])
	ctx := context.Background()
	prov, err := oidc.NewProvider(ctx, p.issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	f.provider = prov
	f.oauth = &oauth2.Config{ClientID: "bank-web", ClientSecret: secret[1], Endpoint: prov.Endpoint(),
		RedirectURL: r.url + "/callback", Scopes: []string{oidc.ScopeOpenID, "email", "profile", oidc.ScopeOfflineAccess}}
	f.verifier = prov.Verifier(&oidc.Config{ClientID: "bank-web"})
	return f
}

// login runs authorize → login → callback and returns the exchanged token and raw ID token.
func (f *flowEnv) login(t *testing.T, b *http.Client, extra ...oauth2.AuthCodeOption) (*oauth2.Token, *oidc.IDToken, string) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	state, nonce := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)}, extra...)
	status, body := signIn(t, b, f.oauth.AuthCodeURL(state, opts...), f.email, f.password)
	if status != http.StatusOK || body != "rp ok" {
		t.Fatalf("sign-in ended with %d: %.300s", status, body)
	}
	q := f.rp.next(t)
	if q.Get("state") != state {
		t.Fatalf("state mismatch")
	}
	code := q.Get("code")
	f.mu.Lock()
	if f.verifiers == nil {
		f.verifiers = map[string]string{}
	}
	f.verifiers[code] = verifier
	f.mu.Unlock()
	tok, err := f.oauth.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	f.keep(code, tok.AccessToken, tok.RefreshToken, raw, verifier, state, nonce)
	idt, err := f.verifier.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("verify id token: %v", err)
	}
	if idt.Nonce != nonce {
		t.Fatalf("nonce mismatch")
	}
	return tok, idt, code
}

func tokenError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// TestEndToEnd drives the real server with go-oidc and x/oauth2 as an independent client:
// discovery → authorize → login → code+PKCE → ID token → userinfo → refresh rotation and reuse →
// revocation → introspection → client_credentials → end_session, on both stores.
func TestEndToEnd(t *testing.T) {
	for name, dbURL := range storeEnvs(t) {
		t.Run(name, func(t *testing.T) {
			f := setupFlow(t, dbURL(t))
			ctx := context.Background()
			b := newBrowser(t)

			tok, idt, code := f.login(t, b)
			var claims struct {
				AuthTime      int64    `json:"auth_time"`
				ACR           string   `json:"acr"`
				AMR           []string `json:"amr"`
				Email         string   `json:"email"`
				EmailVerified bool     `json:"email_verified"`
				MFAEnabled    *bool    `json:"mfa_enabled"`
			}
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if claims.ACR != "pwd" || !slices.Equal(claims.AMR, []string{"pwd"}) || claims.AuthTime == 0 {
				t.Errorf("id token acr/amr/auth_time = %q %v %d", claims.ACR, claims.AMR, claims.AuthTime)
			}
			if claims.Email != f.email || !claims.EmailVerified || claims.MFAEnabled == nil || *claims.MFAEnabled {
				t.Errorf("id token user claims = %+v", claims)
			}
			if tok.RefreshToken == "" {
				t.Fatal("no refresh token despite offline_access")
			}

			// Userinfo.
			ui, err := f.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			var uic map[string]any
			_ = ui.Claims(&uic)
			if ui.Email != f.email || !ui.EmailVerified || uic["mfa_enabled"] != false || ui.Subject != idt.Subject {
				t.Errorf("userinfo = %+v", uic)
			}
			// An ID token is not an access token.
			if _, err := f.provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok.Extra("id_token").(string)})); err == nil {
				t.Error("userinfo accepted an ID token as bearer token")
			}

			// Code replay with the right PKCE verifier, so that only replay detection can refuse
			// it: refused, and it revokes what the code issued.
			if _, err := f.oauth.Exchange(ctx, code, oauth2.VerifierOption(f.verifierOf(code))); tokenError(err) != "invalid_grant" {
				t.Errorf("code replay: %v", err)
			}
			if _, err := f.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
				t.Error("access token still works after its code was replayed")
			}

			// Fresh login: SSO session means no password prompt this time.
			tok, _, _ = f.login(t, b)

			// Refresh rotation.
			old := tok.RefreshToken
			rotated, err := f.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: old}).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if rotated.RefreshToken == "" || rotated.RefreshToken == old {
				t.Fatal("refresh token not rotated")
			}
			if _, err := f.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: old}).Token(); tokenError(err) != "invalid_grant" {
				t.Fatalf("reuse of rotated refresh token: %v", err)
			}
			// Reuse revoked the family: the newest refresh token and its access token are dead.
			if _, err := f.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: rotated.RefreshToken}).Token(); tokenError(err) != "invalid_grant" {
				t.Fatalf("family not revoked after reuse: %v", err)
			}
			if _, err := f.provider.UserInfo(ctx, oauth2.StaticTokenSource(rotated)); err == nil {
				t.Error("access token of a revoked family still works")
			}

			// Revocation and introspection.
			tok, _, _ = f.login(t, b)
			if got := f.introspect(t, f.oauth.ClientID, f.oauth.ClientSecret, tok.AccessToken); got["active"] != true || got["sub"] == nil || got["client_id"] != "bank-web" {
				t.Errorf("introspection of a live token = %v", got)
			}
			// RFC 7662 §4: a client the token is not meant for learns nothing.
			if got := f.introspect(t, f.svcID, f.svcSec, tok.AccessToken); got["active"] != false || len(got) != 1 {
				t.Errorf("introspection by another client = %v", got)
			}
			f.revoke(t, tok.AccessToken)
			if got := f.introspect(t, f.oauth.ClientID, f.oauth.ClientSecret, tok.AccessToken); got["active"] != false {
				t.Errorf("introspection after revocation = %v", got)
			}
			if _, err := f.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
				t.Error("revoked access token still works at userinfo")
			}
			f.revoke(t, tok.RefreshToken)
			if _, err := f.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); tokenError(err) != "invalid_grant" {
				t.Errorf("revoked refresh token still works: %v", err)
			}

			// client_credentials: an RFC 9068 JWT for the resource the service is granted, checked
			// the way README.md tells a resource server to: signature (JWKS), iss, aud, typ, scope.
			st := f.serviceToken(t)
			f.keep(st.AccessToken)

			// Private key JWT client authentication (RFC 7523) with the same grant.
			f.privateKeyJWT(t)

			// end_session with id_token_hint ends the SSO session and honours the registered URI.
			tok, _, _ = f.login(t, b)
			endURL := f.idp.issuer + "/end_session?" + url.Values{
				"id_token_hint":            {tok.Extra("id_token").(string)},
				"post_logout_redirect_uri": {f.rp.url + "/bye"},
				"state":                    {"s1"},
			}.Encode()
			resp, err := b.Get(endURL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if q := f.rp.next(t); q.Get("state") != "s1" {
				t.Errorf("post-logout redirect lost state: %v", q)
			}
			// The session is gone: prompt=none now answers login_required.
			resp, err = b.Get(f.oauth.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "none")))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if q := f.rp.next(t); q.Get("error") != "login_required" {
				t.Errorf("prompt=none after logout: %v", q)
			}

			// Metrics: on their own listener, never on the public port.
			resp, err = http.Get(f.idp.issuer + "/metrics")
			if err != nil {
				t.Fatalf("public port: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("public /metrics answered %d", resp.StatusCode)
			}
			if f.idp.metrics == "" {
				t.Fatal("the server logged no metrics address")
			}
			resp, err = http.Get(f.idp.metrics)
			if err != nil {
				t.Fatal(err)
			}
			mb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, want := range []string{`idp_logins_total{outcome="success"}`, `idp_token_grants_total{grant_type="refresh_token",outcome="error"}`,
				`idp_token_grants_total{grant_type="client_credentials",outcome="ok"} 2`, `route="/oauth/token"`, "idp_db_open_connections"} {
				if !strings.Contains(string(mb), want) {
					t.Errorf("metrics lack %s", want)
				}
			}

			// Logs never hold a password, code, token, id_token_hint or secret.
			f.keep(st.AccessToken, rotated.AccessToken, rotated.RefreshToken)
			logs := f.idp.stderr.String()
			if !strings.Contains(logs, `"request_id"`) {
				t.Error("log lines carry no request id")
			}
			for _, s := range f.secrets {
				if strings.Contains(logs, s) {
					t.Errorf("the server log contains a credential (%.8s…)", s)
				}
			}
		})
	}
}

func jwtHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	part, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatalf("not a JWT: %v", err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func (f *flowEnv) introspect(t *testing.T, id, secret, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.idp.issuer+"/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect: %d %v", resp.StatusCode, err)
	}
	return out
}

func (f *flowEnv) revoke(t *testing.T, token string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.idp.issuer+"/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
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
