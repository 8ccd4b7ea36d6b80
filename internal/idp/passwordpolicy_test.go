package idp

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/password"
	"github.com/fintech-idp/idp/internal/password/hibptest"
)

// TestGuessablePasswordsRefusedAtSignup: long passwords that the bundled list alone let through
// (a listed word with a digit run, a keyboard walk) are refused, and the page says why.
func TestGuessablePasswordsRefusedAtSignup(t *testing.T) {
	h := newHarness(t)
	for _, pw := range []string{"password1234567", "qwertyuiopasdfgh", "iloveyou12345678", "Password123456789!"} {
		t.Run(pw, func(t *testing.T) {
			resp, body := postForm(t, newTestBrowser(t), h.ts.URL+"/signup",
				url.Values{"email": {"new@example.com"}, "password": {pw}, "confirm": {pw}})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "attackers try early") {
				t.Errorf("signup with %q: %d, page lacks the reason", pw, resp.StatusCode)
			}
		})
	}
	if users, _ := h.st.ListUsers(context.Background()); len(users) != 0 {
		t.Errorf("%d users created", len(users))
	}
}

// TestBreachedPasswordsRefusedEverywhere: with the breach check on, signup, reset and change all
// refuse a password the (fake) Have I Been Pwned API knows, and refuse for now when it cannot
// answer, with the cause in the log only.
func TestBreachedPasswordsRefusedEverywhere(t *testing.T) {
	const breached = "my very own breached passphrase"
	fake := hibptest.New(t)
	fake.Add(breached, 7)
	h := newHarnessWith(t, func(o *Options) {
		o.Policy.Breaches = &password.HIBP{BaseURL: fake.URL, Timeout: time.Second}
	})
	h.seed(t)
	ctx := context.Background()
	const breachedMsg = "This password appears in known data breaches."
	const uncheckedMsg = "We could not check this password against known data breaches just now."

	// Signup.
	form := url.Values{"email": {"new@example.com"}, "password": {breached}, "confirm": {breached}}
	resp, body := postForm(t, newTestBrowser(t), h.ts.URL+"/signup", form)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, breachedMsg) {
		t.Errorf("signup: %d, page lacks %q", resp.StatusCode, breachedMsg)
	}
	fake.Fail(hibptest.Failure{Status: http.StatusServiceUnavailable, Body: "error code: 503"})
	form.Set("password", "an unbreached passphrase here")
	form.Set("confirm", "an unbreached passphrase here")
	resp, body = postForm(t, newTestBrowser(t), h.ts.URL+"/signup", form)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, uncheckedMsg) || strings.Contains(body, "503") {
		t.Errorf("signup while the API fails: %d, want 400 with %q and no detail", resp.StatusCode, uncheckedMsg)
	}
	if !strings.Contains(h.logs.String(), "password breach check failed") {
		t.Error("the failed breach check is not logged")
	}
	if users, _ := h.st.ListUsers(ctx); len(users) != 1 {
		t.Errorf("%d users, want only the seeded one", len(users))
	}

	// Change on the account page.
	b := newTestBrowser(t)
	postForm(t, b, h.ts.URL+"/login", url.Values{"email": {flowEmail}, "password": {flowPassword}})
	resp, body = postForm(t, b, h.ts.URL+accountPasswordPath, url.Values{"current": {flowPassword}, "password": {breached}, "confirm": {breached}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, breachedMsg) {
		t.Errorf("change: %d, page lacks %q", resp.StatusCode, breachedMsg)
	}

	// Reset.
	_, kb := postForm(t, newTestBrowser(t), h.ts.URL+"/reset", url.Values{"email": {flowEmail}})
	var code string
	for i := 0; i < 200 && code == ""; i++ { // the code is sent in the background
		if n, _ := h.mailsTo(flowEmail); n > 0 {
			code = h.codeFor(t, flowEmail)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rb := newTestBrowser(t)
	_, body = h.enterCode(t, rb, resetVerifyPath, unescape(handlePattern.FindStringSubmatch(kb)[1]), code)
	g := grantPattern.FindStringSubmatch(body)
	if g == nil {
		t.Fatalf("no new-password form: %.300s", body)
	}
	resp, body = postForm(t, rb, h.ts.URL+resetPasswordPath, url.Values{"grant": {unescape(g[1])}, "password": {breached}, "confirm": {breached}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, breachedMsg) {
		t.Errorf("reset: %d, page lacks %q", resp.StatusCode, breachedMsg)
	}
	if !h.canLogin(t, flowEmail, flowPassword) || h.canLogin(t, flowEmail, breached) {
		t.Error("a breached password was set")
	}

	// The operator's command applies the same check.
	if _, err := (&Admin{Store: h.st, Hasher: h.admin.Hasher, MinPassLen: 15, Now: h.clock.Now,
		Breaches: &password.HIBP{BaseURL: fake.URL}}).CreateUser(ctx, "op@example.com", breached, true); err == nil ||
		!strings.Contains(err.Error(), breachedMsg) {
		t.Errorf("CreateUser with a breached password: %v", err)
	}
}
