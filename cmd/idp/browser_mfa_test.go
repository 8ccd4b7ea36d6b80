package main

import (
	"context"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// smsOutboxRow is one text message or call on /dev/outbox: code, channel, number.
var smsOutboxRow = regexp.MustCompile(`<code class="sms-code">(\d{6})</code></p>\s*<p>by (\w+)<br><span class="muted">to ([^ <]+) `)

// smsSent lists the codes the log verifier sent to phone, newest first, as {code, channel}.
func smsSent(t *testing.T, idp *testIdP, phone string) [][2]string {
	t.Helper()
	var out [][2]string
	for _, m := range smsOutboxRow.FindAllStringSubmatch(devOutbox(t, idp), -1) {
		if html.UnescapeString(m[3]) == phone {
			out = append(out, [2]string{m[1], m[2]})
		}
	}
	return out
}

// nextSMS waits until phone has received more than seen codes and returns the newest code and
// its channel ("sms" or "voice").
func nextSMS(t *testing.T, idp *testIdP, phone string, seen int) (code, channel string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if sent := smsSent(t, idp, phone); len(sent) > seen {
			return sent[0][0], sent[0][1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no new code for %s in the outbox (had %d)", phone, seen)
	return "", ""
}

// twoStepTab is newTab that, when the test fails, saves a screenshot of the tab (kept with
// -artifacts) and logs where it is.
func twoStepTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx := newTab(t, browser)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		shotCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		png, err := chromedp.Run(shotCtx, chromedp.FullScreenshot(90))
		if err != nil {
			t.Logf("no screenshot: %v", err)
			return
		}
		p := filepath.Join(t.ArtifactDir(), "page.png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Logf("no screenshot: %v", err)
			return
		}
		t.Logf("screenshot of the failing page: %s (run with -artifacts to keep it)", p)
	})
	return ctx
}

func createVerifiedUser(t *testing.T, idp *testIdP, email string) {
	t.Helper()
	idp.cli(t, browserPassword+"\n", "users", "create", "--email", email, "--password-stdin", "--verified")
}

// signInToAccount signs in on the IdP's own login page and lands on /account.
func signInToAccount(ctx context.Context, t *testing.T, idp *testIdP, email string) {
	t.Helper()
	run1(ctx, t, "sign in to the account page",
		chromedp.Navigate(idp.issuer+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), email),
		chromedp.SendKeys(chromedp.CSS(`#password`), browserPassword),
		chromedp.Submit(chromedp.CSS(`#email`)),
		chromedp.WaitVisible(chromedp.CSS(`#two-step`)),
	)
}

// startEnrolment goes from /account to the enrolment page, submits phone with consent and stops
// on the code page.
func startEnrolment(ctx context.Context, t *testing.T, phone string) {
	t.Helper()
	run1(ctx, t, "open the enrolment page",
		chromedp.Click(chromedp.CSS(`#mfa-on`)),
		chromedp.WaitVisible(chromedp.CSS(`#phone`)),
	)
	if got := attr(ctx, t, `#phone`, "autocomplete"); got != "tel" {
		t.Errorf("phone autocomplete = %q", got)
	}
	run1(ctx, t, "submit the number",
		chromedp.SendKeys(chromedp.CSS(`#phone`), phone),
		chromedp.Click(chromedp.CSS(`#consent`)),
		chromedp.Submit(chromedp.CSS(`#phone`)),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
	)
	if got := attr(ctx, t, `#code`, "autocomplete"); got != "one-time-code" {
		t.Errorf("SMS code autocomplete = %q", got)
	}
}

var recoveryCodeShape = regexp.MustCompile(`^[a-hj-km-np-z2-9]{5}-[a-hj-km-np-z2-9]{5}$`)

// turnOnTwoStep enrols phone from the signed-in /account page, checks the 10 recovery codes
// shown once, continues back to /account and returns the codes.
func turnOnTwoStep(ctx context.Context, t *testing.T, idp *testIdP, phone string) []string {
	t.Helper()
	seen := len(smsSent(t, idp, phone))
	startEnrolment(ctx, t, phone)
	code, _ := nextSMS(t, idp, phone, seen)
	enterCode(ctx, t, code)
	run1(ctx, t, "recovery codes page", chromedp.WaitVisible(chromedp.CSS(`ol#recovery-codes code`)))
	codes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("ol#recovery-codes code")].map(e => e.textContent)`))
	if err != nil {
		t.Fatalf("read recovery codes: %v", err)
	}
	uniq := map[string]bool{}
	for _, c := range codes {
		if !recoveryCodeShape.MatchString(c) {
			t.Errorf("recovery code %q is not like abcde-23456", c)
		}
		uniq[c] = true
	}
	if len(codes) != 10 || len(uniq) != 10 {
		t.Fatalf("want 10 distinct recovery codes, got %q", codes)
	}
	// recovery.js holds "Continue" back (aria-disabled) until the person ticks "saved".
	// This browser is the person's only session: nothing else to sign out.
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#revoke-others").length`)); err != nil || n != 0 {
		t.Errorf("the page offers to sign out other sessions though there are none (%d, %v)", n, err)
	}
	run1(ctx, t, "continue before saying the codes are saved",
		chromedp.WaitVisible(chromedp.CSS(`#saved`)),
		chromedp.WaitVisible(chromedp.CSS(`#continue[aria-disabled="true"]`)),
		chromedp.Click(chromedp.CSS(`#continue`)),
	)
	waitText(ctx, t, `#copy-status`, "Tick the box once your recovery codes are saved.")
	run1(ctx, t, "continue to the account page",
		chromedp.Click(chromedp.CSS(`#saved`)),
		chromedp.WaitVisible(chromedp.CSS(`#continue[aria-disabled="false"]`)),
		chromedp.Click(chromedp.CSS(`#continue`)),
		chromedp.WaitVisible(chromedp.CSS(`#mfa-off`)),
	)
	if s := text(ctx, t, `#two-step`); !strings.Contains(s, "On.") || !strings.Contains(s, "10 unused recovery codes") {
		t.Errorf("account page after enrolment says %q", s)
	}
	return codes
}

// enrolledUser creates a verified user and turns two-step on for them in a browser of its own;
// the test signs in from another browser.
func enrolledUser(t *testing.T, browser context.Context, idp *testIdP, email, phone string) []string {
	t.Helper()
	createVerifiedUser(t, idp, email)
	ctx := twoStepTab(t, browser)
	signInToAccount(ctx, t, idp, email)
	return turnOnTwoStep(ctx, t, idp, phone)
}

// signedInHow waits for the relying party's page and returns who signed in, the acr and the amr.
func signedInHow(ctx context.Context, t *testing.T) (who, acr, amr string) {
	t.Helper()
	who = waitWho(ctx, t)
	if strings.HasPrefix(who, "error") {
		t.Fatalf("the relying party got %q", who)
	}
	return who, text(ctx, t, `#acr`), text(ctx, t, `#amr`)
}

// TestBrowserTwoStep runs the second-factor pages in real headless Chromium against the real
// server (development log verifier, codes read from /dev/outbox): enrolment and sign-in with an
// SMS code, "Call me instead", recovery codes, turning two-step off, step-up for acr_values=mfa,
// and the send limits.
func TestBrowserTwoStep(t *testing.T) {
	browser := newChromium(t)
	// Every journey comes from 127.0.0.1: the per-IP hourly SMS limit (default 10) would stop
	// the later ones. The per-number and per-account limits keep their defaults; the last
	// journey tests a limit on a server of its own.
	p := startIdP(t, "", map[string]string{"IDP_SMS_LIMIT_IP_HOUR": "100"})
	rp := startBrowserRP(t, p)

	t.Run("turn on at /account, sign out, sign in with the SMS code", func(t *testing.T) {
		const email, phone = "ada@example.com", "+447400123456"
		createVerifiedUser(t, p, email)
		ctx := twoStepTab(t, browser)
		signInToAccount(ctx, t, p, email)
		turnOnTwoStep(ctx, t, p, phone)
		run1(ctx, t, "sign out everywhere",
			chromedp.Click(chromedp.CSS(`form[action="/account/sessions/revoke-all"] button`)))
		waitText(ctx, t, "h1", "signed out everywhere")

		seen := len(smsSent(t, p, phone))
		loginInBrowser(ctx, t, rp, email, browserPassword)
		run1(ctx, t, "the code page after the password", chromedp.WaitVisible(chromedp.CSS(`#code`)))
		if h := text(ctx, t, "h1"); h != "Two-step verification" {
			t.Errorf("code page heading %q", h)
		}
		code, channel := nextSMS(t, p, phone, seen)
		if channel != "sms" {
			t.Errorf("sign-in code sent by %q", channel)
		}
		enterCode(ctx, t, code)
		who, acr, amr := signedInHow(ctx, t)
		if who != "Signed in as "+email+" (verified: true)" || acr != "mfa" || amr != "pwd sms mfa" {
			t.Errorf("RP shows %q, acr %q, amr %q; want acr mfa, amr pwd sms mfa", who, acr, amr)
		}
	})

	t.Run("call me instead", func(t *testing.T) {
		const email, phone = "babbage@example.com", "+447400123457"
		enrolledUser(t, browser, p, email, phone)
		ctx := twoStepTab(t, browser)
		seen := len(smsSent(t, p, phone))
		loginInBrowser(ctx, t, rp, email, browserPassword)
		run1(ctx, t, "the code page offers a call", chromedp.WaitVisible(chromedp.CSS(`#call`)))
		if _, channel := nextSMS(t, p, phone, seen); channel != "sms" {
			t.Errorf("first code sent by %q", channel)
		}
		run1(ctx, t, "call me instead", chromedp.Click(chromedp.CSS(`#call`)))
		waitText(ctx, t, "main", "We are calling")
		code, channel := nextSMS(t, p, phone, seen+1)
		if channel != "voice" {
			t.Errorf("the outbox shows the newest code by %q, want voice", channel)
		}
		enterCode(ctx, t, code)
		if _, acr, amr := signedInHow(ctx, t); acr != "mfa" || amr != "pwd tel mfa" {
			t.Errorf("acr %q, amr %q; want mfa, pwd tel mfa", acr, amr)
		}
	})

	t.Run("sign in with a recovery code, which then works no more", func(t *testing.T) {
		const email, phone = "lovelace@example.com", "+447400123458"
		codes := enrolledUser(t, browser, p, email, phone)
		useRecovery := func(ctx context.Context, code string) {
			t.Helper()
			run1(ctx, t, "use a recovery code",
				chromedp.WaitVisible(chromedp.CSS(`#use-recovery`)),
				chromedp.Click(chromedp.CSS(`#use-recovery`)),
				chromedp.WaitVisible(chromedp.CSS(`form[action="/mfa/recovery"] #code`)),
			)
			enterCode(ctx, t, code)
		}

		ctx := twoStepTab(t, browser)
		loginInBrowser(ctx, t, rp, email, browserPassword)
		useRecovery(ctx, codes[0])
		if _, acr, amr := signedInHow(ctx, t); acr != "mfa" || amr != "pwd mfa" {
			t.Errorf("acr %q, amr %q; want mfa, pwd mfa", acr, amr)
		}

		again := twoStepTab(t, browser)
		loginInBrowser(again, t, rp, email, browserPassword)
		useRecovery(again, codes[0])
		run1(again, t, "the used code is refused", chromedp.WaitVisible(chromedp.CSS(`#code-error`)))
		if msg := text(again, t, `#code-error`); msg != "That recovery code is not right, or it was already used." {
			t.Errorf("message %q", msg)
		}
		if loc, _ := chromedp.Run(again, chromedp.Location()); !strings.HasPrefix(loc, p.issuer+"/mfa/recovery") {
			t.Errorf("after a used code the browser is at %s", loc)
		}
		enterCode(again, t, codes[1]) // an unused one still works
		if _, acr, _ := signedInHow(again, t); acr != "mfa" {
			t.Errorf("acr %q after the second recovery code", acr)
		}
	})

	t.Run("turn off at /account with the SMS code; then the password alone signs in", func(t *testing.T) {
		const email, phone = "hamilton@example.com", "+447400123459"
		createVerifiedUser(t, p, email)
		ctx := twoStepTab(t, browser)
		signInToAccount(ctx, t, p, email)
		turnOnTwoStep(ctx, t, p, phone)
		seen := len(smsSent(t, p, phone))
		run1(ctx, t, "turn off",
			chromedp.SendKeys(chromedp.CSS(`#mfa-current`), browserPassword),
			chromedp.Click(chromedp.CSS(`#mfa-off`)),
			chromedp.WaitVisible(chromedp.CSS(`#code`)),
		)
		if h := text(ctx, t, "h1"); h != "Confirm it's you" {
			t.Errorf("code page heading %q", h)
		}
		code, _ := nextSMS(t, p, phone, seen)
		enterCode(ctx, t, code)
		run1(ctx, t, "back at /account", chromedp.WaitVisible(chromedp.CSS(`#mfa-on`)))
		if s := text(ctx, t, `.notice`); s != "Two-step verification is off." {
			t.Errorf("account notice %q", s)
		}
		if s := text(ctx, t, `#two-step`); !strings.Contains(s, "Off.") {
			t.Errorf("two-step section says %q", s)
		}

		seen = len(smsSent(t, p, phone))
		other := twoStepTab(t, browser)
		loginInBrowser(other, t, rp, email, browserPassword)
		if _, acr, amr := signedInHow(other, t); acr != "pwd" || amr != "pwd" {
			t.Errorf("acr %q, amr %q; want pwd, pwd", acr, amr)
		}
		if n := len(smsSent(t, p, phone)); n != seen {
			t.Errorf("a code was sent to a user with two-step off (%d → %d)", seen, n)
		}
	})

	t.Run("step-up for acr_values=mfa of a password-only session", func(t *testing.T) {
		const email, phone = "noether@example.com", "+447400123460"
		createVerifiedUser(t, p, email)
		ctx := twoStepTab(t, browser)
		signInToAccount(ctx, t, p, email)
		turnOnTwoStep(ctx, t, p, phone) // the session stays password-only
		seen := len(smsSent(t, p, phone))
		run1(ctx, t, "the RP asks for mfa",
			chromedp.Navigate(rp.url+"/start?acr=mfa"),
			chromedp.WaitVisible(chromedp.CSS(`#send`)),
		)
		if s := text(ctx, t, "main"); !strings.Contains(s, "This needs your second factor") {
			t.Errorf("step-up page says %q", s)
		}
		if n := len(smsSent(t, p, phone)); n != seen {
			t.Errorf("a step-up code was sent before the person asked (%d → %d)", seen, n)
		}
		run1(ctx, t, "send the first code",
			chromedp.Click(chromedp.CSS(`#send`)),
			chromedp.WaitVisible(chromedp.CSS(`#code`)),
		)
		code, _ := nextSMS(t, p, phone, seen)
		enterCode(ctx, t, code)
		if _, acr, amr := signedInHow(ctx, t); acr != "mfa" || amr != "pwd sms mfa" {
			t.Errorf("acr %q, amr %q; want mfa, pwd sms mfa", acr, amr)
		}
	})

	t.Run("acr_values=mfa without two-step: not now → unmet_authentication_requirements", func(t *testing.T) {
		const email = "turing@example.com"
		createVerifiedUser(t, p, email)
		ctx := twoStepTab(t, browser)
		run1(ctx, t, "sign in for an RP that asks for mfa",
			chromedp.Navigate(rp.url+"/start?acr=mfa"),
			chromedp.WaitVisible(chromedp.CSS(`#email`)),
			chromedp.SendKeys(chromedp.CSS(`#email`), email),
			chromedp.SendKeys(chromedp.CSS(`#password`), browserPassword),
			chromedp.Submit(chromedp.CSS(`#email`)),
			chromedp.WaitVisible(chromedp.CSS(`#decline`)),
		)
		if s := text(ctx, t, "main"); !strings.Contains(s, "asks for two-step verification") {
			t.Errorf("enrolment offer says %q", s)
		}
		run1(ctx, t, "not now", chromedp.Click(chromedp.CSS(`#decline`)))
		if who := waitWho(ctx, t); who != "error unmet_authentication_requirements" {
			t.Errorf("RP shows %q", who)
		}
	})

	t.Run("imported with two-step on: the first sign-in shows recovery codes, then goes on to the relying party", func(t *testing.T) {
		const email, phone = "hopper@example.com", "+447400123462"
		// bcrypt of browserPassword made outside Go: perl -e 'print crypt("a long and unusual
		// passphrase 42", q($2y$07$) . "Tq3Wm8Xr1Ln6Vb2Kc9Zd5e")' (glibc's libxcrypt, Debian 12).
		const hash = "$2y$07$Tq3Wm8Xr1Ln6Vb2Kc9Zd5eL1veqjhohQDPmYyHOVWVG5QbtfcVgAS"
		file := filepath.Join(t.TempDir(), "users.csv")
		if err := os.WriteFile(file, []byte("email,password_hash,email_verified,phone,mfa_enabled\n"+email+","+hash+",t,"+phone+",t\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		p.cli(t, "", "users", "import", file)
		ctx := twoStepTab(t, browser)
		seen := len(smsSent(t, p, phone))
		loginInBrowser(ctx, t, rp, email, browserPassword)
		run1(ctx, t, "the code page after the password", chromedp.WaitVisible(chromedp.CSS(`#code`)))
		code, _ := nextSMS(t, p, phone, seen)
		enterCode(ctx, t, code)
		run1(ctx, t, "recovery codes page", chromedp.WaitVisible(chromedp.CSS(`ol#recovery-codes code`)))
		codes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
			`[...document.querySelectorAll("ol#recovery-codes code")].map(e => e.textContent)`))
		if err != nil || len(codes) != 10 {
			t.Fatalf("recovery codes %q (%v), want 10", codes, err)
		}
		run1(ctx, t, "continue to the relying party",
			chromedp.Click(chromedp.CSS(`#saved`)),
			chromedp.WaitVisible(chromedp.CSS(`#continue[aria-disabled="false"]`)),
			chromedp.Click(chromedp.CSS(`#continue`)),
		)
		if _, acr, amr := signedInHow(ctx, t); acr != "mfa" || amr != "pwd sms mfa" {
			t.Errorf("acr %q, amr %q; want mfa, pwd sms mfa", acr, amr)
		}
		// A shown code signs in; no codes page the second time.
		again := twoStepTab(t, browser)
		loginInBrowser(again, t, rp, email, browserPassword)
		run1(again, t, "use a recovery code",
			chromedp.WaitVisible(chromedp.CSS(`#use-recovery`)),
			chromedp.Click(chromedp.CSS(`#use-recovery`)),
			chromedp.WaitVisible(chromedp.CSS(`form[action="/mfa/recovery"] #code`)),
		)
		enterCode(again, t, codes[0])
		if _, acr, amr := signedInHow(again, t); acr != "mfa" || amr != "pwd mfa" {
			t.Errorf("with a recovery code: acr %q, amr %q; want mfa, pwd mfa", acr, amr)
		}
	})

	t.Run("a second code at once is refused by the per-number limit", func(t *testing.T) {
		const email, phone = "curie@example.com", "+447400123461"
		limited := startIdP(t, "", map[string]string{"IDP_SMS_LIMIT_NUMBER_10M": "1"})
		createVerifiedUser(t, limited, email)
		ctx := twoStepTab(t, browser)
		signInToAccount(ctx, t, limited, email)
		startEnrolment(ctx, t, phone)
		nextSMS(t, limited, phone, 0)
		run1(ctx, t, "ask for a new code",
			chromedp.Click(chromedp.CSS(`#resend`)),
			chromedp.WaitVisible(chromedp.CSS(`#code-error`)),
		)
		if msg := text(ctx, t, `#code-error`); !strings.Contains(msg, "You can ask for a new one in") {
			t.Errorf("message %q", msg)
		}
		if n := len(smsSent(t, limited, phone)); n != 1 {
			t.Errorf("%d codes were sent to the number, want 1", n)
		}
	})
}
