package idp

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/mail"
	"github.com/fintech-idp/idp/internal/password"
	"github.com/fintech-idp/idp/internal/secrets"
	"github.com/fintech-idp/idp/internal/store"
)

var update = flag.Bool("update", false, "rewrite golden files")

const testIssuer = "http://localhost:8080"

type harness struct {
	srv    *Server
	st     store.Store
	admin  *Admin
	ts     *httptest.Server
	logs   *strings.Builder
	outbox *mail.Log
	clock  *testClock
	dir    string // the SQLite database's directory
}

// testClock is the server's clock; tests move it to cross expiries and windows.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testLimits() Limits {
	return Limits{EmailCodeTTL: 10 * time.Minute, EmailCodeMaxAttempts: 5, EmailResendCooldown: 60 * time.Second,
		EmailSendLimitAccount: 5, EmailSendLimitIP: 20, LoginDelayAfter: 5, LoginLockAfter: 20, LoginLockDuration: 15 * time.Minute}
}

func testLifetimes() Lifetimes {
	return Lifetimes{AuthRequest: 30 * time.Minute, AuthCode: time.Minute, AccessToken: 15 * time.Minute, IDToken: 15 * time.Minute,
		RefreshIdle: 720 * time.Hour, RefreshAbsolute: 2160 * time.Hour, SessionIdle: time.Hour, SessionAbsolute: 24 * time.Hour}
}

func newHarness(t testing.TB) *harness { return newHarnessWith(t, nil) }

// newHarnessWith lets a test change the options (e.g. the mail sender) before the server starts.
func newHarnessWith(t testing.TB, change func(*Options)) *harness {
	t.Helper()
	return newHarnessOn(t, "", change)
}

// newHarnessOn is newHarnessWith on the PostgreSQL database at databaseURL, or on SQLite in a
// temporary directory when it is empty.
func newHarnessOn(t testing.TB, databaseURL string, change func(*Options)) *harness {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if err := store.Migrate(ctx, databaseURL, dir, "up"); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, databaseURL, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kr, err := secrets.NewKeyring(strings.Repeat("k", 40))
	if err != nil {
		t.Fatal(err)
	}
	hasher := password.NewHasher(password.DefaultParams())
	logs := &strings.Builder{}
	log := slog.New(ContextLogHandler{slog.NewJSONHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug})})
	var handler http.Handler = http.NotFoundHandler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	outbox := mail.NewLog(log, 100)
	clock := &testClock{t: time.Now().UTC()}
	opts := Options{Issuer: ts.URL, Development: true, Lifetimes: testLifetimes(), BrandName: "FinTech ID",
		BrandColor: "#0f5c4d", Store: st, Keyring: kr, Hasher: hasher, Logger: log, Now: clock.Now,
		Limits: testLimits(), Policy: password.Policy{MinLength: 15, MaxLength: 1024}, Mail: outbox, Outbox: outbox}
	if change != nil {
		change(&opts)
	}
	srv, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	handler = srv.Handler()
	admin := &Admin{Store: st, Hasher: hasher, MinPassLen: 15, Now: clock.Now}
	return &harness{srv: srv, st: st, admin: admin, ts: ts, logs: logs, outbox: outbox, clock: clock, dir: dir}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// TestDiscoveryGolden pins the discovery document: what we serve and nothing we don't.
func TestDiscoveryGolden(t *testing.T) {
	h := newHarness(t)
	resp, err := http.Get(h.ts.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	// The test server's port varies; the golden file uses the development issuer.
	got = []byte(strings.ReplaceAll(string(got), h.ts.URL, testIssuer))
	golden := filepath.Join("testdata", "discovery.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/idp -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("discovery document changed:\n%s\nwant:\n%s", got, want)
	}
	var d map[string]any
	if err := json.Unmarshal(got, &d); err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{"device_authorization_endpoint", "check_session_iframe"} {
		if _, ok := d[absent]; ok {
			t.Errorf("discovery lists %s, which we do not serve", absent)
		}
	}
	if d["issuer"] != testIssuer {
		t.Errorf("issuer = %v", d["issuer"])
	}
}

// TestAuthorizeBadInputShowsOurPage: errors that cannot go back to a client get our page, a 4xx,
// and never a redirect or the library's raw text.
func TestAuthorizeBadInputShowsOurPage(t *testing.T) {
	for _, dev := range []bool{false, true} {
		t.Run(map[bool]string{false: "production", true: "development"}[dev], func(t *testing.T) {
			testAuthorizeBadInput(t, dev)
		})
	}
}

// testAuthorizeBadInput: in production the page has only the fixed text; in development it also
// says why, under the reference.
func testAuthorizeBadInput(t *testing.T, development bool) {
	h := newHarness(t)
	// The harness needs an http issuer, which only development allows; the page's gate is
	// opts.Development, so production's page is what the same server shows with it off.
	h.srv.opts.Development = development
	ctx := context.Background()
	if _, _, err := h.admin.CreateClient(ctx, ClientSpec{ID: "web", Type: store.ClientWeb, RedirectURIs: []string{"https://rp.example/cb"}}); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{CheckRedirect: noRedirect}
	challenge := strings.Repeat("a", 43)
	cases := []struct {
		name   string
		query  url.Values
		status int
		// redirectErr: the error goes back to the (valid) redirect URI instead.
		redirectErr string
	}{
		{"unknown client", url.Values{"client_id": {"nope"}, "redirect_uri": {"https://rp.example/cb"}, "response_type": {"code"}, "scope": {"openid"}}, 400, ""},
		{"unregistered redirect", url.Values{"client_id": {"web"}, "redirect_uri": {"https://evil.example/cb"}, "response_type": {"code"}, "scope": {"openid"}}, 400, ""},
		{"redirect prefix trick", url.Values{"client_id": {"web"}, "redirect_uri": {"https://rp.example/cb/../x"}, "response_type": {"code"}, "scope": {"openid"}}, 400, ""},
		{"missing client", url.Values{"redirect_uri": {"https://rp.example/cb"}}, 400, ""},
		{"no pkce", url.Values{"client_id": {"web"}, "redirect_uri": {"https://rp.example/cb"}, "response_type": {"code"}, "scope": {"openid"}}, 302, "invalid_request"},
		{"plain pkce", url.Values{"client_id": {"web"}, "redirect_uri": {"https://rp.example/cb"}, "response_type": {"code"}, "scope": {"openid"},
			"code_challenge": {challenge}, "code_challenge_method": {"plain"}}, 302, "invalid_request"},
		{"implicit", url.Values{"client_id": {"web"}, "redirect_uri": {"https://rp.example/cb"}, "response_type": {"id_token"}, "scope": {"openid"},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "nonce": {"n"}}, 302, "unauthorized_client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Get(h.ts.URL + "/authorize?" + tc.query.Encode())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.redirectErr != "" {
				loc, _ := url.Parse(resp.Header.Get("Location"))
				params := loc.Query()
				if loc.Fragment != "" {
					params, _ = url.ParseQuery(loc.Fragment)
				}
				if !strings.HasPrefix(loc.String(), "https://rp.example/cb") || params.Get("error") != tc.redirectErr {
					t.Errorf("redirect = %s, want an error at the client", loc)
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("content type = %q, want our HTML page", ct)
			}
			if !strings.Contains(string(body), "This sign-in link is not valid") || !strings.Contains(string(body), "Reference:") {
				t.Errorf("page lacks our fixed message: %s", body)
			}
			if development {
				if !strings.Contains(string(body), "Development only, why:") {
					t.Errorf("development page does not say why: %s", body)
				}
				return
			}
			for _, leak := range []string{"unable to retrieve", "redirect_uri is missing", "auth request is missing", "invalid_request", "Development only"} {
				if strings.Contains(string(body), leak) {
					t.Errorf("page leaks library text %q", leak)
				}
			}
		})
	}
}

// TestTokenEndpointErrors: malformed token requests get OAuth JSON with fixed text, no-store.
func TestTokenEndpointErrors(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	_, secret, err := h.admin.CreateClient(ctx, ClientSpec{ID: "web", Type: store.ClientWeb, RedirectURIs: []string{"https://rp.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.admin.CreateClient(ctx, ClientSpec{ID: "svc", Type: store.ClientService}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		form   url.Values
		user   string
		pass   string
		status int
		errc   string
	}{
		{"no grant", url.Values{}, "web", secret, 400, "invalid_request"},
		{"unknown grant", url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}}, "web", secret, 400, "unsupported_grant_type"},
		{"bad secret", url.Values{"grant_type": {"client_credentials"}}, "svc", "wrong", 401, "invalid_client"},
		{"unknown client", url.Values{"grant_type": {"client_credentials"}}, "ghost", "wrong", 401, "invalid_client"},
		{"bogus code", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {"https://rp.example/cb"}}, "web", secret, 400, "invalid_grant"},
		{"bogus refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt_x"}}, "web", secret, 400, "invalid_grant"},
		// The library reports a grant the client may not use as invalid_client.
		{"web client cannot client_credentials", url.Values{"grant_type": {"client_credentials"}}, "web", secret, 401, "invalid_client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, h.ts.URL+"/oauth/token", strings.NewReader(tc.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(tc.user, tc.pass)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if resp.StatusCode != tc.status || body.Error != tc.errc {
				t.Errorf("got %d %q (%s), want %d %q", resp.StatusCode, body.Error, body.Description, tc.status, tc.errc)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
			}
		})
	}
}

// TestLoginWrongPasswordAndUnknownEmailLookAlike: same status and message (no enumeration).
func TestLoginWrongPasswordAndUnknownEmailLookAlike(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.admin.CreateUser(ctx, "ada@example.com", "correct horse battery staple", true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.admin.CreateClient(ctx, ClientSpec{ID: "web", Type: store.ClientWeb, RedirectURIs: []string{"https://rp.example/cb"}}); err != nil {
		t.Fatal(err)
	}
	try := func(email, pw string) (int, string) {
		b := newTestBrowser(t)
		q := url.Values{"client_id": {"web"}, "redirect_uri": {"https://rp.example/cb"}, "response_type": {"code"}, "scope": {"openid"},
			"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}
		resp, err := b.Get(h.ts.URL + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		id := resp.Request.URL.Query().Get("authRequestID")
		if id == "" {
			t.Fatalf("not at the login page: %s", resp.Request.URL)
		}
		form := url.Values{"authRequestID": {id}, "email": {email}, "password": {pw}}
		resp, err = b.PostForm(h.ts.URL+"/login", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	s1, b1 := try("ada@example.com", "wrong password, long enough")
	s2, b2 := try("nobody@example.com", "wrong password, long enough")
	if s1 != s2 || s1 != http.StatusUnauthorized {
		t.Errorf("statuses differ or wrong: %d vs %d", s1, s2)
	}
	if !strings.Contains(b1, msgBadCredentials) || !strings.Contains(b2, msgBadCredentials) {
		t.Error("the same message must be shown for both")
	}
	// The right password reaches the relying party with a code.
	if st, _ := try("ada@example.com", "correct horse battery staple"); st != http.StatusFound {
		t.Errorf("correct login ended with %d, want the redirect to the client", st)
	}
}

func newTestBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := newJar()
	return &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host == "rp.example" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}
