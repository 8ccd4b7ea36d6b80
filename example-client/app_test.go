package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeIdP stands in for the provider in handler tests.
type fakeIdP struct {
	mu           sync.Mutex
	exchange     tokenSet // what the next code exchange returns
	refreshCalls int
	// refreshGate, when set, makes Refresh announce itself on entered and wait for release.
	refreshGate *gate
	refreshErr  error
	refreshMFA  *bool // mfa_enabled in refreshed ID tokens
	gotNonce    string
	now         func() time.Time
}

func (f *fakeIdP) AuthURL(state, nonce, challenge string, extra url.Values) string {
	q := url.Values{"state": {state}, "nonce": {nonce}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	return "https://idp.test/authorize?" + q.Encode()
}

func (f *fakeIdP) Exchange(_ context.Context, code, verifier, nonce string) (tokenSet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gotNonce = nonce
	if code != "good" || verifier == "" {
		return tokenSet{}, errors.New("invalid_grant: secret detail")
	}
	t := f.exchange
	c := *t.claims
	t.claims = &c
	return t, nil
}

func (f *fakeIdP) Refresh(_ context.Context, rt string) (tokenSet, error) {
	f.mu.Lock()
	f.refreshCalls++
	g, err, mfa := f.refreshGate, f.refreshErr, f.refreshMFA
	f.mu.Unlock()
	if g != nil {
		g.entered <- struct{}{}
		<-g.release
	}
	if err != nil {
		return tokenSet{}, err
	}
	// Refreshed ID tokens carry no acr.
	return tokenSet{accessToken: "at-new", refreshToken: rt + "-rotated", idToken: "idt-new", expiry: f.now().Add(15 * time.Minute),
		claims: &idClaims{subject: "u1", email: "ada@example.com", emailVerified: true, mfaEnabled: mfa}}, nil
}

type gate struct{ entered, release chan struct{} }

// blockedOn reports whether some goroutine waits to lock a mutex inside fn (a function name as
// runtime stacks print it), not counting those that also run skip. A goroutine dump is the one
// place a wait on a mutex can be seen from outside.
func blockedOn(fn, skip string) bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "sync.(*Mutex).Lock") && strings.Contains(g, fn) && !strings.Contains(g, skip) {
			return true
		}
	}
	return false
}

func (f *fakeIdP) EndSessionURL(hint, post string) (string, error) {
	return "https://idp.test/end_session?" + url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {post}}.Encode(), nil
}

type testApp struct {
	*app
	idp     *fakeIdP
	handler http.Handler
	clock   time.Time
}

func newTestApp(t *testing.T, env map[string]string) *testApp {
	t.Helper()
	cfg, err := loadConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ta := &testApp{clock: time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)}
	now := func() time.Time { return ta.clock }
	ta.idp = &fakeIdP{now: now}
	a, err := newApp(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(context.Context) (identityProvider, error) { return ta.idp, nil }, now)
	if err != nil {
		t.Fatal(err)
	}
	ta.app, ta.handler = a, a.routes()
	return ta
}

func (ta *testApp) do(t *testing.T, method, target string, body url.Values, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	var r *http.Request
	if body != nil {
		r = httptest.NewRequest(method, target, strings.NewReader(body.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	ta.handler.ServeHTTP(w, r)
	return w.Result()
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// signIn runs /login → (fake IdP) → callback and returns the session cookie.
func (ta *testApp) signIn(t *testing.T, acr string, authTime time.Time, loginTarget string) (*http.Cookie, *http.Response) {
	t.Helper()
	ta.idp.exchange = tokenSet{accessToken: "at-1", refreshToken: "rt-1", idToken: "idt-1", expiry: ta.clock.Add(15 * time.Minute),
		claims: &idClaims{subject: "u1", email: "ada@example.com", emailVerified: true, acr: acr, amr: []string{"pwd"}, authTime: authTime}}
	resp := ta.do(t, "GET", loginTarget, nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login: status %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	lc := cookieNamed(resp, loginCookie)
	if lc == nil {
		t.Fatal("no login cookie")
	}
	resp = ta.do(t, "GET", "/callback?code=good&state="+url.QueryEscape(loc.Query().Get("state")), nil, lc)
	if ta.idp.gotNonce != loc.Query().Get("nonce") {
		t.Fatal("the nonce sent is not the nonce checked")
	}
	return cookieNamed(resp, ta.cookieName), resp
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name             string
		env              map[string]string
		wantErr          string
		issuer, id, root string
		port, callback   string
		secure           bool
	}{
		{name: "defaults", issuer: "http://localhost:8080", id: "fintech-dashboard", root: "http://localhost:5000/", port: "5000", callback: "/callback"},
		{name: "env overrides", env: map[string]string{"PORT": "6000", "ISSUER": "https://id.example.com", "CLIENT_ID": "dash",
			"CLIENT_SECRET": "s", "REDIRECT_URL": "https://bank.example.com/oidc/cb"},
			issuer: "https://id.example.com", id: "dash", root: "https://bank.example.com/", port: "6000", callback: "/oidc/cb", secure: true},
		{name: "every problem at once", env: map[string]string{"PORT": "x", "ISSUER": "ftp://a", "REDIRECT_URL": "/cb"},
			wantErr: "PORT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(nil, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), "PORT") || !strings.Contains(err.Error(), "ISSUER") || !strings.Contains(err.Error(), "REDIRECT_URL") {
					t.Fatalf("err = %v, want all three problems", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Issuer != tt.issuer || c.ClientID != tt.id || c.rootURL != tt.root || c.Port != tt.port || c.callbackPath != tt.callback || c.secure != tt.secure {
				t.Errorf("got %+v", c)
			}
			if tt.name == "defaults" && c.ClientSecret != "dev-secret" {
				t.Errorf("secret default")
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		var out strings.Builder
		_, err := loadConfig([]string{"--help"}, func(string) string { return "" }, &out)
		if err == nil || !strings.Contains(err.Error(), "help") {
			t.Fatalf("err = %v", err)
		}
		for _, v := range []string{"PORT", "ISSUER", "CLIENT_ID", "CLIENT_SECRET", "REDIRECT_URL"} {
			if !strings.Contains(out.String(), v) {
				t.Errorf("--help does not explain %s", v)
			}
		}
	})
}

func TestLandingPage(t *testing.T) {
	ta := newTestApp(t, nil)
	resp := ta.do(t, "GET", "/", nil)
	body := readBody(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(body, `href="/login">Sign in<`) || !strings.Contains(body, `href="/login?create=1">Create account<`) {
		t.Fatalf("landing page: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("security headers missing")
	}
	for _, tc := range []struct {
		target, prompt string
	}{{"/login", ""}, {"/login?create=1", "create"}} {
		resp := ta.do(t, "GET", tc.target, nil)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		q := loc.Query()
		if resp.StatusCode != http.StatusFound || q.Get("prompt") != tc.prompt || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" {
			t.Errorf("%s → %d %s", tc.target, resp.StatusCode, loc)
		}
	}
}

func TestSessionCookie(t *testing.T) {
	for _, tc := range []struct {
		name, redirect, cookie string
		secure                 bool
	}{
		{"http", "", "dash_session", false},
		{"https", "https://bank.example.com/callback", "__Host-dash_session", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ta := newTestApp(t, map[string]string{"REDIRECT_URL": tc.redirect})
			c, resp := ta.signIn(t, "pwd", ta.clock, "/login")
			if c == nil || c.Name != tc.cookie {
				t.Fatalf("no session cookie %q in %v", tc.cookie, resp.Header["Set-Cookie"])
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != tc.secure || c.Path != "/" {
				t.Errorf("cookie attributes: %+v", c)
			}
			if strings.Contains(c.Value, "at-1") || strings.Contains(c.Value, "rt-1") || len(c.Value) < 40 {
				t.Errorf("cookie value is not an opaque random id: %q", c.Value)
			}
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard" {
				t.Errorf("callback → %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			resp = ta.do(t, "GET", "/dashboard", nil, c)
			body := readBody(t, resp)
			if !strings.Contains(body, "ada@example.com") || strings.Contains(body, "at-1") {
				t.Errorf("dashboard: %s", body)
			}
		})
	}
}

func TestCallbackRefusals(t *testing.T) {
	ta := newTestApp(t, nil)
	resp := ta.do(t, "GET", "/login", nil)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	state := loc.Query().Get("state")
	lc := cookieNamed(resp, loginCookie)
	for _, tc := range []struct {
		name   string
		target string
		cookie *http.Cookie
		status int
	}{
		{"no login cookie", "/callback?code=good&state=" + state, nil, 400},
		{"other state", "/callback?code=good&state=forged", &http.Cookie{Name: loginCookie, Value: "forged"}, 400},
		{"bad code", "/callback?code=bad&state=" + state, lc, 502},
		{"replayed state", "/callback?code=good&state=" + state, lc, 400},
	} {
		var cs []*http.Cookie
		if tc.cookie != nil {
			cs = append(cs, tc.cookie)
		}
		resp := ta.do(t, "GET", tc.target, nil, cs...)
		body := readBody(t, resp)
		if resp.StatusCode != tc.status || cookieNamed(resp, ta.cookieName) != nil {
			t.Errorf("%s: %d", tc.name, resp.StatusCode)
		}
		if strings.Contains(body, "secret detail") || strings.Contains(body, "invalid_grant") {
			t.Errorf("%s: the page shows error details", tc.name)
		}
	}
}

func TestPaymentRule(t *testing.T) {
	tests := []struct {
		name     string
		acr      string
		age      time.Duration
		wantForm bool
	}{
		{"password only", "pwd", 0, false},
		{"no acr", "", 0, false},
		{"mfa but too old", "mfa", 6 * time.Minute, false},
		{"mfa and recent", "mfa", 4 * time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ta := newTestApp(t, nil)
			c, _ := ta.signIn(t, tt.acr, ta.clock.Add(-tt.age), "/login")
			for _, method := range []string{"GET", "POST"} {
				resp := ta.do(t, method, "/payment", url.Values{"recipient": {"Bob"}, "amount": {"12.50"}}, c)
				body := readBody(t, resp)
				if tt.wantForm {
					want := map[string]string{"GET": `name="recipient"`, "POST": "12.50 EUR to Bob"}[method]
					if resp.StatusCode != 200 || !strings.Contains(body, want) {
						t.Errorf("%s: %d %s", method, resp.StatusCode, body)
					}
					continue
				}
				loc, _ := url.Parse(resp.Header.Get("Location"))
				q := loc.Query()
				if resp.StatusCode != http.StatusFound || q.Get("acr_values") != "mfa" || q.Get("max_age") != "300" {
					t.Errorf("%s: want a step-up redirect, got %d %s", method, resp.StatusCode, loc)
				}
				if strings.Contains(body, "to Bob") {
					t.Errorf("%s: payment accepted without mfa", method)
				}
			}
		})
	}

	t.Run("step-up answered with unmet_authentication_requirements", func(t *testing.T) {
		ta := newTestApp(t, nil)
		c, _ := ta.signIn(t, "pwd", ta.clock, "/login")
		resp := ta.do(t, "GET", "/payment", nil, c)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		resp = ta.do(t, "GET", "/callback?error=unmet_authentication_requirements&state="+url.QueryEscape(loc.Query().Get("state")), nil,
			c, cookieNamed(resp, loginCookie))
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Payments need two-step verification") ||
			!strings.Contains(body, `href="/security"`) {
			t.Errorf("got %d %s", resp.StatusCode, body)
		}
	})

	t.Run("step-up that comes back with acr pwd is refused, not looped", func(t *testing.T) {
		ta := newTestApp(t, nil)
		c, _ := ta.signIn(t, "pwd", ta.clock, "/login")
		resp := ta.do(t, "GET", "/payment", nil, c)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		ta.idp.exchange.claims.authTime = ta.clock
		resp = ta.do(t, "GET", "/callback?code=good&state="+url.QueryEscape(loc.Query().Get("state")), nil, c, cookieNamed(resp, loginCookie))
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Payments need two-step verification") {
			t.Errorf("got %d %s", resp.StatusCode, body)
		}
	})

	t.Run("step-up with mfa comes back to the payment form", func(t *testing.T) {
		ta := newTestApp(t, nil)
		c, _ := ta.signIn(t, "pwd", ta.clock, "/login")
		resp := ta.do(t, "GET", "/payment", nil, c)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		ta.idp.exchange.claims.acr = "mfa"
		resp = ta.do(t, "GET", "/callback?code=good&state="+url.QueryEscape(loc.Query().Get("state")), nil, c, cookieNamed(resp, loginCookie))
		nc := cookieNamed(resp, ta.cookieName)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/payment" || nc == nil || nc.Value == c.Value {
			t.Fatalf("got %d %s (new session id: %v)", resp.StatusCode, resp.Header.Get("Location"), nc)
		}
		if resp := ta.do(t, "GET", "/dashboard", nil, c); resp.StatusCode != http.StatusFound {
			t.Error("the session before step-up still works")
		}
		if resp := ta.do(t, "GET", "/payment", nil, nc); resp.StatusCode != 200 {
			t.Errorf("payment form: %d", resp.StatusCode)
		}
	})
}

func TestRefreshSerialized(t *testing.T) {
	ta := newTestApp(t, nil)
	c, _ := ta.signIn(t, "pwd", ta.clock, "/login")
	ta.clock = ta.clock.Add(14*time.Minute + 30*time.Second) // 30 s before expiry
	// The first request's refresh is held open; the second must then wait for the session (seen
	// in a goroutine dump), never start a refresh of its own. Only then is the first let go.
	g := &gate{entered: make(chan struct{}, 2), release: make(chan struct{})}
	ta.idp.refreshGate = g
	var wg sync.WaitGroup
	codes := make([]int, 2)
	get := func(i int) {
		wg.Go(func() {
			r := httptest.NewRequest("GET", "/dashboard", nil)
			r.AddCookie(c)
			w := httptest.NewRecorder()
			ta.handler.ServeHTTP(w, r)
			codes[i] = w.Code
		})
	}
	get(0)
	<-g.entered
	get(1)
	// (It waits for the session's mutex, which the running refresh holds: in sessionStore.get or
	// in ensureFresh, both under app.session.)
	for deadline := time.Now().Add(60 * time.Second); !blockedOn("(*app).session(", "(*fakeIdP).Refresh"); time.Sleep(time.Millisecond) {
		select {
		case <-g.entered:
			t.Fatal("a second refresh started while the first was running")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the second request never waited for the first refresh")
		}
	}
	close(g.release)
	wg.Wait()
	if ta.idp.refreshCalls != 1 || codes[0] != 200 || codes[1] != 200 {
		t.Fatalf("refresh calls = %d, statuses %v; want exactly 1 refresh and two pages", ta.idp.refreshCalls, codes)
	}
	v := ta.store.get(c.Value).view()
	if v.acr != "pwd" || !v.authTime.Equal(time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)) || v.idToken != "idt-new" {
		t.Errorf("after refresh: acr %q auth_time %v id token %q; acr and auth_time must stay from the sign-in", v.acr, v.authTime, v.idToken)
	}

	// A failed refresh ends the session and sends the person to sign in again.
	ta.clock = ta.clock.Add(15 * time.Minute)
	ta.idp.refreshErr = errors.New("invalid_grant")
	resp := ta.do(t, "GET", "/dashboard", nil, c)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("after a failed refresh: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if ta.store.get(c.Value) != nil {
		t.Error("session still there after a failed refresh")
	}
}

func TestLogout(t *testing.T) {
	ta := newTestApp(t, nil)
	c, _ := ta.signIn(t, "pwd", ta.clock, "/login")

	r := httptest.NewRequest("POST", "/logout", nil)
	r.Header.Set("Origin", "https://evil.example")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	r.AddCookie(c)
	w := httptest.NewRecorder()
	ta.handler.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden || ta.store.get(c.Value) == nil {
		t.Fatalf("cross-site sign-out: %d", w.Code)
	}

	resp := ta.do(t, "POST", "/logout", url.Values{}, c)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc.Host != "idp.test" || loc.Query().Get("id_token_hint") != "idt-1" ||
		loc.Query().Get("post_logout_redirect_uri") != "http://localhost:5000/" {
		t.Fatalf("sign-out → %d %s", resp.StatusCode, loc)
	}
	if ta.store.get(c.Value) != nil {
		t.Error("session survives sign-out")
	}
	if sc := cookieNamed(resp, ta.cookieName); sc == nil || sc.MaxAge >= 0 {
		t.Error("session cookie not cleared")
	}
}

func TestUnreachableIdP(t *testing.T) {
	ta := newTestApp(t, nil)
	var up bool
	ta.conn.dial = func(context.Context) (identityProvider, error) {
		if up {
			return ta.idp, nil
		}
		return nil, errors.New("dial tcp: connection refused")
	}
	for _, target := range []string{"/", "/login"} {
		resp := ta.do(t, "GET", target, nil)
		body := readBody(t, resp)
		if !strings.Contains(body, "The sign-in service is not reachable yet; retrying…") || strings.Contains(body, "refused") {
			t.Errorf("%s: %d %s", target, resp.StatusCode, body)
		}
	}
	up = true
	ta.conn.mu.Lock()
	ta.conn.lastTry = time.Time{}
	ta.conn.mu.Unlock()
	if resp := ta.do(t, "GET", "/login", nil); resp.StatusCode != http.StatusFound {
		t.Errorf("once the IdP is up: %d", resp.StatusCode)
	}
}

func TestPagesEscape(t *testing.T) {
	ta := newTestApp(t, nil)
	c, _ := ta.signIn(t, "mfa", ta.clock, "/login")
	resp := ta.do(t, "POST", "/payment", url.Values{"recipient": {"<script>x</script>"}, "amount": {"1"}}, c)
	body := readBody(t, resp)
	if strings.Contains(body, "<script>x") || !strings.Contains(body, "&lt;script&gt;") {
		t.Errorf("not escaped: %s", body)
	}
}

// TestSecuritySettingsRecheck: after the person has been to the IdP's security settings (through
// the dashboard's /security), the next page refreshes at once and shows mfa_enabled as the IdP
// says it now, though the access token is far from expiry; other pages do not refresh.
func TestSecuritySettingsRecheck(t *testing.T) {
	ta := newTestApp(t, nil)
	c, _ := ta.signIn(t, "pwd", ta.clock, "/login")
	on := true
	ta.idp.refreshMFA = &on // two-step turned on at the IdP meanwhile
	if body := readBody(t, ta.do(t, "GET", "/dashboard", nil, c)); !strings.Contains(body, `id="mfa-enabled">unknown`) ||
		ta.idp.refreshCalls != 0 || !strings.Contains(body, `href="/security"`) {
		t.Fatalf("before the security settings: %d refreshes, %s", ta.idp.refreshCalls, body)
	}
	resp := ta.do(t, "GET", "/security", nil, c)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "http://localhost:8080/account?client_id=fintech-dashboard" {
		t.Fatalf("/security → %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if body := readBody(t, ta.do(t, "GET", "/dashboard", nil, c)); !strings.Contains(body, `id="mfa-enabled">on`) ||
		!strings.Contains(body, `id="acr">pwd`) {
		t.Errorf("back from the security settings: %s", body)
	}
	readBody(t, ta.do(t, "GET", "/dashboard", nil, c))
	if ta.idp.refreshCalls != 1 {
		t.Errorf("%d refreshes, want exactly 1 (after the security settings only)", ta.idp.refreshCalls)
	}
	// Signed out, the link still leads to the IdP's account page.
	if resp := ta.do(t, "GET", "/security", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "http://localhost:8080/account?client_id=fintech-dashboard" {
		t.Errorf("/security without a session → %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestSignedOutMessage: back at the root after sign-out, the page says so, once.
func TestSignedOutMessage(t *testing.T) {
	ta := newTestApp(t, nil)
	c, _ := ta.signIn(t, "pwd", ta.clock, "/login")
	if body := readBody(t, ta.do(t, "GET", "/", nil)); strings.Contains(body, "You are signed out") {
		t.Errorf("a first visit says signed out: %s", body)
	}
	flag := cookieNamed(ta.do(t, "POST", "/logout", url.Values{}, c), signedOutCookie)
	if flag == nil || flag.MaxAge <= 0 || !flag.HttpOnly {
		t.Fatalf("sign-out sets no signed-out flag: %+v", flag)
	}
	resp := ta.do(t, "GET", "/", nil, flag)
	body := readBody(t, resp)
	if !strings.Contains(body, `id="signed-out" role="status">You are signed out.<`) || !strings.Contains(body, `id="sign-in"`) {
		t.Errorf("after sign-out the root says: %s", body)
	}
	if cl := cookieNamed(resp, signedOutCookie); cl == nil || cl.MaxAge >= 0 {
		t.Error("the signed-out flag is not cleared once shown")
	}
}

func TestPaymentAmountError(t *testing.T) {
	for _, amount := range []string{"12,50", "0", "1.234", "ten"} {
		ta := newTestApp(t, nil)
		c, _ := ta.signIn(t, "mfa", ta.clock, "/login")
		resp := ta.do(t, "POST", "/payment", url.Values{"recipient": {"Bob"}, "amount": {amount}}, c)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "for example 12.50") ||
			!strings.Contains(body, `aria-describedby="amount-hint form-error" aria-invalid="true"`) {
			t.Errorf("amount %q: %d %s", amount, resp.StatusCode, body)
		}
	}
}
