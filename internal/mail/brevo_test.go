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
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testAPIKey      = "xkeysib-0123456789abcdef-TESTKEY-must-never-leak"
	testSenderEmail = "no-reply@acme.example"
	testSenderName  = "Acme Pay"
	testMessageID   = "<202501021304.12345678901@smtp-relay.mailin.fr>"
)

// brevoReply is one scripted answer of the fake Brevo API.
type brevoReply struct {
	status int
	header map[string]string
	body   string
	hang   bool // answer nothing until the client gives up (or 504 after 4 s)
}

// brevoOK is Brevo's answer to an accepted message.
var brevoOK = brevoReply{status: 201, body: `{"messageId":"` + testMessageID + `"}`}

// brevoError is a Brevo error answer whose message, like a careless provider's, echoes the
// recipient and the API key: neither may reach our errors or logs.
func brevoError(status int, code string, header ...string) brevoReply {
	r := brevoReply{
		status: status,
		body:   fmt.Sprintf(`{"code":%q,"message":"cannot send to ann.lee@example.com with key %s"}`, code, testAPIKey),
		header: map[string]string{},
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.header[header[i]] = header[i+1]
	}
	return r
}

// fakeBrevo reproduces POST /v3/smtp/email, checks every request against the contract and
// answers from a script.
type fakeBrevo struct {
	t       *testing.T
	URL     string // base URL to configure, ending in /v3
	want    Message
	replies []brevoReply
	arrived chan struct{} // receives once per request
	release chan struct{} // closed at cleanup: ends hanging answers

	mu    sync.Mutex
	calls int
	key   string // idempotency key of the first request
}

func newFakeBrevo(t *testing.T, want Message, replies ...brevoReply) *fakeBrevo {
	t.Helper()
	f := &fakeBrevo{t: t, want: want, replies: replies, arrived: make(chan struct{}, 16), release: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("/v3/smtp/email", f)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request to unexpected path %s %s", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(f.release) }) // runs before srv.Close
	f.URL = srv.URL + "/v3"
	return f
}

func (f *fakeBrevo) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeBrevo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	n := f.calls
	f.calls++
	f.mu.Unlock()
	f.check(r, n+1)
	f.arrived <- struct{}{}
	if n >= len(f.replies) {
		f.t.Errorf("request %d: only %d scripted", n+1, len(f.replies))
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	rep := f.replies[n]
	if rep.hang {
		// Bounded, so that a client without timeouts fails the test instead of hanging it.
		select {
		case <-r.Context().Done():
		case <-f.release:
		case <-time.After(4 * time.Second):
			w.WriteHeader(http.StatusGatewayTimeout)
		}
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

// check compares one request with the contract: method, path, headers and the exact JSON body,
// with the same idempotency key on every request.
func (f *fakeBrevo) check(r *http.Request, n int) {
	t := f.t
	if r.Method != http.MethodPost {
		t.Errorf("request %d: method %s, want POST", n, r.Method)
	}
	for name, want := range map[string]string{
		"api-key":      testAPIKey,
		"content-type": "application/json",
		"accept":       "application/json",
	} {
		if got := r.Header.Get(name); got != want {
			t.Errorf("request %d: header %s = %q, want %q", n, name, got, want)
		}
	}
	var got map[string]any
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&got); err != nil {
		t.Errorf("request %d: body is not JSON: %v", n, err)
		return
	}
	if dec.More() {
		t.Errorf("request %d: data after the JSON body", n)
	}

	// The key: the Message's own, or (when it has none) a generated one; either way the same
	// on every request of one Send.
	gotKey, _ := got["headers"].(map[string]any)["idempotencyKey"].(string)
	f.mu.Lock()
	if f.key == "" {
		f.key = gotKey
	}
	firstKey := f.key
	f.mu.Unlock()
	wantKey := f.want.IdempotencyKey
	if wantKey == "" {
		if gotKey == "" {
			t.Errorf("request %d: no idempotency key generated", n)
		}
		wantKey = firstKey
	}

	want := map[string]any{
		"sender":      map[string]any{"name": testSenderName, "email": testSenderEmail},
		"to":          []any{map[string]any{"email": f.want.To}},
		"subject":     f.want.Subject,
		"htmlContent": f.want.HTML,
		"textContent": f.want.Text,
		"headers":     map[string]any{"idempotencyKey": wantKey},
	}
	if len(f.want.Tags) > 0 {
		tags := make([]any, len(f.want.Tags))
		for i, tag := range f.want.Tags {
			tags[i] = tag
		}
		want["tags"] = tags
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("request %d body:\n got %#v\nwant %#v", n, got, want)
	}
}

// brevoProbe records what a Brevo did besides HTTP: waits, observed outcomes and logs.
type brevoProbe struct {
	mu       sync.Mutex
	waits    []time.Duration
	outcomes []string
	logs     bytes.Buffer
}

func (p *brevoProbe) Waits() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.waits...)
}

func (p *brevoProbe) Outcomes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.outcomes...)
}

// testBackoff is distinct per attempt so that tests can tell it was used.
func testBackoff(attempt int) time.Duration { return time.Duration(attempt) * time.Millisecond }

// newTestBrevo returns a Brevo for baseURL whose waits are recorded instead of slept, whose clock
// advances 7 ms per reading and whose logs are JSON in the probe.
func newTestBrevo(t *testing.T, baseURL string, change func(*BrevoConfig)) (*Brevo, *brevoProbe) {
	t.Helper()
	p := &brevoProbe{}
	var clockMu sync.Mutex
	clock := time.Date(2025, 1, 2, 13, 4, 0, 0, time.UTC)
	cfg := BrevoConfig{
		APIKey:      testAPIKey,
		BaseURL:     baseURL,
		SenderEmail: testSenderEmail,
		SenderName:  testSenderName,
		Timeout:     5 * time.Second,
		Backoff:     testBackoff,
		Logger:      slog.New(slog.NewJSONHandler(syncWriter{&p.mu, &p.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now: func() time.Time {
			clockMu.Lock()
			defer clockMu.Unlock()
			clock = clock.Add(7 * time.Millisecond)
			return clock
		},
		Observe: func(outcome string, d time.Duration) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.outcomes = append(p.outcomes, outcome)
		},
	}
	if change != nil {
		change(&cfg)
	}
	b, err := NewBrevo(cfg)
	if err != nil {
		t.Fatalf("NewBrevo: %v", err)
	}
	b.sleep = func(ctx context.Context, d time.Duration) error {
		p.mu.Lock()
		p.waits = append(p.waits, d)
		p.mu.Unlock()
		return ctx.Err()
	}
	return b, p
}

// syncWriter serialises writes to a buffer shared with the test.
type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// logRecords parses JSON log lines.
func logRecords(t *testing.T, mu *sync.Mutex, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// assertNoLeak fails when text holds the API key, the recipient's full address or the message
// bodies (the code in them).
func assertNoLeak(t *testing.T, where, text string, m Message, secrets ...string) {
	t.Helper()
	for what, s := range map[string]string{
		"API key": testAPIKey, "recipient": m.To, "text body": m.Text, "HTML body": m.HTML, "code": testCode,
	} {
		if strings.Contains(text, s) {
			t.Errorf("%s holds the %s: %s", where, what, text)
		}
	}
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s holds the secret %q: %s", where, s, text)
		}
	}
}

func TestNewBrevo(t *testing.T) {
	valid := BrevoConfig{APIKey: testAPIKey, SenderEmail: testSenderEmail}
	tests := []struct {
		name         string
		change       func(*BrevoConfig)
		wantErr      bool
		wantEndpoint string
	}{
		{"defaults", func(*BrevoConfig) {}, false, "https://api.brevo.com/v3/smtp/email"},
		{"custom base URL with trailing slash", func(c *BrevoConfig) { c.BaseURL = "http://127.0.0.1:8025/v3/" }, false, "http://127.0.0.1:8025/v3/smtp/email"},
		{"no API key", func(c *BrevoConfig) { c.APIKey = "" }, true, ""},
		{"no sender", func(c *BrevoConfig) { c.SenderEmail = "" }, true, ""},
		{"sender with display name", func(c *BrevoConfig) { c.SenderEmail = "Acme <no-reply@acme.example>" }, true, ""},
		{"sender name with line break", func(c *BrevoConfig) { c.SenderName = "Acme\r\nBcc: x" }, true, ""},
		{"ftp URL", func(c *BrevoConfig) { c.BaseURL = "ftp://api.brevo.com/v3" }, true, ""},
		{"relative URL", func(c *BrevoConfig) { c.BaseURL = "api.brevo.com/v3" }, true, ""},
		{"URL with credentials", func(c *BrevoConfig) { c.BaseURL = "https://user:pw@api.brevo.com/v3" }, true, ""},
		{"URL with query", func(c *BrevoConfig) { c.BaseURL = "https://api.brevo.com/v3?x=1" }, true, ""},
		{"unparsable URL", func(c *BrevoConfig) { c.BaseURL = "https://api.brevo.com:port/v3" }, true, ""},
		{"negative attempts", func(c *BrevoConfig) { c.MaxAttempts = -1 }, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			b, err := NewBrevo(cfg)
			if tt.wantErr {
				if err == nil {
					t.Fatal("NewBrevo succeeded, want an error")
				}
				if strings.Contains(err.Error(), testAPIKey) {
					t.Errorf("error holds the API key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewBrevo: %v", err)
			}
			if b.endpoint != tt.wantEndpoint {
				t.Errorf("endpoint = %q, want %q", b.endpoint, tt.wantEndpoint)
			}
			if b.timeout != 10*time.Second || b.attempts != 3 || b.backoff == nil || b.log == nil || b.now == nil {
				t.Errorf("defaults not applied: timeout %v, attempts %d", b.timeout, b.attempts)
			}
		})
	}
}

func TestNewBrevoKeepsCallersClient(t *testing.T) {
	hc := &http.Client{Timeout: time.Minute}
	b, err := NewBrevo(BrevoConfig{APIKey: testAPIKey, SenderEmail: testSenderEmail, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	if hc.CheckRedirect != nil {
		t.Error("NewBrevo changed the caller's http.Client")
	}
	if b.client == hc || b.client.CheckRedirect == nil || b.client.Timeout != time.Minute {
		t.Error("Brevo's client is not a copy of the caller's that refuses redirects")
	}
}

func TestBrevoSend(t *testing.T) {
	tests := []struct {
		name       string
		change     func(*Message)
		replies    []brevoReply
		wantErr    error // nil, ErrPermanent or ErrTemporary
		wantStatus int
		wantCode   string
		waits      []time.Duration
		outcomes   []string
	}{
		{
			name:     "201 accepted",
			replies:  []brevoReply{brevoOK},
			outcomes: []string{OutcomeSent},
		},
		{
			name:     "201 without tags omits tags",
			change:   func(m *Message) { m.Tags = nil },
			replies:  []brevoReply{brevoOK},
			outcomes: []string{OutcomeSent},
		},
		{
			name:     "201 with an unreadable body is still sent",
			replies:  []brevoReply{{status: 201, body: "accepted"}},
			outcomes: []string{OutcomeSent},
		},
		{
			name:       "400 bad request is permanent",
			replies:    []brevoReply{brevoError(400, "invalid_parameter")},
			wantErr:    ErrPermanent,
			wantStatus: 400, wantCode: "invalid_parameter",
			outcomes: []string{OutcomePermanent},
		},
		{
			name:       "401 bad key is permanent",
			replies:    []brevoReply{brevoError(401, "unauthorized")},
			wantErr:    ErrPermanent,
			wantStatus: 401, wantCode: "unauthorized",
			outcomes: []string{OutcomePermanent},
		},
		{
			name:       "402 no credits is permanent",
			replies:    []brevoReply{brevoError(402, "not_enough_credits")},
			wantErr:    ErrPermanent,
			wantStatus: 402, wantCode: "not_enough_credits",
			outcomes: []string{OutcomePermanent},
		},
		{
			name:       "403 forbidden is permanent",
			replies:    []brevoReply{brevoError(403, "permission_denied")},
			wantErr:    ErrPermanent,
			wantStatus: 403, wantCode: "permission_denied",
			outcomes: []string{OutcomePermanent},
		},
		{
			name:       "other 4xx is permanent",
			replies:    []brevoReply{brevoError(404, "document_not_found")},
			wantErr:    ErrPermanent,
			wantStatus: 404, wantCode: "document_not_found",
			outcomes: []string{OutcomePermanent},
		},
		{
			// Following it would send the api-key header wherever Location points.
			name:       "redirect is not followed",
			replies:    []brevoReply{{status: 307, header: map[string]string{"Location": "/stolen"}}},
			wantErr:    ErrPermanent,
			wantStatus: 307,
			outcomes:   []string{OutcomePermanent},
		},
		{
			name:     "429 with x-sib-ratelimit-reset waits that long then 201",
			replies:  []brevoReply{brevoError(429, "too_many_requests", "x-sib-ratelimit-reset", "2"), brevoOK},
			waits:    []time.Duration{2 * time.Second},
			outcomes: []string{OutcomeRetry, OutcomeSent},
		},
		{
			name:     "429 with a long reset waits at most the cap",
			replies:  []brevoReply{brevoError(429, "too_many_requests", "x-sib-ratelimit-reset", "3600"), brevoOK},
			waits:    []time.Duration{maxRateLimitWait},
			outcomes: []string{OutcomeRetry, OutcomeSent},
		},
		{
			name:     "429 without reset backs off then 201",
			replies:  []brevoReply{brevoError(429, "too_many_requests"), brevoOK},
			waits:    []time.Duration{testBackoff(1)},
			outcomes: []string{OutcomeRetry, OutcomeSent},
		},
		{
			name:     "502 then 201",
			replies:  []brevoReply{brevoError(502, "bad_gateway"), brevoOK},
			waits:    []time.Duration{testBackoff(1)},
			outcomes: []string{OutcomeRetry, OutcomeSent},
		},
		{
			name:     "generated idempotency key is reused on retry",
			change:   func(m *Message) { m.IdempotencyKey = "" },
			replies:  []brevoReply{brevoError(500, "internal_error"), brevoOK},
			waits:    []time.Duration{testBackoff(1)},
			outcomes: []string{OutcomeRetry, OutcomeSent},
		},
		{
			name:       "500 three times is temporary",
			replies:    []brevoReply{brevoError(500, "internal_error"), brevoError(500, "internal_error"), brevoError(500, "internal_error")},
			wantErr:    ErrTemporary,
			wantStatus: 500, wantCode: "internal_error",
			waits:    []time.Duration{testBackoff(1), testBackoff(2)},
			outcomes: []string{OutcomeRetry, OutcomeRetry, OutcomeTemporary},
		},
		{
			name:       "429 three times is temporary",
			replies:    []brevoReply{brevoError(429, "too_many_requests", "x-sib-ratelimit-reset", "1"), brevoError(429, "too_many_requests"), brevoError(429, "too_many_requests")},
			wantErr:    ErrTemporary,
			wantStatus: 429, wantCode: "too_many_requests",
			waits:    []time.Duration{time.Second, testBackoff(2)},
			outcomes: []string{OutcomeRetry, OutcomeRetry, OutcomeTemporary},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMessage()
			if tt.change != nil {
				tt.change(&m)
			}
			f := newFakeBrevo(t, m, tt.replies...)
			b, p := newTestBrevo(t, f.URL, nil)

			err := b.Send(context.Background(), m)

			if got := f.requests(); got != len(tt.replies) {
				t.Errorf("Brevo got %d requests, want %d", got, len(tt.replies))
			}
			if !slices.Equal(p.Waits(), tt.waits) {
				t.Errorf("waits = %v, want %v", p.Waits(), tt.waits)
			}
			if !slices.Equal(p.Outcomes(), tt.outcomes) {
				t.Errorf("observed outcomes = %v, want %v", p.Outcomes(), tt.outcomes)
			}
			recs := logRecords(t, &p.mu, &p.logs)
			if len(recs) != len(tt.replies) {
				t.Errorf("%d log records, want one per attempt (%d)", len(recs), len(tt.replies))
			}
			for i, rec := range recs {
				wantLevel := "WARN"
				if i < len(tt.outcomes) && tt.outcomes[i] == OutcomeSent {
					wantLevel = "INFO"
				}
				if rec["level"] != wantLevel || rec["attempt"] != float64(i+1) || rec["to"] != "a***@example.com" {
					t.Errorf("log record %d = %v, want level %s, attempt %d, masked recipient", i, rec, wantLevel, i+1)
				}
			}
			p.mu.Lock()
			assertNoLeak(t, "log", p.logs.String(), m)
			p.mu.Unlock()

			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Send() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Send() = %v, want %v", err, tt.wantErr)
			}
			assertNoLeak(t, "error", err.Error(), m)
			var se *SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send() = %T, want *SendError", err)
			}
			if se.Status != tt.wantStatus || se.Code != tt.wantCode || se.Attempts != len(tt.replies) {
				t.Errorf("SendError status %d code %q attempts %d, want %d %q %d",
					se.Status, se.Code, se.Attempts, tt.wantStatus, tt.wantCode, len(tt.replies))
			}
		})
	}
}

func TestBrevoLogRecord(t *testing.T) {
	tests := []struct {
		name    string
		replies []brevoReply
		want    map[string]any // fields of the last record
	}{
		{
			name:    "success",
			replies: []brevoReply{brevoOK},
			want: map[string]any{
				"level": "INFO", "provider": "brevo", "outcome": "sent", "status": float64(201), "attempt": float64(1),
				"latency_ms": float64(7), "to": "a***@example.com", "message_id": testMessageID,
				"idempotency_key": "verify-code:2f1c9e:1", "tags": []any{"verify-code"},
			},
		},
		{
			name:    "permanent failure",
			replies: []brevoReply{brevoError(401, "unauthorized")},
			want: map[string]any{
				"level": "WARN", "provider": "brevo", "outcome": "permanent", "status": float64(401), "attempt": float64(1),
				"latency_ms": float64(7), "to": "a***@example.com", "brevo_code": "unauthorized",
				"brevo_message": "cannot send to a***@example.com with key [redacted]",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMessage()
			f := newFakeBrevo(t, m, tt.replies...)
			b, p := newTestBrevo(t, f.URL, nil)
			_ = b.Send(context.Background(), m)
			recs := logRecords(t, &p.mu, &p.logs)
			if len(recs) == 0 {
				t.Fatal("nothing logged")
			}
			last := recs[len(recs)-1]
			for k, want := range tt.want {
				if !reflect.DeepEqual(last[k], want) {
					t.Errorf("log %s = %#v, want %#v", k, last[k], want)
				}
			}
		})
	}
}

func TestBrevoTimeoutRetries(t *testing.T) {
	tests := []struct {
		name     string
		replies  []brevoReply
		wantErr  error
		outcomes []string
	}{
		{
			name:     "hanging answer times out and is retried",
			replies:  []brevoReply{{hang: true}, brevoOK},
			outcomes: []string{OutcomeRetry, OutcomeSent},
		},
		{
			name:     "hanging every time is temporary",
			replies:  []brevoReply{{hang: true}, {hang: true}, {hang: true}},
			wantErr:  context.DeadlineExceeded,
			outcomes: []string{OutcomeRetry, OutcomeRetry, OutcomeTemporary},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMessage()
			f := newFakeBrevo(t, m, tt.replies...)
			b, p := newTestBrevo(t, f.URL, func(c *BrevoConfig) { c.Timeout = 100 * time.Millisecond })
			start := time.Now()
			err := b.Send(context.Background(), m)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Send took %v; the per-attempt timeout did not work", took)
			}
			if got := f.requests(); got != len(tt.replies) {
				t.Errorf("Brevo got %d requests, want %d", got, len(tt.replies))
			}
			if !slices.Equal(p.Outcomes(), tt.outcomes) {
				t.Errorf("outcomes = %v, want %v", p.Outcomes(), tt.outcomes)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Send() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrTemporary) || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Send() = %v, want ErrTemporary and %v", err, tt.wantErr)
			}
			assertNoLeak(t, "error", err.Error(), m)
		})
	}
}

func TestBrevoContext(t *testing.T) {
	tests := []struct {
		name     string
		replies  []brevoReply
		run      func(t *testing.T, b *Brevo, f *fakeBrevo, m Message) error
		wantErr  error
		requests int
		outcomes []string
	}{
		{
			name: "canceled before sending",
			run: func(t *testing.T, b *Brevo, f *fakeBrevo, m Message) error {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return b.Send(ctx, m)
			},
			wantErr:  context.Canceled,
			requests: 0,
		},
		{
			name:    "canceled while Brevo is answering",
			replies: []brevoReply{{hang: true}},
			run: func(t *testing.T, b *Brevo, f *fakeBrevo, m Message) error {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				go func() {
					<-f.arrived
					cancel()
				}()
				return b.Send(ctx, m)
			},
			wantErr:  context.Canceled,
			requests: 1,
			outcomes: []string{OutcomeCanceled},
		},
		{
			name:    "caller's deadline passes while Brevo is answering",
			replies: []brevoReply{{hang: true}},
			run: func(t *testing.T, b *Brevo, f *fakeBrevo, m Message) error {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				return b.Send(ctx, m)
			},
			wantErr:  context.DeadlineExceeded,
			requests: 1,
			outcomes: []string{OutcomeCanceled},
		},
		{
			name:    "canceled while waiting to retry",
			replies: []brevoReply{brevoError(503, "unavailable")},
			run: func(t *testing.T, b *Brevo, f *fakeBrevo, m Message) error {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				b.sleep = func(ctx context.Context, d time.Duration) error {
					cancel()
					return sleep(ctx, time.Hour)
				}
				return b.Send(ctx, m)
			},
			wantErr:  context.Canceled,
			requests: 1,
			outcomes: []string{OutcomeRetry}, // the wait is canceled, not an attempt
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMessage()
			f := newFakeBrevo(t, m, tt.replies...)
			// A long per-attempt timeout: only the caller's ctx can end these sends quickly.
			b, p := newTestBrevo(t, f.URL, func(c *BrevoConfig) { c.Timeout = time.Minute })
			start := time.Now()
			err := tt.run(t, b, f, m)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Send took %v after ctx ended", took)
			}
			if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrTemporary) {
				t.Fatalf("Send() = %v, want %v and ErrTemporary", err, tt.wantErr)
			}
			if got := f.requests(); got != tt.requests {
				t.Errorf("Brevo got %d requests, want %d", got, tt.requests)
			}
			if !slices.Equal(p.Outcomes(), tt.outcomes) {
				t.Errorf("outcomes = %v, want %v", p.Outcomes(), tt.outcomes)
			}
			p.mu.Lock()
			assertNoLeak(t, "log", p.logs.String(), m)
			p.mu.Unlock()
		})
	}
}

func TestBrevoRefusesInvalidMessage(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Message)
	}{
		{"no recipient", func(m *Message) { m.To = "" }},
		{"no HTML", func(m *Message) { m.HTML = "" }},
		{"subject with line break", func(m *Message) { m.Subject = "a\nb" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMessage()
			tt.change(&m)
			f := newFakeBrevo(t, m)
			b, _ := newTestBrevo(t, f.URL, nil)
			if err := b.Send(context.Background(), m); !errors.Is(err, ErrPermanent) {
				t.Fatalf("Send() = %v, want ErrPermanent", err)
			}
			if got := f.requests(); got != 0 {
				t.Errorf("Brevo got %d requests, want 0", got)
			}
		})
	}
}

func TestRateLimitWait(t *testing.T) {
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", -1},
		{"soon", -1},
		{"-3", -1},
		{"NaN", -1},
		{"0", 0},
		{"1", time.Second},
		{" 2 ", 2 * time.Second},
		{"0.5", 500 * time.Millisecond},
		{"5", maxRateLimitWait},
		{"86400", maxRateLimitWait},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.header), func(t *testing.T) {
			if got := rateLimitWait(tt.header); got != tt.want {
				t.Errorf("rateLimitWait(%q) = %v, want %v", tt.header, got, tt.want)
			}
		})
	}
}

func TestDefaultBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{0, 250 * time.Millisecond},
		{1, 250 * time.Millisecond},
		{2, 500 * time.Millisecond},
		{3, time.Second},
		{5, 4 * time.Second},
		{6, 5 * time.Second},
		{60, 5 * time.Second},
	}
	for _, tt := range tests {
		if got := defaultBackoff(tt.attempt); got != tt.want {
			t.Errorf("defaultBackoff(%d) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
}
