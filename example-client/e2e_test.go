package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

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

// relay holds a listening socket for a server that has not started yet, so that its address
// (an issuer, a redirect URI) is known and owned from the first moment: picking a free port,
// releasing it and letting the server bind it later would race every other process for it. The
// server itself listens on PORT=0 and logs where; forward then relays connections to it. Before
// that, connections are accepted and closed, as a server that is not up yet would refuse them.
type relay struct {
	ln     net.Listener
	port   int
	mu     sync.Mutex
	target string
}

func newRelay(t *testing.T) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, port: ln.Addr().(*net.TCPAddr).Port}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			target := r.target
			r.mu.Unlock()
			if target == "" {
				c.Close()
				continue
			}
			wg.Add(1)
			go func() { defer wg.Done(); pipe(c, target) }()
		}
	}()
	return r
}

// forward sends every later connection to target (host:port).
func (r *relay) forward(target string) {
	r.mu.Lock()
	r.target = target
	r.mu.Unlock()
}

func pipe(c net.Conn, target string) {
	defer c.Close()
	s, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(s, c); s.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, s); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}

// loggedAddr waits for the JSON log line msg and returns its addr as a dialable host:port.
func loggedAddr(t *testing.T, log *syncBuffer, msg string, exited <-chan struct{}) string {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		for _, line := range strings.Split(log.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg && rec.Addr != "" {
				_, port, _ := net.SplitHostPort(rec.Addr)
				return net.JoinHostPort("127.0.0.1", port)
			}
		}
		select {
		case <-exited:
			t.Fatalf("exited before %q:\n%s", msg, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q line in the log:\n%s", msg, log.String())
		}
	}
}

// realIdP is the IdP binary built from this module and run as a separate process.
type realIdP struct {
	bin    string
	env    []string
	issuer string // the relay's address: the IdP listens on a port of its own choosing behind it
	relay  *relay
	log    *syncBuffer
}

// buildIdP builds ./cmd/idp from the module root into a temporary directory.
func buildIdP(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		t.Fatalf("cannot find the module root: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "idp")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/idp")
	cmd.Dir = filepath.Dir(gomod)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/idp: %v\n%s", err, b)
	}
	return bin
}

func newRealIdP(t *testing.T) *realIdP {
	t.Helper()
	r := newRelay(t)
	p := &realIdP{bin: buildIdP(t), issuer: fmt.Sprintf("http://localhost:%d", r.port), relay: r, log: &syncBuffer{}}
	p.env = append(os.Environ(),
		"IDP_ENV=development",
		"PORT=0",
		"ISSUER="+p.issuer,
		"IDP_DATA_DIR="+filepath.Join(t.TempDir(), "data"),
		"IDP_METRICS_ADDR=off",
		"DATABASE_URL=",
		"IDP_ARGON2_MEMORY_KIB=19456", // cheap but valid: keeps the run fast
		// Shorter than the dashboard's refresh margin: every page view refreshes, so the
		// rotation of real refresh tokens is exercised.
		"IDP_ACCESS_TOKEN_TTL=30s",
	)
	return p
}

func (p *realIdP) cli(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(p.bin, args...)
	cmd.Env = p.env
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("idp %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// serve starts the server and waits until it is ready; cleanup stops it.
func (p *realIdP) serve(t *testing.T) {
	t.Helper()
	cmd := exec.Command(p.bin, "serve")
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("IdP log:\n%s", p.log.String())
		}
	})
	p.relay.forward(loggedAddr(t, p.log, "listening", done))
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.issuer + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			t.Fatalf("the IdP exited:\n%s", p.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the IdP is not ready:\n%s", p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startDashboard runs run() behind the relay r (its REDIRECT_URL names r's port); cleanup cancels
// it and checks it shut down cleanly.
func startDashboard(t *testing.T, r *relay, env map[string]string) (base string, log *syncBuffer) {
	t.Helper()
	env["PORT"] = "0"
	log = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	exited := make(chan struct{})
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard, log); close(exited) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("the dashboard did not stop")
		}
		if t.Failed() {
			t.Logf("dashboard log:\n%s", log.String())
		}
	})
	r.forward(loggedAddr(t, log, "dashboard listening", exited))
	base = fmt.Sprintf("http://127.0.0.1:%d", r.port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			return base, log
		}
		if time.Now().After(deadline) {
			t.Fatal("the dashboard did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 20 * time.Second}
}

func get(t *testing.T, b *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := b.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func postForm(t *testing.T, b *http.Client, u, origin string, form url.Values) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var hiddenAuthReq = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)

// declineEnrolment answers the IdP's "turn on two-step verification" offer with "Not now".
func declineEnrolment(t *testing.T, b *http.Client, resp *http.Response, body string) (*http.Response, string) {
	t.Helper()
	if !strings.Contains(body, `action="/account/two-step/decline"`) {
		return resp, body
	}
	u := resp.Request.URL
	m := hiddenAuthReq.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("enrolment offer without its auth request: %.300s", body)
	}
	return postForm(t, b, u.Scheme+"://"+u.Host+"/account/two-step/decline", u.Scheme+"://"+u.Host, url.Values{"authRequestID": {m[1]}})
}

var pageHandleRE = regexp.MustCompile(`name="h" value="([^"]+)"`)

func pageHandle(t *testing.T, body string) string {
	t.Helper()
	m := pageHandleRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no page handle in: %.500s", body)
	}
	return m[1]
}

var outboxSMS = regexp.MustCompile(`class="sms-code">(\d{6})<`)

// smsCode reads the newest code from the IdP's development outbox.
func smsCode(t *testing.T, b *http.Client, issuer string) string {
	t.Helper()
	_, body := get(t, b, issuer+"/dev/outbox")
	m := outboxSMS.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no SMS code on /dev/outbox: %.500s", body)
	}
	return m[1]
}

// completeLogin submits the IdP's login form when the response is one.
func completeLogin(t *testing.T, b *http.Client, resp *http.Response, body, email, password string) (*http.Response, string) {
	t.Helper()
	m := hiddenAuthReq.FindStringSubmatch(body)
	if m == nil {
		return resp, body
	}
	u := resp.Request.URL
	return postForm(t, b, u.String(), u.Scheme+"://"+u.Host,
		url.Values{"authRequestID": {m[1]}, "email": {email}, "password": {password}})
}

func TestEndToEndWithRealIdP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the IdP binary")
	}
	idp := newRealIdP(t)
	const email, password = "ada@example.com", "correct horse battery staple"
	dash := newRelay(t)
	dashRoot := fmt.Sprintf("http://127.0.0.1:%d/", dash.port)
	idp.cli(t, "", "migrate", "up")
	idp.cli(t, password+"\n", "users", "create", "--email", email, "--password-stdin", "--verified")
	out := idp.cli(t, "", "clients", "create", "--id", "dash", "--type", "web", "--name", "FinTech Dashboard",
		"--redirect-uri", dashRoot+"callback", "--post-logout-redirect-uri", dashRoot)
	m := regexp.MustCompile(`client secret \(shown once, store it now\): (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no secret in: %s", out)
	}

	// The dashboard starts before the IdP: it must answer and say so.
	base, dashLog := startDashboard(t, dash, map[string]string{"ISSUER": idp.issuer, "CLIENT_ID": "dash",
		"CLIENT_SECRET": m[1], "REDIRECT_URL": dashRoot + "callback"})
	b := newBrowser(t)
	if _, body := get(t, b, base+"/"); !strings.Contains(body, "The sign-in service is not reachable yet; retrying…") {
		t.Fatalf("before the IdP is up: %s", body)
	}

	idp.serve(t)

	// Sign in; discovery is retried on each request and in the background.
	var resp *http.Response
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, body = get(t, b, base+"/login")
		if hiddenAuthReq.MatchString(body) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dashboard never reached the IdP: %d %s", resp.StatusCode, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp, body = completeLogin(t, b, resp, body, email, password)
	if resp.Request.URL.String() != base+"/dashboard" || !strings.Contains(body, `id="who">`+email) {
		t.Fatalf("after sign-in: %s %d %.500s", resp.Request.URL, resp.StatusCode, body)
	}
	for _, want := range []string{`id="acr">pwd`, `id="amr">pwd`, `id="email-verified">yes`, `id="mfa-enabled">off`, `href="/security"`} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}

	// Concurrent page views refresh through the real token endpoint: serialized, so the
	// rotated refresh token is never reused (a reuse would revoke the family and sign out).
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			resp, err := b.Get(base + "/dashboard")
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			page, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(page), `id="who">`+email) || !strings.Contains(string(page), `id="acr">pwd`) {
				t.Errorf("concurrent refresh: %s %.300s", resp.Request.URL, page)
			}
		})
	}
	wg.Wait()
	if _, body := get(t, b, base+"/dashboard"); !strings.Contains(body, `id="who">`+email) {
		t.Fatalf("after the refreshes: %.300s", body)
	}

	if n := strings.Count(dashLog.String(), `"access token refreshed","rotated":true`); n < 1 {
		t.Errorf("%d rotating refreshes, want at least one", n)
	}

	// A payment asks for step-up. The person has no second factor and declines to set one up,
	// so the IdP answers unmet_authentication_requirements and the payment is refused.
	stepUps := 0
	b.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), idp.issuer) && req.URL.Path == "/authorize" {
			stepUps++
			q := req.URL.Query()
			if q.Get("acr_values") != "mfa" || q.Get("max_age") != "300" {
				t.Errorf("step-up request without acr_values=mfa&max_age=300: %s", req.URL)
			}
		}
		return nil
	}
	resp, body = get(t, b, base+"/payment")
	resp, body = completeLogin(t, b, resp, body, email, password)
	resp, body = declineEnrolment(t, b, resp, body)
	b.CheckRedirect = nil
	if stepUps != 1 {
		t.Errorf("%d step-up requests, want 1", stepUps)
	}
	if !strings.Contains(body, "Payments need two-step verification") || strings.Contains(body, `name="recipient"`) {
		t.Fatalf("payment without mfa: %s %d %.500s", resp.Request.URL, resp.StatusCode, body)
	}
	resp, body = postForm(t, b, base+"/payment", base, url.Values{"recipient": {"Bob"}, "amount": {"10"}})
	resp, body = completeLogin(t, b, resp, body, email, password)
	resp, body = declineEnrolment(t, b, resp, body)
	if strings.Contains(body, "to Bob") || !strings.Contains(body, "Payments need two-step verification") {
		t.Fatalf("posted payment without mfa: %.500s", body)
	}

	// Two-step on at the IdP's account page (the development log verifier "sends" the codes to
	// /dev/outbox), then the payment's step-up asks for an SMS code and the payment goes through.
	resp, body = postForm(t, b, idp.issuer+"/account/two-step", idp.issuer, url.Values{"phone": {"+447400123456"}, "consent": {"yes"},
		"password": {password}})
	resp, body = postForm(t, b, idp.issuer+"/mfa", idp.issuer, url.Values{"h": {pageHandle(t, body)}, "code": {smsCode(t, b, idp.issuer)}})
	if !strings.Contains(body, "Save your recovery codes") {
		t.Fatalf("enrolment: %s %d %.500s", resp.Request.URL, resp.StatusCode, body)
	}
	resp, body = get(t, b, base+"/payment")
	resp, body = completeLogin(t, b, resp, body, email, password)
	if strings.Contains(body, `id="send"`) {
		// Inside the SSO session: the IdP asks before it sends the code.
		resp, body = postForm(t, b, idp.issuer+"/mfa/resend", idp.issuer, url.Values{"h": {pageHandle(t, body)}})
	}
	if !strings.Contains(body, `autocomplete="one-time-code"`) {
		t.Fatalf("step-up did not ask for the SMS code: %s %.500s", resp.Request.URL, body)
	}
	resp, body = postForm(t, b, resp.Request.URL.Scheme+"://"+resp.Request.URL.Host+"/mfa", idp.issuer,
		url.Values{"h": {pageHandle(t, body)}, "code": {smsCode(t, b, idp.issuer)}})
	if !strings.Contains(body, `name="recipient"`) {
		t.Fatalf("after the step-up: %s %d %.500s", resp.Request.URL, resp.StatusCode, body)
	}
	resp, body = postForm(t, b, base+"/payment", base, url.Values{"recipient": {"Bob"}, "amount": {"10"}})
	if !strings.Contains(body, "Bob") || strings.Contains(body, "Payments need two-step verification") {
		t.Fatalf("payment after step-up: %d %.500s", resp.StatusCode, body)
	}
	if _, body = get(t, b, base+"/dashboard"); !strings.Contains(body, `id="acr">mfa`) {
		t.Errorf("dashboard after step-up does not show acr mfa: %.800s", body)
	}

	// Sign out ends at the dashboard root, and the IdP session is gone too.
	resp, body = postForm(t, b, base+"/logout", base, url.Values{})
	if resp.Request.URL.String() != dashRoot || !strings.Contains(body, `id="sign-in"`) || !strings.Contains(body, "You are signed out.") {
		t.Fatalf("after sign-out: %s %d %.500s", resp.Request.URL, resp.StatusCode, body)
	}
	if _, body := get(t, b, base+"/dashboard"); !hiddenAuthReq.MatchString(body) {
		t.Fatalf("after sign-out the IdP did not ask for the password again: %.500s", body)
	}

	// No token ever reaches the log.
	for _, bad := range []string{password, m[1]} {
		if strings.Contains(dashLog.String(), bad) {
			t.Error("the dashboard log holds a secret")
		}
	}
}
