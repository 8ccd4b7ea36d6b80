package idp

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/fintech-idp/idp/internal/sms"
	"github.com/fintech-idp/idp/internal/sms/smstest"
	"github.com/fintech-idp/idp/internal/store"
)

const flowPhone = "+447400123456" // a UK mobile number

var (
	mfaHandlePattern  = regexp.MustCompile(`(?:name="h" value="|/mfa/recovery\?h=)([^"]+)"`)
	recoveryPattern   = regexp.MustCompile(`<code>([a-z2-9]{5}-[a-z2-9]{5})</code>`)
	authRequestIDFrom = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)
)

// mfaHarness is a harness whose second factor is the real Vonage client talking to the
// stateful Vonage fake.
type mfaHarness struct {
	*harness
	vonage *smstest.Server
}

func newMFAHarness(t *testing.T, change func(*MFA)) *mfaHarness {
	t.Helper()
	return newMFAHarnessOn(t, "", change)
}

// newMFAHarnessOn is newMFAHarness on the database at databaseURL (SQLite when empty).
func newMFAHarnessOn(t *testing.T, databaseURL string, change func(*MFA)) *mfaHarness {
	t.Helper()
	fake := smstest.New()
	t.Cleanup(fake.Close)
	v, err := sms.NewVonage(sms.VonageConfig{APIKey: fake.Key, APISecret: fake.Secret, BaseURL: fake.URL, Timeout: 2 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessOn(t, databaseURL, func(o *Options) {
		o.MFA = MFA{Verifier: v, VoiceFallback: true, DefaultRegion: "GB", AllowedCountries: []string{"GB", "IE"}}
		if change != nil {
			change(&o.MFA)
		}
	})
	h.seed(t)
	return &mfaHarness{harness: h, vonage: fake}
}

func (h *mfaHarness) user(t *testing.T) *store.User {
	t.Helper()
	u, err := h.st.GetUserByEmail(context.Background(), flowEmail)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mfaHandle(t *testing.T, body string) string {
	t.Helper()
	m := mfaHandlePattern.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no page handle in: %.400s", body)
	}
	return unescape(m[1])
}

// accountBrowser signs flowEmail in without a relying party (to /account).
func (h *mfaHarness) accountBrowser(t *testing.T) *http.Client {
	t.Helper()
	b := newTestBrowser(t)
	resp, body := postForm(t, b, h.ts.URL+"/login", url.Values{"email": {flowEmail}, "password": {flowPassword}})
	if resp.Request.URL.Path != "/account" {
		t.Fatalf("account sign-in ended at %s (%d): %.300s", resp.Request.URL.Path, resp.StatusCode, body)
	}
	return b
}

// enrol turns two-step on through the pages and returns the recovery codes shown.
func (h *mfaHarness) enrol(t *testing.T, b *http.Client) []string {
	t.Helper()
	resp, body := postForm(t, b, h.ts.URL+"/account/two-step", url.Values{"phone": {"07400 123456"}, "consent": {"yes"}})
	if resp.Request.URL.Path != "/mfa" {
		t.Fatalf("enrol form ended at %s (%d): %s", resp.Request.URL.Path, resp.StatusCode, body[strings.Index(body, "<h1"):])
	}
	resp, body = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {mfaHandle(t, body)}, "code": {h.vonage.Code(flowPhone)}})
	codes := recoveryPattern.FindAllStringSubmatch(body, -1)
	if resp.StatusCode != http.StatusOK || len(codes) != 10 {
		t.Fatalf("after the enrol code: %d with %d recovery codes: %.400s", resp.StatusCode, len(codes), body)
	}
	var out []string
	for _, c := range codes {
		out = append(out, c[1])
	}
	return out
}

// passwordStep runs authorize → password and returns the second-factor page.
func (h *mfaHarness) passwordStep(t *testing.T, b *http.Client, extra url.Values) (*http.Response, string, string) {
	t.Helper()
	resp, body := get(t, b, h.authorizeURL(extra))
	id := resp.Request.URL.Query().Get("authRequestID")
	if id == "" {
		t.Fatalf("not at the login page: %s %.200s", resp.Request.URL, body)
	}
	resp, body = postForm(t, b, h.ts.URL+"/login", url.Values{"authRequestID": {id}, "email": {flowEmail}, "password": {flowPassword}})
	return resp, body, id
}

func (h *mfaHarness) authRequest(t *testing.T, id string) *store.AuthRequest {
	t.Helper()
	ar, err := h.st.GetAuthRequest(context.Background(), id, h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ar
}

// TestMFAEnrolThenLoginWithSMS: enrolment proves the number and shows 10 recovery codes once;
// the next sign-in needs the SMS code, the callback gives nothing before it, and the code gives
// amr pwd+sms+mfa, acr mfa and a request id that is gone from the store.
func TestMFAEnrolThenLoginWithSMS(t *testing.T) {
	h := newMFAHarness(t, nil)
	codes := h.enrol(t, h.accountBrowser(t))
	u := h.user(t)
	if !u.MFAEnabled || u.PhoneE164 != flowPhone {
		t.Fatalf("after enrolment: enabled=%v phone=%q", u.MFAEnabled, u.PhoneE164)
	}
	if n, err := h.st.CountUnusedRecoveryCodes(context.Background(), u.ID); err != nil || n != 10 || len(slices.Compact(slices.Sorted(slices.Values(codes)))) != 10 {
		t.Errorf("recovery codes stored %d (%v), shown %v", n, err, codes)
	}
	if _, subjects := h.mailsTo(flowEmail); !slices.ContainsFunc(subjects, func(s string) bool { return strings.Contains(s, "two-step verification turned on") }) {
		t.Errorf("no email about the change: %v", subjects)
	}
	if starts := h.vonage.Starts(); len(starts) != 1 || starts[0].Brand != "FinTech ID" || !slices.Equal(starts[0].Channels, []string{"sms", "voice"}) {
		t.Errorf("vonage starts = %+v", starts)
	}

	b := newTestBrowser(t)
	resp, body, arID := h.passwordStep(t, b, nil)
	if resp.Request.URL.Path != "/mfa" || !strings.Contains(body, `autocomplete="one-time-code"`) || !strings.Contains(unescape(body), sms.MaskPhone(flowPhone)) {
		t.Fatalf("after the password: %s %d: %s", resp.Request.URL.Path, resp.StatusCode, body[strings.Index(body, "<h1"):])
	}
	if !strings.Contains(body, "Call me instead") || !strings.Contains(body, "Use a recovery code") {
		t.Errorf("code page lacks the call or recovery options: %.600s", body)
	}
	// No way around it: the callback of the pending request yields no code.
	resp, _ = get(t, b, h.ts.URL+"/authorize/callback?id="+url.QueryEscape(arID))
	if loc := resp.Header.Get("Location"); strings.Contains(loc, "code=") {
		t.Fatalf("callback before the second factor gave a code: %s", loc)
	}
	hv := mfaHandle(t, body)
	resp, body = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {hv}, "code": {"000000"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "4 tries left") {
		t.Errorf("wrong code: %d %.300s", resp.StatusCode, body)
	}
	ch := h.latestChallenge(t, hv)
	if ch.RequestID == "" {
		t.Fatal("running challenge has no request id")
	}
	resp, _ = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {hv}, "code": {h.vonage.Code(flowPhone)}})
	if p := rpParams(t, resp); p.Get("code") == "" {
		t.Fatalf("no code for the RP: %v", p)
	}
	ar := h.authRequest(t, arID)
	if !slices.Equal(ar.AMR, []string{"pwd", "sms", "mfa"}) || ar.ACR != "mfa" {
		t.Errorf("amr %v acr %q", ar.AMR, ar.ACR)
	}
	ch = h.latestChallenge(t, hv)
	if ch.RequestID != "" || ch.EndReason != store.SMSEndSuccess {
		t.Errorf("ended challenge keeps request id %q (reason %q)", ch.RequestID, ch.EndReason)
	}
	if left := h.vonage.Unconcluded(); len(left) != 0 {
		t.Errorf("verifications never checked or cancelled: %v", left)
	}
}

// latestChallenge opens a page handle and loads its challenge.
func (h *mfaHarness) latestChallenge(t *testing.T, hv string) *store.SMSChallenge {
	t.Helper()
	hd, err := h.srv.sealer.open(hv)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := h.st.GetSMSChallenge(context.Background(), hd.CodeID)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// TestMFACallMeInstead: the voice step gives amr tel.
func TestMFACallMeInstead(t *testing.T) {
	h := newMFAHarness(t, nil)
	h.enrol(t, h.accountBrowser(t))
	b := newTestBrowser(t)
	_, body, arID := h.passwordStep(t, b, nil)
	hv := mfaHandle(t, body)
	resp, body := postForm(t, b, h.ts.URL+"/mfa/call", url.Values{"h": {hv}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "We are calling") || h.vonage.Channel(flowPhone) != "voice" {
		t.Fatalf("call me instead: %d channel %q: %.300s", resp.StatusCode, h.vonage.Channel(flowPhone), body)
	}
	if strings.Contains(body, "Call me instead") {
		t.Error("still offers a call while calling")
	}
	resp, _ = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {hv}, "code": {h.vonage.Code(flowPhone)}})
	rpParams(t, resp)
	if ar := h.authRequest(t, arID); !slices.Equal(ar.AMR, []string{"pwd", "tel", "mfa"}) {
		t.Errorf("amr %v, want pwd tel mfa", ar.AMR)
	}
}

// TestMFARecoveryCode: a recovery code passes once, with amr pwd+mfa and an audit event; two
// concurrent uses of one code succeed once; a wrong code is refused.
func TestMFARecoveryCode(t *testing.T) {
	h := newMFAHarness(t, nil)
	codes := h.enrol(t, h.accountBrowser(t))

	b := newTestBrowser(t)
	_, body, arID := h.passwordStep(t, b, nil)
	hv := mfaHandle(t, body)
	resp, body := postForm(t, b, h.ts.URL+"/mfa/recovery", url.Values{"h": {hv}, "code": {"aaaaa-bbbbb"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not right") {
		t.Errorf("wrong recovery code: %d %.300s", resp.StatusCode, body)
	}
	resp, _ = postForm(t, b, h.ts.URL+"/mfa/recovery", url.Values{"h": {hv}, "code": {strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))}})
	rpParams(t, resp)
	if ar := h.authRequest(t, arID); !slices.Equal(ar.AMR, []string{"pwd", "mfa"}) || ar.ACR != "mfa" {
		t.Errorf("amr %v acr %q", ar.AMR, ar.ACR)
	}
	if ch := h.latestChallenge(t, hv); ch.EndedAt == nil || ch.RequestID != "" {
		t.Errorf("the SMS challenge still runs after the recovery code: %+v", ch)
	}
	if left := h.vonage.Unconcluded(); len(left) != 0 {
		t.Errorf("the SMS verification was not cancelled: %v", left)
	}
	events, _ := h.st.SearchAudit(context.Background(), store.AuditFilter{Type: "recovery_code.used", Limit: 10})
	if len(events) != 1 || events[0].ClientID != "web" {
		t.Errorf("recovery_code.used events: %+v, want one naming the client", events)
	}
	if ev, _ := h.st.SearchAudit(context.Background(), store.AuditFilter{Type: "login.succeeded", Limit: 1}); len(ev) != 1 || ev[0].ClientID != "web" || ev[0].Detail["factor"] != "recovery" {
		t.Errorf("login.succeeded after a recovery code: %+v", ev)
	}

	// The same code again: refused.
	b = newTestBrowser(t)
	_, body, _ = h.passwordStep(t, b, nil)
	resp, _ = postForm(t, b, h.ts.URL+"/mfa/recovery", url.Values{"h": {mfaHandle(t, body)}, "code": {codes[0]}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a used recovery code: %d", resp.StatusCode)
	}

	// One code, two browsers at once: one sign-in.
	var handles []string
	var browsers []*http.Client
	for range 2 {
		b := newTestBrowser(t)
		_, body, _ := h.passwordStep(t, b, nil)
		handles, browsers = append(handles, mfaHandle(t, body)), append(browsers, b)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 2 {
		wg.Go(func() {
			resp, err := browsers[i].PostForm(h.ts.URL+"/mfa/recovery", url.Values{"h": {handles[i]}, "code": {codes[1]}})
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusFound {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("one recovery code used twice at once signed in %d times, want 1", wins)
	}
}

// TestMFAFailClosed: when Vonage does not answer, or is not configured at all, a user with
// two-step on passes only with a recovery code.
func TestMFAFailClosed(t *testing.T) {
	t.Run("vonage down", func(t *testing.T) {
		h := newMFAHarness(t, nil)
		codes := h.enrol(t, h.accountBrowser(t))
		h.vonage.FailNext(smstest.OpStart, http.StatusServiceUnavailable)
		b := newTestBrowser(t)
		resp, body, arID := h.passwordStep(t, b, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "can&#39;t send codes") || strings.Contains(body, `name="code"`) {
			t.Fatalf("vonage down: %d %.500s", resp.StatusCode, body)
		}
		if h.authRequest(t, arID).Done {
			t.Fatal("the password alone completed the sign-in")
		}
		resp, _ = postForm(t, b, h.ts.URL+"/mfa/recovery", url.Values{"h": {mfaHandle(t, body)}, "code": {codes[2]}})
		rpParams(t, resp)
	})
	t.Run("vonage timeout", func(t *testing.T) {
		h := newMFAHarness(t, nil)
		h.enrol(t, h.accountBrowser(t))
		h.vonage.FailNext(smstest.OpStart, 0)
		resp, body, arID := h.passwordStep(t, newTestBrowser(t), nil)
		if resp.StatusCode != http.StatusServiceUnavailable || h.authRequest(t, arID).Done {
			t.Fatalf("vonage timeout: %d %.300s", resp.StatusCode, body)
		}
	})
	t.Run("not configured", func(t *testing.T) {
		h := newHarness(t)
		h.seed(t)
		u, _ := h.st.GetUserByEmail(context.Background(), flowEmail)
		if err := h.st.SetUserMFA(context.Background(), u.ID, flowPhone, true, h.clock.Now()); err != nil {
			t.Fatal(err)
		}
		codes, err := h.srv.issueRecoveryCodes(context.Background(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		mh := &mfaHarness{harness: h}
		b := newTestBrowser(t)
		resp, body, arID := mh.passwordStep(t, b, nil)
		if strings.Contains(body, `name="code"`) || !strings.Contains(body, "Use a recovery code") || mh.authRequest(t, arID).Done {
			t.Fatalf("without Vonage: %d %.500s", resp.StatusCode, body)
		}
		resp, _ = postForm(t, b, h.ts.URL+"/mfa/recovery", url.Values{"h": {mfaHandle(t, body)}, "code": {codes[0]}})
		rpParams(t, resp)
	})
}

// TestMFAWrongCodes: five wrong codes end the challenge (and the verification at Vonage); a
// new code can be asked for and works.
func TestMFAWrongCodes(t *testing.T) {
	h := newMFAHarness(t, nil)
	h.enrol(t, h.accountBrowser(t))
	b := newTestBrowser(t)
	_, body, _ := h.passwordStep(t, b, nil)
	hv := mfaHandle(t, body)
	var resp *http.Response
	for i := range 5 {
		resp, body = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {hv}, "code": {"11111" + string(rune('0'+i))}})
	}
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many wrong codes") {
		t.Errorf("fifth wrong code: %d %.300s", resp.StatusCode, body)
	}
	if ch := h.latestChallenge(t, hv); ch.EndedAt == nil || ch.RequestID != "" || ch.EndReason != store.SMSEndTooMany {
		t.Errorf("challenge after 5 wrong codes: %+v", ch)
	}
	resp, body = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {hv}, "code": {h.vonage.Code(flowPhone)}})
	if resp.StatusCode == http.StatusFound {
		t.Fatal("the right code passed after the tries were used up")
	}
	resp, body = postForm(t, b, h.ts.URL+"/mfa/resend", url.Values{"h": {hv}})
	if resp.Request.URL.Path != "/mfa" || !strings.Contains(body, `name="code"`) {
		t.Fatalf("new code: %d %.300s", resp.StatusCode, body)
	}
	resp, _ = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {mfaHandle(t, body)}, "code": {h.vonage.Code(flowPhone)}})
	rpParams(t, resp)
	if left := h.vonage.Unconcluded(); len(left) != 0 {
		t.Errorf("verifications never checked or cancelled: %v", left)
	}
}

// TestMFAVonageAnswers: every documented answer of start gives a clear page and leaves nothing
// running.
func TestMFAVonageAnswers(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   int
		text   string
	}{
		{http.StatusTooManyRequests, http.StatusTooManyRequests, "busy"},
		{http.StatusUnprocessableEntity, http.StatusBadRequest, "can&#39;t send a code to this number"},
		{http.StatusConflict, http.StatusConflict, "already on its way"},
		{http.StatusUnauthorized, http.StatusServiceUnavailable, "can&#39;t send codes"},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			h := newMFAHarness(t, nil)
			h.enrol(t, h.accountBrowser(t))
			h.vonage.FailNext(smstest.OpStart, tc.status)
			resp, body, arID := h.passwordStep(t, newTestBrowser(t), nil)
			if resp.StatusCode != tc.want || !strings.Contains(body, tc.text) || !strings.Contains(body, "Use a recovery code") {
				t.Errorf("start answered %d: page %d %.400s", tc.status, resp.StatusCode, body)
			}
			if h.authRequest(t, arID).Done {
				t.Error("sign-in completed")
			}
		})
	}
	t.Run("409 for our own request keeps it", func(t *testing.T) {
		h := newMFAHarness(t, nil)
		h.enrol(t, h.accountBrowser(t))
		b := newTestBrowser(t)
		_, body, _ := h.passwordStep(t, b, nil)
		hv := mfaHandle(t, body)
		h.vonage.FailNext(smstest.OpCancel, http.StatusConflict) // the cancel before the resend is refused
		resp, body := postForm(t, b, h.ts.URL+"/mfa/resend", url.Values{"h": {hv}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "still valid") {
			t.Fatalf("resend while ours runs: %d %.300s", resp.StatusCode, body)
		}
		resp, _ = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {mfaHandle(t, body)}, "code": {h.vonage.Code(flowPhone)}})
		rpParams(t, resp)
	})
	t.Run("check errors", func(t *testing.T) {
		h := newMFAHarness(t, nil)
		h.enrol(t, h.accountBrowser(t))
		b := newTestBrowser(t)
		_, body, _ := h.passwordStep(t, b, nil)
		hv := mfaHandle(t, body)
		for _, c := range []struct {
			status, want int
		}{{http.StatusTooManyRequests, http.StatusTooManyRequests}, {http.StatusInternalServerError, http.StatusServiceUnavailable}, {0, http.StatusServiceUnavailable}} {
			h.vonage.FailNext(smstest.OpCheck, c.status)
			resp, body := postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {hv}, "code": {h.vonage.Code(flowPhone)}})
			if resp.StatusCode != c.want || !strings.Contains(body, `name="code"`) {
				t.Errorf("check answered %d: page %d %.300s", c.status, resp.StatusCode, body)
			}
		}
		h.vonage.Expire()
		resp, body := postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {hv}, "code": {h.vonage.Code(flowPhone)}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "expired") {
			t.Errorf("check of an expired verification: %d %.300s", resp.StatusCode, body)
		}
		if ch := h.latestChallenge(t, hv); ch.EndedAt == nil || ch.RequestID != "" {
			t.Errorf("challenge after 404: %+v", ch)
		}
	})
}

// TestMFAResetNeedsSecondFactor: a password reset of a user with two-step on asks for the SMS
// code before the new password can be chosen.
func TestMFAResetNeedsSecondFactor(t *testing.T) {
	h := newMFAHarness(t, nil)
	h.enrol(t, h.accountBrowser(t))
	b := newTestBrowser(t)
	_, body := postForm(t, b, h.ts.URL+"/reset", url.Values{"email": {flowEmail}})
	hv := mfaHandle(t, body)
	deadline := time.Now().Add(5 * time.Second)
	for n, _ := h.mailsTo(flowEmail); n < 2 && time.Now().Before(deadline); n, _ = h.mailsTo(flowEmail) {
		time.Sleep(20 * time.Millisecond) // the reset email goes out in the background
	}
	resp, body := postForm(t, b, h.ts.URL+"/reset/verify", url.Values{"h": {hv}, "code": {h.codeFor(t, flowEmail)}})
	if resp.Request.URL.Path != "/mfa" || strings.Contains(body, `name="grant"`) {
		t.Fatalf("reset with two-step on skipped the second factor: %s %.300s", resp.Request.URL.Path, body)
	}
	resp, body = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {mfaHandle(t, body)}, "code": {h.vonage.Code(flowPhone)}})
	if !strings.Contains(body, `name="grant"`) {
		t.Fatalf("after the SMS code: %d %.300s", resp.StatusCode, body)
	}
}

// TestStepUp: acr_values=mfa inside a password-only session asks for the second factor of a
// user who has one, and offers enrolment (or unmet_authentication_requirements) to one who has
// not.
func TestStepUp(t *testing.T) {
	t.Run("without two-step: decline", func(t *testing.T) {
		h := newMFAHarness(t, nil)
		b := newTestBrowser(t)
		resp := h.login(t, b, nil)
		rpParams(t, resp)
		resp, body := get(t, b, h.authorizeURL(url.Values{"acr_values": {"mfa"}}))
		if resp.Request.URL.Path != "/account/two-step" || !strings.Contains(body, "Not now") || !strings.Contains(body, `autocomplete="tel"`) {
			t.Fatalf("step-up without two-step: %s %.400s", resp.Request.URL, body)
		}
		id := authRequestIDFrom.FindStringSubmatch(body)[1]
		resp, _ = postForm(t, b, h.ts.URL+"/account/two-step/decline", url.Values{"authRequestID": {id}})
		if p := rpParams(t, resp); p.Get("error") != "unmet_authentication_requirements" || p.Get("state") != "st" {
			t.Errorf("decline: %v", p)
		}
	})
	t.Run("without two-step: enrol in the flow", func(t *testing.T) {
		h := newMFAHarness(t, nil)
		b := newTestBrowser(t)
		rpParams(t, h.login(t, b, nil))
		resp, body := get(t, b, h.authorizeURL(url.Values{"acr_values": {"mfa"}}))
		id := authRequestIDFrom.FindStringSubmatch(body)[1]
		resp, body = postForm(t, b, h.ts.URL+"/account/two-step", url.Values{"authRequestID": {id}, "phone": {flowPhone}, "consent": {"yes"}})
		resp, body = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {mfaHandle(t, body)}, "code": {h.vonage.Code(flowPhone)}})
		if len(recoveryPattern.FindAllString(body, -1)) != 10 || !strings.Contains(body, "/authorize/callback?id=") {
			t.Fatalf("in-flow enrolment: %d %.500s", resp.StatusCode, body)
		}
		// A phone enrolled in a password-only sign-in proves nothing about the person (it may
		// be the phone of whoever has the password): the sign-in ends with acr pwd.
		if ar := h.authRequest(t, id); !ar.Done || ar.ACR != "pwd" || !slices.Equal(ar.AMR, []string{"pwd"}) {
			t.Errorf("auth request after in-flow enrolment: done=%v acr=%q amr=%v, want acr pwd", ar.Done, ar.ACR, ar.AMR)
		}
		if u := h.user(t); !u.MFAEnabled {
			t.Error("two-step was not turned on")
		}
	})
	t.Run("signup with a fresh email code, then enrol in the flow", func(t *testing.T) {
		h := newMFAHarness(t, nil)
		b := newTestBrowser(t)
		resp, body := get(t, b, h.authorizeURL(url.Values{"acr_values": {"mfa"}}))
		id := resp.Request.URL.Query().Get("authRequestID")
		const email = "grace@example.com"
		resp, body = postForm(t, b, h.ts.URL+signupPath, url.Values{"authRequestID": {id}, "email": {email}, "password": {ownerPW}, "confirm": {ownerPW}})
		resp, body = h.enterCode(t, b, verifyPath, handleOf(t, body), h.codeFor(t, email))
		if resp.Request.URL.Path != "/account/two-step" || !strings.Contains(body, `name="proof" value="`) {
			t.Fatalf("after the email code: %s %.300s", resp.Request.URL, body)
		}
		proof := regexp.MustCompile(`name="proof" value="([^"]+)"`).FindStringSubmatch(body)[1]
		resp, body = postForm(t, b, h.ts.URL+"/account/two-step", url.Values{"authRequestID": {id}, "phone": {flowPhone}, "consent": {"yes"}, "proof": {unescape(proof)}})
		resp, body = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {mfaHandle(t, body)}, "code": {h.vonage.Code(flowPhone)}})
		if len(recoveryPattern.FindAllString(body, -1)) != 10 || !strings.Contains(body, "/authorize/callback?id=") {
			t.Fatalf("in-flow enrolment: %d %.500s", resp.StatusCode, body)
		}
		if ar := h.authRequest(t, id); !ar.Done || ar.ACR != "mfa" {
			t.Errorf("the email code and the new phone: done=%v acr=%q, want mfa", ar.Done, ar.ACR)
		}
	})
	t.Run("with two-step", func(t *testing.T) {
		h := newMFAHarness(t, nil)
		b := h.accountBrowser(t)
		h.enrol(t, b) // the session stays password-only
		before, _ := h.st.ListSessions(context.Background(), h.user(t).ID, h.clock.Now())
		resp, body := get(t, b, h.authorizeURL(url.Values{"acr_values": {"mfa"}}))
		if resp.Request.URL.Path != "/mfa" || !strings.Contains(body, "Send a code") || strings.Contains(body, `name="code"`) {
			t.Fatalf("step-up page: %s %.400s", resp.Request.URL, body)
		}
		if len(h.vonage.Starts()) != 1 {
			t.Error("an SMS was sent by a GET")
		}
		resp, body = postForm(t, b, h.ts.URL+"/mfa/resend", url.Values{"h": {mfaHandle(t, body)}})
		resp, _ = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {mfaHandle(t, body)}, "code": {h.vonage.Code(flowPhone)}})
		rpParams(t, resp)
		after, _ := h.st.ListSessions(context.Background(), h.user(t).ID, h.clock.Now())
		if len(before) != 1 || len(after) != 1 || before[0].ID == after[0].ID || after[0].ACR != "mfa" {
			t.Errorf("sessions before %v after %v: want one, with a new id and acr mfa", before, after)
		}
		// Signed in with two-step now: the next request is answered by the session.
		resp, _ = get(t, b, h.authorizeURL(url.Values{"acr_values": {"mfa"}}))
		if p := rpParams(t, resp); p.Get("code") == "" {
			t.Errorf("SSO after step-up: %v", p)
		}
	})
	t.Run("prompt=none needs interaction", func(t *testing.T) {
		h := newMFAHarness(t, nil)
		b := newTestBrowser(t)
		rpParams(t, h.login(t, b, nil))
		resp, _ := get(t, b, h.authorizeURL(url.Values{"acr_values": {"mfa"}, "prompt": {"none"}}))
		if p := rpParams(t, resp); p.Get("error") != "interaction_required" {
			t.Errorf("prompt=none step-up: %v", p)
		}
	})
}

// TestRequireMFA: IDP_REQUIRE_MFA makes a user without two-step enrol before the sign-in ends,
// with no way to decline.
func TestRequireMFA(t *testing.T) {
	h := newMFAHarness(t, func(m *MFA) { m.Require = true })
	b := newTestBrowser(t)
	resp, body, arID := h.passwordStep(t, b, nil)
	if resp.Request.URL.Path != "/account/two-step" || strings.Contains(body, "Not now") {
		t.Fatalf("required enrolment: %s %.400s", resp.Request.URL, body)
	}
	if h.authRequest(t, arID).Done {
		t.Fatal("sign-in completed without two-step")
	}
	resp, _ = postForm(t, b, h.ts.URL+"/account/two-step/decline", url.Values{"authRequestID": {arID}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("decline when required: %d", resp.StatusCode)
	}
	// The password-only session answers nothing either.
	resp, _ = get(t, b, h.authorizeURL(nil))
	if resp.Request.URL.Path != "/account/two-step" {
		t.Errorf("a new request with the password-only session went to %s", resp.Request.URL)
	}
	resp, _ = get(t, b, h.ts.URL+"/account")
	if resp.Request.URL.Path != "/account/two-step" {
		t.Errorf("/account without two-step went to %s", resp.Request.URL)
	}
}

// TestSMSSendLimits: per number 3 per 10 minutes, then 5 per hour; each refusal says when to try
// again; the global cap stops everything and logs an alert.
func TestSMSSendLimits(t *testing.T) {
	h := newMFAHarness(t, func(m *MFA) { m.SendLimitIPHour = 100; m.SendLimitAccountDay = 100 })
	h.enrol(t, h.accountBrowser(t)) // send 1 to the number
	send := func() string {
		_, body, _ := h.passwordStep(t, newTestBrowser(t), nil)
		return body
	}
	body := send() // 2
	body = send()  // 3
	if strings.Contains(body, "too many codes") {
		t.Fatalf("third send refused: %.300s", body)
	}
	body = send() // 4: over 3 per 10 minutes
	if !strings.Contains(body, "too many codes") || !strings.Contains(body, "in 10 minutes") {
		t.Fatalf("fourth send within 10 minutes: %.400s", body)
	}
	h.clock.Advance(10 * time.Minute)
	h.vonage.Expire()
	body = send() // 5 in the hour
	if strings.Contains(body, "too many codes") {
		t.Fatalf("send after 10 minutes refused: %.300s", body)
	}
	h.clock.Advance(10 * time.Minute)
	h.vonage.Expire()
	body = send() // the 5th sent in the hour (the refused one was not sent)
	if strings.Contains(body, "too many codes") {
		t.Fatalf("fifth send within the hour refused: %.300s", body)
	}
	h.vonage.Expire()
	body = send() // 6 in the hour: over 5 per hour, until an hour after the first
	if !strings.Contains(body, "too many codes") || !strings.Contains(body, "in 40 minutes") {
		t.Fatalf("sixth send within the hour: %.300s", body)
	}

	t.Run("global cap", func(t *testing.T) {
		h := newMFAHarness(t, func(m *MFA) { m.GlobalHourlyCap = 1 })
		h.enrol(t, h.accountBrowser(t))
		_, body, _ := h.passwordStep(t, newTestBrowser(t), nil)
		if !strings.Contains(body, "can&#39;t send codes by text message right now") || !strings.Contains(h.logs.String(), "global SMS hourly cap") {
			t.Errorf("over the global cap: %.300s", body)
		}
	})
}

// TestEnrolBadInput: every bad enrolment form gets a 400 with its reason and changes nothing.
func TestEnrolBadInput(t *testing.T) {
	h := newMFAHarness(t, nil)
	b := h.accountBrowser(t)
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"empty", url.Values{"consent": {"yes"}}, "Enter your mobile number"},
		{"not a number", url.Values{"phone": {"hello"}, "consent": {"yes"}}, "not a valid phone number"},
		{"landline", url.Values{"phone": {"+442079460000"}, "consent": {"yes"}}, "cannot receive text messages"},
		{"country not allowed", url.Values{"phone": {"+4915112345678"}, "consent": {"yes"}}, "numbers in this country"},
		{"no consent", url.Values{"phone": {flowPhone}}, "agree to receive security codes"},
		{"too long", url.Values{"phone": {strings.Repeat("1", 5000)}, "consent": {"yes"}}, "Enter your mobile number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := postForm(t, b, h.ts.URL+"/account/two-step", tc.form)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Errorf("%d %.400s", resp.StatusCode, body)
			}
		})
	}
	t.Run("old sign-in needs the password", func(t *testing.T) {
		h.clock.Advance(6 * time.Minute)
		resp, body := postForm(t, b, h.ts.URL+"/account/two-step", url.Values{"phone": {flowPhone}, "consent": {"yes"}, "password": {"wrong password here"}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "password is not right") {
			t.Errorf("%d %.400s", resp.StatusCode, body)
		}
		resp, body = postForm(t, b, h.ts.URL+"/account/two-step", url.Values{"phone": {flowPhone}, "consent": {"yes"}, "password": {flowPassword}})
		if resp.Request.URL.Path != "/mfa" {
			t.Errorf("right password: %s %.300s", resp.Request.URL.Path, body)
		}
	})
	if u := h.user(t); u.MFAEnabled || u.PhoneE164 != "" {
		t.Errorf("bad input changed the user: %+v", u)
	}
}

// TestTurnOffAndChangeNumber: both need the password and a current second factor, are audited
// and emailed.
func TestTurnOffAndChangeNumber(t *testing.T) {
	h := newMFAHarness(t, nil)
	b := h.accountBrowser(t)
	codes := h.enrol(t, b)

	resp, body := postForm(t, b, h.ts.URL+"/account/two-step/off", url.Values{"current": {"not my password"}})
	if resp.StatusCode != http.StatusBadRequest || !h.user(t).MFAEnabled {
		t.Fatalf("turn off with a wrong password: %d", resp.StatusCode)
	}
	// Change the number: password, current factor (a recovery code), then the new number.
	resp, body = postForm(t, b, h.ts.URL+"/account/two-step/change", url.Values{"current": {flowPassword}})
	if resp.Request.URL.Path != "/mfa" {
		t.Fatalf("change: %s %.300s", resp.Request.URL.Path, body)
	}
	resp, body = postForm(t, b, h.ts.URL+"/mfa/recovery", url.Values{"h": {mfaHandle(t, body)}, "code": {codes[0]}})
	if !strings.Contains(body, `name="grant"`) || strings.Contains(body, `id="password"`) {
		t.Fatalf("after the current factor: %d %.400s", resp.StatusCode, body)
	}
	grant := unescape(grantPattern.FindStringSubmatch(body)[1])
	const newPhone = "+447400123999"
	resp, body = postForm(t, b, h.ts.URL+"/account/two-step", url.Values{"grant": {grant}, "phone": {newPhone}, "consent": {"yes"}})
	resp, body = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {mfaHandle(t, body)}, "code": {h.vonage.Code(newPhone)}})
	if resp.Request.URL.Path != "/account" || h.user(t).PhoneE164 != newPhone {
		t.Fatalf("change number: %s phone %q", resp.Request.URL, h.user(t).PhoneE164)
	}
	// Turn off: password and an SMS code to the new number.
	resp, body = postForm(t, b, h.ts.URL+"/account/two-step/off", url.Values{"current": {flowPassword}})
	resp, body = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {mfaHandle(t, body)}, "code": {h.vonage.Code(newPhone)}})
	if u := h.user(t); resp.Request.URL.Path != "/account" || u.MFAEnabled || u.PhoneE164 != "" {
		t.Fatalf("turn off: %s %+v", resp.Request.URL, u)
	}
	if n, err := h.st.CountUnusedRecoveryCodes(context.Background(), h.user(t).ID); err != nil || n != 0 {
		t.Errorf("recovery codes left after turning off: %d (%v)", n, err)
	}
	for _, typ := range []string{"mfa.enabled", "mfa.phone_changed", "mfa.disabled"} {
		if ev, _ := h.st.SearchAudit(context.Background(), store.AuditFilter{Type: typ, Limit: 5}); len(ev) != 1 {
			t.Errorf("audit %s: %d events", typ, len(ev))
		}
	}
	if _, subjects := h.mailsTo(flowEmail); len(subjects) < 4 {
		t.Errorf("emails: %v", subjects)
	}
}

// TestHousekeepingCancelsAbandonedChallenges: a challenge nobody finished is ended and its
// verification cancelled at Vonage once it expires.
func TestHousekeepingCancelsAbandonedChallenges(t *testing.T) {
	h := newMFAHarness(t, nil)
	h.enrol(t, h.accountBrowser(t))
	_, body, _ := h.passwordStep(t, newTestBrowser(t), nil)
	hv := mfaHandle(t, body)
	if len(h.vonage.Unconcluded()) != 1 {
		t.Fatalf("running verifications: %v", h.vonage.Unconcluded())
	}
	h.clock.Advance(11 * time.Minute)
	if err := h.srv.HousekeepOnce(context.Background(), Housekeeping{}); err != nil {
		t.Fatal(err)
	}
	if left := h.vonage.Unconcluded(); len(left) != 0 {
		t.Errorf("not cancelled: %v", left)
	}
	if ch := h.latestChallenge(t, hv); ch.RequestID != "" || ch.EndReason != store.SMSEndExpired {
		t.Errorf("expired challenge: %+v", ch)
	}
}

// TestMFAPageHandleBoundToBrowser: a second-factor page handle copied into another browser is
// refused.
func TestMFAPageHandleBoundToBrowser(t *testing.T) {
	h := newMFAHarness(t, nil)
	h.enrol(t, h.accountBrowser(t))
	_, body, _ := h.passwordStep(t, newTestBrowser(t), nil)
	resp, _ := postForm(t, newTestBrowser(t), h.ts.URL+"/mfa", url.Values{"h": {mfaHandle(t, body)}, "code": {h.vonage.Code(flowPhone)}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("handle from another browser: %d", resp.StatusCode)
	}
}

// TestStepUpKeepsOtherAppsSignedIn: the step-up's new session takes over the tokens of the apps
// signed in through the old one, so they keep working, and signing out of the new session ends
// them.
func TestStepUpKeepsOtherAppsSignedIn(t *testing.T) {
	h := newMFAHarness(t, nil)
	ctx := context.Background()
	_, secret, err := h.admin.CreateClient(ctx, ClientSpec{ID: "app2", Type: store.ClientWeb, RedirectURIs: []string{"https://rp.example/app2"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &oauth2.Config{ClientID: "app2", ClientSecret: secret, RedirectURL: "https://rp.example/app2", Scopes: []string{"openid", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: h.ts.URL + "/authorize", TokenURL: h.ts.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()
	b := newTestBrowser(t)
	resp, _ := get(t, b, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "consent")))
	id := resp.Request.URL.Query().Get("authRequestID")
	resp, _ = postForm(t, b, h.ts.URL+"/login", url.Values{"authRequestID": {id}, "email": {flowEmail}, "password": {flowPassword}})
	tok, err := cfg.Exchange(ctx, rpParams(t, resp).Get("code"), oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("app2 sign-in: %v (refresh token %v)", err, tok != nil && tok.RefreshToken != "")
	}
	refresh := func() error {
		nt, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err == nil {
			tok = nt
		}
		return err
	}

	h.enrol(t, b) // the session stays password-only
	_, body := get(t, b, h.authorizeURL(url.Values{"acr_values": {"mfa"}}))
	_, body = postForm(t, b, h.ts.URL+"/mfa/resend", url.Values{"h": {mfaHandle(t, body)}})
	resp, _ = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {mfaHandle(t, body)}, "code": {h.vonage.Code(flowPhone)}})
	rpParams(t, resp)
	if err := refresh(); err != nil {
		t.Fatalf("app2's refresh after the step-up: %v", err)
	}
	sessions, _ := h.st.ListSessions(ctx, h.user(t).ID, h.clock.Now())
	if len(sessions) != 1 {
		t.Fatalf("sessions after step-up: %d", len(sessions))
	}
	postForm(t, b, h.ts.URL+"/account/sessions/revoke", url.Values{"session": {sessions[0].ID}})
	if err := refresh(); err == nil {
		t.Fatal("app2's refresh token outlived the sign-out of the session it now belongs to")
	}
}

// TestMFAFewerTriesThanVonage: with fewer tries allowed here than at Vonage, the challenge that
// ran out of tries is cancelled at Vonage, so no verification is left unconcluded.
func TestMFAFewerTriesThanVonage(t *testing.T) {
	h := newMFAHarness(t, func(m *MFA) { m.MaxAttempts = 2 })
	h.enrol(t, h.accountBrowser(t))
	b := newTestBrowser(t)
	_, body, _ := h.passwordStep(t, b, nil)
	hv := mfaHandle(t, body)
	for _, code := range []string{"111111", "222222"} {
		postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {hv}, "code": {code}})
	}
	if ch := h.latestChallenge(t, hv); ch.EndReason != store.SMSEndTooMany || ch.RequestID != "" {
		t.Errorf("challenge after the last try: %+v", ch)
	}
	if left := h.vonage.Unconcluded(); len(left) != 0 {
		t.Errorf("verifications left running at Vonage: %v", left)
	}
}

// TestMFASecondSignInWhileACodeRuns: a second sign-in (another tab, a sign-in started over)
// while the first code page's verification still runs at Vonage gets a code of its own: the
// earlier one is cancelled. When Vonage will not cancel it yet, the new sign-in takes over the
// code already sent.
func TestMFASecondSignInWhileACodeRuns(t *testing.T) {
	h := newMFAHarness(t, func(m *MFA) { m.SendLimitNumber10m = 10 })
	h.enrol(t, h.accountBrowser(t))
	first := newTestBrowser(t)
	_, body, _ := h.passwordStep(t, first, nil)
	firstHandle := mfaHandle(t, body)
	starts := len(h.vonage.Starts())

	b := newTestBrowser(t)
	resp, body, _ := h.passwordStep(t, b, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="code"`) || strings.Contains(body, "already on its way") {
		t.Fatalf("second sign-in: %d: %.400s", resp.StatusCode, body)
	}
	if n := len(h.vonage.Starts()); n != starts+2 {
		t.Errorf("starts %d, want the refused one and a new one (%d)", n, starts+2)
	}
	resp, _ = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {mfaHandle(t, body)}, "code": {h.vonage.Code(flowPhone)}})
	rpParams(t, resp)
	if ch := h.latestChallenge(t, firstHandle); ch.EndReason != store.SMSEndReplaced || ch.RequestID != "" {
		t.Errorf("the first page's challenge: %+v", ch)
	}
	if left := h.vonage.Unconcluded(); len(left) != 0 {
		t.Errorf("verifications left running: %v", left)
	}

	t.Run("vonage refuses to cancel", func(t *testing.T) {
		_, body, _ := h.passwordStep(t, newTestBrowser(t), nil)
		code := h.vonage.Code(flowPhone)
		starts := len(h.vonage.Starts())
		h.vonage.FailNext(smstest.OpCancel, http.StatusConflict)
		b := newTestBrowser(t)
		resp, body2, _ := h.passwordStep(t, b, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body2, "still valid") || h.vonage.Code(flowPhone) != code {
			t.Fatalf("take-over: %d %.400s", resp.StatusCode, body2)
		}
		if n := len(h.vonage.Starts()); n != starts+1 {
			t.Errorf("starts %d, want one refused start (%d)", n, starts+1)
		}
		resp, _ = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {mfaHandle(t, body2)}, "code": {code}})
		rpParams(t, resp)
		// The first page's handle no longer works.
		resp, _ = postForm(t, newTestBrowser(t), h.ts.URL+"/mfa", url.Values{"h": {mfaHandle(t, body)}, "code": {code}})
		if resp.StatusCode == http.StatusFound {
			t.Error("the replaced page still signs in")
		}
	})
}
