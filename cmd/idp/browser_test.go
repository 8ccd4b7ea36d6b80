package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/fintech-idp/idp/internal/browsertest"
)

// newChromium starts one headless Chromium for the test (browsertest: found, or skipped with
// "BROWSER TESTS SKIPPED", or failed in CI); each journey gets its own browser context (its own
// cookies) from newTab.
func newChromium(t *testing.T) context.Context {
	t.Helper()
	return browsertest.Start(t)
}

func newTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelT(); cancel() })
	return ctx
}

// browserRP is a relying party for the browser suite: it listens for real, runs the code flow
// with PKCE, state and nonce (/start; ?create=1 sends prompt=create, ?acr=mfa acr_values=mfa),
// and shows who signed in and how (#who, #acr, #amr) or the error it got (#who "error …").
type browserRP struct {
	url    string
	oauth  *oauth2.Config
	verify *oidc.IDTokenVerifier
	mu     sync.Mutex
	flows  map[string][2]string // state → verifier, nonce
}

func startBrowserRP(t *testing.T, idp *testIdP) *browserRP {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rp := &browserRP{url: "http://" + l.Addr().String(), flows: map[string][2]string{}}
	out := idp.cli(t, "", "clients", "create", "--id", "browser-rp", "--type", "web", "--name", "Pocket Bank",
		"--redirect-uri", rp.url+"/callback", "--post-logout-redirect-uri", rp.url+"/")
	secret := regexp.MustCompile(`: (\S+)\n`).FindStringSubmatch(out)
	if secret == nil {
		t.Fatalf("no secret printed: %q", out)
	}
	prov, err := oidc.NewProvider(context.Background(), idp.issuer)
	if err != nil {
		t.Fatal(err)
	}
	rp.oauth = &oauth2.Config{ClientID: "browser-rp", ClientSecret: secret[1], Endpoint: prov.Endpoint(),
		RedirectURL: rp.url + "/callback", Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
	rp.verify = prov.Verifier(&oidc.Config{ClientID: "browser-rp"})
	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		state, verifier, nonce := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
		rp.mu.Lock()
		rp.flows[state] = [2]string{verifier, nonce}
		rp.mu.Unlock()
		opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)}
		if r.URL.Query().Get("create") == "1" {
			opts = append(opts, oauth2.SetAuthURLParam("prompt", "create"))
		}
		if acr := r.URL.Query().Get("acr"); acr != "" {
			// OIDC Core §3.1.2.1: acr_values is a voluntary request; the RP checks the acr it gets.
			opts = append(opts, oauth2.SetAuthURLParam("acr_values", acr))
		}
		http.Redirect(w, r, rp.oauth.AuthCodeURL(state, opts...), http.StatusFound)
	})
	mux.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
		rp.mu.Lock()
		f, ok := rp.flows[r.URL.Query().Get("state")]
		delete(rp.flows, r.URL.Query().Get("state"))
		rp.mu.Unlock()
		if !ok {
			http.Error(w, "unknown state", http.StatusBadRequest)
			return
		}
		if e := r.URL.Query().Get("error"); e != "" {
			fmt.Fprintf(w, `<h1 id="who">error %s</h1>`, html.EscapeString(e))
			return
		}
		tok, err := rp.oauth.Exchange(r.Context(), r.URL.Query().Get("code"), oauth2.VerifierOption(f[0]))
		if err != nil {
			http.Error(w, "exchange failed", http.StatusBadGateway)
			return
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := rp.verify.Verify(r.Context(), raw)
		if err != nil || idt.Nonce != f[1] {
			http.Error(w, "bad id token", http.StatusBadGateway)
			return
		}
		var c struct {
			Email    string   `json:"email"`
			Verified bool     `json:"email_verified"`
			ACR      string   `json:"acr"`
			AMR      []string `json:"amr"`
		}
		_ = idt.Claims(&c)
		fmt.Fprintf(w, `<!doctype html><h1 id="who">Signed in as %s (verified: %t)</h1><p id="acr">%s</p><p id="amr">%s</p>`,
			html.EscapeString(c.Email), c.Verified, html.EscapeString(c.ACR), html.EscapeString(strings.Join(c.AMR, " ")))
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return rp
}

var outboxCode = regexp.MustCompile(`(?s)<article class="mail">.*?<span class="muted">to ([^ <]+) .*?<pre>(.*?)</pre>`)
var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// latestCode reads the newest code emailed to addr from the development outbox.
func latestCode(t *testing.T, idp *testIdP, addr string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range outboxCode.FindAllStringSubmatch(devOutbox(t, idp), -1) {
			if html.UnescapeString(m[1]) == addr {
				if c := sixDigits.FindStringSubmatch(m[2]); c != nil {
					return c[1]
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no code for %s in the outbox", addr)
	return ""
}

// devOutbox returns the development outbox page (emails and text messages, newest first).
func devOutbox(t *testing.T, idp *testIdP) string {
	t.Helper()
	resp, err := http.Get(idp.issuer + "/dev/outbox")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func outboxCount(t *testing.T, idp *testIdP, addr string) int {
	t.Helper()
	n := 0
	for _, m := range outboxCode.FindAllStringSubmatch(devOutbox(t, idp), -1) {
		if html.UnescapeString(m[1]) == addr {
			n++
		}
	}
	return n
}

func text(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

func run1(ctx context.Context, t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v (at %s: %.300s)", what, err, loc, body)
	}
}

// waitText waits until the element's text contains want (a navigation has finished).
func waitText(ctx context.Context, t *testing.T, sel, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		if s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel))); err == nil {
			if last = s; strings.Contains(s, want) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never said %q (last %q)", sel, want, last)
}

func attr(ctx context.Context, t *testing.T, sel, name string) string {
	t.Helper()
	res, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		t.Fatalf("attribute %s of %s: %v", name, sel, err)
	}
	return res.Value
}

const browserPassword = "a long and unusual passphrase 42"

// signupInBrowser creates an account through the RP's "Create account" and stops at the code
// page.
func signupInBrowser(ctx context.Context, t *testing.T, rp *browserRP, email, pw string) {
	t.Helper()
	run1(ctx, t, "open signup",
		chromedp.Navigate(rp.url+"/start?create=1"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
	)
	if got := attr(ctx, t, `#password`, "autocomplete"); got != "new-password" {
		t.Errorf("signup password autocomplete = %q", got)
	}
	run1(ctx, t, "submit signup",
		chromedp.SendKeys(chromedp.CSS(`#email`), email),
		chromedp.SendKeys(chromedp.CSS(`#password`), pw),
		chromedp.SendKeys(chromedp.CSS(`#confirm`), pw),
		chromedp.Submit(chromedp.CSS(`#email`)),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
	)
}

func enterCode(ctx context.Context, t *testing.T, code string) {
	t.Helper()
	run1(ctx, t, "enter code",
		chromedp.SendKeys(chromedp.CSS(`#code`), code),
		chromedp.Submit(chromedp.CSS(`#code`)),
	)
}

func loginInBrowser(ctx context.Context, t *testing.T, rp *browserRP, email, pw string) {
	t.Helper()
	run1(ctx, t, "sign in",
		chromedp.Navigate(rp.url+"/start"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), email),
		chromedp.SendKeys(chromedp.CSS(`#password`), pw),
		chromedp.Submit(chromedp.CSS(`#email`)),
	)
}

func waitWho(ctx context.Context, t *testing.T) string {
	t.Helper()
	run1(ctx, t, "reach the relying party", chromedp.WaitVisible(chromedp.CSS(`#who`)))
	return text(ctx, t, `#who`)
}

// TestBrowserJourneys runs the hosted pages in real headless Chromium against the real server and
// a relying party listening for real: signup → email code → RP; unverified login; login; reset;
// account.
func TestBrowserJourneys(t *testing.T) {
	browser := newChromium(t)
	p := startIdP(t, "", map[string]string{"IDP_EMAIL_RESEND_COOLDOWN": "1s"})
	rp := startBrowserRP(t, p)

	t.Run("signup, email code, back at the RP without a second login", func(t *testing.T) {
		ctx := newTab(t, browser)
		signupInBrowser(ctx, t, rp, "grace@example.com", browserPassword)
		if got := attr(ctx, t, `#code`, "autocomplete"); got != "one-time-code" {
			t.Errorf("code autocomplete = %q", got)
		}
		if got := attr(ctx, t, `#code`, "inputmode"); got != "numeric" {
			t.Errorf("code inputmode = %q", got)
		}
		enterCode(ctx, t, "000000") // wrong first (1 in a million it is right; then the next line fails loudly)
		run1(ctx, t, "wrong code message", chromedp.WaitVisible(chromedp.CSS(`#code-error`)))
		enterCode(ctx, t, latestCode(t, p, "grace@example.com"))
		if who := waitWho(ctx, t); who != "Signed in as grace@example.com (verified: true)" {
			t.Errorf("RP shows %q", who)
		}
	})

	t.Run("unverified login goes to the code page, never to the RP", func(t *testing.T) {
		ctx := newTab(t, browser)
		signupInBrowser(ctx, t, rp, "hopper@example.com", browserPassword)
		before := outboxCount(t, p, "hopper@example.com")
		time.Sleep(1100 * time.Millisecond) // the resend cooldown of this server
		other := newTab(t, browser)
		loginInBrowser(other, t, rp, "hopper@example.com", browserPassword)
		run1(other, t, "code page", chromedp.WaitVisible(chromedp.CSS(`#code`)))
		if after := outboxCount(t, p, "hopper@example.com"); after != before+1 {
			t.Errorf("a fresh code was not sent (%d → %d)", before, after)
		}
		enterCode(other, t, latestCode(t, p, "hopper@example.com"))
		if who := waitWho(other, t); !strings.Contains(who, "hopper@example.com") {
			t.Errorf("RP shows %q", who)
		}
	})

	t.Run("login: wrong password message, then the RP", func(t *testing.T) {
		ctx := newTab(t, browser)
		loginInBrowser(ctx, t, rp, "grace@example.com", "not the password at all")
		run1(ctx, t, "error shown", chromedp.WaitVisible(chromedp.CSS(`#form-error`)))
		if msg := text(ctx, t, `#form-error`); msg != "The email or password is incorrect." {
			t.Errorf("message %q", msg)
		}
		loginInBrowser(ctx, t, rp, "grace@example.com", browserPassword)
		if who := waitWho(ctx, t); !strings.Contains(who, "grace@example.com") {
			t.Errorf("RP shows %q", who)
		}
	})

	t.Run("password reset, then sign in with the new password", func(t *testing.T) {
		ctx := newTab(t, browser)
		newPW := "another entirely fresh passphrase"
		run1(ctx, t, "forgot password",
			chromedp.Navigate(rp.url+"/start"),
			chromedp.WaitVisible(chromedp.CSS(`#email`)),
			chromedp.Click(chromedp.CSS(`a[href^="/reset"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#email`)),
			chromedp.SendKeys(chromedp.CSS(`#email`), "grace@example.com"),
			chromedp.Submit(chromedp.CSS(`#email`)),
			chromedp.WaitVisible(chromedp.CSS(`#code`)),
		)
		enterCode(ctx, t, latestCode(t, p, "grace@example.com"))
		run1(ctx, t, "new password",
			chromedp.WaitVisible(chromedp.CSS(`#password`)),
			chromedp.SendKeys(chromedp.CSS(`#password`), newPW),
			chromedp.SendKeys(chromedp.CSS(`#confirm`), newPW),
			chromedp.Submit(chromedp.CSS(`#password`)),
			chromedp.WaitVisible(chromedp.CSS(`a.button`)),
			chromedp.Click(chromedp.CSS(`a.button`)),
			chromedp.WaitVisible(chromedp.CSS(`#password`)),
			chromedp.SendKeys(chromedp.CSS(`#email`), "grace@example.com"),
			chromedp.SendKeys(chromedp.CSS(`#password`), newPW),
			chromedp.Submit(chromedp.CSS(`#email`)),
		)
		if who := waitWho(ctx, t); !strings.Contains(who, "grace@example.com") {
			t.Errorf("RP shows %q", who)
		}
	})

	t.Run("account page: sessions and sign out everywhere", func(t *testing.T) {
		ctx := newTab(t, browser)
		loginInBrowser(ctx, t, rp, "hopper@example.com", browserPassword)
		waitWho(ctx, t)
		run1(ctx, t, "account page",
			chromedp.Navigate(p.issuer+"/account"),
			chromedp.WaitVisible(chromedp.CSS(`.sessions`)),
		)
		body := text(ctx, t, `main`)
		for _, want := range []string{"hopper@example.com", "verified", "this browser", "Two-step verification"} {
			if !strings.Contains(body, want) {
				t.Errorf("account page lacks %q", want)
			}
		}
		run1(ctx, t, "sign out everywhere",
			chromedp.Click(chromedp.CSS(`form[action="/account/sessions/revoke-all"] button`)))
		waitText(ctx, t, "h1", "signed out everywhere")
		run1(ctx, t, "account needs a sign-in again",
			chromedp.Navigate(p.issuer+"/account"),
			chromedp.WaitVisible(chromedp.CSS(`#password`)), // back at the sign-in form
		)
	})
}
