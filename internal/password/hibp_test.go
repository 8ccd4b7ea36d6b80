package password

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/password/hibptest"
)

const (
	breachedPW = "Tr0ub4dor&3 goes to the races" // accepted offline, breached in the fake
	cleanPW    = "purple elephant dances at midnight"
)

// TestHIBPContract runs the real client against the fake of the range API: what is sent (only
// the 5-character prefix, Add-Padding), how counts and padding are read, and that every failure
// of the API is an error, never a silent "not breached".
func TestHIBPContract(t *testing.T) {
	fake := hibptest.New(t)
	fake.Add(breachedPW, 42)
	fake.Add("seen but padded out", 0)
	h := &HIBP{BaseURL: fake.URL, UserAgent: "idp-test"}
	ctx := context.Background()

	tests := []struct {
		name    string
		fail    []hibptest.Failure
		pw      string
		want    bool
		wantErr error // nil: no error; errAny: some error
	}{
		{"breached", nil, breachedPW, true, nil},
		{"not breached", nil, cleanPW, false, nil},
		{"count 0 is padding", nil, "seen but padded out", false, nil},
		{"server error", []hibptest.Failure{{Status: http.StatusServiceUnavailable, Body: "error code: 503"}}, breachedPW, false, ErrBreachCheckStatus},
		{"rate limited", []hibptest.Failure{{Status: http.StatusTooManyRequests}}, breachedPW, false, ErrBreachCheckStatus},
		{"bad request", []hibptest.Failure{{Status: http.StatusBadRequest, Body: "The hash prefix was not in a valid format"}}, breachedPW, false, ErrBreachCheckStatus},
		{"html instead of a range", []hibptest.Failure{{Status: 200, Body: "<html>captive portal</html>"}}, cleanPW, false, ErrBreachCheckBody},
		{"empty range", []hibptest.Failure{{Status: 200, Body: ""}}, cleanPW, false, ErrBreachCheckBody},
		{"bad count", []hibptest.Failure{{Status: 200, Body: "0000000000000000000000000000000000A:many\r\n"}}, cleanPW, false, ErrBreachCheckBody},
		{"lower-case suffix", []hibptest.Failure{{Status: 200, Body: "0000000000000000000000000000000000a:1\r\n"}}, cleanPW, false, ErrBreachCheckBody},
		{"timeout", []hibptest.Failure{{Hang: true}}, cleanPW, false, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake.Fail(tt.fail...)
			c := *h
			if slices.ContainsFunc(tt.fail, func(f hibptest.Failure) bool { return f.Hang }) {
				c.Timeout = 100 * time.Millisecond // the fake hangs until the client gives up
			}
			got, err := c.Breached(ctx, tt.pw)
			if got != tt.want {
				t.Errorf("Breached() = %v, want %v", got, tt.want)
			}
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("error = %v, want none", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
		})
	}

	// k-anonymity: only the first 5 hexadecimal characters of the SHA-1 leave the server.
	sum := sha1.Sum([]byte(breachedPW))
	full := strings.ToUpper(hex.EncodeToString(sum[:]))
	for _, r := range fake.Requests() {
		if r.Method != http.MethodGet || r.Header.Get("Add-Padding") != "true" || r.Header.Get("User-Agent") != "idp-test" {
			t.Errorf("request %s %s: Add-Padding %q, User-Agent %q", r.Method, r.Path, r.Header.Get("Add-Padding"), r.Header.Get("User-Agent"))
		}
		if len(strings.TrimPrefix(r.Path, "/range/")) != 5 || r.Query != "" {
			t.Errorf("request path %q query %q: want /range/ and 5 characters", r.Path, r.Query)
		}
		for _, v := range append([]string{r.Path, r.Query}, headerValues(r.Header)...) {
			if strings.Contains(strings.ToUpper(v), full[5:]) || strings.Contains(v, breachedPW) {
				t.Errorf("request carries more than the prefix: %q", v)
			}
		}
	}
}

func headerValues(h http.Header) []string {
	var vs []string
	for _, v := range h {
		vs = append(vs, v...)
	}
	return vs
}

// TestHIBPUnreachable: a refused connection is an error.
func TestHIBPUnreachable(t *testing.T) {
	fake := hibptest.New(t)
	url := fake.URL
	fake.Close()
	if _, err := (&HIBP{BaseURL: url}).Breached(context.Background(), cleanPW); err == nil {
		t.Fatal("Breached() against a closed server: no error")
	}
}

// TestPolicyBreachCheck: the policy asks the breach checker only about passwords the offline
// rules accept, says why it refuses, and fails closed when the check cannot answer.
func TestPolicyBreachCheck(t *testing.T) {
	fake := hibptest.New(t)
	fake.Add(breachedPW, 3)
	fake.Add(Normalize("ｐａｓｓｗｏｒｄ of the ｍｏｏｎ river"), 1) // full-width: checked in NFKC form
	p := Policy{Breaches: &HIBP{BaseURL: fake.URL, Timeout: 100 * time.Millisecond}}
	ctx := context.Background()

	tests := []struct {
		name    string
		fail    []hibptest.Failure
		pw      string
		want    []string
		wantErr bool
		asked   bool
	}{
		{"breached", nil, breachedPW, []string{CodeBreached}, false, true},
		{"breached after normalisation", nil, "ｐａｓｓｗｏｒｄ of the ｍｏｏｎ river", []string{CodeBreached}, false, true},
		{"clean", nil, cleanPW, nil, false, true},
		{"refused offline, not asked", nil, "password1234567", []string{CodeVariant}, false, false},
		{"too short, not asked", nil, "zq8!v", []string{CodeTooShort}, false, false},
		{"API down: fail closed", []hibptest.Failure{{Status: http.StatusBadGateway}}, cleanPW, []string{CodeUnchecked}, true, true},
		{"API hangs: fail closed", []hibptest.Failure{{Hang: true}}, cleanPW, []string{CodeUnchecked}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake.Fail(tt.fail...)
			before := len(fake.Requests())
			vs, err := p.Check(ctx, tt.pw, "someone@example.com")
			var codes []string
			for _, v := range vs {
				codes = append(codes, v.Code)
				if v.Code == CodeBreached && !strings.Contains(v.Message, "appears in known data breaches") {
					t.Errorf("message %q does not say why", v.Message)
				}
			}
			if !slices.Equal(codes, tt.want) {
				t.Errorf("codes = %q, want %q", codes, tt.want)
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("error = %v, want error %v", err, tt.wantErr)
			}
			if asked := len(fake.Requests()) > before; asked != tt.asked {
				t.Errorf("asked the API: %v, want %v", asked, tt.asked)
			}
		})
	}
}
