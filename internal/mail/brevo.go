package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultBrevoURL is Brevo's API base URL (BREVO_API_URL's default).
const DefaultBrevoURL = "https://api.brevo.com/v3"

// Defaults of BrevoConfig.
const (
	defaultBrevoTimeout     = 10 * time.Second
	defaultBrevoMaxAttempts = 3
	// maxRateLimitWait caps how long a 429's x-sib-ratelimit-reset may hold a Send: the caller is
	// usually a person waiting for a code, and a longer wait is better reported than slept through.
	maxRateLimitWait = 5 * time.Second
	// maxBrevoResponse bounds how much of an answer is read.
	maxBrevoResponse = 64 << 10
)

// BrevoConfig configures NewBrevo.
type BrevoConfig struct {
	APIKey      string        // BREVO_API_KEY, required; sent only in the api-key header
	BaseURL     string        // BREVO_API_URL; default DefaultBrevoURL
	SenderEmail string        // SENDER_EMAIL, required; a sender Brevo has validated
	SenderName  string        // SENDER_NAME, optional
	HTTPClient  *http.Client  // default: a client with http.DefaultTransport; redirects are never followed
	Timeout     time.Duration // per attempt, default 10 s
	MaxAttempts int           // default 3
	// Backoff is the wait after the attempt-th failed attempt (1-based) before the next one, when
	// Brevo gives no x-sib-ratelimit-reset. Default 250 ms, 500 ms, 1 s, … up to 5 s. Tests pass a
	// function returning zero.
	Backoff func(attempt int) time.Duration
	Logger  *slog.Logger     // default: discard
	Now     func() time.Time // default time.Now; measures latency
	// Observe, when set, is called after every attempt with its outcome (one of the Outcome
	// constants) and duration, for metrics.
	Observe func(outcome string, d time.Duration)
}

// Brevo sends email through Brevo's transactional email API. It is safe for concurrent use.
type Brevo struct {
	key      string
	endpoint string
	sender   brevoAddress
	client   *http.Client
	timeout  time.Duration
	attempts int
	backoff  func(int) time.Duration
	log      *slog.Logger
	now      func() time.Time
	observe  func(string, time.Duration)
	// sleep waits between attempts; tests replace it to record the waits.
	sleep func(ctx context.Context, d time.Duration) error
}

var _ Sender = (*Brevo)(nil)

// NewBrevo checks cfg and returns a Brevo sender. It fails when APIKey or SenderEmail is missing
// or BaseURL is not an http(s) URL.
func NewBrevo(cfg BrevoConfig) (*Brevo, error) {
	var problems []string
	if cfg.APIKey == "" {
		problems = append(problems, "Brevo API key is missing")
	}
	if cfg.SenderEmail == "" {
		problems = append(problems, "sender email is missing")
	} else if !isBareAddress(cfg.SenderEmail) {
		problems = append(problems, "sender email is not one bare email address")
	}
	if hasControl(cfg.SenderName) {
		problems = append(problems, "sender name holds a control character")
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBrevoURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		// The URL is not echoed: a mistyped value could hold anything.
		problems = append(problems, "Brevo base URL must be an http(s) URL without credentials, query or fragment")
	}
	if cfg.Timeout < 0 || cfg.MaxAttempts < 0 {
		problems = append(problems, "Brevo timeout and max attempts must not be negative")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("mail: %s", strings.Join(problems, "; "))
	}

	// Copy the client so that redirects are refused without changing the caller's: Go forwards
	// custom headers such as api-key on a redirect, even to another host.
	client := http.Client{}
	if cfg.HTTPClient != nil {
		client = *cfg.HTTPClient
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	b := &Brevo{
		key:      cfg.APIKey,
		endpoint: strings.TrimRight(u.String(), "/") + "/smtp/email",
		sender:   brevoAddress{Name: cfg.SenderName, Email: cfg.SenderEmail},
		client:   &client,
		timeout:  cfg.Timeout,
		attempts: cfg.MaxAttempts,
		backoff:  cfg.Backoff,
		log:      cfg.Logger,
		now:      cfg.Now,
		observe:  cfg.Observe,
		sleep:    sleep,
	}
	if b.timeout == 0 {
		b.timeout = defaultBrevoTimeout
	}
	if b.attempts == 0 {
		b.attempts = defaultBrevoMaxAttempts
	}
	if b.backoff == nil {
		b.backoff = defaultBackoff
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.now == nil {
		b.now = time.Now
	}
	return b, nil
}

// The JSON Brevo expects and answers.
type (
	brevoAddress struct {
		Name  string `json:"name,omitempty"`
		Email string `json:"email"`
	}
	brevoRequest struct {
		Sender      brevoAddress      `json:"sender"`
		To          []brevoAddress    `json:"to"`
		Subject     string            `json:"subject"`
		HTMLContent string            `json:"htmlContent"`
		TextContent string            `json:"textContent"`
		Tags        []string          `json:"tags,omitempty"`
		Headers     map[string]string `json:"headers"`
	}
	brevoSuccess struct {
		MessageID string `json:"messageId"`
	}
	brevoFailure struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
)

// brevoAttempt is what one HTTP call produced.
type brevoAttempt struct {
	status    int
	code      string // Brevo's error code
	detail    string // Brevo's error message, redacted
	messageID string
	wait      time.Duration // from x-sib-ratelimit-reset; -1 when absent
	err       error         // transport error, nil when an answer arrived
}

// Send posts m to Brevo, retrying 429, 5xx, timeouts and network errors with the same
// idempotency key (a random one when m has none) up to MaxAttempts times.
func (b *Brevo) Send(ctx context.Context, m Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return &SendError{Provider: "brevo", kind: ErrTemporary, cause: err}
	}
	key := m.IdempotencyKey
	if key == "" {
		key = newKey()
	}
	body, err := json.Marshal(brevoRequest{
		Sender:      b.sender,
		To:          []brevoAddress{{Email: m.To}},
		Subject:     m.Subject,
		HTMLContent: m.HTML,
		TextContent: m.Text,
		Tags:        m.Tags,
		Headers:     map[string]string{"idempotencyKey": key},
	})
	if err != nil {
		return fmt.Errorf("%w: encoding the request: %v", ErrPermanent, err)
	}

	for attempt := 1; ; attempt++ {
		start := b.now()
		a := b.post(ctx, body)
		d := b.now().Sub(start)

		se := &SendError{Provider: "brevo", Status: a.status, Code: a.code, Detail: a.detail, Attempts: attempt, cause: a.err}
		ctxErr := ctxDone(ctx)
		var outcome string
		switch {
		case a.err == nil && a.status >= 200 && a.status < 300:
			outcome = OutcomeSent
		case ctxErr != nil:
			// The caller gave up; a timeout of this attempt alone is retried below.
			outcome, se.kind, se.cause = OutcomeCanceled, ErrTemporary, ctxErr
		case a.err != nil || a.status == http.StatusTooManyRequests || a.status == http.StatusRequestTimeout || a.status >= 500:
			outcome, se.kind = OutcomeRetry, ErrTemporary
			if attempt >= b.attempts {
				outcome = OutcomeTemporary
			}
		default:
			// 400 bad request, 401 bad key, 402 no credits, 403 unauthorised sender or IP, and
			// any other answer (an unexpected redirect included) that sending again cannot change.
			outcome, se.kind = OutcomePermanent, ErrPermanent
		}
		if b.observe != nil {
			b.observe(outcome, d)
		}
		b.record(ctx, m, key, attempt, outcome, a, d)
		switch outcome {
		case OutcomeSent:
			return nil
		case OutcomeRetry:
		default:
			return se
		}

		wait := a.wait
		if wait < 0 {
			wait = b.backoff(attempt)
		}
		if err := b.sleep(ctx, wait); err != nil {
			// Logged, not observed: the attempt itself was already counted as a retry.
			b.record(ctx, m, key, attempt, OutcomeCanceled, brevoAttempt{status: a.status, wait: -1, err: err}, 0)
			return &SendError{Provider: "brevo", Status: a.status, Code: a.code, Detail: a.detail, Attempts: attempt, kind: ErrTemporary, cause: err}
		}
	}
}

// post makes one HTTP call within the per-attempt timeout.
func (b *Brevo) post(ctx context.Context, body []byte) brevoAttempt {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	a := brevoAttempt{wait: -1}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.endpoint, bytes.NewReader(body))
	if err != nil {
		a.err = err
		return a
	}
	req.Header.Set("api-key", b.key)
	req.Header.Set("content-type", "application/json")
	req.Header.Set("accept", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		a.err = b.scrub(err)
		return a
	}
	defer resp.Body.Close()
	// A body cut short is no reason to ignore the status: read what arrives.
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxBrevoResponse))
	a.status = resp.StatusCode
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// The message is accepted even if the answer is cut short: sending again would duplicate it.
		var ok brevoSuccess
		if json.Unmarshal(raw, &ok) == nil {
			// A message id looks like an address but names no one: cleaned, not masked.
			a.messageID = clean(strings.ReplaceAll(ok.MessageID, b.key, "[redacted]"))
		}
		return a
	}
	var fail brevoFailure
	if json.Unmarshal(raw, &fail) == nil {
		a.code = redact(fail.Code, b.key)
		a.detail = redact(fail.Message, b.key)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		a.wait = rateLimitWait(resp.Header.Get("x-sib-ratelimit-reset"))
	}
	return a
}

// scrub keeps a transport error's meaning (errors.Is still finds context.DeadlineExceeded) while
// making sure the key cannot appear in its text.
func (b *Brevo) scrub(err error) error {
	if !strings.Contains(err.Error(), b.key) {
		return err
	}
	return errors.New(redact(err.Error(), b.key))
}

// rateLimitWait reads x-sib-ratelimit-reset (seconds until the limit resets), capped at
// maxRateLimitWait; -1 when absent or unreadable.
func rateLimitWait(h string) time.Duration {
	s, err := strconv.ParseFloat(strings.TrimSpace(h), 64)
	if err != nil || s < 0 || s != s {
		return -1
	}
	if s >= maxRateLimitWait.Seconds() {
		return maxRateLimitWait
	}
	return time.Duration(s * float64(time.Second))
}

// record logs one attempt.
func (b *Brevo) record(ctx context.Context, m Message, key string, attempt int, outcome string, a brevoAttempt, d time.Duration) {
	level := slog.LevelWarn
	if outcome == OutcomeSent {
		level = slog.LevelInfo
	}
	attrs := []slog.Attr{
		slog.String("provider", "brevo"),
		slog.String("outcome", outcome),
		slog.Int("status", a.status),
		slog.Int("attempt", attempt),
		slog.Int64("latency_ms", d.Milliseconds()),
		slog.String("to", Mask(m.To)),
		slog.Any("tags", m.Tags),
		slog.String("idempotency_key", key),
	}
	if a.messageID != "" {
		attrs = append(attrs, slog.String("message_id", a.messageID))
	}
	if a.code != "" {
		attrs = append(attrs, slog.String("brevo_code", a.code))
	}
	if a.detail != "" {
		attrs = append(attrs, slog.String("brevo_message", a.detail))
	}
	if a.err != nil {
		attrs = append(attrs, slog.String("error", a.err.Error()))
	}
	if a.wait >= 0 && outcome == OutcomeRetry {
		attrs = append(attrs, slog.Int64("ratelimit_reset_ms", a.wait.Milliseconds()))
	}
	b.log.LogAttrs(ctx, level, "mail: brevo send", attrs...)
}

// isBareAddress reports whether s is exactly one address without a display name.
func isBareAddress(s string) bool {
	return Message{To: s, Subject: "x", Text: "x", HTML: "x"}.validate() == nil
}
