package mail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults of SMTP.
const (
	defaultSMTPTimeout     = 30 * time.Second
	defaultSMTPMaxAttempts = 3
	defaultSMTPHello       = "localhost"
)

// Configuration problems found during a session; another attempt would fail the same way.
var (
	errNoTLSForAuth = errors.New("refusing to send SMTP credentials without TLS to a host that is not loopback")
	errNoAuthMech   = errors.New("SMTP server offers neither AUTH PLAIN nor AUTH LOGIN but credentials are configured")
)

// SMTP sends email through an SMTP relay. It is safe for concurrent use.
//
// With smtp:// it uses STARTTLS whenever the server offers it, and refuses to authenticate over a
// connection without TLS unless the host is loopback (a local mail catcher such as Mailpit on
// 127.0.0.1:1025 has no TLS). smtps:// uses implicit TLS (RFC 8314 §3.3). A delivery that fails
// with a 4xx reply or a network error is tried again, up to the maximum attempts, unless the
// failure came after the end of the message data, when the relay may already have accepted it.
type SMTP struct {
	host, port  string
	implicitTLS bool
	user, pass  string
	auth        bool
	from        mail.Address
	tls         *tls.Config
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	timeout     time.Duration
	attempts    int
	backoff     func(int) time.Duration
	hello       string
	log         *slog.Logger
	now         func() time.Time
	observe     func(string, time.Duration)
	// sleep waits between attempts; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

var _ Sender = (*SMTP)(nil)

// SMTPOption changes a default of NewSMTP.
type SMTPOption func(*SMTP)

// WithSMTPLogger sets the logger (default: discard).
func WithSMTPLogger(l *slog.Logger) SMTPOption { return func(s *SMTP) { s.log = l } }

// WithSMTPTimeout bounds each delivery attempt, connection to QUIT (default 30 s).
func WithSMTPTimeout(d time.Duration) SMTPOption { return func(s *SMTP) { s.timeout = d } }

// WithSMTPRetry sets the maximum number of attempts (default 3) and the wait after the
// attempt-th failure (default 250 ms, 500 ms, 1 s, … up to 5 s; nil keeps the default).
func WithSMTPRetry(maxAttempts int, backoff func(attempt int) time.Duration) SMTPOption {
	return func(s *SMTP) {
		s.attempts = maxAttempts
		if backoff != nil {
			s.backoff = backoff
		}
	}
}

// WithSMTPTLSConfig sets the TLS configuration to start from, for example with the relay's CA in
// RootCAs. It is cloned; ServerName defaults to the URL's host and MinVersion to TLS 1.2.
func WithSMTPTLSConfig(c *tls.Config) SMTPOption { return func(s *SMTP) { s.tls = c.Clone() } }

// WithSMTPDialer replaces how the TCP connection is opened (default net.Dialer.DialContext).
func WithSMTPDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) SMTPOption {
	return func(s *SMTP) { s.dial = dial }
}

// WithSMTPHelloName sets the name sent with EHLO (default "localhost").
func WithSMTPHelloName(name string) SMTPOption { return func(s *SMTP) { s.hello = name } }

// WithSMTPNow sets the clock used for the Date header and latency (default time.Now).
func WithSMTPNow(now func() time.Time) SMTPOption { return func(s *SMTP) { s.now = now } }

// WithSMTPObserve sets a metrics hook called after every attempt with its outcome (one of the
// Outcome constants) and duration.
func WithSMTPObserve(f func(outcome string, d time.Duration)) SMTPOption {
	return func(s *SMTP) { s.observe = f }
}

// NewSMTP parses rawURL (SMTP_URL) and returns an SMTP sender that sends as fromName <fromEmail>.
//
// URL forms: "smtp://user:pass@host:587" (port 587 by default; STARTTLS when offered),
// "smtps://user:pass@host:465" (port 465 by default; implicit TLS), "smtp://127.0.0.1:1025" (no
// credentials). User and password are URL-encoded. The only query parameter is
// "insecure_skip_verify=true", which turns off certificate checks and is meant for tests. Errors
// never repeat the URL, which may hold a password.
func NewSMTP(rawURL, fromEmail, fromName string, opts ...SMTPOption) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("mail: SMTP URL is not a valid URL")
	}
	s := &SMTP{
		timeout:  defaultSMTPTimeout,
		attempts: defaultSMTPMaxAttempts,
		backoff:  defaultBackoff,
		hello:    defaultSMTPHello,
		now:      time.Now,
		sleep:    sleep,
	}
	var problems []string
	switch u.Scheme {
	case "smtp":
		s.port = "587"
	case "smtps":
		s.port, s.implicitTLS = "465", true
	default:
		problems = append(problems, "SMTP URL scheme must be smtp or smtps")
	}
	s.host = u.Hostname()
	if s.host == "" {
		problems = append(problems, "SMTP URL has no host")
	}
	if p := u.Port(); p != "" {
		s.port = p
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
		s.auth = true
		if s.user == "" {
			problems = append(problems, "SMTP URL has a password but no user")
		}
	}
	if u.Path != "" && u.Path != "/" || u.Fragment != "" || u.Opaque != "" {
		problems = append(problems, "SMTP URL must not have a path or fragment")
	}
	insecure := false
	for k, v := range u.Query() {
		switch {
		case k == "insecure_skip_verify" && len(v) == 1 && (v[0] == "true" || v[0] == "false"):
			insecure = v[0] == "true"
		case k == "insecure_skip_verify":
			problems = append(problems, "SMTP URL: insecure_skip_verify must be true or false")
		default:
			problems = append(problems, fmt.Sprintf("SMTP URL: unknown query parameter %q", k))
		}
	}
	if !isBareAddress(fromEmail) {
		problems = append(problems, "sender email is missing or not one bare email address")
	}
	if hasControl(fromName) {
		problems = append(problems, "sender name holds a control character")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("mail: %s", strings.Join(problems, "; "))
	}
	s.from = mail.Address{Name: fromName, Address: fromEmail}

	for _, o := range opts {
		o(s)
	}
	if s.tls == nil {
		s.tls = &tls.Config{}
	}
	if s.tls.ServerName == "" {
		s.tls.ServerName = s.host
	}
	if s.tls.MinVersion == 0 {
		s.tls.MinVersion = tls.VersionTLS12
	}
	if insecure {
		s.tls.InsecureSkipVerify = true
	}
	if s.dial == nil {
		var d net.Dialer
		s.dial = d.DialContext
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.backoff == nil {
		s.backoff = defaultBackoff
	}
	if s.timeout <= 0 || s.attempts < 1 || s.hello == "" || strings.ContainsAny(s.hello, " \r\n") {
		return nil, errors.New("mail: SMTP timeout, max attempts and hello name must be set and valid")
	}
	return s, nil
}

// smtpAttempt is what one delivery attempt produced.
type smtpAttempt struct {
	status int    // last SMTP reply code when the failure was a reply
	code   string // enhanced status code from the reply ("4.7.0"), if any
	detail string // the reply text, redacted
	err    error  // failure other than a reply (network, TLS, refusal); nil otherwise
	kind   error  // nil on success, else ErrPermanent or ErrTemporary
	// final: the failure came after the end of the data, so the relay may have accepted the
	// message; another attempt could deliver it twice.
	final bool
	tls   bool // whether the session was encrypted
}

// Send delivers m, retrying 4xx replies and network errors that came before the end of the
// message data.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return &SendError{Provider: "smtp", kind: ErrTemporary, cause: err}
	}
	key := m.IdempotencyKey
	if key == "" {
		key = newKey()
	}
	msg, msgID, err := s.build(m, key, s.now())
	if err != nil {
		return fmt.Errorf("%w: building the message: %v", ErrPermanent, err)
	}

	for attempt := 1; ; attempt++ {
		start := s.now()
		a := s.deliver(ctx, m.To, msg)
		d := s.now().Sub(start)

		se := &SendError{Provider: "smtp", Status: a.status, Code: a.code, Detail: a.detail, Attempts: attempt, kind: a.kind, cause: a.err}
		ctxErr := ctxDone(ctx)
		var outcome string
		switch {
		case a.kind == nil:
			outcome = OutcomeSent
		case ctxErr != nil:
			outcome, se.kind, se.cause = OutcomeCanceled, ErrTemporary, ctxErr
		case a.kind == ErrPermanent:
			outcome = OutcomePermanent
		case a.final || attempt >= s.attempts:
			outcome = OutcomeTemporary
		default:
			outcome = OutcomeRetry
		}
		if s.observe != nil {
			s.observe(outcome, d)
		}
		s.record(ctx, m, key, msgID, attempt, outcome, a, d)
		switch outcome {
		case OutcomeSent:
			return nil
		case OutcomeRetry:
		default:
			return se
		}
		if err := s.sleep(ctx, s.backoff(attempt)); err != nil {
			s.record(ctx, m, key, msgID, attempt, OutcomeCanceled, smtpAttempt{err: err}, 0)
			return &SendError{Provider: "smtp", Status: a.status, Code: a.code, Detail: a.detail, Attempts: attempt, kind: ErrTemporary, cause: err}
		}
	}
}

// deliver runs one SMTP session: connect, (STARTTLS), (AUTH), MAIL, RCPT, DATA, QUIT.
func (s *SMTP) deliver(ctx context.Context, to string, msg []byte) (a smtpAttempt) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	fail := func(err error, final bool) smtpAttempt {
		a.final = final
		s.classify(&a, err)
		return a
	}

	conn, err := s.dial(ctx, "tcp", net.JoinHostPort(s.host, s.port))
	if err != nil {
		return fail(err, false)
	}
	defer conn.Close()
	// Every read and write obeys the attempt's deadline, and ends at once when ctx is canceled.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if s.implicitTLS {
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(err, false)
		}
		conn = tc
		a.tls = true
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return fail(err, false)
	}
	defer c.Close()
	if err := c.Hello(s.hello); err != nil {
		return fail(err, false)
	}
	if !a.tls {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tls); err != nil {
				return fail(err, false)
			}
			a.tls = true
		}
	}
	if s.auth {
		// RFC 8314 §5.2 / RFC 4954 §4: credentials only over an encrypted connection. A
		// loopback mail catcher is the one exception: nothing leaves the machine.
		if !a.tls && !isLoopback(s.host) {
			return fail(errNoTLSForAuth, false)
		}
		_, mechs := c.Extension("AUTH")
		var auth smtp.Auth
		switch fields := strings.Fields(strings.ToUpper(mechs)); {
		case slices.Contains(fields, "PLAIN"):
			auth = &plainAuth{user: s.user, pass: s.pass}
		case slices.Contains(fields, "LOGIN"):
			auth = &loginAuth{user: s.user, pass: s.pass}
		default:
			return fail(errNoAuthMech, false)
		}
		if err := c.Auth(auth); err != nil {
			return fail(err, false)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fail(err, false)
	}
	if err := c.Rcpt(to); err != nil {
		return fail(err, false)
	}
	w, err := c.Data()
	if err != nil {
		return fail(err, false)
	}
	if _, err := w.Write(msg); err != nil {
		return fail(err, false)
	}
	// Close sends the final "." and reads the relay's verdict: a reply is definite, but a lost
	// connection here leaves the message possibly accepted.
	if err := w.Close(); err != nil {
		var tpe *textproto.Error
		return fail(err, !errors.As(err, &tpe))
	}
	_ = c.Quit() // accepted; a failed QUIT changes nothing
	return a
}

// classify sorts a failed attempt into permanent and temporary, keeping what is safe to log.
func (s *SMTP) classify(a *smtpAttempt, err error) {
	var tpe *textproto.Error
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	switch {
	case errors.As(err, &tpe):
		a.status = tpe.Code
		a.code, a.detail = splitEnhanced(tpe.Msg)
		// Relays often echo the recipient ("550 5.1.1 <ann@example.com>: unknown"): redact
		// masks every address.
		a.detail = redact(a.detail, s.pass)
		if tpe.Code >= 400 && tpe.Code < 500 {
			a.kind = ErrTemporary
		} else {
			a.kind = ErrPermanent
		}
	case errors.Is(err, errNoTLSForAuth), errors.Is(err, errNoAuthMech),
		errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalidCert):
		// Configuration problems: the same attempt would fail the same way.
		a.err, a.kind = err, ErrPermanent
	default:
		a.err, a.kind = err, ErrTemporary
	}
	if a.err != nil && s.pass != "" && strings.Contains(a.err.Error(), s.pass) {
		a.err = errors.New(redact(a.err.Error(), s.pass))
	}
}

// splitEnhanced separates an RFC 3463 enhanced status code ("5.1.1") from a reply text.
func splitEnhanced(msg string) (code, rest string) {
	first, rest, _ := strings.Cut(strings.TrimSpace(msg), " ")
	parts := strings.Split(first, ".")
	if len(parts) == 3 && len(parts[0]) == 1 && strings.Contains("245", parts[0]) && allDigits(parts[1]) && allDigits(parts[2]) {
		return first, rest
	}
	return "", strings.TrimSpace(msg)
}

func allDigits(s string) bool {
	if s == "" || len(s) > 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isLoopback reports whether host is "localhost" or a loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// build renders m as a MIME message (RFC 5322, RFC 2045–2047): multipart/alternative with the
// text part first and the HTML part last (RFC 2046 §5.1.4: the preferred part last), both UTF-8
// and quoted-printable, so the message is 7-bit clean for any relay. The Message-ID is derived
// from the idempotency key, so a message sent again by a retry carries the same id and mailbox
// providers that collapse duplicates by Message-ID can do so.
func (s *SMTP) build(m Message, key string, now time.Time) (msg []byte, msgID string, err error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range []struct{ ctype, content string }{
		{"text/plain; charset=utf-8", m.Text},
		{"text/html; charset=utf-8", m.HTML},
	} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, "", err
		}
		qp := quotedprintable.NewWriter(pw)
		if _, err := qp.Write([]byte(p.content)); err != nil {
			return nil, "", err
		}
		if err := qp.Close(); err != nil {
			return nil, "", err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}

	sum := sha256.Sum256([]byte("idp-mail-message-id\x00" + key))
	domain := s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]
	msgID = "<" + hex.EncodeToString(sum[:16]) + "@" + domain + ">"

	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("Date", now.Format(time.RFC1123Z))
	header("From", s.from.String())
	header("To", m.To)
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Message-ID", msgID)
	header("MIME-Version", "1.0")
	// RFC 3834 §5: no auto-replies (vacation notices) to a machine-sent message.
	header("Auto-Submitted", "auto-generated")
	header("X-Idempotency-Key", key)
	if len(m.Tags) > 0 {
		// Mailpit and some relays read tags from X-Tags.
		header("X-Tags", mime.QEncoding.Encode("utf-8", strings.Join(m.Tags, ", ")))
	}
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	b.Write(body.Bytes())
	return b.Bytes(), msgID, nil
}

// record logs one attempt.
func (s *SMTP) record(ctx context.Context, m Message, key, msgID string, attempt int, outcome string, a smtpAttempt, d time.Duration) {
	level := slog.LevelWarn
	if outcome == OutcomeSent {
		level = slog.LevelInfo
	}
	attrs := []slog.Attr{
		slog.String("provider", "smtp"),
		slog.String("outcome", outcome),
		slog.Int("status", a.status),
		slog.Int("attempt", attempt),
		slog.Int64("latency_ms", d.Milliseconds()),
		slog.String("to", Mask(m.To)),
		slog.Any("tags", m.Tags),
		slog.String("idempotency_key", key),
		slog.String("message_id", msgID),
		slog.Bool("tls", a.tls),
	}
	if a.code != "" {
		attrs = append(attrs, slog.String("smtp_code", a.code))
	}
	if a.detail != "" {
		attrs = append(attrs, slog.String("smtp_message", a.detail))
	}
	if a.err != nil {
		attrs = append(attrs, slog.String("error", a.err.Error()))
	}
	s.log.LogAttrs(ctx, level, "mail: smtp send", attrs...)
}

// plainAuth is AUTH PLAIN (RFC 4616). Unlike smtp.PlainAuth it leaves the TLS decision to
// deliver, which allows every loopback address, not only 127.0.0.1, ::1 and localhost.
type plainAuth struct{ user, pass string }

func (a *plainAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a *plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected AUTH PLAIN challenge")
	}
	return nil, nil
}

// loginAuth is the non-standard but common AUTH LOGIN (draft-murchison-sasl-login): the server
// asks for the user name, then the password.
type loginAuth struct {
	user, pass string
	step       int
}

func (a *loginAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	a.step = 0
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(challenge []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.step++
	switch c := strings.ToLower(string(challenge)); {
	case strings.Contains(c, "username") || (a.step == 1 && !strings.Contains(c, "password")):
		return []byte(a.user), nil
	case strings.Contains(c, "password") || a.step == 2:
		return []byte(a.pass), nil
	}
	return nil, errors.New("unexpected AUTH LOGIN challenge")
}
