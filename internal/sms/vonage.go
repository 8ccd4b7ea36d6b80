package sms

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
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultVonageURL is Vonage's API base URL (VONAGE_API_URL's default).
const DefaultVonageURL = "https://api.nexmo.com"

const (
	defaultVonageTimeout = 10 * time.Second
	// maxVonageResponse bounds how much of an answer is read.
	maxVonageResponse = 64 << 10
	// maxProblemText bounds the provider text kept in a log record.
	maxProblemText = 200
)

// VonageConfig configures NewVonage.
type VonageConfig struct {
	APIKey     string        // VONAGE_API_KEY, required
	APISecret  string        // VONAGE_API_SECRET, required; sent only in the Authorization header
	BaseURL    string        // VONAGE_API_URL; default DefaultVonageURL
	HTTPClient *http.Client  // default: a client with http.DefaultTransport; redirects are never followed
	Timeout    time.Duration // per call, default 10 s
	Logger     *slog.Logger  // default: discard
	Now        func() time.Time
	// Observe, when set, is called after every operation with its name (an Op constant), its
	// outcome (an Outcome constant) and its duration, for metrics.
	Observe func(op, outcome string, d time.Duration)
}

// Vonage is a Verifier backed by the Vonage Verify v2 API. It is safe for concurrent use.
//
// It never retries. Start and Check are not idempotent at Vonage: a Start retried after a lost
// answer may send (and bill) a second SMS, and a retried Check may count as a second wrong
// attempt. NextChannel and Cancel could be retried, but a person or the challenge expiry job will
// call them again anyway, so one rule serves all four: one call, and ErrUnavailable to the caller.
type Vonage struct {
	key, secret string
	base        string // without a trailing slash
	client      *http.Client
	timeout     time.Duration
	log         *slog.Logger
	now         func() time.Time
	observe     func(op, outcome string, d time.Duration)
}

var _ Verifier = (*Vonage)(nil)

// NewVonage checks cfg and returns a Vonage verifier. It fails when a credential is missing or
// BaseURL is not an http(s) URL; the error never echoes a credential or the URL.
func NewVonage(cfg VonageConfig) (*Vonage, error) {
	var problems []string
	if cfg.APIKey == "" || cfg.APISecret == "" {
		problems = append(problems, "Vonage API key and secret are required")
	} else if strings.ContainsAny(cfg.APIKey, ":\r\n") || hasControl(cfg.APISecret) {
		problems = append(problems, "Vonage API key or secret holds a forbidden character")
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultVonageURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		problems = append(problems, "Vonage base URL must be an http(s) URL without credentials, query or fragment")
	}
	if cfg.Timeout < 0 {
		problems = append(problems, "Vonage timeout must not be negative")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("sms: %s", strings.Join(problems, "; "))
	}

	// A copy, so that refusing redirects does not change the caller's client: a redirect to the
	// same host would carry the Authorization header, and Verify v2 never redirects.
	client := http.Client{}
	if cfg.HTTPClient != nil {
		client = *cfg.HTTPClient
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	v := &Vonage{
		key:     cfg.APIKey,
		secret:  cfg.APISecret,
		base:    strings.TrimRight(u.String(), "/"),
		client:  &client,
		timeout: cfg.Timeout,
		log:     cfg.Logger,
		now:     cfg.Now,
		observe: cfg.Observe,
	}
	if v.timeout == 0 {
		v.timeout = defaultVonageTimeout
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// The JSON Verify v2 expects and answers.
type (
	vonageStep struct {
		Channel string `json:"channel"`
		To      string `json:"to"`
	}
	vonageStart struct {
		Brand          string       `json:"brand"`
		Workflow       []vonageStep `json:"workflow"`
		CodeLength     int          `json:"code_length"`
		ChannelTimeout int          `json:"channel_timeout,omitempty"`
		Locale         string       `json:"locale,omitempty"`
		ClientRef      string       `json:"client_ref,omitempty"`
	}
	vonageCheck struct {
		Code string `json:"code"`
	}
	// vonageAnswer holds the fields we read from any answer: request_id (202 on start, and the
	// running one in a 409), status (200 on check) and the RFC 7807 problem fields, which are
	// only logged — branching is on the status code alone.
	vonageAnswer struct {
		RequestID string `json:"request_id"`
		Status    string `json:"status"`
		Type      string `json:"type"`
		Title     string `json:"title"`
		Detail    string `json:"detail"`
		Instance  string `json:"instance"`
	}
)

// vonageCall is one HTTP call and what it produced.
type vonageCall struct {
	op        string
	method    string
	path      string // escaped, after the base URL
	body      any    // nil: no body
	to        string // E.164, Start only; logged masked
	requestID string // sent or received; logged
	secrets   []string

	status int
	answer vonageAnswer
	err    error // transport error (scrubbed), nil when an answer arrived
	d      time.Duration
}

// Start implements Verifier: POST /v2/verify, 202 {request_id}.
func (v *Vonage) Start(ctx context.Context, r StartRequest) (string, error) {
	c := &vonageCall{op: OpStart, method: http.MethodPost, path: "/v2/verify", to: r.To}
	if err := r.validate(); err != nil {
		return "", v.finish(ctx, c, err)
	}
	to := strings.TrimPrefix(r.To, "+") // Vonage wants E.164 without "+"
	c.secrets = []string{to}
	req := vonageStart{Brand: r.Brand, CodeLength: 6, Locale: r.Locale, ClientRef: r.ClientRef,
		ChannelTimeout: int(r.ChannelTimeout / time.Second)}
	for _, ch := range r.steps() {
		req.Workflow = append(req.Workflow, vonageStep{Channel: ch, To: to})
	}
	c.body = req
	v.do(ctx, c)

	var err error
	switch {
	case c.err != nil || c.status != http.StatusAccepted:
		err = v.classify(ctx, c)
	case !validRequestID(c.answer.RequestID):
		// A code may be on its way, but without an id it can be neither checked nor cancelled.
		err = fmt.Errorf("sms: vonage start: status 202 without a request id: %w", ErrUnavailable)
	}
	if err != nil {
		c.requestID = c.answer.RequestID
		return "", v.finish(ctx, c, err)
	}
	c.requestID = c.answer.RequestID
	return c.requestID, v.finish(ctx, c, nil)
}

// Check implements Verifier: POST /v2/verify/{id} {code}, 200 {status:"completed"}.
func (v *Vonage) Check(ctx context.Context, requestID, code string) error {
	c := v.onRequest(OpCheck, http.MethodPost, requestID, "")
	if !validRequestID(requestID) {
		return v.finish(ctx, c, badRequestID())
	}
	if err := checkCode(code); err != nil {
		return v.finish(ctx, c, err)
	}
	c.body = vonageCheck{Code: code}
	c.secrets = []string{code}
	v.do(ctx, c)
	if c.err == nil && c.status == http.StatusOK {
		// Only an explicit "completed" passes the second factor: anything else fails closed.
		if c.answer.Status != "completed" {
			return v.finish(ctx, c, fmt.Errorf("sms: vonage check: status 200 without \"completed\": %w", ErrUnavailable))
		}
		return v.finish(ctx, c, nil)
	}
	return v.finish(ctx, c, v.classify(ctx, c))
}

// NextChannel implements Verifier: POST /v2/verify/{id}/next_workflow, 200.
func (v *Vonage) NextChannel(ctx context.Context, requestID string) error {
	return v.simple(ctx, v.onRequest(OpNextChannel, http.MethodPost, requestID, "/next_workflow"), http.StatusOK)
}

// Cancel implements Verifier: DELETE /v2/verify/{id}, 204.
func (v *Vonage) Cancel(ctx context.Context, requestID string) error {
	return v.simple(ctx, v.onRequest(OpCancel, http.MethodDelete, requestID, ""), http.StatusNoContent)
}

// onRequest prepares a call on one verification, its id path-escaped.
func (v *Vonage) onRequest(op, method, requestID, suffix string) *vonageCall {
	return &vonageCall{op: op, method: method, requestID: requestID,
		path: "/v2/verify/" + url.PathEscape(requestID) + suffix}
}

// simple runs a body-less call whose success is one status code.
func (v *Vonage) simple(ctx context.Context, c *vonageCall, want int) error {
	if !validRequestID(c.requestID) {
		return v.finish(ctx, c, badRequestID())
	}
	v.do(ctx, c)
	if c.err == nil && c.status == want {
		return v.finish(ctx, c, nil)
	}
	return v.finish(ctx, c, v.classify(ctx, c))
}

// do makes one HTTP call within the timeout and fills in c's results.
func (v *Vonage) do(ctx context.Context, c *vonageCall) {
	start := v.now()
	defer func() { c.d = v.now().Sub(start) }()
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()

	var body io.Reader
	if c.body != nil {
		raw, err := json.Marshal(c.body)
		if err != nil {
			c.err = err
			return
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, v.base+c.path, body)
	if err != nil {
		c.err = v.scrub(err, c)
		return
	}
	req.SetBasicAuth(v.key, v.secret)
	req.Header.Set("Accept", "application/json")
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := v.client.Do(req)
	if err != nil {
		c.err = v.scrub(err, c)
		return
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxVonageResponse))
	c.status = resp.StatusCode
	_ = json.Unmarshal(raw, &c.answer) // an unreadable body leaves the fields empty
}

// classify maps a failed call to an error wrapping one sentinel. Vonage's RFC 7807 bodies are
// logged, never branched on: the status code alone decides.
func (v *Vonage) classify(ctx context.Context, c *vonageCall) error {
	if c.err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("sms: vonage %s: %w: %w", c.op, ErrUnavailable, ctxErr)
		}
		return fmt.Errorf("sms: vonage %s: %w: %w", c.op, ErrUnavailable, c.err)
	}
	var kind error
	switch s := c.status; {
	case s == http.StatusBadRequest && c.op == OpCheck:
		kind = ErrWrongCode
	case s == http.StatusBadRequest, s == http.StatusUnprocessableEntity:
		kind = ErrInvalid
	case s == http.StatusNotFound:
		kind = ErrNotFound
	case s == http.StatusConflict && c.op == OpStart:
		kind = &ConflictError{RequestID: c.answer.RequestID}
	case s == http.StatusConflict:
		kind = ErrConflict
	case s == http.StatusGone:
		kind = ErrTooManyWrong
	case s == http.StatusTooManyRequests:
		kind = ErrThrottled
	default:
		// 5xx, 401/403 (bad credentials: nothing we can fix per request), redirects and any
		// success code other than the documented one.
		kind = ErrUnavailable
	}
	return fmt.Errorf("sms: vonage %s: status %d: %w", c.op, c.status, kind)
}

// finish logs one operation, reports it to Observe and returns err.
func (v *Vonage) finish(ctx context.Context, c *vonageCall, err error) error {
	outcome := outcomeOf(err)
	if err != nil && ctx.Err() != nil && errors.Is(err, ErrUnavailable) {
		outcome = OutcomeCanceled
	}
	if v.observe != nil {
		v.observe(c.op, outcome, c.d)
	}
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("provider", "vonage"),
		slog.String("op", c.op),
		slog.String("outcome", outcome),
		slog.Int("status", c.status),
		slog.Int64("latency_ms", c.d.Milliseconds()),
	}
	if c.to != "" {
		attrs = append(attrs, slog.String("to", MaskPhone(c.to)))
	}
	if c.requestID != "" {
		attrs = append(attrs, slog.String("verification_id", v.redact(c.requestID, c)))
	}
	if c.answer.RequestID != "" && c.answer.RequestID != c.requestID {
		attrs = append(attrs, slog.String("running_request_id", v.redact(c.answer.RequestID, c)))
	}
	for _, f := range []struct {
		k, v   string
		digits bool
	}{
		{"problem_type", c.answer.Type, false}, {"problem_title", c.answer.Title, true},
		{"problem_detail", c.answer.Detail, true}, {"problem_instance", c.answer.Instance, false},
	} {
		if f.v == "" {
			continue
		}
		s := f.v
		if f.digits {
			// Free text may echo a number or a code this call does not know (Check, NextChannel
			// and Cancel are not told the number): hide every longer run of digits.
			s = digitRun.ReplaceAllString(s, "[digits]")
		}
		attrs = append(attrs, slog.String(f.k, v.redact(s, c)))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	v.log.LogAttrs(ctx, level, "sms: vonage "+c.op, attrs...)
	return err
}

// digitRun finds phone numbers and codes in provider text: six or more characters of digits and
// the separators people write numbers with.
var digitRun = regexp.MustCompile(`\+?\d[\d ().-]{4,}\d`)

// scrub keeps a transport error's meaning (errors.Is still finds context.DeadlineExceeded) while
// making sure no credential, number or code appears in its text.
func (v *Vonage) scrub(err error, c *vonageCall) error {
	if s := err.Error(); v.redact(s, c) != clean(s) {
		return errors.New(v.redact(s, c))
	}
	return err
}

// redact makes provider text safe to log: credentials, the number and the code removed, control
// characters dropped, length bounded.
func (v *Vonage) redact(s string, c *vonageCall) string {
	for _, sec := range append([]string{v.secret, v.key}, c.secrets...) {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return clean(s)
}

// clean drops control characters and bounds the length.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxProblemText {
		cut := maxProblemText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
