package idp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/fintech-idp/idp/internal/store"
)

const formType = "application/x-www-form-urlencoded"

// tokenRequest builds a POST to path with form; user/pass, when user is not empty, go into
// HTTP Basic.
func (h *harness) tokenRequest(path string, form url.Values, user, pass string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, h.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", formType)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	return req
}

// fireRequests sends n requests built by mk at once (released together) and returns the answers.
func fireRequests(t *testing.T, n int, mk func(i int) *http.Request) []oauthAnswer {
	t.Helper()
	out := make([]oauthAnswer, n)
	reqs := make([]*http.Request, n)
	for i := range n {
		reqs[i] = mk(i)
	}
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			resp, err := http.DefaultClient.Do(reqs[i])
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			_ = json.NewDecoder(resp.Body).Decode(&out[i])
			out[i].Status, out[i].Header = resp.StatusCode, resp.Header
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return out
}

// TestRegisteredAuthMethodEnforced: each client authenticates only with its registered
// token_endpoint_auth_method (RFC 7591 §2), at the token, introspection and revocation
// endpoints alike.
func TestRegisteredAuthMethodEnforced(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	_, basic, err := h.admin.CreateClient(ctx, ClientSpec{ID: "svc", Type: store.ClientService})
	if err != nil {
		t.Fatal(err)
	}
	_, post, err := h.admin.CreateClient(ctx, ClientSpec{ID: "svc-post", Type: store.ClientService, AuthMethod: store.AuthSecretPost})
	if err != nil {
		t.Fatal(err)
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	with := func(extra url.Values) url.Values {
		v := url.Values{}
		for k, x := range cc {
			v[k] = x
		}
		for k, x := range extra {
			v[k] = x
		}
		return v
	}
	cases := []struct {
		name       string
		path       string
		form       url.Values
		user, pass string
		status     int
		errc       string
	}{
		{"basic client with basic", "/oauth/token", cc, "svc", basic, 200, ""},
		{"basic client with client_secret_post", "/oauth/token", with(url.Values{"client_id": {"svc"}, "client_secret": {basic}}), "", "", 401, "invalid_client"},
		{"post client with post", "/oauth/token", with(url.Values{"client_id": {"svc-post"}, "client_secret": {post}}), "", "", 200, ""},
		{"post client with basic", "/oauth/token", cc, "svc-post", post, 401, "invalid_client"},
		{"two methods at once", "/oauth/token", with(url.Values{"client_id": {"svc"}, "client_secret": {basic}}), "svc", basic, 400, "invalid_request"},
		{"basic client without credentials", "/oauth/token", with(url.Values{"client_id": {"svc"}}), "", "", 401, "invalid_client"},
		{"basic client with an assertion", "/oauth/token", with(url.Values{"client_id": {"svc"}, "client_assertion_type": {jwtBearerAssertionType}, "client_assertion": {"a.b.c"}}), "", "", 401, "invalid_client"},
		{"introspection, post client with basic", "/oauth/introspect", url.Values{"token": {"x"}}, "svc-post", post, 401, "invalid_client"},
		{"introspection, post client with post", "/oauth/introspect", url.Values{"token": {"x"}, "client_id": {"svc-post"}, "client_secret": {post}}, "", "", 200, ""},
		{"revocation, basic client with post", "/revoke", url.Values{"token": {"x"}, "client_id": {"svc"}, "client_secret": {basic}}, "", "", 401, "invalid_client"},
		{"revocation, basic client with basic", "/revoke", url.Values{"token": {"x"}}, "svc", basic, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := doOAuth(t, h.tokenRequest(tc.path, tc.form, tc.user, tc.pass))
			if a.Status != tc.status || a.Error != tc.errc {
				t.Errorf("got %d %q (%s), want %d %q", a.Status, a.Error, a.Description, tc.status, tc.errc)
			}
		})
	}
}

// TestClientAuthThrottled: failed client authentications are counted per client id and per IP
// before the secret is checked, so parallel wrong secrets get at most the limit of checks; the
// rest are 429 with Retry-After and an OAuth JSON body, on every endpoint.
func TestClientAuthThrottled(t *testing.T) {
	h := newHarnessWith(t, func(o *Options) {
		o.Limits.ClientAuthFailures, o.Limits.ClientAuthFailuresIP, o.Limits.ClientAuthWindow = 5, 12, 10*time.Minute
	})
	ctx := context.Background()
	_, secret, err := h.admin.CreateClient(ctx, ClientSpec{ID: "svc", Type: store.ClientService})
	if err != nil {
		t.Fatal(err)
	}
	var checks atomic.Int32
	cs := h.srv.storage.secrets
	verify := cs.verifyHash
	cs.verifyHash = func(hash, s string) (bool, error) { checks.Add(1); return verify(hash, s) }

	cc := url.Values{"grant_type": {"client_credentials"}}
	answers := fireRequests(t, 30, func(i int) *http.Request {
		return h.tokenRequest("/oauth/token", cc, "svc", "wrong-"+string(rune('a'+i%26))+strings.Repeat("x", i))
	})
	count := map[int]int{}
	for _, a := range answers {
		count[a.Status]++
		if a.Status == 429 {
			if a.Header.Get("Retry-After") == "" || a.Error == "" || a.Description == "" || !strings.HasPrefix(a.Header.Get("Content-Type"), "application/json") {
				t.Errorf("a 429 without Retry-After or OAuth JSON: %+v", a)
			}
		}
	}
	if count[401] != 5 || count[429] != 25 || checks.Load() != 5 {
		t.Fatalf("30 parallel wrong secrets: %v, %d secret checks; want 5×401, 25×429, 5 checks", count, checks.Load())
	}
	// The client is throttled now: even the right secret waits (it is not checked either).
	if a := doOAuth(t, h.tokenRequest("/oauth/token", cc, "svc", secret)); a.Status != 429 {
		t.Errorf("right secret during the lock: %d %s", a.Status, a.Error)
	}
	// The window ends: the right secret works, and a success gives its attempt back.
	h.clock.Advance(10*time.Minute + time.Second)
	for range 8 {
		h.srv.storage.secrets.mu.Lock()
		clear(h.srv.storage.secrets.cache) // a cold cache every time: each success is checked
		h.srv.storage.secrets.mu.Unlock()
		if a := doOAuth(t, h.tokenRequest("/oauth/token", cc, "svc", secret)); a.Status != 200 {
			t.Fatalf("right secret after the window: %d %s", a.Status, a.Error)
		}
	}
	// Per IP: twenty unknown client ids from one address, each tried once, at the introspection
	// endpoint: 12 are checked (and fail), 8 are throttled.
	answers = fireRequests(t, 20, func(i int) *http.Request {
		return h.tokenRequest("/oauth/introspect", url.Values{"token": {"x"}}, "ghost-"+string(rune('a'+i)), "nope")
	})
	count = map[int]int{}
	for _, a := range answers {
		count[a.Status]++
	}
	if count[401] != 12 || count[429] != 8 {
		t.Errorf("unknown clients from one IP: %v, want 12×401 and 8×429", count)
	}
}

// TestConcurrentColdSecretChecksShareOne: 32 cold token requests with the same right secret run
// argon2id once between them, and none is throttled by the others.
func TestConcurrentColdSecretChecksShareOne(t *testing.T) {
	h := newHarness(t)
	_, secret, err := h.admin.CreateClient(context.Background(), ClientSpec{ID: "svc", Type: store.ClientService})
	if err != nil {
		t.Fatal(err)
	}
	var checks, joined atomic.Int32
	started := make(chan struct{})
	release := make(chan struct{})
	cs := h.srv.storage.secrets
	cs.joining = func() { joined.Add(1) }
	verify := cs.verifyHash
	cs.verifyHash = func(hash, s string) (bool, error) {
		if checks.Add(1) == 1 {
			close(started)
			<-release // hold the first check until every request is waiting on it
		}
		return verify(hash, s)
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	var answers []oauthAnswer
	done := make(chan struct{})
	go func() {
		answers = fireRequests(t, 32, func(int) *http.Request { return h.tokenRequest("/oauth/token", cc, "svc", secret) })
		close(done)
	}()
	<-started
	// The first check is held until all 32 requests have come to the flight (a barrier, not a
	// guess at timing); those that arrive after it ended find the cache filled.
	for joined.Load() < 32 {
		select {
		case <-done:
			t.Fatal("the requests ended while the first check was held")
		case <-time.After(time.Millisecond):
		}
	}
	close(release)
	<-done
	for _, a := range answers {
		if a.Status != 200 || a.AccessToken == "" {
			t.Errorf("a cold request got %d %s (%s)", a.Status, a.Error, a.Description)
		}
	}
	if n := checks.Load(); n != 1 {
		t.Errorf("32 concurrent cold requests ran %d secret checks, want 1", n)
	}
}

// assertionClient is a private_key_jwt client with its EC key.
type assertionClient struct {
	id  string
	key *ecdsa.PrivateKey
}

func (c assertionClient) sign(t *testing.T, cl jwt.Claims) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: c.key, KeyID: "k1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(sig).Claims(cl).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newAssertionClient(t *testing.T, h *harness, id string) assertionClient {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Use: "sig", Algorithm: "ES256"}}})
	if _, _, err := h.admin.CreateClient(context.Background(), ClientSpec{ID: id, Type: store.ClientService, AuthMethod: store.AuthPrivateKeyJWT, JWKS: string(jwks)}); err != nil {
		t.Fatal(err)
	}
	return assertionClient{id: id, key: key}
}

// TestPrivateKeyJWT: a client registered with a JWKS authenticates with a signed assertion (RFC
// 7523 §2.2); aud is the issuer or the token endpoint; a jti is accepted once; a wrong key, a
// wrong audience, an expired or long-lived assertion, or a missing jti is refused.
func TestPrivateKeyJWT(t *testing.T) {
	h := newHarness(t)
	c := newAssertionClient(t, h, "svc-jwt")
	other := newAssertionClient(t, h, "svc-other")
	now := h.clock.Now()
	claims := func(change func(*jwt.Claims)) jwt.Claims {
		cl := jwt.Claims{Issuer: c.id, Subject: c.id, Audience: jwt.Audience{h.ts.URL + "/oauth/token"}, ID: randomID(t),
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(2 * time.Minute))}
		if change != nil {
			change(&cl)
		}
		return cl
	}
	send := func(path string, form url.Values, assertion string) oauthAnswer {
		f := url.Values{"client_assertion_type": {jwtBearerAssertionType}, "client_assertion": {assertion}}
		for k, v := range form {
			f[k] = v
		}
		return doOAuth(t, h.tokenRequest(path, f, "", ""))
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	good := c.sign(t, claims(nil))
	if a := send("/oauth/token", cc, good); a.Status != 200 || a.AccessToken == "" {
		t.Fatalf("a good assertion: %d %s (%s)", a.Status, a.Error, a.Description)
	}
	if a := send("/oauth/token", cc, good); a.Status != 401 || a.Error != "invalid_client" {
		t.Errorf("a replayed assertion: %d %s", a.Status, a.Error)
	}
	if a := send("/oauth/token", cc, c.sign(t, claims(func(cl *jwt.Claims) { cl.Audience = jwt.Audience{h.ts.URL} }))); a.Status != 200 {
		t.Errorf("aud = issuer: %d %s", a.Status, a.Error)
	}
	if a := send("/oauth/introspect", url.Values{"token": {"x"}}, c.sign(t, claims(nil))); a.Status != 200 {
		t.Errorf("introspection with an assertion: %d %s", a.Status, a.Error)
	}
	bad := map[string]string{
		"signed by another client's key": other.sign(t, claims(nil)),
		"another audience":               c.sign(t, claims(func(cl *jwt.Claims) { cl.Audience = jwt.Audience{"https://elsewhere.example"} })),
		"expired":                        c.sign(t, claims(func(cl *jwt.Claims) { cl.Expiry = jwt.NewNumericDate(now.Add(-time.Minute)) })),
		"no expiry":                      c.sign(t, claims(func(cl *jwt.Claims) { cl.Expiry = nil })),
		"valid for a day":                c.sign(t, claims(func(cl *jwt.Claims) { cl.Expiry = jwt.NewNumericDate(now.Add(24 * time.Hour)) })),
		"no jti":                         c.sign(t, claims(func(cl *jwt.Claims) { cl.ID = "" })),
		"sub is another client":          c.sign(t, claims(func(cl *jwt.Claims) { cl.Subject = other.id })),
		"not a JWT":                      "not.a.jwt",
	}
	for name, assertion := range bad {
		if a := send("/oauth/token", cc, assertion); a.Status != 401 || a.Error != "invalid_client" {
			t.Errorf("%s: %d %s (%s)", name, a.Status, a.Error, a.Description)
		}
	}
	// A client_id that names another client than the assertion is refused.
	if a := send("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {other.id}}, c.sign(t, claims(nil))); a.Status != 401 {
		t.Errorf("client_id of another client: %d %s", a.Status, a.Error)
	}
	// A secret-less private_key_jwt client cannot use a secret.
	if a := doOAuth(t, h.tokenRequest("/oauth/token", cc, c.id, "anything")); a.Status != 401 {
		t.Errorf("private_key_jwt client with basic: %d %s", a.Status, a.Error)
	}
}

// TestPrivateKeyJWTReplayRace: one assertion sent 20 times at once is accepted once.
func TestPrivateKeyJWTReplayRace(t *testing.T) {
	h := newHarness(t)
	c := newAssertionClient(t, h, "svc-jwt")
	now := h.clock.Now()
	assertion := c.sign(t, jwt.Claims{Issuer: c.id, Subject: c.id, Audience: jwt.Audience{h.ts.URL}, ID: randomID(t),
		Expiry: jwt.NewNumericDate(now.Add(time.Minute))})
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {jwtBearerAssertionType}, "client_assertion": {assertion}}
	answers := fireRequests(t, 20, func(int) *http.Request { return h.tokenRequest("/oauth/token", form, "", "") })
	ok := 0
	for _, a := range answers {
		if a.Status == 200 {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("one assertion sent 20 times at once was accepted %d times", ok)
	}
}

func randomID(t *testing.T) string {
	t.Helper()
	s, err := randomToken(nil, 12)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
