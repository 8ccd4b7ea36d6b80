package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The production harness: `idp serve` as a deployment runs it (IDP_ENV=production, an https
// issuer), with TLS ending in the process (TLS_CERT_FILE) or at a trusted proxy in front of it
// (IDP_TRUSTED_PROXIES, X-Forwarded-*), driven over https by a cookie-keeping client.

const prodHost = "id.example.test"

// prodCert is a self-signed certificate for prodHost, written to PEM files, and a pool that
// trusts it.
type prodCert struct {
	certFile, keyFile string
	pair              tls.Certificate
	pool              *x509.CertPool
}

func newProdCert(t *testing.T) prodCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: prodHost}, DNSNames: []string{prodHost},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := prodCert{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(c.certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if c.pair, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	c.pool.AppendCertsFromPEM(certPEM)
	return c
}

// cookieRecorder keeps every Set-Cookie header the server sent.
type cookieRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (c *cookieRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err == nil {
		c.mu.Lock()
		c.seen = append(c.seen, resp.Header.Values("Set-Cookie")...)
		c.mu.Unlock()
	}
	return resp, err
}

func (c *cookieRecorder) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

// prodBrowser talks https to front for every host (the issuer's name resolves there), keeps
// cookies, and stops at the first redirect that leaves the IdP (to a relying party).
func prodBrowser(t *testing.T, front string, pool *x509.CertPool) (*http.Client, *cookieRecorder) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, front)
		},
	}
	rec := &cookieRecorder{next: tr}
	return &http.Client{Jar: jar, Transport: rec, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Host != prodHost {
				return http.ErrUseLastResponse
			}
			return nil
		}}, rec
}

func TestProductionDeployment(t *testing.T) {
	cert := newProdCert(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"TLS in the process", map[string]string{"TLS_CERT_FILE": cert.certFile, "TLS_KEY_FILE": cert.keyFile}},
		{"TLS at a trusted proxy", map[string]string{"IDP_TRUSTED_PROXIES": "127.0.0.1/32,::1/128"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const drain = 10 * time.Second
			env := map[string]string{
				"IDP_ENV": "production", "ISSUER": "https://" + prodHost, "SECRET_KEY": strings.Repeat("production-secret-", 3),
				"SMTP_URL": "smtp://127.0.0.1:1", "SENDER_EMAIL": "no-reply@example.test", "DATABASE_URL": "",
				"IDP_DATA_DIR": filepath.Join(t.TempDir(), "data"), "IDP_METRICS_ADDR": "127.0.0.1:0",
				"IDP_ARGON2_MEMORY_KIB": "19456", "IDP_SHUTDOWN_DRAIN": drain.String(),
			}
			for k, v := range tc.env {
				env[k] = v
			}
			p := &testIdP{env: env, stderr: &syncBuffer{}}
			const email, password = "ada@example.test", "Quokka lantern rivet 93 orbit"
			p.cli(t, password+"\n", "users", "create", "--email", email, "--password-stdin", "--verified")
			p.cli(t, "", "clients", "create", "--id", "bank-web", "--type", "web", "--redirect-uri", "https://rp.example.test/callback")
			p.cli(t, "", "clients", "create", "--id", "spa-app", "--type", "spa", "--redirect-uri", "https://spa.example.test/callback")
			if out := p.cli(t, "", "clients", "list"); strings.Contains(out, "fintech-dashboard") {
				t.Errorf("the development client is registered in production:\n%s", out)
			}

			proc := startServeProcess(t, env)
			front := proc.addr
			if tc.env["TLS_CERT_FILE"] == "" {
				// The proxy ends TLS and forwards over plain http with X-Forwarded-For/-Proto.
				target, _ := url.Parse("http://" + proc.addr)
				px := httptest.NewUnstartedServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
					r.SetURL(target)
					r.SetXForwarded()
				}})
				px.TLS = &tls.Config{Certificates: []tls.Certificate{cert.pair}}
				px.StartTLS()
				t.Cleanup(px.Close)
				front = px.Listener.Addr().String()
			}
			b, cookies := prodBrowser(t, front, cert.pool)
			issuer := "https://" + prodHost
			waitReady(t, b, issuer+"/readyz")

			t.Run("cookies", func(t *testing.T) { prodCheckCookies(t, b, cookies, issuer, email, password) })
			t.Run("CORS", func(t *testing.T) { prodCheckCORS(t, b, issuer) })
			t.Run("headers", func(t *testing.T) { prodCheckHeaders(t, b, issuer) })
			t.Run("no development surface", func(t *testing.T) { prodCheckNoDevSurface(t, b, issuer) })

			proc.sigterm(t)
			expectDraining(t, b, issuer+"/readyz", drain)
			proc.exitedCleanly(t, drain+60*time.Second)
		})
	}
}

// prodCheckCookies signs in (authorize → login → callback → relying party) and checks every
// cookie set on the way.
func prodCheckCookies(t *testing.T, b *http.Client, rec *cookieRecorder, issuer, email, password string) {
	verifier := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("v", 48)))
	sum := sha256.Sum256([]byte(verifier))
	authURL := issuer + "/authorize?" + url.Values{"client_id": {"bank-web"}, "redirect_uri": {"https://rp.example.test/callback"},
		"response_type": {"code"}, "scope": {"openid email"}, "state": {"s1"}, "nonce": {"n1"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}.Encode()
	status, body := signIn(t, b, authURL, email, password)
	if status != http.StatusFound && status != http.StatusSeeOther {
		t.Fatalf("sign-in ended with %d: %.300s", status, body)
	}
	names := map[string]bool{}
	for _, raw := range rec.all() {
		c, err := http.ParseSetCookie(raw)
		if err != nil {
			t.Errorf("Set-Cookie %q: %v", raw, err)
			continue
		}
		names[c.Name] = true
		if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode ||
			c.Path != "/" || c.Domain != "" || strings.Contains(strings.ToLower(raw), "domain=") {
			t.Errorf("Set-Cookie %q: want __Host- prefix, Secure, HttpOnly, SameSite=Lax, Path=/ and no Domain", raw)
		}
	}
	for _, want := range []string{"__Host-idp_browser", "__Host-idp_session"} {
		if !names[want] {
			t.Errorf("no %s cookie during the sign-in (saw %v)", want, names)
		}
	}
}

func corsRequest(t *testing.T, b *http.Client, method, u, origin string) http.Header {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	req.Header.Set("Origin", origin)
	if method == http.MethodOptions {
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", "content-type")
	}
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header
}

// prodCheckCORS: the token endpoint answers a preflight from a spa client's origin, without
// credentials; from any other origin (a web client's included) it does not; /authorize and the
// pages never answer CORS.
func prodCheckCORS(t *testing.T, b *http.Client, issuer string) {
	spa, web, evil := "https://spa.example.test", "https://rp.example.test", "https://evil.example.test"
	h := corsRequest(t, b, http.MethodOptions, issuer+"/oauth/token", spa)
	if got := h.Get("Access-Control-Allow-Origin"); got != spa {
		t.Errorf("preflight from the spa origin: Access-Control-Allow-Origin = %q, want %q", got, spa)
	}
	if got := h.Get("Access-Control-Allow-Credentials"); got != "" {
		t.Errorf("preflight from the spa origin allows credentials: %q", got)
	}
	for _, c := range []struct{ method, path, origin string }{
		{http.MethodOptions, "/oauth/token", evil},
		{http.MethodOptions, "/oauth/token", web},
		{http.MethodOptions, "/keys", evil},
		{http.MethodOptions, "/authorize", spa},
		{http.MethodGet, "/authorize?client_id=spa-app", spa},
		{http.MethodGet, "/login", spa},
		{http.MethodOptions, "/login", spa},
		{http.MethodGet, "/account", spa},
	} {
		h := corsRequest(t, b, c.method, issuer+c.path, c.origin)
		if got := h.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("%s %s from %s: Access-Control-Allow-Origin = %q, want none", c.method, c.path, c.origin, got)
		}
	}
}

// prodCheckHeaders: HSTS and the security headers on pages, the API, JWKS and discovery.
func prodCheckHeaders(t *testing.T, b *http.Client, issuer string) {
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/login"}, {http.MethodGet, "/keys"}, {http.MethodGet, "/.well-known/openid-configuration"},
		{http.MethodPost, "/oauth/token"}, {http.MethodGet, "/userinfo"}, {http.MethodGet, "/readyz"}, {http.MethodGet, "/nope"},
	} {
		req, _ := http.NewRequest(c.method, issuer+c.path, bytes.NewReader(nil))
		if c.method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for k, want := range map[string]string{"Strict-Transport-Security": "max-age=63072000; includeSubDomains",
			"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s %s (%d): %s = %q, want %q", c.method, c.path, resp.StatusCode, k, got, want)
			}
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s %s: Content-Security-Policy = %q", c.method, c.path, csp)
		}
	}
}

// prodCheckNoDevSurface: no outbox, no debug handlers, no metrics on the public port, and the
// development client's id is unknown.
func prodCheckNoDevSurface(t *testing.T, b *http.Client, issuer string) {
	for _, path := range []string{"/dev/outbox", "/debug", "/debug/pprof/", "/debug/vars", "/metrics"} {
		resp, err := b.Get(issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s answered %d, want 404", path, resp.StatusCode)
		}
	}
	resp, err := b.Get(issuer + "/authorize?" + url.Values{"client_id": {"fintech-dashboard"}, "redirect_uri": {"http://localhost:5000/callback"},
		"response_type": {"code"}, "scope": {"openid"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("authorize for the development client answered %d, want 400 (unknown client)", resp.StatusCode)
	}
}
