package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

const (
	// refreshMargin: the access token is refreshed when it expires within this.
	refreshMargin = 60 * time.Second
	// stepUpMaxAge is how recent a two-step sign-in must be for a payment.
	stepUpMaxAge = 5 * time.Minute
	loginCookie  = "dash_login"
	// signedOutCookie tells the landing page, once, that the person has just signed out.
	signedOutCookie = "dash_signed_out"
)

// app is the dashboard: its handlers and what they need.
type app struct {
	cfg         config
	log         *slog.Logger
	conn        *connector
	store       *sessionStore
	pages       pages
	now         func() time.Time
	securityURL string
	cookieName  string
}

func newApp(cfg config, log *slog.Logger, dial func(context.Context) (identityProvider, error), now func() time.Time) (*app, error) {
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, conn: &connector{dial: dial, log: log}, store: newSessionStore(now), pages: p, now: now,
		// client_id names us to the account page, which then offers the way back here.
		securityURL: strings.TrimSuffix(cfg.Issuer, "/") + "/account?" + url.Values{"client_id": {cfg.ClientID}}.Encode(),
		cookieName:  "dash_session"}
	if cfg.secure {
		a.cookieName = "__Host-dash_session"
	}
	return a, nil
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.handleHome)
	mux.HandleFunc("GET /login", a.handleLogin)
	mux.HandleFunc("GET "+a.cfg.callbackPath, a.handleCallback)
	mux.HandleFunc("GET /dashboard", a.handleDashboard)
	mux.HandleFunc("GET /payment", a.handlePaymentForm)
	mux.HandleFunc("POST /payment", a.handlePaymentSubmit)
	mux.HandleFunc("POST /logout", a.handleLogout)
	mux.HandleFunc("GET /security", a.handleSecurity)
	mux.Handle("GET /static/", staticFiles())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })

	// Cross-origin form posts are refused (Sec-Fetch-Site / Origin checks); SameSite=Lax
	// cookies are the second line.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.renderError(w, r, errPageForbidden)
	}))
	return a.securityHeaders(cop.Handler(mux))
}

func (a *app) securityHeaders(next http.Handler) http.Handler {
	issuer, _ := url.Parse(a.cfg.Issuer)
	idpOrigin := issuer.Scheme + "://" + issuer.Host
	// form-action also covers the redirects a form post leads to (to the IdP for step-up and
	// sign-out, and back).
	csp := "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' " + idpOrigin +
		"; frame-ancestors 'none'; base-uri 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

func (a *app) reachable(ctx context.Context) bool {
	_, err := a.conn.get(ctx)
	return err == nil
}

func (a *app) handleHome(w http.ResponseWriter, r *http.Request) {
	if s := a.sessionFromCookie(r); s != nil {
		http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
		return
	}
	_, err := r.Cookie(signedOutCookie)
	signedOut := err == nil
	if signedOut {
		a.setSignedOutCookie(w, -1) // said once
	}
	a.render(w, r, http.StatusOK, "home", page{Title: "Welcome", Unreachable: !a.reachable(r.Context()), SignedOut: signedOut})
}

// setSignedOutCookie sets (maxAge > 0) or clears (maxAge < 0) the one-time "you are signed out"
// flag. It holds nothing secret; Lax lets it come back with the IdP's redirect to the root.
func (a *app) setSignedOutCookie(w http.ResponseWriter, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: signedOutCookie, Value: "1", Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: a.cfg.secure, SameSite: http.SameSiteLaxMode})
}

// handleSecurity is the "Security settings" link: it sends the browser to the IdP's account
// page and marks the session so the next page re-reads the claims (a refresh, whose new ID
// token says mfa_enabled as it is now): a person who turned two-step on there sees it on at
// once, whatever the access token's lifetime.
func (a *app) handleSecurity(w http.ResponseWriter, r *http.Request) {
	if s := a.sessionFromCookie(r); s != nil {
		s.mu.Lock()
		s.recheck = true
		s.mu.Unlock()
	}
	http.Redirect(w, r, a.securityURL, http.StatusSeeOther)
}

// returnPaths are the only places a sign-in may come back to (no open redirect).
var returnPaths = map[string]bool{"/dashboard": true, "/payment": true}

func (a *app) handleLogin(w http.ResponseWriter, r *http.Request) {
	a.startLogin(w, r, r.URL.Query().Get("create") == "1", false, r.URL.Query().Get("return"))
}

// startLogin sends the browser to the IdP's authorization endpoint. The state, PKCE verifier,
// nonce and where to come back to stay server-side; a cookie holding the state binds the
// callback to this browser (login CSRF, RFC 6749 §10.12).
func (a *app) startLogin(w http.ResponseWriter, r *http.Request, create, stepUp bool, returnTo string) {
	p, err := a.conn.get(r.Context())
	if err != nil {
		a.render(w, r, http.StatusServiceUnavailable, "home", page{Title: "Welcome", Unreachable: true})
		return
	}
	if !returnPaths[returnTo] {
		returnTo = "/dashboard"
	}
	pl := pendingLogin{verifier: oauth2.GenerateVerifier(), nonce: randomID(), returnTo: returnTo, stepUp: stepUp}
	state := a.store.addPending(pl)
	extra := url.Values{}
	if create {
		extra.Set("prompt", "create")
	}
	if stepUp {
		// OIDC Core §3.1.2.1: ask for the mfa level and a sign-in at most 5 minutes old.
		extra.Set("acr_values", "mfa")
		extra.Set("max_age", strconv.Itoa(int(stepUpMaxAge/time.Second)))
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: state, Path: a.cfg.callbackPath, MaxAge: int(pendingTTL / time.Second),
		HttpOnly: true, Secure: a.cfg.secure, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, p.AuthURL(state, pl.nonce, oauth2.S256ChallengeFromVerifier(pl.verifier), extra), http.StatusFound)
}

func (a *app) handleCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: a.cfg.callbackPath, MaxAge: -1, HttpOnly: true, Secure: a.cfg.secure, SameSite: http.SameSiteLaxMode})
	c, err := r.Cookie(loginCookie)
	if state == "" || err != nil || c.Value != state {
		a.log.InfoContext(r.Context(), "callback without a matching login cookie")
		a.renderError(w, r, errPageExpired)
		return
	}
	pl, ok := a.store.takePending(state)
	if !ok {
		a.renderError(w, r, errPageExpired)
		return
	}
	if e := q.Get("error"); e != "" {
		a.log.InfoContext(r.Context(), "sign-in ended with an error", "error", e, "step_up", pl.stepUp)
		if e == "unmet_authentication_requirements" {
			a.render(w, r, http.StatusForbidden, "needs_mfa", page{Title: "Two-step verification needed", SignedIn: a.sessionFromCookie(r) != nil})
			return
		}
		a.renderError(w, r, errPageDenied)
		return
	}
	p, err := a.conn.get(r.Context())
	if err != nil {
		a.render(w, r, http.StatusServiceUnavailable, "home", page{Title: "Welcome", Unreachable: true})
		return
	}
	t, err := p.Exchange(r.Context(), q.Get("code"), pl.verifier, pl.nonce)
	if err != nil {
		a.log.WarnContext(r.Context(), "code exchange failed", "err", err)
		a.renderError(w, r, errPageExchange)
		return
	}
	// A new session id at every sign-in (no session fixation); the old session ends.
	if old, err := r.Cookie(a.cookieName); err == nil {
		a.store.remove(old.Value)
	}
	s := a.store.create(t)
	a.setSessionCookie(w, s.id)
	a.setSignedOutCookie(w, -1)
	a.log.InfoContext(r.Context(), "signed in", "acr", t.claims.acr, "step_up", pl.stepUp)
	if pl.stepUp && !a.paymentAllowed(s.view()) {
		// The IdP signed the person in again but not with two steps: never loop back to it.
		a.render(w, r, http.StatusForbidden, "needs_mfa", page{Title: "Two-step verification needed", SignedIn: true})
		return
	}
	http.Redirect(w, r, pl.returnTo, http.StatusSeeOther)
}

func (a *app) setSessionCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: a.cookieName, Value: id, Path: "/", HttpOnly: true, Secure: a.cfg.secure,
		SameSite: http.SameSiteLaxMode})
}

func (a *app) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: a.cookieName, Path: "/", MaxAge: -1, HttpOnly: true, Secure: a.cfg.secure,
		SameSite: http.SameSiteLaxMode})
}

func (a *app) sessionFromCookie(r *http.Request) *session {
	c, err := r.Cookie(a.cookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	return a.store.get(c.Value)
}

var errSessionEnded = errors.New("session ended")

// session returns the request's session with a fresh access token, or writes the answer itself
// (sign in again, or the IdP is unreachable) and returns nil.
func (a *app) session(w http.ResponseWriter, r *http.Request, returnTo string) *session {
	s := a.sessionFromCookie(r)
	if s != nil {
		err := a.ensureFresh(r.Context(), s)
		if err == nil {
			return s
		}
		if errors.Is(err, errNotReachable) {
			a.render(w, r, http.StatusServiceUnavailable, "home", page{Title: "Welcome", Unreachable: true})
			return nil
		}
		a.clearSessionCookie(w)
	}
	http.Redirect(w, r, "/login?return="+url.QueryEscape(returnTo), http.StatusFound)
	return nil
}

// ensureFresh refreshes the access token when it expires within refreshMargin, or when the
// person went to the IdP's security settings since (s.recheck: the claims may have changed
// there). The session's
// mutex serializes refreshes: the IdP rotates refresh tokens and treats a second use of a
// rotated one as theft, revoking the family (RFC 9700 §4.14.2). A waiting request finds the
// token already fresh. A failed refresh ends the session.
func (a *app) ensureFresh(ctx context.Context, s *session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return errSessionEnded
	}
	due := !s.expiry.IsZero() && !a.now().Add(refreshMargin).Before(s.expiry)
	if !due && (!s.recheck || s.refreshToken == "") {
		s.recheck = false
		return nil
	}
	fail := func() error {
		s.ended = true
		a.store.drop(s.id)
		return errSessionEnded
	}
	if s.refreshToken == "" {
		return fail()
	}
	p, err := a.conn.get(ctx)
	if err != nil {
		return err
	}
	// The refresh must finish even if the browser goes away: an abandoned answer would leave us
	// holding a rotated, dead token.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	t, err := p.Refresh(rctx, s.refreshToken)
	if err != nil {
		a.log.WarnContext(ctx, "refresh failed; the session ends", "err", err)
		return fail()
	}
	a.log.InfoContext(ctx, "access token refreshed", "rotated", t.refreshToken != "", "recheck", s.recheck)
	s.recheck = false
	s.accessToken, s.expiry = t.accessToken, t.expiry
	if t.refreshToken != "" {
		s.refreshToken = t.refreshToken
	}
	if t.claims != nil {
		// Refreshed ID tokens carry no acr (OIDC Core §12.2): keep acr, amr and auth_time of
		// the sign-in; take the rest (email, mfa_enabled) as it is now.
		s.idToken = t.idToken
		s.claims = *t.claims
	}
	return nil
}

// paymentAllowed: an ID token with acr mfa and auth_time within stepUpMaxAge.
func (a *app) paymentAllowed(v sessionView) bool {
	if v.acr != "mfa" || v.authTime.IsZero() {
		return false
	}
	age := a.now().Sub(v.authTime)
	return age <= stepUpMaxAge && age > -time.Minute
}

func (a *app) handleDashboard(w http.ResponseWriter, r *http.Request) {
	s := a.session(w, r, "/dashboard")
	if s == nil {
		return
	}
	v := s.view()
	mfa := "unknown"
	if v.claims.mfaEnabled != nil {
		mfa = "off"
		if *v.claims.mfaEnabled {
			mfa = "on"
		}
	}
	orDash := func(s string) string {
		if s == "" {
			return "—"
		}
		return s
	}
	fmtTime := func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	a.render(w, r, http.StatusOK, "dashboard", page{Title: "Overview", SignedIn: true,
		Email: v.claims.email, EmailVerified: v.claims.emailVerified, MFAStatus: mfa,
		AMR: orDash(strings.Join(v.amr, ", ")), ACR: orDash(v.acr), AuthTime: fmtTime(v.authTime), Expiry: fmtTime(v.expiry),
		Accounts:     []account{{"Current account", "€2,450.17"}, {"Savings", "€12,800.00"}},
		Transactions: []transaction{{"2025-06-02", "Grocery store", "−€54.30"}, {"2025-06-01", "Salary", "+€3,200.00"}, {"2025-05-30", "Rent", "−€1,150.00"}},
	})
}

// paymentSession returns the signed-in session when it may pay now; otherwise it has sent the
// browser to sign in, or to the IdP for step-up, and returns nil. The form and the submission both
// check it: a payment is never accepted without a fresh mfa sign-in.
func (a *app) paymentSession(w http.ResponseWriter, r *http.Request) *session {
	s := a.session(w, r, "/payment")
	if s == nil {
		return nil
	}
	if !a.paymentAllowed(s.view()) {
		a.startLogin(w, r, false, true, "/payment")
		return nil
	}
	return s
}

func (a *app) handlePaymentForm(w http.ResponseWriter, r *http.Request) {
	if a.paymentSession(w, r) == nil {
		return
	}
	a.render(w, r, http.StatusOK, "payment", page{Title: "Send a payment", SignedIn: true})
}

var amountRE = regexp.MustCompile(`^[0-9]{1,7}(\.[0-9]{1,2})?$`)

func (a *app) handlePaymentSubmit(w http.ResponseWriter, r *http.Request) {
	if a.paymentSession(w, r) == nil {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		a.render(w, r, http.StatusBadRequest, "payment", page{Title: "Send a payment", SignedIn: true, Error: "Please fill in the form again."})
		return
	}
	rcpt, amt := strings.TrimSpace(r.PostForm.Get("recipient")), strings.TrimSpace(r.PostForm.Get("amount"))
	f, _ := strconv.ParseFloat(amt, 64)
	if rcpt == "" || len(rcpt) > 100 || !amountRE.MatchString(amt) || f <= 0 {
		a.render(w, r, http.StatusUnprocessableEntity, "payment", page{Title: "Send a payment", SignedIn: true,
			Recipient: rcpt, Amount: amt, Error: "Enter a recipient and an amount greater than zero, with at most two decimals after a dot, for example 12.50."})
		return
	}
	a.log.InfoContext(r.Context(), "demo payment confirmed")
	a.render(w, r, http.StatusOK, "payment_done", page{Title: "Payment sent", SignedIn: true, Recipient: rcpt, Amount: amt})
}

// handleLogout ends the local session, then sends the browser to the IdP's end_session
// endpoint with id_token_hint so the IdP session ends too (OIDC RP-Initiated Logout §2).
func (a *app) handleLogout(w http.ResponseWriter, r *http.Request) {
	s := a.sessionFromCookie(r)
	a.clearSessionCookie(w)
	a.setSignedOutCookie(w, 300) // the root says "You are signed out" when the browser is back
	if s == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	idToken := s.view().idToken
	a.store.remove(s.id)
	p, err := a.conn.get(r.Context())
	if err != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	u, err := p.EndSessionURL(idToken, a.cfg.rootURL)
	if err != nil {
		a.log.WarnContext(r.Context(), "no end_session endpoint", "err", err)
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}
