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
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/sms/smstest"
)

const (
	testKey       = "a1b2c3d4"
	testSecret    = "Vonage-SECRET-must-never-leak"
	testTo        = "+447400123456"
	testToDigits  = "447400123456"
	testCode      = "987654"
	testRequestID = "c11236f4-00bf-4b89-84ba-88b25df97315"
	testRunningID = "aaaaaaaa-1111-4222-8333-bbbbbbbbbbbb"
)

// wantRequest is what the fake expects, exactly.
type wantRequest struct {
	method string
	uri    string         // path and query as sent (escaped)
	body   map[string]any // nil: no body, no Content-Type
}

// vonageReply is one scripted answer.
type vonageReply struct {
	status int
	body   string
	hang   bool // answer nothing until the client gives up
}

// problem is an RFC 7807 answer that, like a careless provider, echoes the secret, the number
// and the code: none of them may reach our errors or logs.
func problem(status int, title string, extra ...string) vonageReply {
	fields := []string{
		fmt.Sprintf(`"type":"https://www.developer.vonage.com/api-errors#%d"`, status),
		fmt.Sprintf(`"title":%q`, title+" for "+testToDigits),
		fmt.Sprintf(`"detail":"key %s secret %s number +%s code %s"`, testKey, testSecret, testToDigits, testCode),
		`"instance":"bf0ca0bf927b3b52e3cb03217e1a1ddf"`,
	}
	return vonageReply{status: status, body: "{" + strings.Join(append(fields, extra...), ",") + "}"}
}

// fakeVonage serves Verify v2: it checks the one expected request and answers from a script.
type fakeVonage struct {
	t       *testing.T
	URL     string
	want    wantRequest
	reply   vonageReply
	release chan struct{}

	mu    sync.Mutex
	calls int
}

func newFakeVonage(t *testing.T, want wantRequest, reply vonageReply) *fakeVonage {
	t.Helper()
	f := &fakeVonage{t: t, want: want, reply: reply, release: make(chan struct{})}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(f.release) }) // runs first: ends hanging answers
	f.URL = srv.URL
	return f
}

func (f *fakeVonage) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeVonage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := f.t
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if r.Method != f.want.method || r.RequestURI != f.want.uri {
		t.Errorf("request %s %s, want %s %s", r.Method, r.RequestURI, f.want.method, f.want.uri)
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != testKey || pass != testSecret {
		t.Errorf("Basic auth = %q:%q (%v), want the API key and secret", user, pass, ok)
	}
	if got := r.Header.Get("Accept"); got != "application/json" {
		t.Errorf("Accept = %q", got)
	}
	raw, _ := io.ReadAll(r.Body)
	if f.want.body == nil {
		if len(raw) != 0 || r.Header.Get("Content-Type") != "" {
			t.Errorf("body %q with Content-Type %q, want none", raw, r.Header.Get("Content-Type"))
		}
	} else {
		if got := r.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", got)
		}
		var got map[string]any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&got); err != nil {
			t.Errorf("body %q: %v", raw, err)
		}
		if !reflect.DeepEqual(got, f.want.body) {
			t.Errorf("body = %v\nwant   %v", got, f.want.body)
		}
	}
	if f.reply.hang {
		select {
		case <-r.Context().Done():
		case <-f.release:
		case <-time.After(4 * time.Second):
			w.WriteHeader(http.StatusGatewayTimeout)
		}
		return
	}
	if f.reply.body != "" {
		ct := "application/json"
		if f.reply.status >= 400 {
			ct = "application/problem+json"
		}
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(f.reply.status)
	_, _ = io.WriteString(w, f.reply.body)
}

// probe records what a Vonage client logs and observes.
type probe struct {
	mu       sync.Mutex
	logs     bytes.Buffer
	observed []string // "op outcome"
}

func (p *probe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

func (p *probe) records(t *testing.T) []map[string]any {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(p.logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func newTestVonage(t *testing.T, url string, change func(*VonageConfig)) (*Vonage, *probe) {
	t.Helper()
	p := &probe{}
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var clockMu sync.Mutex
	cfg := VonageConfig{
		APIKey: testKey, APISecret: testSecret, BaseURL: url,
		Logger: slog.New(slog.NewJSONHandler(p, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now: func() time.Time { // every reading is 7 ms after the previous one
			clockMu.Lock()
			defer clockMu.Unlock()
			clock = clock.Add(7 * time.Millisecond)
			return clock
		},
		Observe: func(op, outcome string, d time.Duration) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.observed = append(p.observed, op+" "+outcome)
		},
	}
	if change != nil {
		change(&cfg)
	}
	v, err := NewVonage(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v, p
}

// assertNoLeak fails when s holds the secret, the full number (with or without +) or the code.
func assertNoLeak(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range []string{testSecret, testToDigits, testCode} {
		if strings.Contains(s, secret) {
			t.Errorf("%s holds %q: %s", what, secret, s)
		}
	}
}

func startRequest(voice bool) StartRequest {
	return StartRequest{To: testTo, Brand: "Acme Pay", Locale: "en-gb", ClientRef: "chal-42",
		Voice: voice, ChannelTimeout: 2 * time.Minute}
}

func startBody(voice bool) map[string]any {
	wf := []any{map[string]any{"channel": "sms", "to": testToDigits}}
	if voice {
		wf = append(wf, map[string]any{"channel": "voice", "to": testToDigits})
	}
	return map[string]any{"brand": "Acme Pay", "workflow": wf, "code_length": json.Number("6"),
		"channel_timeout": json.Number("120"), "locale": "en-gb", "client_ref": "chal-42"}
}

func TestVonage(t *testing.T) {
	startURI := "/v2/verify"
	checkURI := "/v2/verify/" + testRequestID
	checkBody := map[string]any{"code": testCode}
	accepted := vonageReply{status: 202, body: `{"request_id":"` + testRequestID + `","check_url":"https://api.nexmo.com/v2/verify/x/silent-auth/redirect"}`}

	start := func(voice bool) func(context.Context, *Vonage) (string, error) {
		return func(ctx context.Context, v *Vonage) (string, error) { return v.Start(ctx, startRequest(voice)) }
	}
	check := func(ctx context.Context, v *Vonage) (string, error) { return "", v.Check(ctx, testRequestID, testCode) }
	next := func(ctx context.Context, v *Vonage) (string, error) { return "", v.NextChannel(ctx, testRequestID) }
	cancel := func(ctx context.Context, v *Vonage) (string, error) { return "", v.Cancel(ctx, testRequestID) }

	tests := []struct {
		name       string
		call       func(context.Context, *Vonage) (string, error)
		want       wantRequest
		reply      vonageReply
		wantErr    error // nil: success
		wantID     string
		conflictID string // for *ConflictError
		outcome    string
	}{
		{name: "start 202 with voice", call: start(true), want: wantRequest{"POST", startURI, startBody(true)},
			reply: accepted, wantID: testRequestID, outcome: OutcomeOK},
		{name: "start 202 sms only", call: start(false), want: wantRequest{"POST", startURI, startBody(false)},
			reply: accepted, wantID: testRequestID, outcome: OutcomeOK},
		{name: "start 202 without request_id", call: start(true), want: wantRequest{"POST", startURI, startBody(true)},
			reply: vonageReply{status: 202, body: `{}`}, wantErr: ErrUnavailable, outcome: OutcomeUnavailable},
		{name: "start 409 carries the running request", call: start(true), want: wantRequest{"POST", startURI, startBody(true)},
			reply:   problem(409, "Conflict", `"request_id":"`+testRunningID+`"`),
			wantErr: ErrConflict, conflictID: testRunningID, outcome: OutcomeConflict},
		{name: "start 422", call: start(true), want: wantRequest{"POST", startURI, startBody(true)},
			reply: problem(422, "Invalid params"), wantErr: ErrInvalid, outcome: OutcomeInvalid},
		{name: "start 429", call: start(true), want: wantRequest{"POST", startURI, startBody(true)},
			reply: problem(429, "Rate Limit Hit"), wantErr: ErrThrottled, outcome: OutcomeThrottled},
		{name: "start 401 bad credentials", call: start(true), want: wantRequest{"POST", startURI, startBody(true)},
			reply: problem(401, "Unauthorized"), wantErr: ErrUnavailable, outcome: OutcomeUnavailable},
		{name: "start 500", call: start(true), want: wantRequest{"POST", startURI, startBody(true)},
			reply: problem(500, "Internal Error"), wantErr: ErrUnavailable, outcome: OutcomeUnavailable},
		{name: "start redirect not followed", call: start(true), want: wantRequest{"POST", startURI, startBody(true)},
			reply: vonageReply{status: 307}, wantErr: ErrUnavailable, outcome: OutcomeUnavailable},

		{name: "check 200 completed", call: check, want: wantRequest{"POST", checkURI, checkBody},
			reply: vonageReply{status: 200, body: `{"request_id":"` + testRequestID + `","status":"completed"}`}, outcome: OutcomeOK},
		{name: "check 200 not completed fails closed", call: check, want: wantRequest{"POST", checkURI, checkBody},
			reply: vonageReply{status: 200, body: `{"status":"pending"}`}, wantErr: ErrUnavailable, outcome: OutcomeUnavailable},
		{name: "check 400 wrong code", call: check, want: wantRequest{"POST", checkURI, checkBody},
			reply: problem(400, "Invalid Code"), wantErr: ErrWrongCode, outcome: OutcomeWrongCode},
		{name: "check 404", call: check, want: wantRequest{"POST", checkURI, checkBody},
			reply: problem(404, "Not Found"), wantErr: ErrNotFound, outcome: OutcomeNotFound},
		{name: "check 410 too many wrong", call: check, want: wantRequest{"POST", checkURI, checkBody},
			reply: problem(410, "Gone"), wantErr: ErrTooManyWrong, outcome: OutcomeTooManyWrong},
		{name: "check 429", call: check, want: wantRequest{"POST", checkURI, checkBody},
			reply: problem(429, "Rate Limit Hit"), wantErr: ErrThrottled, outcome: OutcomeThrottled},
		{name: "check 503", call: check, want: wantRequest{"POST", checkURI, checkBody},
			reply: vonageReply{status: 503, body: "<html>down</html>"}, wantErr: ErrUnavailable, outcome: OutcomeUnavailable},

		{name: "next channel 200", call: next, want: wantRequest{"POST", checkURI + "/next_workflow", nil},
			reply: vonageReply{status: 200, body: `{}`}, outcome: OutcomeOK},
		{name: "next channel 404", call: next, want: wantRequest{"POST", checkURI + "/next_workflow", nil},
			reply: problem(404, "Not Found"), wantErr: ErrNotFound, outcome: OutcomeNotFound},
		{name: "next channel 409 no next step", call: next, want: wantRequest{"POST", checkURI + "/next_workflow", nil},
			reply: problem(409, "Conflict"), wantErr: ErrConflict, outcome: OutcomeConflict},
		{name: "next channel 429", call: next, want: wantRequest{"POST", checkURI + "/next_workflow", nil},
			reply: problem(429, "Rate Limit Hit"), wantErr: ErrThrottled, outcome: OutcomeThrottled},

		{name: "cancel 204", call: cancel, want: wantRequest{"DELETE", checkURI, nil},
			reply: vonageReply{status: 204}, outcome: OutcomeOK},
		{name: "cancel 404", call: cancel, want: wantRequest{"DELETE", checkURI, nil},
			reply: problem(404, "Not Found"), wantErr: ErrNotFound, outcome: OutcomeNotFound},
		{name: "cancel 500", call: cancel, want: wantRequest{"DELETE", checkURI, nil},
			reply: problem(500, "Internal Error"), wantErr: ErrUnavailable, outcome: OutcomeUnavailable},

		{name: "request id is path-escaped", want: wantRequest{"DELETE", "/v2/verify/a%2Fb%3Fc=d%23e", nil},
			call:  func(ctx context.Context, v *Vonage) (string, error) { return "", v.Cancel(ctx, "a/b?c=d#e") },
			reply: vonageReply{status: 204}, outcome: OutcomeOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeVonage(t, tt.want, tt.reply)
			v, p := newTestVonage(t, f.URL+"/", nil) // a trailing slash must not double
			id, err := tt.call(context.Background(), v)

			if got := f.requests(); got != 1 {
				t.Errorf("Vonage got %d requests, want exactly 1 (no retries)", got)
			}
			if id != tt.wantID {
				t.Errorf("request id = %q, want %q", id, tt.wantID)
			}
			if tt.wantErr == nil && err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				assertNoLeak(t, "error", err.Error())
			}
			var ce *ConflictError
			if errors.As(err, &ce) != (tt.conflictID != "") || (ce != nil && ce.RequestID != tt.conflictID) {
				t.Errorf("err = %#v, want a ConflictError with %q: %v", err, tt.conflictID, ce)
			}
			op := strings.Fields(tt.name)[0]
			wantOp := map[string]string{"start": OpStart, "check": OpCheck, "next": OpNextChannel, "cancel": OpCancel, "request": OpCancel}[op]
			if !slices.Equal(p.observed, []string{wantOp + " " + tt.outcome}) {
				t.Errorf("observed %v, want [%s %s]", p.observed, wantOp, tt.outcome)
			}
			recs := p.records(t)
			if len(recs) != 1 {
				t.Fatalf("%d log records, want 1", len(recs))
			}
			rec := recs[0]
			if rec["op"] != wantOp || rec["outcome"] != tt.outcome || rec["status"] != float64(tt.reply.status) ||
				rec["latency_ms"] != float64(7) || rec["provider"] != "vonage" {
				t.Errorf("log record %v", rec)
			}
			if wantOp == OpStart && rec["to"] != "+44******3456" {
				t.Errorf("log to = %v, want the masked number", rec["to"])
			}
			if tt.wantID != "" && rec["verification_id"] != tt.wantID {
				t.Errorf("log verification_id = %v, want %s", rec["verification_id"], tt.wantID)
			}
			p.mu.Lock()
			assertNoLeak(t, "log", p.logs.String())
			p.mu.Unlock()
		})
	}
}

func TestVonageProblemIsLoggedRedacted(t *testing.T) {
	f := newFakeVonage(t, wantRequest{"POST", "/v2/verify/" + testRequestID, map[string]any{"code": testCode}}, problem(400, "Invalid Code"))
	v, p := newTestVonage(t, f.URL, nil)
	_ = v.Check(context.Background(), testRequestID, testCode)
	rec := p.records(t)[0]
	want := map[string]any{
		"problem_type":     "https://www.developer.vonage.com/api-errors#400",
		"problem_title":    "Invalid Code for [digits]",
		"problem_detail":   "key [redacted] secret [redacted] number [digits] code [digits]",
		"problem_instance": "bf0ca0bf927b3b52e3cb03217e1a1ddf",
		"verification_id":  testRequestID,
	}
	for k, w := range want {
		if rec[k] != w {
			t.Errorf("log %s = %q, want %q", k, rec[k], w)
		}
	}
}

func TestVonageTimeout(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		timeout time.Duration
		outcome string
		wantCtx error
	}{
		{name: "hanging server, client timeout", timeout: 100 * time.Millisecond, outcome: OutcomeUnavailable, wantCtx: context.DeadlineExceeded,
			ctx: func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
		{name: "hanging server, caller's deadline", timeout: time.Minute, outcome: OutcomeCanceled, wantCtx: context.DeadlineExceeded,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeVonage(t, wantRequest{"POST", "/v2/verify", startBody(true)}, vonageReply{hang: true})
			v, p := newTestVonage(t, f.URL, func(c *VonageConfig) { c.Timeout = tt.timeout })
			ctx, cancel := tt.ctx()
			defer cancel()
			began := time.Now()
			id, err := v.Start(ctx, startRequest(true))
			if took := time.Since(began); took > 2*time.Second {
				t.Errorf("Start took %v", took)
			}
			if id != "" || !errors.Is(err, ErrUnavailable) || !errors.Is(err, tt.wantCtx) {
				t.Fatalf("Start = %q, %v; want ErrUnavailable and %v", id, err, tt.wantCtx)
			}
			if f.requests() != 1 {
				t.Errorf("%d requests, want 1: Start is never retried", f.requests())
			}
			if !slices.Equal(p.observed, []string{OpStart + " " + tt.outcome}) {
				t.Errorf("observed %v", p.observed)
			}
			assertNoLeak(t, "error", err.Error())
			p.mu.Lock()
			assertNoLeak(t, "log", p.logs.String())
			p.mu.Unlock()
		})
	}
}

func TestVonageRefusesBeforeCalling(t *testing.T) {
	tests := []struct {
		name    string
		call    func(*Vonage) error
		wantErr error
	}{
		{"number without +", func(v *Vonage) error {
			r := startRequest(true)
			r.To = testToDigits
			_, err := v.Start(context.Background(), r)
			return err
		}, ErrInvalid},
		{"no brand", func(v *Vonage) error {
			r := startRequest(true)
			r.Brand = " "
			_, err := v.Start(context.Background(), r)
			return err
		}, ErrInvalid},
		{"brand over 16 characters", func(v *Vonage) error {
			r := startRequest(true)
			r.Brand = strings.Repeat("é", 17)
			_, err := v.Start(context.Background(), r)
			return err
		}, ErrInvalid},
		{"client reference over 16 characters", func(v *Vonage) error {
			r := startRequest(true)
			r.ClientRef = strings.Repeat("a", 17)
			_, err := v.Start(context.Background(), r)
			return err
		}, ErrInvalid},
		{"channel timeout too short", func(v *Vonage) error {
			r := startRequest(true)
			r.ChannelTimeout = time.Second
			_, err := v.Start(context.Background(), r)
			return err
		}, ErrInvalid},
		{"code with letters", func(v *Vonage) error { return v.Check(context.Background(), testRequestID, "12ab56") }, ErrInvalid},
		{"empty request id", func(v *Vonage) error { return v.Check(context.Background(), "", testCode) }, ErrNotFound},
		{"dot-dot request id", func(v *Vonage) error { return v.Cancel(context.Background(), "..") }, ErrNotFound},
		{"request id with a line break", func(v *Vonage) error { return v.NextChannel(context.Background(), "a\nb") }, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeVonage(t, wantRequest{}, vonageReply{status: 500})
			v, p := newTestVonage(t, f.URL, nil)
			if err := tt.call(v); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			} else {
				assertNoLeak(t, "error", err.Error())
			}
			if f.requests() != 0 {
				t.Errorf("Vonage got %d requests, want 0", f.requests())
			}
			p.mu.Lock()
			assertNoLeak(t, "log", p.logs.String())
			p.mu.Unlock()
		})
	}
}

func TestNewVonage(t *testing.T) {
	tests := []struct {
		name     string
		cfg      VonageConfig
		wantBase string // "" = error
	}{
		{"defaults", VonageConfig{APIKey: testKey, APISecret: testSecret}, DefaultVonageURL},
		{"trailing slash", VonageConfig{APIKey: testKey, APISecret: testSecret, BaseURL: "http://localhost:9/"}, "http://localhost:9"},
		{"no secret", VonageConfig{APIKey: testKey}, ""},
		{"no key", VonageConfig{APISecret: testSecret}, ""},
		{"ftp URL", VonageConfig{APIKey: testKey, APISecret: testSecret, BaseURL: "ftp://x"}, ""},
		{"URL with credentials", VonageConfig{APIKey: testKey, APISecret: testSecret, BaseURL: "https://u:" + testSecret + "@x"}, ""},
		{"negative timeout", VonageConfig{APIKey: testKey, APISecret: testSecret, Timeout: -1}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVonage(tt.cfg)
			if tt.wantBase == "" {
				if err == nil {
					t.Fatal("NewVonage succeeded, want an error")
				}
				assertNoLeak(t, "error", err.Error())
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.base != tt.wantBase || v.timeout != 10*time.Second || v.log == nil || v.now == nil || v.client.CheckRedirect == nil {
				t.Errorf("defaults not applied: %+v", v)
			}
		})
	}
}

func TestNewVonageKeepsCallersClient(t *testing.T) {
	hc := &http.Client{Timeout: time.Minute}
	v, err := NewVonage(VonageConfig{APIKey: testKey, APISecret: testSecret, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	if hc.CheckRedirect != nil || v.client == hc || v.client.Timeout != time.Minute {
		t.Error("Vonage's client is not a copy of the caller's that refuses redirects")
	}
}

// TestFakeRefusesWhatVonageRefuses: the fake answers a brand or client_ref over 16 characters
// with 422 as Vonage does, and takes 16 (counted in characters, not bytes).
func TestFakeRefusesWhatVonageRefuses(t *testing.T) {
	fake := smstest.New()
	t.Cleanup(fake.Close)
	for _, tc := range []struct {
		name, brand, ref string
		want             int
	}{
		{"16 characters each", strings.Repeat("é", 16), strings.Repeat("a", 16), http.StatusAccepted},
		{"brand of 17", strings.Repeat("b", 17), "ref", http.StatusUnprocessableEntity},
		{"client_ref of 17", "Acme", strings.Repeat("r", 17), http.StatusUnprocessableEntity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"brand": tc.brand, "client_ref": tc.ref, "code_length": 6,
				"workflow": []map[string]string{{"channel": "sms", "to": "447700900" + fmt.Sprint(100+len(tc.name))}}})
			req, _ := http.NewRequest(http.MethodPost, fake.URL+"/v2/verify", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.SetBasicAuth(fake.Key, fake.Secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}
