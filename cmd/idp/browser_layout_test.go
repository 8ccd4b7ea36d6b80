package main

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/fintech-idp/idp/internal/browsertest"
)

// TestBrowserPageLayout visits every hosted page in headless Chromium against the real server and
// looks at each at a phone's and a laptop's width (browsertest.CheckLayout): a screenshot of each
// (kept with go test -artifacts) and a failure when a page scrolls sideways. A long address, as
// people have, is on every page that shows it.
func TestBrowserPageLayout(t *testing.T) {
	browser := newChromium(t)
	// The first browser comes through a "proxy" from a long IPv6 address, which /account shows.
	p := startIdP(t, "", map[string]string{"IDP_SMS_LIMIT_IP_HOUR": "100", "IDP_TRUSTED_PROXIES": "127.0.0.1/32, ::1/128"})
	rp := startBrowserRP(t, p)
	p.cli(t, "", "clients", "create", "--id", "planner", "--type", "spa", "--name", "Budget Planner for Households",
		"--redirect-uri", rp.url+"/callback", "--scope", "openid", "--scope", "email", "--scope", "offline_access")
	const email, phone = "alexandra.konstantinopoulou-smith@example-private-bank.com", "+447400123456"
	look := func(ctx context.Context, name string) {
		t.Helper()
		browsertest.CheckLayout(ctx, t, name)
	}

	// Signed out: sign-in (and its error), sign-up, the email code; the code signs in.
	ctx := newTab(t, browser)
	run1(ctx, t, "come from a long IPv6 address", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"X-Forwarded-For": "2001:db8:85a3:1234:5678:8a2e:370:7334"}})
		return err
	}))
	run1(ctx, t, "sign-in page", chromedp.Navigate(rp.url+"/start"), chromedp.WaitVisible(chromedp.CSS(`#password`)))
	look(ctx, "sign-in")
	loginInBrowser(ctx, t, rp, email, "not the password at all")
	run1(ctx, t, "sign-in error", chromedp.WaitVisible(chromedp.CSS(`#form-error`)))
	look(ctx, "sign-in-error")
	run1(ctx, t, "sign-up page", chromedp.Navigate(rp.url+"/start?create=1"), chromedp.WaitVisible(chromedp.CSS(`#confirm`)))
	look(ctx, "sign-up")
	signupInBrowser(ctx, t, rp, email, browserPassword)
	look(ctx, "email-code")
	enterCode(ctx, t, latestCode(t, p, email))
	waitWho(ctx, t)

	// Signed in: the account page, two-step enrolment, its SMS code, the recovery codes.
	run1(ctx, t, "account page", chromedp.Navigate(p.issuer+"/account"), chromedp.WaitVisible(chromedp.CSS(`#mfa-on`)))
	look(ctx, "account")
	run1(ctx, t, "enrolment page", chromedp.Click(chromedp.CSS(`#mfa-on`)), chromedp.WaitVisible(chromedp.CSS(`#phone`)))
	look(ctx, "two-step-enrol")
	seen := len(smsSent(t, p, phone))
	run1(ctx, t, "send the enrolment code",
		chromedp.SendKeys(chromedp.CSS(`#phone`), phone),
		chromedp.Click(chromedp.CSS(`#consent`)),
		chromedp.Submit(chromedp.CSS(`#phone`)),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
	)
	look(ctx, "two-step-enrol-code")
	code, _ := nextSMS(t, p, phone, seen)
	enterCode(ctx, t, code)
	run1(ctx, t, "recovery codes page", chromedp.WaitVisible(chromedp.CSS(`ol#recovery-codes code`)))
	look(ctx, "recovery-codes")
	codes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("ol#recovery-codes code")].map(e => e.textContent)`))
	if err != nil || len(codes) < 2 {
		t.Fatalf("recovery codes: %q, %v", codes, err)
	}
	run1(ctx, t, "back to the account page",
		chromedp.Click(chromedp.CSS(`#saved`)),
		chromedp.Click(chromedp.CSS(`#continue`)),
		chromedp.WaitVisible(chromedp.CSS(`#mfa-off`)),
	)
	look(ctx, "account-two-step-on")
	// The session is password-only: an app asking for mfa gets the step-up page.
	run1(ctx, t, "step-up page", chromedp.Navigate(rp.url+"/start?acr=mfa"), chromedp.WaitVisible(chromedp.CSS(`#send`)))
	look(ctx, "step-up")

	// Sign-out without id_token_hint asks first; the signed-out page; an error page.
	endSession := p.issuer + "/end_session?" + url.Values{"client_id": {"browser-rp"}, "post_logout_redirect_uri": {rp.url + "/"}}.Encode()
	run1(ctx, t, "sign-out question", chromedp.Navigate(endSession), chromedp.WaitVisible(chromedp.CSS(`button[name=confirm][value=no]`)))
	look(ctx, "logout-confirm")
	run1(ctx, t, "stay signed in", chromedp.Click(chromedp.CSS(`button[name=confirm][value=no]`)))
	waitText(ctx, t, "h1", "You are still signed in")
	look(ctx, "still-signed-in")
	run1(ctx, t, "signed-out page", chromedp.Navigate(p.issuer+"/logged-out"))
	waitText(ctx, t, "h1", "You have signed out")
	look(ctx, "logged-out")
	run1(ctx, t, "error page", chromedp.Navigate(p.issuer+"/logout?lr=not-a-signed-request"))
	waitText(ctx, t, "main", "This sign-out link is not valid or has expired.")
	look(ctx, "error")

	// Another browser: the SMS code at sign-in, the recovery code page, then the consent page of
	// a public app that wants to stay signed in.
	other := newTab(t, browser)
	loginInBrowser(other, t, rp, email, browserPassword)
	run1(other, t, "sign-in code page", chromedp.WaitVisible(chromedp.CSS(`#use-recovery`)))
	look(other, "sms-code")
	run1(other, t, "recovery code page",
		chromedp.Click(chromedp.CSS(`#use-recovery`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/mfa/recovery"] #code`)),
	)
	look(other, "recovery-code")
	enterCode(other, t, codes[0])
	waitWho(other, t)
	planner := &oauth2.Config{ClientID: "planner", RedirectURL: rp.url + "/callback", Scopes: []string{"openid", "email", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: p.issuer + "/authorize"}}
	run1(other, t, "consent page",
		chromedp.Navigate(planner.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))),
		chromedp.WaitVisible(chromedp.CSS(`#consent-allow`)),
	)
	look(other, "consent")

	// A third browser: the password reset pages.
	reset := newTab(t, browser)
	run1(reset, t, "reset request page",
		chromedp.Navigate(rp.url+"/start"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.Click(chromedp.CSS(`a[href^="/reset"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
	)
	look(reset, "reset-request")
	run1(reset, t, "reset code page",
		chromedp.SendKeys(chromedp.CSS(`#email`), email),
		chromedp.Submit(chromedp.CSS(`#email`)),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
	)
	look(reset, "reset-code")
	seen = len(smsSent(t, p, phone))
	enterCode(reset, t, latestCode(t, p, email))
	// Two-step is on: the reset asks for the SMS code too.
	run1(reset, t, "reset SMS code page", chromedp.WaitVisible(chromedp.CSS(`#use-recovery`)))
	look(reset, "reset-sms-code")
	code, _ = nextSMS(t, p, phone, seen)
	enterCode(reset, t, code)
	run1(reset, t, "new password page", chromedp.WaitVisible(chromedp.CSS(`#confirm`)))
	look(reset, "reset-password")
	newPW := "another entirely fresh passphrase"
	run1(reset, t, "password changed",
		chromedp.SendKeys(chromedp.CSS(`#password`), newPW),
		chromedp.SendKeys(chromedp.CSS(`#confirm`), newPW),
		chromedp.Submit(chromedp.CSS(`#password`)),
		chromedp.WaitVisible(chromedp.CSS(`a.button`)),
	)
	look(reset, "reset-done")

	// An app asks for two-step of someone without it: the offer to turn it on.
	const plain = "maximilian.oberhausen-wittgenstein@example-private-bank.com"
	createVerifiedUser(t, p, plain)
	offer := newTab(t, browser)
	run1(offer, t, "two-step offer",
		chromedp.Navigate(rp.url+"/start?acr=mfa"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), plain),
		chromedp.SendKeys(chromedp.CSS(`#password`), browserPassword),
		chromedp.Submit(chromedp.CSS(`#email`)),
		chromedp.WaitVisible(chromedp.CSS(`#decline`)),
	)
	look(offer, "two-step-offer")

	// German and French texts are longer: the pages with the most text, in both.
	for _, lang := range []string{"de", "fr"} {
		tab := newTab(t, browser)
		run1(tab, t, "sign-up page in "+lang,
			chromedp.Navigate(rp.url+"/start?create=1"),
			chromedp.WaitVisible(chromedp.CSS(`#confirm`)),
			chromedp.Click(chromedp.CSS(`#langs a[hreflang=`+lang+`]`)),
			chromedp.WaitVisible(chromedp.CSS(`html[lang=`+lang+`] #confirm`)),
		)
		look(tab, "sign-up-"+lang)
		run1(tab, t, "sign in to the account page in "+lang,
			chromedp.Navigate(p.issuer+"/account"),
			chromedp.WaitVisible(chromedp.CSS(`#email`)),
			chromedp.SendKeys(chromedp.CSS(`#email`), email),
			chromedp.SendKeys(chromedp.CSS(`#password`), newPW),
			chromedp.Submit(chromedp.CSS(`#email`)),
			chromedp.WaitVisible(chromedp.CSS(`#use-recovery`)),
		)
		look(tab, "sms-code-"+lang)
		run1(tab, t, "recovery code in "+lang,
			chromedp.Click(chromedp.CSS(`#use-recovery`)),
			chromedp.WaitVisible(chromedp.CSS(`form[action="/mfa/recovery"] #code`)),
		)
		enterCode(tab, t, codes[map[string]int{"de": 1, "fr": 2}[lang]])
		run1(tab, t, "account page in "+lang, chromedp.WaitVisible(chromedp.CSS(`#mfa-off`)))
		if l := attr(tab, t, "html", "lang"); !strings.HasPrefix(l, lang) {
			t.Errorf("account page in %q, want %s", l, lang)
		}
		look(tab, "account-"+lang)
	}
}
