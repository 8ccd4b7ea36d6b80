package mail

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Message is one email. Text and HTML are both sent.
type Message struct {
	To             string   // one bare address ("ann@example.com"), no display name
	Subject        string   // one line
	Text           string   // plain-text body
	HTML           string   // HTML body
	Tags           []string // e.g. "verify-code"; Brevo tags
	IdempotencyKey string   // stable per logical message: retries reuse it (Brevo headers.idempotencyKey)
}

// Sender delivers email.
type Sender interface {
	// Send delivers m or returns an error that wraps ErrPermanent or ErrTemporary (and ctx.Err()
	// when ctx ended first). A Message that fails validation (no recipient, no subject, an empty
	// body, a header value with a line break) is refused with ErrPermanent before any delivery is
	// tried. Implementations are safe for concurrent use.
	Send(ctx context.Context, m Message) error
}

var (
	// ErrPermanent is wrapped by errors that retrying cannot fix: Brevo 400/401/402/403 (and other
	// 4xx but 408 and 429), SMTP 5xx replies, TLS certificate problems, invalid messages or
	// configuration.
	ErrPermanent = errors.New("mail: permanent delivery failure")
	// ErrTemporary is wrapped when the provider may accept the message later but retries were
	// exhausted (Brevo 429 and 5xx, SMTP 4xx, timeouts, network errors) or ctx ended first.
	ErrTemporary = errors.New("mail: temporary delivery failure")
)

// SendError describes a failed delivery. It is safe to log: it never holds the API key, a message
// body or the recipient's full address. errors.Is(err, ErrPermanent) or errors.Is(err,
// ErrTemporary) holds for every SendError, and errors.Is(err, context.Canceled) (or
// context.DeadlineExceeded) when the caller's ctx ended.
type SendError struct {
	Provider string // "brevo" or "smtp"
	Status   int    // last HTTP status or SMTP reply code; 0 when no answer arrived
	Code     string // Brevo's error "code", or the SMTP enhanced status code ("5.1.1"); may be empty
	Detail   string // the provider's error message, addresses masked, shortened
	Attempts int    // delivery attempts made

	kind  error // ErrPermanent or ErrTemporary
	cause error // network, TLS or context error; may be nil
}

// Error implements error.
func (e *SendError) Error() string {
	var b strings.Builder
	b.WriteString("mail: ")
	b.WriteString(e.Provider)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": status %d", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " code %q", e.Code)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	if e.cause != nil {
		fmt.Fprintf(&b, ": %v", e.cause)
	}
	kind := "temporary"
	if e.kind == ErrPermanent {
		kind = "permanent"
	}
	fmt.Fprintf(&b, " (%s failure after %d attempt", kind, e.Attempts)
	if e.Attempts != 1 {
		b.WriteString("s")
	}
	b.WriteString(")")
	return b.String()
}

// Unwrap lets errors.Is see ErrPermanent or ErrTemporary and the underlying cause.
func (e *SendError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// Outcomes of one delivery attempt, used as the "outcome" log attribute and passed to the
// metrics hooks (Observe) of Brevo and SMTP.
const (
	OutcomeSent      = "sent"      // the provider accepted the message
	OutcomeRetry     = "retry"     // a temporary failure; another attempt follows
	OutcomeTemporary = "temporary" // a temporary failure and no attempt left
	OutcomePermanent = "permanent" // a failure that retrying cannot fix
	OutcomeCanceled  = "canceled"  // the caller's ctx ended
)

// Mask hides most of an address for logs: "ann.lee@example.com" becomes "a***@example.com". The
// first character of the local part and the domain stay so that support can still tell messages
// apart. A string without "@" becomes "***"; the empty string stays empty.
func Mask(email string) string {
	if email == "" {
		return ""
	}
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return "***"
	}
	local, domain := email[:at], email[at+1:]
	r, size := utf8.DecodeRuneInString(local)
	if size == 0 || r == utf8.RuneError || !unicode.IsPrint(r) || r == '"' {
		return "***@" + domain
	}
	return string(r) + "***@" + domain
}

// addrPattern finds things that look like email addresses in provider error texts, which may echo
// the recipient.
var addrPattern = regexp.MustCompile(`[^\s<>"'(),;:\[\]@]+@[^\s<>"'(),;:\[\]@]+`)

// maxDetail bounds the provider text kept in a SendError.
const maxDetail = 200

// redact makes a provider's error text safe to log: addresses masked, secrets removed, control
// characters dropped, length bounded.
func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return clean(addrPattern.ReplaceAllStringFunc(s, Mask))
}

// clean drops control characters from a provider's text and bounds its length.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxDetail {
		cut := maxDetail
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// maxAddrLen is the longest address RFC 5321 §4.5.3.1.3 lets through a path (256 with the angle
// brackets).
const maxAddrLen = 254

// validate refuses a Message no provider should see. Its errors wrap ErrPermanent and never
// echo the address or the bodies.
func (m Message) validate() error {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrPermanent, what) }
	if m.To == "" {
		return bad("message has no recipient")
	}
	a, err := mail.ParseAddress(m.To)
	if err != nil || a.Name != "" || a.Address != m.To || len(m.To) > maxAddrLen {
		return bad("recipient is not one bare email address")
	}
	if strings.TrimSpace(m.Subject) == "" {
		return bad("message has no subject")
	}
	if hasControl(m.Subject) {
		return bad("subject holds a control character")
	}
	if m.Text == "" || m.HTML == "" {
		return bad("message needs both a text and an HTML body")
	}
	for _, tag := range m.Tags {
		if tag == "" || hasControl(tag) {
			return bad("empty tag or tag with a control character")
		}
	}
	if !validKey(m.IdempotencyKey) {
		return bad("idempotency key must be at most 128 printable ASCII characters without spaces")
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// validKey accepts an empty key (a random one is made) or up to 128 visible ASCII characters,
// safe in a JSON string and in a mail header.
func validKey(k string) bool {
	if len(k) > 128 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < '!' || k[i] > '~' {
			return false
		}
	}
	return true
}

// newKey makes a random idempotency key for a Message that has none, so that at least the retries
// of one Send cannot deliver twice.
func newKey() string {
	return "idp-" + rand.Text()
}

// ctxDone returns ctx's error, or context.DeadlineExceeded once ctx's deadline has passed even if
// its timer has not fired yet: a connection deadline set from it can expire first, and the
// attempt that failed then must count as the caller's deadline, not as a retryable timeout.
func ctxDone(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// defaultBackoff waits 250 ms, 500 ms, 1 s, … (capped at 5 s) after the attempt-th failure.
func defaultBackoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := 250 * time.Millisecond << min(attempt-1, 5)
	return min(d, 5*time.Second)
}
