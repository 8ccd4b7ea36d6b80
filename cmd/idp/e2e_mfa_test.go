package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/fintech-idp/idp/internal/sms/smstest"
)

// mfaE2EPhone is a UK mobile number; mfaE2EDigits is what must never appear in a log (only the
// masked form may).
const (
	mfaE2EPhone  = "+447400123456"
	mfaE2EDigits = "447400123456"
)

var (
	mfaE2EHandle        = regexp.MustCompile(`name="h" value="([^"]+)"`)
	mfaE2ERecoveryLink  = regexp.MustCompile(`id="use-recovery" href="([^"]+)"`)
	mfaE2ERecoveryCodes = regexp.MustCompile(`<code>([a-z2-9]{5}-[a-z2-9]{5})</code>`)
)

// TestEndToEndMFA drives SMS two-step through the real `idp serve` with the real Vonage client
// (VONAGE_* settings) talking to the stateful Vonage fake, and go-oidc/x/oauth2 as the relying
// party, on both stores: enrolment from /account → sign-in with the SMS code (acr mfa) →
// sign-in with a recovery code → SSO and step-up with acr_values=mfa → Vonage down (fail
// closed, a recovery code still works) → every verification concluded → metrics → logs free of
// codes, numbers and secrets.
func TestEndToEndMFA(t *testing.T) {
	for name, dbURL := range storeEnvs(t) {
		t.Run(name, func(t *testing.T) {
			began := time.Now()
			fake := smstest.New()
			t.Cleanup(fake.Close) // registered before the server: the server stops first
			f := setupFlowWith(t, dbURL(t), map[string]string{
				"VONAGE_API_KEY":    fake.Key,
				"VONAGE_API_SECRET": fake.Secret,
				"VONAGE_API_URL":    fake.URL,
				// The flow asks for 5 codes to one number within seconds (every ask counts,
				// the failed one too); the default of 3 per 10 minutes would (rightly) refuse
				// the step-up.
				"IDP_SMS_LIMIT_NUMBER_10M":  "20",
				"IDP_SMS_LIMIT_NUMBER_HOUR": "20",
			})
			ctx := context.Background()
			var smsCodes []string // every code the fake issued: none may appear in the log
			newCode := func(t *testing.T) string {
				t.Helper()
				c := fake.Code(mfaE2EPhone)
				if n := len(fake.Starts()); c == "" || n != len(smsCodes)+1 {
					t.Fatalf("want exactly one new verification to %s, the fake got %d starts after %d codes", mfaE2EPhone, n, len(smsCodes))
				}
				smsCodes = append(smsCodes, c)
				return c
			}

			// Discovery names both acr values.
			var disc struct {
				ACR []string `json:"acr_values_supported"`
			}
			if err := f.provider.Claims(&disc); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(disc.ACR, []string{"pwd", "mfa"}) {
				t.Errorf("acr_values_supported = %v, want [pwd mfa]", disc.ACR)
			}

			// 1. Enrolment from /account: sign in there (no auth request), turn two-step on.
			account := newBrowser(t)
			resp, _ := mfaGet(t, account, f.idp.issuer+"/login")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /login: %d", resp.StatusCode)
			}
			resp, _ = mfaPost(t, account, f.idp.issuer+"/login", url.Values{"email": {f.email}, "password": {f.password}})
			if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/account" {
				t.Fatalf("sign-in to the account page ended at %s with %d", resp.Request.URL.Path, resp.StatusCode)
			}
			resp, page := mfaPost(t, account, f.idp.issuer+"/account/two-step", url.Values{"phone": {mfaE2EPhone}, "consent": {"yes"}})
			if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/mfa" || !strings.Contains(page, "Confirm your phone number") {
				t.Fatalf("enrolment ended at %s with %d: %.400s", resp.Request.URL.Path, resp.StatusCode, page)
			}
			if !strings.Contains(html.UnescapeString(page), "+44******3456") {
				t.Errorf("the enrolment code page does not show the masked number")
			}
			resp, page = mfaPost(t, account, f.idp.issuer+"/mfa", url.Values{"h": {mfaHandleFrom(t, page)}, "code": {newCode(t)}})
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Save your recovery codes") {
				t.Fatalf("enrolment code answered %d: %.400s", resp.StatusCode, page)
			}
			var recovery []string
			for _, m := range mfaE2ERecoveryCodes.FindAllStringSubmatch(page, -1) {
				recovery = append(recovery, m[1])
			}
			if len(recovery) != 10 || len(slices.Compact(slices.Sorted(slices.Values(recovery)))) != 10 {
				t.Fatalf("recovery codes page shows %d codes (%d distinct), want 10", len(recovery), len(slices.Compact(slices.Sorted(slices.Values(recovery)))))
			}
			if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
				t.Errorf("recovery codes page Cache-Control = %q", cc)
			}
			f.keep(recovery...)
			for _, c := range recovery {
				f.keep(strings.ReplaceAll(c, "-", ""))
			}

			// 2. A fresh browser: code flow with PKCE; the password lands on /mfa, not the RP.
			b2 := newBrowser(t)
			a := f.mfaAuthURL()
			status, page := signIn(t, b2, a.url, f.email, f.password)
			if status != http.StatusOK || !strings.Contains(page, `action="/mfa"`) || !strings.Contains(html.UnescapeString(page), "+44******3456") {
				t.Fatalf("password step ended with %d, not on the code page: %.400s", status, page)
			}
			mfaNoRedirect(t, f.rp, "after the password alone")
			resp, body := mfaPost(t, b2, f.idp.issuer+"/mfa", url.Values{"h": {mfaHandleFrom(t, page)}, "code": {newCode(t)}})
			if body != "rp ok" {
				t.Fatalf("SMS code answered %d: %.400s", resp.StatusCode, body)
			}
			tok, idt := f.mfaFinish(t, a)
			c := mfaClaimsOf(t, idt)
			if c.ACR != "mfa" || !slices.Equal(c.AMR, []string{"pwd", "sms", "mfa"}) || c.MFAEnabled == nil || !*c.MFAEnabled {
				t.Errorf("SMS sign-in: acr %q amr %v mfa_enabled %v", c.ACR, c.AMR, c.MFAEnabled)
			}
			sub := idt.Subject
			ui, err := f.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			var uic map[string]any
			if err := ui.Claims(&uic); err != nil {
				t.Fatal(err)
			}
			if uic["mfa_enabled"] != true || ui.Subject != sub {
				t.Errorf("userinfo after SMS sign-in = %v", uic)
			}

			// 3. Another browser signs in with a recovery code instead (an SMS was started: the
			// recovery code must cancel it).
			b3 := newBrowser(t)
			a = f.mfaAuthURL()
			status, page = signIn(t, b3, a.url, f.email, f.password)
			if status != http.StatusOK || !strings.Contains(page, `action="/mfa"`) {
				t.Fatalf("password step ended with %d: %.400s", status, page)
			}
			newCode(t) // sent, never entered
			h := mfaHandleFrom(t, page)
			resp, page = mfaGet(t, b3, f.idp.issuer+"/mfa/recovery?h="+url.QueryEscape(h))
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="/mfa/recovery"`) {
				t.Fatalf("recovery page: %d %.400s", resp.StatusCode, page)
			}
			resp, body = mfaPost(t, b3, f.idp.issuer+"/mfa/recovery", url.Values{"h": {mfaHandleFrom(t, page)}, "code": {recovery[0]}})
			if body != "rp ok" {
				t.Fatalf("recovery code answered %d: %.400s", resp.StatusCode, body)
			}
			_, idt = f.mfaFinish(t, a)
			if c := mfaClaimsOf(t, idt); c.ACR != "mfa" || !slices.Equal(c.AMR, []string{"pwd", "mfa"}) || idt.Subject != sub {
				t.Errorf("recovery sign-in: acr %q amr %v", c.ACR, c.AMR)
			}
			if ev := mfaAuditEvents(t, f.idp, "recovery_code.used"); len(ev) != 1 || ev[0].UserID != sub ||
				ev[0].Detail["for"] != "login" || ev[0].Detail["left"] != "9" {
				t.Errorf("recovery_code.used audit events = %+v", ev)
			}
			if u := fake.Unconcluded(); len(u) != 0 {
				t.Errorf("after the recovery code %d verification(s) still run at Vonage: %v", len(u), u)
			}

			// 4. SSO: the session of step 2 (acr mfa) answers acr_values=mfa without a prompt
			// and without an SMS.
			starts := len(fake.Starts())
			a = f.mfaAuthURL(oauth2.SetAuthURLParam("acr_values", "mfa"))
			if status, body := signIn(t, b2, a.url, f.email, f.password); body != "rp ok" {
				t.Fatalf("SSO with an mfa session ended with %d: %.400s", status, body)
			}
			_, idt = f.mfaFinish(t, a)
			if c := mfaClaimsOf(t, idt); c.ACR != "mfa" || !slices.Equal(c.AMR, []string{"pwd", "sms", "mfa"}) {
				t.Errorf("SSO answer: acr %q amr %v", c.ACR, c.AMR)
			}
			if n := len(fake.Starts()); n != starts {
				t.Errorf("SSO with an mfa session sent %d SMS", n-starts)
			}
			// Step-up: the /account browser's session is password-only (enrolment does not
			// upgrade it). prompt=none cannot step up…
			a = f.mfaAuthURL(oauth2.SetAuthURLParam("acr_values", "mfa"), oauth2.SetAuthURLParam("prompt", "none"))
			mfaGet(t, account, a.url)
			if q := f.rp.next(t); q.Get("error") != "interaction_required" || q.Get("code") != "" || q.Get("state") != a.state {
				t.Errorf("prompt=none on a password-only session answered %v", q)
			}
			// …an interactive request asks for the second factor, and sends the code only when asked.
			a = f.mfaAuthURL(oauth2.SetAuthURLParam("acr_values", "mfa"))
			resp, page = mfaGet(t, account, a.url)
			if resp.Request.URL.Path != "/mfa" || !strings.Contains(page, `id="send"`) || strings.Contains(page, `name="password"`) {
				t.Fatalf("step-up ended at %s with %d: %.400s", resp.Request.URL.Path, resp.StatusCode, page)
			}
			if n := len(fake.Starts()); n != starts {
				t.Errorf("the step-up page sent an SMS before being asked")
			}
			resp, page = mfaPost(t, account, f.idp.issuer+"/mfa/resend", url.Values{"h": {mfaHandleFrom(t, page)}})
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="/mfa"`) || !strings.Contains(page, `autocomplete="one-time-code"`) {
				t.Fatalf("step-up send answered %d: %.400s", resp.StatusCode, page)
			}
			mfaNoRedirect(t, f.rp, "before the step-up code")
			resp, body = mfaPost(t, account, f.idp.issuer+"/mfa", url.Values{"h": {mfaHandleFrom(t, page)}, "code": {newCode(t)}})
			if body != "rp ok" {
				t.Fatalf("step-up code answered %d: %.400s", resp.StatusCode, body)
			}
			_, idt = f.mfaFinish(t, a)
			if c := mfaClaimsOf(t, idt); c.ACR != "mfa" || !slices.Equal(c.AMR, []string{"pwd", "sms", "mfa"}) || idt.Subject != sub {
				t.Errorf("step-up answer: acr %q amr %v", c.ACR, c.AMR)
			}

			// 5. Vonage down: the password step fails closed with a 503 page that offers a
			// recovery code; the RP gets nothing until the second factor passes.
			fake.FailNext(smstest.OpStart, http.StatusServiceUnavailable)
			b5 := newBrowser(t)
			a = f.mfaAuthURL()
			status, page = signIn(t, b5, a.url, f.email, f.password)
			if status != http.StatusServiceUnavailable || !strings.Contains(html.UnescapeString(page), "We can't send codes by text message right now.") {
				t.Fatalf("password step with Vonage down answered %d: %.400s", status, page)
			}
			if strings.Contains(page, "Scripted failure") || strings.Contains(page, "503 Service") {
				t.Errorf("the page shows the provider's answer")
			}
			link := mfaE2ERecoveryLink.FindStringSubmatch(page)
			if link == nil {
				t.Fatalf("the 503 page offers no recovery code: %.600s", page)
			}
			mfaNoRedirect(t, f.rp, "with Vonage down")
			resp, page = mfaGet(t, b5, f.idp.issuer+html.UnescapeString(link[1]))
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="/mfa/recovery"`) {
				t.Fatalf("recovery link: %d %.400s", resp.StatusCode, page)
			}
			h = mfaHandleFrom(t, page)
			resp, page = mfaPost(t, b5, f.idp.issuer+"/mfa/recovery", url.Values{"h": {h}, "code": {strings.ToUpper(recovery[0])}})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "already used") {
				t.Errorf("a used recovery code answered %d: %.400s", resp.StatusCode, page)
			}
			mfaNoRedirect(t, f.rp, "after a used recovery code")
			// Typed as people do: upper case, a space instead of the dash.
			resp, body = mfaPost(t, b5, f.idp.issuer+"/mfa/recovery", url.Values{"h": {h}, "code": {strings.ToUpper(strings.Replace(recovery[1], "-", " ", 1))}})
			if body != "rp ok" {
				t.Fatalf("recovery code with Vonage down answered %d: %.400s", resp.StatusCode, body)
			}
			_, idt = f.mfaFinish(t, a)
			if c := mfaClaimsOf(t, idt); c.ACR != "mfa" || !slices.Equal(c.AMR, []string{"pwd", "mfa"}) {
				t.Errorf("recovery sign-in with Vonage down: acr %q amr %v", c.ACR, c.AMR)
			}
			if ev := mfaAuditEvents(t, f.idp, "recovery_code.used"); len(ev) != 2 {
				t.Errorf("recovery_code.used audit events = %d, want 2", len(ev))
			}

			// 6. Every verification the IdP started was checked or cancelled, and each went to
			// the number with the voice fallback and a 16-hex client_ref.
			if u := fake.Unconcluded(); len(u) != 0 {
				t.Errorf("%d verification(s) never checked or cancelled: %v", len(u), u)
			}
			st := fake.Starts()
			if len(st) != len(smsCodes) || len(st) != 4 {
				t.Errorf("the fake received %d starts, the test saw %d codes, want 4", len(st), len(smsCodes))
			}
			hex16 := regexp.MustCompile(`^[0-9a-f]{16}$`)
			for i, s := range st {
				if s.To != mfaE2EPhone || !slices.Equal(s.Channels, []string{"sms", "voice"}) || !hex16.MatchString(s.ClientRef) || s.Brand == "" || s.CodeLen != 6 {
					t.Errorf("start %d = %+v", i, s)
				}
			}

			// 7. Metrics.
			resp, err = http.Get(f.idp.metrics)
			if err != nil {
				t.Fatal(err)
			}
			mb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			metrics := string(mb)
			for _, m := range []struct {
				name   string
				labels map[string]string
			}{
				{"idp_external_call_duration_seconds_count", map[string]string{"provider": "vonage", "outcome": "ok"}},
				{"idp_external_call_duration_seconds_count", map[string]string{"provider": "vonage", "outcome": "error"}},
				{"idp_external_call_errors_total", map[string]string{"provider": "vonage"}},
				{"idp_codes_sent_total", map[string]string{"channel": "sms", "outcome": "sent"}},
				{"idp_codes_sent_total", map[string]string{"channel": "sms", "outcome": "failed"}},
				{"idp_codes_checked_total", map[string]string{"channel": "sms", "outcome": "ok"}},
			} {
				if v := mfaMetric(metrics, m.name, m.labels); v <= 0 {
					t.Errorf("metric %s%v = %v, want > 0", m.name, m.labels, v)
				}
			}
			if v := mfaMetric(metrics, "idp_codes_sent_total", map[string]string{"channel": "sms", "outcome": "sent"}); v != 4 {
				t.Errorf(`idp_codes_sent_total{channel="sms",outcome="sent"} = %v, want 4`, v)
			}
			if v := mfaMetric(metrics, "idp_codes_checked_total", map[string]string{"channel": "sms", "outcome": "ok"}); v != 3 {
				t.Errorf(`idp_codes_checked_total{channel="sms",outcome="ok"} = %v, want 3`, v)
			}

			// 8. The log holds no SMS code, Vonage secret, full number, recovery code or token.
			logs := f.idp.stderr.String()
			if !strings.Contains(logs, "+44******3456") {
				t.Error("the log never names the (masked) number: is the Vonage client logging at all?")
			}
			for _, s := range append([]string{fake.Secret, mfaE2EDigits, "7400123456"}, f.secrets...) {
				if strings.Contains(logs, s) {
					t.Errorf("the server log contains a secret or the number (%.8s…)", s)
				}
			}
			for _, c := range smsCodes {
				// A code is 6 digits: look for it as a word of its own, not inside timestamps,
				// ports or hex ids, where it could turn up by chance.
				if regexp.MustCompile(`(^|[^0-9A-Za-z])` + c + `([^0-9A-Za-z]|$)`).MatchString(logs) {
					t.Errorf("the server log contains an SMS code (%.2s…)", c)
				}
			}
			t.Logf("%s: %s", name, time.Since(began).Round(time.Millisecond))
		})
	}
}

// mfaAuth is one authorization request of the relying party.
type mfaAuth struct {
	url, verifier, state, nonce string
}

// mfaAuthURL builds a code flow request with PKCE S256, state and nonce.
func (f *flowEnv) mfaAuthURL(extra ...oauth2.AuthCodeOption) mfaAuth {
	a := mfaAuth{verifier: oauth2.GenerateVerifier(), state: oauth2.GenerateVerifier(), nonce: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.verifier), oidc.Nonce(a.nonce)}, extra...)
	a.url = f.oauth.AuthCodeURL(a.state, opts...)
	return a
}

// mfaFinish takes the code the relying party received for a, exchanges it and verifies the ID
// token (go-oidc).
func (f *flowEnv) mfaFinish(t *testing.T, a mfaAuth) (*oauth2.Token, *oidc.IDToken) {
	t.Helper()
	q := f.rp.next(t)
	if q.Get("state") != a.state || q.Get("code") == "" {
		t.Fatalf("the relying party got %v", q)
	}
	tok, err := f.oauth.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	f.keep(q.Get("code"), tok.AccessToken, tok.RefreshToken, raw, a.verifier, a.state, a.nonce)
	idt, err := f.verifier.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("verify id token: %v", err)
	}
	if idt.Nonce != a.nonce {
		t.Fatal("nonce mismatch")
	}
	return tok, idt
}

type mfaIDClaims struct {
	ACR        string   `json:"acr"`
	AMR        []string `json:"amr"`
	MFAEnabled *bool    `json:"mfa_enabled"`
}

func mfaClaimsOf(t *testing.T, idt *oidc.IDToken) mfaIDClaims {
	t.Helper()
	var c mfaIDClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// mfaGet and mfaPost act like the browser b (same-origin form posts, redirects followed) and
// return the final response with its body read.
func mfaGet(t *testing.T, b *http.Client, target string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	return mfaDo(t, b, req)
}

func mfaPost(t *testing.T, b *http.Client, target string, form url.Values) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", req.URL.Scheme+"://"+req.URL.Host)
	return mfaDo(t, b, req)
}

func mfaDo(t *testing.T, b *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// mfaHandleFrom returns the sealed page handle of a second-factor page.
func mfaHandleFrom(t *testing.T, page string) string {
	t.Helper()
	m := mfaE2EHandle.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no handle on the page: %.400s", page)
	}
	return html.UnescapeString(m[1])
}

// mfaNoRedirect fails when the relying party received anything (a code must come only after the
// second factor).
// mfaNoRedirect: the step just taken sent nothing to the relying party. This is exact, not a
// wait that load could outrun: the browser client follows every redirect before its request
// returns, and the relying party queues what it received before it answers, so whatever the
// step sent there is already in the queue when this runs.
func mfaNoRedirect(t *testing.T, r *rp, when string) {
	t.Helper()
	select {
	case q := <-r.codes:
		t.Fatalf("the relying party got a redirect %s: %v", when, q)
	default:
	}
}

type mfaAuditEvent struct {
	Type   string            `json:"type"`
	UserID string            `json:"user_id"`
	Detail map[string]string `json:"detail"`
}

// mfaAuditEvents lists the audit events of one type through `idp audit search`.
func mfaAuditEvents(t *testing.T, p *testIdP, typ string) []mfaAuditEvent {
	t.Helper()
	var out []mfaAuditEvent
	for _, line := range strings.Split(strings.TrimSpace(p.cli(t, "", "audit", "search", "--type", typ, "--json")), "\n") {
		if line == "" {
			continue
		}
		var ev mfaAuditEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if ev.Type != typ {
			t.Errorf("audit search --type %s listed %s", typ, ev.Type)
		}
		out = append(out, ev)
	}
	return out
}

// mfaMetric sums the samples of name whose labels include want (Prometheus text format).
func mfaMetric(body, name string, want map[string]string) float64 {
	sum := 0.0
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		match := true
		for k, v := range want {
			if !strings.Contains(","+labels+",", fmt.Sprintf(",%s=%q,", k, v)) {
				match = false
			}
		}
		if n, err := strconv.ParseFloat(strings.TrimSpace(value), 64); match && err == nil {
			sum += n
		}
	}
	return sum
}
