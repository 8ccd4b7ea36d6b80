package main

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fintech-idp/idp/internal/browsertest"
)

// newDashTab starts one headless Chromium (browsertest: found, or skipped with "BROWSER TESTS
// SKIPPED", or failed in CI) and returns a tab whose context also bounds the whole journey.
func newDashTab(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancelTab := chromedp.NewContext(browsertest.Start(t), chromedp.WithNewBrowserContext())
	ctx, cancelT := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelT(); cancelTab() })
	return ctx
}

// journey is one person in one browser tab, with the two servers it talks to.
type journey struct {
	t      *testing.T
	ctx    context.Context
	dash   string // the dashboard's origin
	issuer string
	http   *http.Client // reads /dev/outbox, which needs no cookies
}

// do runs browser steps; on failure it reports where the browser is and what the page says.
func (j *journey) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	j.t.Helper()
	if err := chromedp.Do(j.ctx, steps...); err != nil {
		j.fatalf("%s: %v", what, err)
	}
}

func (j *journey) fatalf(format string, args ...any) {
	j.t.Helper()
	// A fresh short context: the journey's own may be the one that ran out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(j.ctx), 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	j.t.Fatalf("%s\n  at %s\n  page text:\n%s", fmt.Sprintf(format, args...), loc, body)
}

func (j *journey) text(sel string) string {
	j.t.Helper()
	s, err := chromedp.Run(j.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		j.fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// has reports whether the current page has an element matching sel, without waiting.
func (j *journey) has(sel string) bool {
	j.t.Helper()
	ok, err := chromedp.Run(j.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%q) !== null`, sel)))
	if err != nil {
		j.fatalf("look for %s: %v", sel, err)
	}
	return ok
}

func (j *journey) location() string {
	j.t.Helper()
	loc, err := chromedp.Run(j.ctx, chromedp.Location())
	if err != nil {
		j.fatalf("location: %v", err)
	}
	return loc
}

// expectDashboard checks the dashboard's identity panel, which the page under test must show.
func (j *journey) expectDashboard(want map[string]string) {
	j.t.Helper()
	j.do("dashboard", chromedp.WaitVisible(chromedp.CSS(`#identity`)))
	if loc := j.location(); loc != j.dash+"/dashboard" {
		j.fatalf("dashboard at %s", loc)
	}
	for _, id := range []string{"who", "acr", "amr", "mfa-enabled", "email-verified"} {
		got := j.text("#" + id)
		if w, ok := want[id]; ok && got != w {
			j.t.Errorf("dashboard #%s = %q, want %q", id, got, w)
		}
	}
}

var outboxMail = regexp.MustCompile(`(?s)<article class="mail">.*?<span class="muted">to ([^ <]+) .*?<pre>(.*?)</pre>`)
var mailCode = regexp.MustCompile(`\b(\d{6})\b`)

func (j *journey) outbox() string {
	j.t.Helper()
	resp, body := get(j.t, j.http, j.issuer+"/dev/outbox")
	if resp.StatusCode != http.StatusOK {
		j.t.Fatalf("/dev/outbox: %d", resp.StatusCode)
	}
	return body
}

// emailCode waits for the newest code emailed to addr (the outbox lists newest first).
func (j *journey) emailCode(addr string) string {
	j.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, m := range outboxMail.FindAllStringSubmatch(j.outbox(), -1) {
			if html.UnescapeString(m[1]) == addr {
				if c := mailCode.FindStringSubmatch(m[2]); c != nil {
					return c[1]
				}
			}
		}
	}
	j.fatalf("no email code for %s in /dev/outbox", addr)
	return ""
}

func (j *journey) smsCount() int {
	j.t.Helper()
	return len(outboxSMS.FindAllStringSubmatch(j.outbox(), -1))
}

// newSMSCode waits until the outbox holds more than before text messages and returns the newest
// code, so a code from an earlier step is never taken for this one.
func (j *journey) newSMSCode(before int) string {
	j.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := outboxSMS.FindAllStringSubmatch(j.outbox(), -1); len(m) > before {
			return m[0][1]
		}
	}
	j.fatalf("no new SMS code in /dev/outbox (still %d)", before)
	return ""
}

// TestBrowserDashboardJourney is the README's demo journey in headless Chromium, with the real IdP
// binary and the dashboard both running: create account → email code → dashboard → two-step on
// in the IdP's settings → back → payment with an SMS step-up → sign out → signing in again asks
// for the password and the SMS code.
func TestBrowserDashboardJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the IdP binary and Chromium")
	}
	browsertest.Path(t) // skip (or fail in CI) before building anything
	const email, password, phone = "grace@example.com", "a long and unusual passphrase 42", "+447400123456"

	idp := newRealIdP(t)
	dash := newRelay(t)
	dashRoot := fmt.Sprintf("http://127.0.0.1:%d/", dash.port)
	idp.cli(t, "", "migrate", "up")
	out := idp.cli(t, "", "clients", "create", "--id", "dash", "--type", "web", "--name", "FinTech Dashboard",
		"--redirect-uri", dashRoot+"callback", "--post-logout-redirect-uri", dashRoot)
	m := regexp.MustCompile(`client secret \(shown once, store it now\): (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no secret in: %s", out)
	}
	idp.serve(t)
	base, _ := startDashboard(t, dash, map[string]string{"ISSUER": idp.issuer, "CLIENT_ID": "dash",
		"CLIENT_SECRET": m[1], "REDIRECT_URL": dashRoot + "callback"})

	start := time.Now()
	j := &journey{t: t, ctx: newDashTab(t, 60*time.Second), dash: base, issuer: idp.issuer, http: newBrowser(t)}
	defer func() { t.Logf("browser journey took %s", time.Since(start).Round(time.Millisecond)) }()

	// 1. Create account (prompt=create shows the IdP's signup page), then the email code.
	j.do("open the dashboard",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#create-account`)),
	)
	if j.has(`#unreachable`) {
		j.fatalf("the dashboard says the IdP is unreachable")
	}
	j.do("create account",
		chromedp.Click(chromedp.CSS(`#create-account`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm`)), // only the signup page asks to confirm
	)
	if loc := j.location(); !strings.HasPrefix(loc, idp.issuer+"/signup") {
		j.fatalf("create account led to %s, not the IdP's signup page", loc)
	}
	j.do("submit signup",
		chromedp.SendKeys(chromedp.CSS(`#email`), email),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.SendKeys(chromedp.CSS(`#confirm`), password),
		chromedp.Submit(chromedp.CSS(`#email`)),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
	)
	j.do("enter the email code",
		chromedp.SendKeys(chromedp.CSS(`#code`), j.emailCode(email)),
		chromedp.Submit(chromedp.CSS(`#code`)),
	)
	j.expectDashboard(map[string]string{"who": email, "email-verified": "yes", "acr": "pwd", "mfa-enabled": "off"})

	// 2. Two-step on in the IdP's security settings; the SMS code comes from the outbox.
	j.do("security settings",
		chromedp.Click(chromedp.CSS(`#security-settings`)),
		chromedp.WaitVisible(chromedp.CSS(`#mfa-on`)),
	)
	if loc := j.location(); loc != idp.issuer+"/account?client_id=dash" {
		j.fatalf("security settings at %s, not the IdP's /account", loc)
	}
	j.do("turn on two-step",
		chromedp.Click(chromedp.CSS(`#mfa-on`)),
		chromedp.WaitVisible(chromedp.CSS(`#phone`)),
	)
	// Fresh from signup, the IdP should not ask for the password again (reauthAfter is 5 min).
	if j.has(`#password`) {
		t.Log("the enrolment page asks for the password")
		j.do("password", chromedp.SendKeys(chromedp.CSS(`#password`), password))
	}
	sms := j.smsCount()
	j.do("send the enrolment code",
		chromedp.SendKeys(chromedp.CSS(`#phone`), phone),
		chromedp.Click(chromedp.CSS(`#consent`)),
		chromedp.Submit(chromedp.CSS(`#phone`)),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
	)
	j.do("enter the enrolment code",
		chromedp.SendKeys(chromedp.CSS(`#code`), j.newSMSCode(sms)),
		chromedp.Submit(chromedp.CSS(`#code`)),
		chromedp.WaitVisible(chromedp.CSS(`#recovery-codes`)),
	)
	codes, err := chromedp.Run(j.ctx, chromedp.Evaluate[int](`document.querySelectorAll("#recovery-codes li code").length`))
	if err != nil || codes != 10 {
		j.fatalf("recovery codes: %d shown (%v), want 10", codes, err)
	}
	j.do("continue after the recovery codes",
		chromedp.Click(chromedp.CSS(`#continue`)), // refused until the codes are said to be saved
		chromedp.WaitVisible(chromedp.CSS(`#recovery-codes`)),
		chromedp.Click(chromedp.CSS(`#saved`)),
		chromedp.Click(chromedp.CSS(`#continue`)),
		chromedp.WaitVisible(chromedp.CSS(`#mfa-off`)), // the account page, two-step now on
	)
	if s := j.text(`#two-step`); !strings.Contains(s, "On.") {
		j.fatalf("account page after enrolment: %q", s)
	}
	// Back on the dashboard: the visit to the security settings (through /security) makes the
	// next page refresh, and the refreshed ID token says mfa_enabled; acr stays that of the
	// sign-in.
	if got := j.text(`#back-to-app`); got != "← Back to FinTech Dashboard" {
		t.Errorf("the account page's way back says %q", got)
	}
	j.do("back to the dashboard", chromedp.Click(chromedp.CSS(`#back-to-app`)))
	j.expectDashboard(map[string]string{"who": email, "acr": "pwd", "mfa-enabled": "on"})

	// 3. A payment: step-up (acr_values=mfa, max_age=300) inside the SSO session asks before it
	// sends the SMS code.
	j.do("send a payment",
		chromedp.Click(chromedp.CSS(`header nav a[href="/payment"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#send, #recipient`)),
	)
	if !j.has(`#send`) {
		j.fatalf("the payment did not ask for the second factor")
	}
	if loc := j.location(); !strings.HasPrefix(loc, idp.issuer+"/mfa") {
		j.fatalf("step-up at %s, not the IdP's /mfa page", loc)
	}
	sms = j.smsCount()
	j.do("ask for the step-up code",
		chromedp.Click(chromedp.CSS(`#send`)),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
	)
	j.do("enter the step-up code",
		chromedp.SendKeys(chromedp.CSS(`#code`), j.newSMSCode(sms)),
		chromedp.Submit(chromedp.CSS(`#code`)),
		chromedp.WaitVisible(chromedp.CSS(`#recipient`)),
	)
	if loc := j.location(); loc != base+"/payment" {
		j.fatalf("payment form at %s", loc)
	}
	j.do("pay",
		chromedp.SendKeys(chromedp.CSS(`#recipient`), "Bob"),
		chromedp.SendKeys(chromedp.CSS(`#amount`), "12.50"),
		chromedp.Submit(chromedp.CSS(`#recipient`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirmation`)),
	)
	if got := j.text(`#confirmation`); !strings.HasPrefix(got, "12.50 EUR to Bob — confirmed.") {
		t.Errorf("confirmation %q", got)
	}
	j.do("overview", chromedp.Click(chromedp.CSS(`header nav a[href="/dashboard"]`)))
	j.expectDashboard(map[string]string{"who": email, "acr": "mfa", "mfa-enabled": "on"})

	// 4. Sign out: RP-initiated logout with id_token_hint ends the IdP session without a question
	// and comes back to the dashboard's root.
	j.do("sign out",
		chromedp.Click(chromedp.CSS(`#sign-out`)),
		chromedp.WaitVisible(chromedp.CSS(`#sign-in`)),
	)
	if loc := j.location(); loc != dashRoot {
		j.fatalf("after sign-out at %s, want %s", loc, dashRoot)
	}
	if got := j.text(`#signed-out`); got != "You are signed out." {
		t.Errorf("after sign-out the dashboard says %q", got)
	}

	// 5. Signing in again asks for the password, then the SMS code (sent at once).
	j.do("sign in",
		chromedp.Click(chromedp.CSS(`#sign-in`)),
		chromedp.WaitVisible(chromedp.CSS(`#password`)),
	)
	if loc := j.location(); !strings.HasPrefix(loc, idp.issuer+"/login") {
		j.fatalf("sign-in at %s, not the IdP's login page", loc)
	}
	sms = j.smsCount()
	j.do("password",
		chromedp.SendKeys(chromedp.CSS(`#email`), email),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Submit(chromedp.CSS(`#email`)),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
	)
	if loc := j.location(); !strings.HasPrefix(loc, idp.issuer+"/mfa") {
		j.fatalf("second factor at %s, not the IdP's /mfa page", loc)
	}
	j.do("enter the sign-in code",
		chromedp.SendKeys(chromedp.CSS(`#code`), j.newSMSCode(sms)),
		chromedp.Submit(chromedp.CSS(`#code`)),
	)
	j.expectDashboard(map[string]string{"who": email, "acr": "mfa", "mfa-enabled": "on"})
}
