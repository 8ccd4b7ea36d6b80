package mail

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testSMTPUser = "relay-user"
	testSMTPPass = "p@ss:w0rd-must-never-leak"
	// remoteHost is a name that is not loopback; a dialer sends it to the fake server.
	remoteHost = "mail.example.test"
)

// testCert is a self-signed certificate for remoteHost, localhost and 127.0.0.1.
type testCert struct {
	cert tls.Certificate
	pool *x509.CertPool
}

var (
	certOnce sync.Once
	certVal  testCert
	certErr  error
)

func newTestCert(t *testing.T) testCert {
	t.Helper()
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			certErr = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: remoteHost},
			DNSNames:              []string{remoteHost, "localhost"},
			IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			certErr = err
			return
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			certErr = err
			return
		}
		certVal.cert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
		certVal.pool = x509.NewCertPool()
		certVal.pool.AddCert(leaf)
	})
	if certErr != nil {
		t.Fatal(certErr)
	}
	return certVal
}

// session is what the fake SMTP server saw on one connection.
type session struct {
	tls        bool   // the connection was encrypted when it ended
	authMech   string // AUTH mechanism used, "" when none
	tlsAtAuth  bool   // the connection was encrypted when AUTH came
	user, pass string // credentials received
	mailFrom   string
	rcptTo     string
	data       []byte
	commands   []string // verbs in order
}

// fakeSMTP is an in-process SMTP server (RFC 5321 subset, STARTTLS RFC 3207, AUTH PLAIN and
// LOGIN) whose replies can be scripted per connection and stage.
type fakeSMTP struct {
	t             *testing.T
	addr          string
	cert          testCert
	implicitTLS   bool     // smtps: TLS from the first byte
	offerSTARTTLS bool     // advertise STARTTLS in EHLO
	authMechs     string   // advertised AUTH mechanisms, "" for no AUTH
	hangGreeting  bool     // never send the greeting
	arrived       chan int // receives the connection number once connected
	// reply overrides the reply at a stage ("greeting", "auth", "mail", "rcpt", "data",
	// "dataend") of the conn-th connection (0-based); "" keeps the normal reply, "drop" closes
	// the connection instead of answering.
	reply func(conn int, stage string) string

	mu       sync.Mutex
	sessions []*session
	wg       sync.WaitGroup
	done     chan struct{}
}

func newFakeSMTP(t *testing.T, setup func(f *fakeSMTP)) *fakeSMTP {
	t.Helper()
	f := &fakeSMTP{t: t, cert: newTestCert(t), arrived: make(chan int, 16), done: make(chan struct{})}
	if setup != nil {
		setup(f)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for n := 0; ; n++ {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.serve(conn, n)
			}()
		}
	}()
	t.Cleanup(func() {
		close(f.done)
		ln.Close()
		f.wg.Wait()
	})
	return f
}

// port is the fake server's port.
func (f *fakeSMTP) port() string {
	_, p, _ := net.SplitHostPort(f.addr)
	return p
}

// dialer connects every address to the fake server, so that URLs can name remoteHost.
func (f *fakeSMTP) dialer() SMTPOption {
	return WithSMTPDialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, f.addr)
	})
}

// Sessions returns copies of the sessions so far.
func (f *fakeSMTP) Sessions() []session {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]session, len(f.sessions))
	for i, s := range f.sessions {
		out[i] = *s
		out[i].commands = append([]string(nil), s.commands...)
	}
	return out
}

func (f *fakeSMTP) update(s *session, change func(s *session)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(s)
}

func (f *fakeSMTP) serve(conn net.Conn, n int) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	s := &session{}
	f.mu.Lock()
	f.sessions = append(f.sessions, s)
	f.mu.Unlock()
	f.arrived <- n

	tlsConf := &tls.Config{Certificates: []tls.Certificate{f.cert.cert}}
	if f.implicitTLS {
		tc := tls.Server(conn, tlsConf)
		if err := tc.Handshake(); err != nil {
			return
		}
		conn = tc
		f.update(s, func(s *session) { s.tls = true })
	}
	tp := textproto.NewConn(conn)
	// scripted is the reply at stage: the script's, or normal.
	scripted := func(stage, normal string) string {
		if f.reply != nil {
			if o := f.reply(n, stage); o != "" {
				return o
			}
		}
		return normal
	}
	// answer writes the reply at stage and reports whether to go on.
	answer := func(stage, normal string) bool {
		line := scripted(stage, normal)
		if line == "drop" {
			return false
		}
		_ = tp.PrintfLine("%s", line)
		return true
	}
	if f.hangGreeting {
		select {
		case <-f.done:
		case <-time.After(4 * time.Second): // bounded: a client without timeouts fails, not hangs
		}
		return
	}
	if !answer("greeting", "220 "+remoteHost+" ESMTP fake") {
		return
	}
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		f.update(s, func(s *session) { s.commands = append(s.commands, verb) })
		switch verb {
		case "EHLO":
			lines := []string{remoteHost + " greets you"}
			f.mu.Lock()
			encrypted := s.tls
			f.mu.Unlock()
			if f.offerSTARTTLS && !encrypted {
				lines = append(lines, "STARTTLS")
			}
			if f.authMechs != "" {
				lines = append(lines, "AUTH "+f.authMechs)
			}
			lines = append(lines, "8BITMIME")
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				_ = tp.PrintfLine("250%s%s", sep, l)
			}
		case "HELO", "NOOP", "RSET":
			_ = tp.PrintfLine("250 OK")
		case "STARTTLS":
			if !f.offerSTARTTLS {
				_ = tp.PrintfLine("502 5.5.1 not offered")
				continue
			}
			_ = tp.PrintfLine("220 2.0.0 go ahead")
			tc := tls.Server(conn, tlsConf)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn = tc
			tp = textproto.NewConn(conn)
			f.update(s, func(s *session) { s.tls = true })
		case "AUTH":
			if !f.auth(tp, s, arg, answer) {
				return
			}
		case "MAIL":
			f.update(s, func(s *session) { s.mailFrom = arg })
			if !answer("mail", "250 2.1.0 OK") {
				return
			}
		case "RCPT":
			f.update(s, func(s *session) { s.rcptTo = arg })
			if !answer("rcpt", "250 2.1.5 OK") {
				return
			}
		case "DATA":
			reply := scripted("data", "354 end with <CRLF>.<CRLF>")
			if !answer("data", reply) {
				return
			}
			if !strings.HasPrefix(reply, "354") {
				continue // refused: no data follows
			}
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			f.update(s, func(s *session) { s.data = data })
			if !answer("dataend", "250 2.0.0 queued as 1234") {
				return
			}
		case "QUIT":
			_ = tp.PrintfLine("221 2.0.0 bye")
			return
		default:
			_ = tp.PrintfLine("502 5.5.2 unknown command")
		}
	}
}

// auth runs AUTH PLAIN (RFC 4616) or AUTH LOGIN and accepts testSMTPUser/testSMTPPass.
func (f *fakeSMTP) auth(tp *textproto.Conn, s *session, arg string, answer func(stage, normal string) bool) bool {
	f.mu.Lock()
	s.tlsAtAuth = s.tls
	f.mu.Unlock()
	mech, initial, _ := strings.Cut(arg, " ")
	readB64 := func(prompt string) (string, bool) {
		_ = tp.PrintfLine("334 %s", prompt)
		line, err := tp.ReadLine()
		if err != nil {
			return "", false
		}
		b, err := base64.StdEncoding.DecodeString(line)
		return string(b), err == nil
	}
	var user, pass string
	switch strings.ToUpper(mech) {
	case "PLAIN":
		resp := initial
		if resp == "" {
			_ = tp.PrintfLine("334 ")
			var err error
			if resp, err = tp.ReadLine(); err != nil {
				return false
			}
		}
		b, err := base64.StdEncoding.DecodeString(resp)
		parts := strings.Split(string(b), "\x00")
		if err != nil || len(parts) != 3 {
			_ = tp.PrintfLine("501 5.5.2 bad PLAIN response")
			return true
		}
		user, pass = parts[1], parts[2]
	case "LOGIN":
		var ok bool
		if user, ok = readB64("VXNlcm5hbWU6"); !ok {
			return false
		}
		if pass, ok = readB64("UGFzc3dvcmQ6"); !ok {
			return false
		}
	default:
		_ = tp.PrintfLine("504 5.5.4 unrecognised mechanism")
		return true
	}
	f.update(s, func(s *session) { s.authMech, s.user, s.pass = strings.ToUpper(mech), user, pass })
	if user != testSMTPUser || pass != testSMTPPass {
		_ = tp.PrintfLine("535 5.7.8 authentication credentials invalid")
		return true
	}
	return answer("auth", "235 2.7.0 authentication successful")
}

// smtpProbe records what an SMTP sender did besides talking SMTP.
type smtpProbe struct {
	mu       sync.Mutex
	waits    []time.Duration
	outcomes []string
	logs     bytes.Buffer
}

func (p *smtpProbe) Outcomes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.outcomes...)
}

// testNow is the fake clock of SMTP tests: the Date header shows it.
var testNow = time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))

// newTestSMTP builds an SMTP sender whose retries do not sleep and whose logs go to the probe.
func newTestSMTP(t *testing.T, rawURL string, opts ...SMTPOption) (*SMTP, *smtpProbe) {
	t.Helper()
	p := &smtpProbe{}
	base := []SMTPOption{
		WithSMTPLogger(slog.New(slog.NewJSONHandler(syncWriter{&p.mu, &p.logs}, nil))),
		WithSMTPNow(func() time.Time { return testNow }),
		WithSMTPTimeout(5 * time.Second),
		WithSMTPRetry(3, testBackoff),
		WithSMTPObserve(func(outcome string, _ time.Duration) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.outcomes = append(p.outcomes, outcome)
		}),
	}
	s, err := NewSMTP(rawURL, testSenderEmail, "Zahlungsdienst Müller", append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	s.sleep = func(ctx context.Context, d time.Duration) error {
		p.mu.Lock()
		p.waits = append(p.waits, d)
		p.mu.Unlock()
		return ctx.Err()
	}
	return s, p
}

func TestNewSMTP(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		wantErr  bool
		host     string
		port     string
		implicit bool
		auth     bool
		insecure bool
	}{
		{name: "STARTTLS relay", url: "smtp://relay-user:p%40ss%3Aw0rd@smtp-relay.brevo.com:587", host: "smtp-relay.brevo.com", port: "587", auth: true},
		{name: "default smtp port", url: "smtp://u:p@smtp.example.com", host: "smtp.example.com", port: "587", auth: true},
		{name: "implicit TLS", url: "smtps://u:p@smtp.example.com", host: "smtp.example.com", port: "465", implicit: true, auth: true},
		{name: "Mailpit", url: "smtp://127.0.0.1:1025", host: "127.0.0.1", port: "1025"},
		{name: "IPv6 loopback", url: "smtp://[::1]:1025/", host: "::1", port: "1025"},
		{name: "insecure for tests", url: "smtps://u:p@localhost:2465?insecure_skip_verify=true", host: "localhost", port: "2465", implicit: true, auth: true, insecure: true},
		{name: "insecure false", url: "smtp://localhost:25?insecure_skip_verify=false", host: "localhost", port: "25"},
		{name: "http scheme", url: "http://smtp.example.com", wantErr: true},
		{name: "no host", url: "smtp://u:p@:587", wantErr: true},
		{name: "password without user", url: "smtp://:secret-pw@smtp.example.com", wantErr: true},
		{name: "unknown parameter", url: "smtp://smtp.example.com?tls=off", wantErr: true},
		{name: "bad insecure value", url: "smtp://smtp.example.com?insecure_skip_verify=yes", wantErr: true},
		{name: "path", url: "smtp://smtp.example.com/relay", wantErr: true},
		{name: "unparsable, password not echoed", url: "smtp://u:secret-pw@smtp.example.com:port", wantErr: true},
		{name: "empty", url: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSMTP(tt.url, testSenderEmail, testSenderName)
			if tt.wantErr {
				if err == nil {
					t.Fatal("NewSMTP succeeded, want an error")
				}
				if strings.Contains(err.Error(), "secret-pw") {
					t.Errorf("error holds the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewSMTP: %v", err)
			}
			if s.host != tt.host || s.port != tt.port || s.implicitTLS != tt.implicit || s.auth != tt.auth ||
				s.tls.InsecureSkipVerify != tt.insecure || s.tls.ServerName != tt.host {
				t.Errorf("got host %q port %q implicit %v auth %v insecure %v server name %q",
					s.host, s.port, s.implicitTLS, s.auth, s.tls.InsecureSkipVerify, s.tls.ServerName)
			}
		})
	}
	if s, err := NewSMTP("smtp://relay-user:p%40ss%3Aw0rd@h", testSenderEmail, ""); err != nil || s.pass != "p@ss:w0rd" {
		t.Errorf("URL-encoded password not decoded: %v", err)
	}
	for _, from := range []string{"", "Acme <no-reply@acme.example>", "not-an-address"} {
		if _, err := NewSMTP("smtp://127.0.0.1:1025", from, ""); err == nil {
			t.Errorf("NewSMTP with sender %q succeeded", from)
		}
	}
	if _, err := NewSMTP("smtp://127.0.0.1:1025", testSenderEmail, "Acme\r\nBcc: eve@example.com"); err == nil {
		t.Error("NewSMTP with a line break in the sender name succeeded")
	}
}

func TestSMTPSend(t *testing.T) {
	userinfo := testSMTPUser + ":" + strings.NewReplacer("@", "%40", ":", "%3A").Replace(testSMTPPass) + "@"
	untrusted := &tls.Config{} // system roots: the test certificate is not trusted
	tests := []struct {
		name     string
		setup    func(f *fakeSMTP)
		url      func(f *fakeSMTP) string
		opts     func(f *fakeSMTP) []SMTPOption
		wantErr  error
		status   int    // SendError.Status
		code     string // SendError.Code
		sessions int
		outcomes []string
		// check looks at the last session.
		check func(t *testing.T, s session)
	}{
		{
			name:     "loopback mail catcher: credentials without TLS allowed",
			setup:    func(f *fakeSMTP) { f.authMechs = "PLAIN LOGIN" },
			url:      func(f *fakeSMTP) string { return "smtp://" + userinfo + "127.0.0.1:" + f.port() },
			sessions: 1,
			outcomes: []string{OutcomeSent},
			check: func(t *testing.T, s session) {
				if s.tls || s.authMech != "PLAIN" || s.user != testSMTPUser || s.pass != testSMTPPass {
					t.Errorf("session tls %v auth %q user %q: want PLAIN without TLS", s.tls, s.authMech, s.user)
				}
			},
		},
		{
			name:     "loopback without credentials: no AUTH",
			url:      func(f *fakeSMTP) string { return "smtp://127.0.0.1:" + f.port() },
			sessions: 1,
			outcomes: []string{OutcomeSent},
			check: func(t *testing.T, s session) {
				if s.authMech != "" || strings.Join(s.commands, " ") != "EHLO MAIL RCPT DATA QUIT" {
					t.Errorf("commands %v, want EHLO MAIL RCPT DATA QUIT", s.commands)
				}
			},
		},
		{
			name:     "remote STARTTLS: used, then AUTH over TLS",
			setup:    func(f *fakeSMTP) { f.offerSTARTTLS, f.authMechs = true, "PLAIN LOGIN" },
			url:      func(f *fakeSMTP) string { return "smtp://" + userinfo + remoteHost + ":587" },
			sessions: 1,
			outcomes: []string{OutcomeSent},
			check: func(t *testing.T, s session) {
				if !s.tlsAtAuth || s.authMech != "PLAIN" || s.pass != testSMTPPass {
					t.Errorf("tls at auth %v, mech %q: want PLAIN over TLS", s.tlsAtAuth, s.authMech)
				}
				if got := strings.Join(s.commands, " "); got != "EHLO STARTTLS EHLO AUTH MAIL RCPT DATA QUIT" {
					t.Errorf("commands %s", got)
				}
			},
		},
		{
			name:     "STARTTLS offered is used even without credentials",
			setup:    func(f *fakeSMTP) { f.offerSTARTTLS = true },
			url:      func(f *fakeSMTP) string { return "smtp://127.0.0.1:" + f.port() },
			sessions: 1,
			outcomes: []string{OutcomeSent},
			check: func(t *testing.T, s session) {
				if !s.tls {
					t.Error("STARTTLS was offered but not used")
				}
			},
		},
		{
			name:     "remote AUTH LOGIN only",
			setup:    func(f *fakeSMTP) { f.offerSTARTTLS, f.authMechs = true, "LOGIN XOAUTH2" },
			url:      func(f *fakeSMTP) string { return "smtp://" + userinfo + remoteHost + ":587" },
			sessions: 1,
			outcomes: []string{OutcomeSent},
			check: func(t *testing.T, s session) {
				if !s.tlsAtAuth || s.authMech != "LOGIN" || s.user != testSMTPUser || s.pass != testSMTPPass {
					t.Errorf("tls at auth %v, mech %q, user %q", s.tlsAtAuth, s.authMech, s.user)
				}
			},
		},
		{
			name:     "remote without STARTTLS: credentials refused, nothing sent",
			setup:    func(f *fakeSMTP) { f.authMechs = "PLAIN LOGIN" },
			url:      func(f *fakeSMTP) string { return "smtp://" + userinfo + remoteHost + ":587" },
			wantErr:  ErrPermanent,
			sessions: 1,
			outcomes: []string{OutcomePermanent},
			check: func(t *testing.T, s session) {
				if s.authMech != "" || s.mailFrom != "" || s.data != nil {
					t.Errorf("credentials or mail sent without TLS: commands %v", s.commands)
				}
			},
		},
		{
			name:     "implicit TLS (smtps)",
			setup:    func(f *fakeSMTP) { f.implicitTLS, f.authMechs = true, "PLAIN" },
			url:      func(f *fakeSMTP) string { return "smtps://" + userinfo + remoteHost },
			sessions: 1,
			outcomes: []string{OutcomeSent},
			check: func(t *testing.T, s session) {
				if !s.tlsAtAuth || s.authMech != "PLAIN" {
					t.Errorf("tls at auth %v, mech %q", s.tlsAtAuth, s.authMech)
				}
				if got := strings.Join(s.commands, " "); got != "EHLO AUTH MAIL RCPT DATA QUIT" {
					t.Errorf("commands %s", got)
				}
			},
		},
		{
			name:     "untrusted certificate is permanent",
			setup:    func(f *fakeSMTP) { f.offerSTARTTLS, f.authMechs = true, "PLAIN" },
			url:      func(f *fakeSMTP) string { return "smtp://" + userinfo + remoteHost + ":587" },
			opts:     func(f *fakeSMTP) []SMTPOption { return []SMTPOption{f.dialer(), WithSMTPTLSConfig(untrusted)} },
			wantErr:  ErrPermanent,
			sessions: 1,
			outcomes: []string{OutcomePermanent},
			check: func(t *testing.T, s session) {
				if s.authMech != "" {
					t.Error("credentials sent over an unverified connection")
				}
			},
		},
		{
			name:     "insecure_skip_verify accepts the untrusted certificate",
			setup:    func(f *fakeSMTP) { f.implicitTLS = true },
			url:      func(f *fakeSMTP) string { return "smtps://" + remoteHost + "?insecure_skip_verify=true" },
			opts:     func(f *fakeSMTP) []SMTPOption { return []SMTPOption{f.dialer(), WithSMTPTLSConfig(untrusted)} },
			sessions: 1,
			outcomes: []string{OutcomeSent},
		},
		{
			name:     "wrong password is permanent",
			setup:    func(f *fakeSMTP) { f.offerSTARTTLS, f.authMechs = true, "PLAIN" },
			url:      func(f *fakeSMTP) string { return "smtp://" + testSMTPUser + ":wrong@" + remoteHost },
			wantErr:  ErrPermanent,
			status:   535,
			code:     "5.7.8",
			sessions: 1,
			outcomes: []string{OutcomePermanent},
		},
		{
			name:     "server without AUTH but credentials configured is permanent",
			setup:    func(f *fakeSMTP) { f.offerSTARTTLS = true },
			url:      func(f *fakeSMTP) string { return "smtp://" + userinfo + remoteHost },
			wantErr:  ErrPermanent,
			sessions: 1,
			outcomes: []string{OutcomePermanent},
		},
		{
			name:  "451 at RCPT is retried",
			setup: func(f *fakeSMTP) { f.reply = replyAt(0, "rcpt", "451 4.3.0 try again later") },
			url:   func(f *fakeSMTP) string { return "smtp://127.0.0.1:" + f.port() },
			// The second session delivers.
			sessions: 2,
			outcomes: []string{OutcomeRetry, OutcomeSent},
		},
		{
			name:     "421 greeting three times is temporary",
			setup:    func(f *fakeSMTP) { f.reply = replyAlways("greeting", "421 4.3.2 service not available") },
			url:      func(f *fakeSMTP) string { return "smtp://127.0.0.1:" + f.port() },
			wantErr:  ErrTemporary,
			status:   421,
			code:     "4.3.2",
			sessions: 3,
			outcomes: []string{OutcomeRetry, OutcomeRetry, OutcomeTemporary},
		},
		{
			name:     "550 at RCPT is permanent and the echoed address masked",
			setup:    func(f *fakeSMTP) { f.reply = replyAlways("rcpt", "550 5.1.1 <ann.lee@example.com>: recipient unknown") },
			url:      func(f *fakeSMTP) string { return "smtp://127.0.0.1:" + f.port() },
			wantErr:  ErrPermanent,
			status:   550,
			code:     "5.1.1",
			sessions: 1,
			outcomes: []string{OutcomePermanent},
		},
		{
			name:     "554 after the data is permanent",
			setup:    func(f *fakeSMTP) { f.reply = replyAlways("dataend", "554 5.7.1 message rejected as spam") },
			url:      func(f *fakeSMTP) string { return "smtp://127.0.0.1:" + f.port() },
			wantErr:  ErrPermanent,
			status:   554,
			code:     "5.7.1",
			sessions: 1,
			outcomes: []string{OutcomePermanent},
		},
		{
			name:     "452 after the data is retried",
			setup:    func(f *fakeSMTP) { f.reply = replyAt(0, "dataend", "452 4.3.1 insufficient storage") },
			url:      func(f *fakeSMTP) string { return "smtp://127.0.0.1:" + f.port() },
			sessions: 2,
			outcomes: []string{OutcomeRetry, OutcomeSent},
		},
		{
			// The relay may have queued it: another attempt could deliver it twice.
			name:     "connection lost after the data is temporary without retry",
			setup:    func(f *fakeSMTP) { f.reply = replyAlways("dataend", "drop") },
			url:      func(f *fakeSMTP) string { return "smtp://127.0.0.1:" + f.port() },
			wantErr:  ErrTemporary,
			sessions: 1,
			outcomes: []string{OutcomeTemporary},
		},
		{
			name:     "connection lost before the data is retried",
			setup:    func(f *fakeSMTP) { f.reply = replyAt(0, "mail", "drop") },
			url:      func(f *fakeSMTP) string { return "smtp://127.0.0.1:" + f.port() },
			sessions: 2,
			outcomes: []string{OutcomeRetry, OutcomeSent},
		},
		{
			name:     "silent server times out and is retried",
			setup:    func(f *fakeSMTP) { f.hangGreeting = true },
			url:      func(f *fakeSMTP) string { return "smtp://127.0.0.1:" + f.port() },
			opts:     func(f *fakeSMTP) []SMTPOption { return []SMTPOption{WithSMTPTimeout(100 * time.Millisecond)} },
			wantErr:  ErrTemporary,
			sessions: 3,
			outcomes: []string{OutcomeRetry, OutcomeRetry, OutcomeTemporary},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSMTP(t, tt.setup)
			opts := []SMTPOption{f.dialer(), WithSMTPTLSConfig(&tls.Config{RootCAs: f.cert.pool})}
			if tt.opts != nil {
				opts = tt.opts(f)
			}
			s, p := newTestSMTP(t, tt.url(f), opts...)
			m := validMessage()

			start := time.Now()
			err := s.Send(context.Background(), m)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("Send took %v", took)
			}

			sessions := f.Sessions()
			if len(sessions) != tt.sessions {
				t.Errorf("%d SMTP sessions, want %d", len(sessions), tt.sessions)
			}
			if got := p.Outcomes(); strings.Join(got, " ") != strings.Join(tt.outcomes, " ") {
				t.Errorf("outcomes = %v, want %v", got, tt.outcomes)
			}
			if tt.check != nil && len(sessions) > 0 {
				tt.check(t, sessions[len(sessions)-1])
			}
			p.mu.Lock()
			assertNoLeak(t, "log", p.logs.String(), m, testSMTPPass)
			p.mu.Unlock()

			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Send() = %v, want nil", err)
				}
				last := sessions[len(sessions)-1]
				// net/smtp adds BODY=8BITMIME because the fake offers it.
				if !strings.HasPrefix(last.mailFrom, "FROM:<"+testSenderEmail+">") || last.rcptTo != "TO:<"+m.To+">" || len(last.data) == 0 {
					t.Errorf("envelope %q %q, %d bytes of data", last.mailFrom, last.rcptTo, len(last.data))
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Send() = %v, want %v", err, tt.wantErr)
			}
			assertNoLeak(t, "error", err.Error(), m, testSMTPPass)
			var se *SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send() = %T, want *SendError", err)
			}
			if se.Status != tt.status || se.Code != tt.code || se.Attempts != tt.sessions {
				t.Errorf("SendError status %d code %q attempts %d, want %d %q %d", se.Status, se.Code, se.Attempts, tt.status, tt.code, tt.sessions)
			}
		})
	}
}

// replyAt scripts one reply at stage of connection conn.
func replyAt(conn int, stage, reply string) func(int, string) string {
	return func(c int, s string) string {
		if c == conn && s == stage {
			return reply
		}
		return ""
	}
}

// replyAlways scripts the reply at stage of every connection.
func replyAlways(stage, reply string) func(int, string) string {
	return func(_ int, s string) string {
		if s == stage {
			return reply
		}
		return ""
	}
}

func TestSMTPContext(t *testing.T) {
	tests := []struct {
		name     string
		run      func(t *testing.T, s *SMTP, f *fakeSMTP) error
		wantErr  error
		sessions int
		outcomes []string
	}{
		{
			name: "canceled before sending",
			run: func(t *testing.T, s *SMTP, f *fakeSMTP) error {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return s.Send(ctx, validMessage())
			},
			wantErr:  context.Canceled,
			sessions: 0,
		},
		{
			name: "canceled while the server is silent",
			run: func(t *testing.T, s *SMTP, f *fakeSMTP) error {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				go func() {
					<-f.arrived
					cancel()
				}()
				return s.Send(ctx, validMessage())
			},
			wantErr:  context.Canceled,
			sessions: 1,
			outcomes: []string{OutcomeCanceled},
		},
		{
			name: "caller's deadline passes while the server is silent",
			run: func(t *testing.T, s *SMTP, f *fakeSMTP) error {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				return s.Send(ctx, validMessage())
			},
			wantErr:  context.DeadlineExceeded,
			sessions: 1,
			outcomes: []string{OutcomeCanceled},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSMTP(t, func(f *fakeSMTP) { f.hangGreeting = true })
			// A long per-attempt timeout: only the caller's ctx can end these sends quickly.
			s, p := newTestSMTP(t, "smtp://127.0.0.1:"+f.port(), WithSMTPTimeout(time.Minute))
			start := time.Now()
			err := tt.run(t, s, f)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Send took %v after ctx ended", took)
			}
			if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrTemporary) {
				t.Fatalf("Send() = %v, want %v and ErrTemporary", err, tt.wantErr)
			}
			if got := len(f.Sessions()); got != tt.sessions {
				t.Errorf("%d sessions, want %d", got, tt.sessions)
			}
			if got := p.Outcomes(); strings.Join(got, " ") != strings.Join(tt.outcomes, " ") {
				t.Errorf("outcomes = %v, want %v", got, tt.outcomes)
			}
		})
	}
}

// TestSMTPMessage checks the DATA a relay receives: headers, encoding and both parts.
func TestSMTPMessage(t *testing.T) {
	f := newFakeSMTP(t, nil)
	s, _ := newTestSMTP(t, "smtp://127.0.0.1:"+f.port())
	m := Message{
		To:      "ann.lee@example.com",
		Subject: "Acme Pay — Ihr Sicherheitscode für die Anmeldung",
		Text: "Grüße! Your code is " + testCode + ".\n" +
			". a line that starts with a dot survives dot-stuffing\n" +
			strings.Repeat("a long line that needs soft line breaks ", 5) + "\n",
		HTML:           `<p style="font-family:monospace">Grüße <b>` + testCode + `</b></p>` + "\n.\n",
		Tags:           []string{"verify-code", "signup"},
		IdempotencyKey: "verify-code:2f1c9e:1",
	}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	data := f.Sessions()[0].data // CRLF already turned into LF by textproto's dot reader
	for _, b := range data {
		if b >= 0x80 {
			t.Fatal("DATA is not 7-bit clean")
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("DATA is not a message: %v", err)
	}
	h := msg.Header

	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("Subject decodes to %q (%v), want %q", subject, err, m.Subject)
	}
	if raw := h.Get("Subject"); !strings.HasPrefix(raw, "=?utf-8?q?") {
		t.Errorf("Subject %q is not Q-encoded", raw)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Zahlungsdienst Müller" || from[0].Address != testSenderEmail {
		t.Errorf("From = %v (%v)", from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != m.To {
		t.Errorf("To = %v (%v)", to, err)
	}
	if date, err := h.Date(); err != nil || !date.Equal(testNow) {
		t.Errorf("Date = %v (%v), want %v", date, err, testNow)
	}
	for k, want := range map[string]string{
		"MIME-Version":      "1.0",
		"Auto-Submitted":    "auto-generated",
		"X-Idempotency-Key": m.IdempotencyKey,
		"X-Tags":            "verify-code, signup",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	msgID := h.Get("Message-Id")
	if !strings.HasPrefix(msgID, "<") || !strings.HasSuffix(msgID, "@acme.example>") || len(msgID) < 20 {
		t.Errorf("Message-ID = %q", msgID)
	}

	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v)", h.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for i, want := range []struct{ ctype, body string }{
		{"text/plain; charset=utf-8", m.Text},
		{"text/html; charset=utf-8", m.HTML},
	} {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if got := part.Header.Get("Content-Type"); got != want.ctype {
			t.Errorf("part %d Content-Type %q, want %q", i, got, want.ctype)
		}
		// multipart.Reader decodes quoted-printable itself and then drops the header.
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.ReplaceAll(string(body), "\r\n", "\n"); got != want.body {
			t.Errorf("part %d body:\n got %q\nwant %q", i, got, want.body)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("more than two parts: %v", err)
	}

	// The Message-ID follows the idempotency key: a resend of the same logical message carries
	// the same id, another message another.
	for _, tc := range []struct {
		key  string
		same bool
	}{{m.IdempotencyKey, true}, {"reset-code:2f1c9e:1", false}} {
		s2, _ := newTestSMTP(t, "smtp://127.0.0.1:"+f.port())
		m2 := m
		m2.IdempotencyKey = tc.key
		if err := s2.Send(context.Background(), m2); err != nil {
			t.Fatal(err)
		}
		sessions := f.Sessions()
		got, err := mail.ReadMessage(bytes.NewReader(sessions[len(sessions)-1].data))
		if err != nil {
			t.Fatal(err)
		}
		if same := got.Header.Get("Message-Id") == msgID; same != tc.same {
			t.Errorf("key %q: Message-ID %q, first %q; same = %v, want %v", tc.key, got.Header.Get("Message-Id"), msgID, same, tc.same)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LOCALHOST", true},
		{"127.0.0.1", true},
		{"127.0.0.2", true},
		{"::1", true},
		{"mailpit", false},
		{"10.0.0.5", false},
		{"localhost.example.com", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isLoopback(tt.host); got != tt.want {
			t.Errorf("isLoopback(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestSplitEnhanced(t *testing.T) {
	tests := []struct {
		msg, code, rest string
	}{
		{"5.1.1 <a@b.c>: unknown", "5.1.1", "<a@b.c>: unknown"},
		{"4.7.0 try later", "4.7.0", "try later"},
		{"try later", "", "try later"},
		{"1.2.3 not a class", "", "1.2.3 not a class"},
		{"5.1 short", "", "5.1 short"},
	}
	for _, tt := range tests {
		if code, rest := splitEnhanced(tt.msg); code != tt.code || rest != tt.rest {
			t.Errorf("splitEnhanced(%q) = %q, %q; want %q, %q", tt.msg, code, rest, tt.code, tt.rest)
		}
	}
}
