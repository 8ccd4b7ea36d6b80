package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fintech-idp/idp/internal/browsertest"
)

// TestBrowserDashboardLayout looks at every dashboard page in headless Chromium at a phone's and a
// laptop's width (browsertest.CheckLayout: screenshots kept with -artifacts, a failure on
// horizontal scrolling). The dashboard runs with the handler tests' fake IdP; sessions are made
// in the test and handed to the browser by two test-only routes.
func TestBrowserDashboardLayout(t *testing.T) {
	ctx := newDashTab(t, 90*time.Second)
	ta := newTestApp(t, nil)

	// A signed-in session that may pay (acr mfa, just now), with a long address as people have.
	sess, _ := ta.signIn(t, "mfa", ta.clock, "/login")
	if s := ta.store.get(sess.Value); s != nil {
		s.mu.Lock()
		s.claims.email = "alexandra.konstantinopoulou-smith@example-private-bank.com"
		s.mu.Unlock()
	}
	// A step-up on its way, to be answered with unmet_authentication_requirements.
	pwd, _ := ta.signIn(t, "pwd", ta.clock, "/login")
	resp := ta.do(t, "GET", "/payment", nil, pwd)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	stepUp := cookieNamed(resp, loginCookie)
	if stepUp == nil {
		t.Fatal("no step-up started")
	}

	mux := http.NewServeMux()
	mux.Handle("/", ta.handler)
	mux.HandleFunc("GET /test/signed-out", func(w http.ResponseWriter, r *http.Request) {
		ta.setSignedOutCookie(w, 60)
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /test/sign-in", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: sess.Name, Value: sess.Value, Path: "/", HttpOnly: true})
		http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /test/needs-mfa", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: stepUp.Name, Value: stepUp.Value, Path: ta.cfg.callbackPath, HttpOnly: true})
		http.Redirect(w, r, ta.cfg.callbackPath+"?error=unmet_authentication_requirements&state="+
			url.QueryEscape(loc.Query().Get("state")), http.StatusSeeOther)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	base := srv.URL
	j := &journey{t: t, ctx: ctx, dash: base}

	j.do("home", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#sign-in`)))
	browsertest.CheckLayout(ctx, t, "home")
	j.do("error page", chromedp.Navigate(base+"/callback?state=x"), chromedp.WaitVisible(chromedp.CSS(`#error-message`)))
	browsertest.CheckLayout(ctx, t, "error")
	j.do("signed out", chromedp.Navigate(base+"/test/signed-out"), chromedp.WaitVisible(chromedp.CSS(`#signed-out`)))
	browsertest.CheckLayout(ctx, t, "signed-out")

	j.do("dashboard", chromedp.Navigate(base+"/test/sign-in"), chromedp.WaitVisible(chromedp.CSS(`#identity`)))
	browsertest.CheckLayout(ctx, t, "dashboard")
	j.do("payment form", chromedp.Navigate(base+"/payment"), chromedp.WaitVisible(chromedp.CSS(`#recipient`)))
	browsertest.CheckLayout(ctx, t, "payment")
	j.do("payment with a bad amount",
		chromedp.SendKeys(chromedp.CSS(`#recipient`), "Bob"),
		chromedp.SendKeys(chromedp.CSS(`#amount`), "0"),
		chromedp.Submit(chromedp.CSS(`#recipient`)),
		chromedp.WaitVisible(chromedp.CSS(`#form-error`)),
	)
	browsertest.CheckLayout(ctx, t, "payment-error")
	j.do("payment",
		chromedp.SetValue(chromedp.CSS(`#amount`), "12.50"),
		chromedp.Submit(chromedp.CSS(`#recipient`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirmation`)),
	)
	browsertest.CheckLayout(ctx, t, "payment-done")
	j.do("needs two-step", chromedp.Navigate(base+"/test/needs-mfa"), chromedp.WaitVisible(chromedp.CSS(`#needs-mfa`)))
	browsertest.CheckLayout(ctx, t, "needs-mfa")
}
