package idp

import (
	"errors"
	"net/http"
	netmail "net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/fintech-idp/idp/internal/password"
	"github.com/fintech-idp/idp/internal/store"
)

// browserCookieTTL: long enough for a signup that waits on an emailed code.
const browserCookieTTL = 30 * 24 * time.Hour

// bindBrowser runs in front of /authorize: it makes sure the browser carries a random binding
// cookie and hands its hash to CreateAuthRequest, which stores it with the request. The login
// pages and the callback then serve the request only to that browser, so a leaked auth request
// id (or a login link sent to a victim) is useless elsewhere.
func (s *Server) bindBrowser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := cookieValue(r, s.cookies.browser)
		if len(v) < 32 {
			var err error
			if v, err = randomToken(s.rand, 32); err != nil {
				s.log.ErrorContext(r.Context(), "browser binding", "error", err)
				s.renderError(w, r, http.StatusInternalServerError, msgInternal)
				return
			}
			s.cookies.set(w, s.cookies.browser, v, browserCookieTTL)
		}
		next.ServeHTTP(w, r.WithContext(withBrowserHash(r.Context(), hashToken(v))))
	})
}

// boundRequest loads an unexpired auth request and checks it belongs to this browser.
func (s *Server) boundRequest(r *http.Request, id string) (*store.AuthRequest, error) {
	if id == "" || len(id) > 128 {
		return nil, store.ErrNotFound
	}
	ar, err := s.st.GetAuthRequest(r.Context(), id, s.now())
	if err != nil {
		return nil, err
	}
	v := cookieValue(r, s.cookies.browser)
	if v == "" || hashToken(v) != ar.BrowserHash {
		s.log.WarnContext(r.Context(), "auth request opened in another browser", "client_id", ar.ClientID)
		return nil, store.ErrNotFound
	}
	return ar, nil
}

// checkBrowserBinding guards the library's callback: only the browser that started the request
// gets the code.
func (s *Server) checkBrowserBinding(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.boundRequest(r, r.URL.Query().Get("id")); err != nil {
			s.requestLookupFailed(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) requestLookupFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrNotFound) {
		s.renderError(w, r, http.StatusBadRequest, msgExpired)
		return
	}
	s.log.ErrorContext(r.Context(), "load auth request", "error", err)
	s.renderError(w, r, http.StatusInternalServerError, msgInternal)
}

type loginPage struct {
	page
	AuthRequestID string
	ClientName    string
	Email         string
	Error         string
}

// handleLoginPage is where the library sends the browser (client.LoginURL). An SSO session that
// satisfies the request completes it without asking again; prompt=none without one answers
// login_required to the relying party; prompt=create opens the signup page. Without an auth
// request the page signs in to the account page.
func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	if id == "" {
		if sess, err := s.currentSession(r); err == nil && sess != nil {
			http.Redirect(w, r, accountPath, http.StatusSeeOther)
			return
		}
		s.showLogin(w, r, nil, http.StatusOK, "", "")
		return
	}
	ar, err := s.boundRequest(r, id)
	if err != nil {
		s.requestLookupFailed(w, r, err)
		return
	}
	if ar.Done {
		http.Redirect(w, r, s.callbackURL(ar.ID), http.StatusFound)
		return
	}
	sess, err := s.currentSession(r)
	if err != nil {
		s.internalError(w, r, "load session", err)
		return
	}
	if sess != nil && s.sessionSatisfies(ar, sess) {
		if err := s.st.TouchSession(r.Context(), sess.ID, s.now(), clientIPFrom(r.Context())); err != nil {
			s.log.WarnContext(r.Context(), "touch session", "error", err)
		}
		s.continueWithSession(w, r, ar, sess)
		return
	}
	if slices.Contains(ar.Prompt, oidc.PromptNone) {
		// OIDC Core §3.1.2.6: no interaction allowed and no usable session.
		op.AuthRequestError(w, r, authRequest{ar}, oidc.ErrLoginRequired().WithDescription("The user is not signed in."), s.provider)
		return
	}
	if slices.Contains(ar.Prompt, "create") {
		// OpenID Connect Prompt Create 1.0: the relying party asks for the signup page.
		http.Redirect(w, r, signupPath+"?authRequestID="+url.QueryEscape(ar.ID), http.StatusFound)
		return
	}
	s.showLogin(w, r, ar, http.StatusOK, loginHintEmail(ar.LoginHint), "")
}

func loginHintEmail(h string) string {
	if a, err := netmail.ParseAddress(h); err == nil && len(h) <= 254 {
		return a.Address
	}
	return ""
}

func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, ar *store.AuthRequest, status int, email, msg string) {
	p, err := s.newPage("Sign in")
	if err != nil {
		s.renderError(w, r, http.StatusInternalServerError, msgInternal)
		return
	}
	d := loginPage{page: p, Email: email, Error: msg}
	if ar != nil {
		d.AuthRequestID, d.ClientName = ar.ID, ar.ClientID
		if c, err := s.st.GetClient(r.Context(), ar.ClientID); err == nil && c.Name != "" {
			d.ClientName = c.Name
		}
	}
	s.render(w, r, status, "login", p, d)
}

// sessionSatisfies: the session is recent enough for max_age (prompt=login arrives as max_age=0)
// and strong enough for what was asked.
func (s *Server) sessionSatisfies(ar *store.AuthRequest, sess *store.Session) bool {
	if slices.Contains(ar.Prompt, oidc.PromptLogin) || slices.Contains(ar.Prompt, "create") {
		return false
	}
	if ar.MaxAge != nil && s.now().Sub(sess.AuthTime) > time.Duration(*ar.MaxAge)*time.Second {
		return false
	}
	// OIDC Core §3.1.2.1: an id_token_hint naming someone else than the signed-in person means
	// this session cannot answer the request.
	if ar.HintSubject != "" && ar.HintSubject != sess.UserID {
		return false
	}
	return true
}

// Login form limits: generous, but bounded before any hashing happens.
const (
	maxEmailLen    = 254
	maxPasswordLen = 1024
	maxFormBytes   = 64 << 10
)

const msgBadCredentials = "The email or password is incorrect."

func (s *Server) handleLoginSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	var ar *store.AuthRequest
	if id := r.PostForm.Get("authRequestID"); id != "" {
		var err error
		if ar, err = s.boundRequest(r, id); err != nil {
			s.requestLookupFailed(w, r, err)
			return
		}
		if ar.Done {
			http.Redirect(w, r, s.callbackURL(ar.ID), http.StatusSeeOther)
			return
		}
	}
	clientID := ""
	if ar != nil {
		clientID = ar.ClientID
	}
	email := NormalizeEmail(r.PostForm.Get("email"))
	pw := r.PostForm.Get("password")
	switch {
	case email == "" || pw == "":
		s.showLogin(w, r, ar, http.StatusBadRequest, email, "Enter your email and password.")
		return
	case len(email) > maxEmailLen || len(pw) > maxPasswordLen:
		s.showLogin(w, r, ar, http.StatusBadRequest, "", "The email or password is too long.")
		return
	case ValidateEmail(email) != nil:
		// No account can have such an address (every way of creating one checks it): refused
		// before the throttle and the store, which need not count or see it. It says nothing
		// about accounts. What was typed stays in the field (escaped), unless it holds characters
		// that have no place on a page.
		shown := email
		if !utf8.ValidString(email) || strings.IndexFunc(email, invisibleRune) >= 0 {
			shown = ""
		}
		s.showLogin(w, r, ar, http.StatusBadRequest, shown, "Enter a valid email address, like name@example.com.")
		return
	}
	ctx := r.Context()
	keys := keysFor(email, clientIPFrom(ctx))
	try, refused, err := s.throttle.reserve(ctx, keys)
	if err != nil {
		s.internalError(w, r, "login throttle", err)
		return
	}
	if refused != nil {
		s.audit.log(ctx, "login.throttled", "", clientID, nil)
		s.metrics.RateLimited("login")
		s.metrics.Login(refused.metric())
		s.showLogin(w, r, ar, http.StatusTooManyRequests, email, refused.message())
		return
	}
	u, err := s.st.GetUserByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internalError(w, r, "load user", err)
		return
	}
	var ok, rehash bool
	var verr error
	var pending *store.EmailCode
	switch {
	case u == nil:
		// Same work and the same answer as a wrong password: no account enumeration.
		verr = s.hasher.VerifyDummy(pw)
	case !u.EmailVerified:
		// A signup that was never confirmed: its password lives on its latest code.
		if c, err := s.st.LatestEmailCode(ctx, u.ID, store.PurposeVerify); err == nil && c.PendingPasswordHash != "" {
			ok, _, verr = s.hasher.Verify(c.PendingPasswordHash, pw)
			pending = c
		} else if u.PasswordHash != "" {
			// Created by an operator without --verified: the password is set, the email is not
			// proven yet (or imported unverified). A code proves it (and changes no password;
			// an imported hash is still replaced below, the password being proven).
			ok, rehash, verr = s.hasher.Verify(u.PasswordHash, pw)
			pending = &store.EmailCode{}
		} else {
			verr = s.hasher.VerifyDummy(pw)
		}
	default:
		ok, rehash, verr = s.hasher.Verify(u.PasswordHash, pw)
	}
	if errors.Is(verr, password.ErrBusy) {
		// Not checked: the try is given back.
		s.throttle.giveBack(ctx, keys)
		s.busy(w, r, "sign-in")
		return
	}
	if verr != nil && !errors.Is(verr, password.ErrMalformedHash) {
		s.log.ErrorContext(ctx, "verify password", "error", verr)
	}
	if !ok {
		userID := ""
		if u != nil {
			userID = u.ID
		}
		s.audit.log(ctx, "login.failed", userID, clientID, nil)
		s.metrics.Login("bad_credentials")
		s.passwordFailed(ctx, try, u, clientID)
		s.showLogin(w, r, ar, http.StatusUnauthorized, email, msgBadCredentials)
		return
	}
	// The right password gives its reservation back.
	if err := s.throttle.succeed(ctx, keys); err != nil {
		s.log.WarnContext(ctx, "reset login failures", "error", err)
	}
	if rehash {
		// An imported hash (Werkzeug, bcrypt) or argon2id weaker than the configured
		// parameters: store argon2id of the password just proven.
		if h, err := s.hasher.Hash(pw); err == nil {
			if err := s.st.UpdatePasswordHash(ctx, u.ID, h, s.now()); err != nil {
				s.log.WarnContext(ctx, "rehash password", "error", err)
			}
		}
	}
	arID := ""
	if ar != nil {
		arID = ar.ID
	}
	if u.Disabled {
		s.audit.log(ctx, "login.failed", u.ID, clientID, map[string]string{"reason": "disabled"})
		s.metrics.Login("disabled")
		s.showLogin(w, r, ar, http.StatusForbidden, email, "This account is disabled. Please contact support.")
		return
	}
	if pending != nil {
		// The right password of an unconfirmed signup: to the code page, with a fresh code for
		// that signup when the limits allow, else the one already sent.
		h := handle{UserID: u.ID, Email: u.Email, CodeID: pending.ID, Purpose: store.PurposeVerify, AuthRequestID: arID,
			Expires: s.now().Add(handleTTL).Unix()}
		if id, err := s.codes.send(ctx, u, store.PurposeVerify, pending.PendingPasswordHash, clientIPFrom(ctx)); err == nil {
			h.CodeID = id
		} else if s.sendErrorMessage(r, err) == "" {
			s.internalError(w, r, "send code", err)
			return
		}
		s.audit.log(ctx, "login.unverified", u.ID, clientID, nil)
		s.metrics.Login("unverified")
		s.redirectToCode(w, r, h)
		return
	}
	if u.MFAEnabled {
		// The password was right; no session exists until the second factor passes too.
		s.audit.log(ctx, "login.password_ok", u.ID, clientID, map[string]string{"next": "second_factor"})
		s.startChallenge(w, r, handle{Purpose: purposeMFA, Mode: modeLogin, UserID: u.ID, Email: u.Email, AuthRequestID: arID}, u.PhoneE164, nil)
		return
	}
	sess, err := s.startSession(w, r, u, []string{"pwd"}, "pwd")
	if err != nil {
		s.internalError(w, r, "start session", err)
		return
	}
	s.audit.log(ctx, "login.succeeded", u.ID, clientID, nil)
	s.metrics.Login("success")
	s.finishSignIn(w, r, arID, sess)
}

// complete records who authenticated on the auth request and hands it back to the library.
func (s *Server) complete(w http.ResponseWriter, r *http.Request, ar *store.AuthRequest, sess *store.Session) {
	done := &store.AuthRequest{Subject: sess.UserID, AuthTime: sess.AuthTime, AMR: sess.AMR, ACR: sess.ACR, SessionID: sess.ID}
	if err := s.st.CompleteAuthRequest(r.Context(), ar.ID, done, s.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.renderError(w, r, http.StatusBadRequest, msgExpired)
			return
		}
		s.log.ErrorContext(r.Context(), "complete auth request", "error", err)
		s.renderError(w, r, http.StatusInternalServerError, msgInternal)
		return
	}
	http.Redirect(w, r, s.callbackURL(ar.ID), http.StatusSeeOther)
}

// startSession creates a new SSO session (always a new id: no session fixation). When the
// browser's previous session is the same person's (a step-up, prompt=login), the apps signed in
// through it keep their tokens: they move to the new session. Anyone else's session is revoked
// with its tokens. The session records the password epoch of u, the user record the password was
// checked against: a reset or change since then leaves it unable to issue codes (see
// docs/ARCHITECTURE.md, "Revocation and epochs").
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *store.User, amr []string, acr string) (*store.Session, error) {
	userID := u.ID
	var prev *store.Session
	if old := cookieValue(r, s.cookies.session); old != "" {
		if p, err := s.st.GetSessionByTokenHash(r.Context(), hashToken(old), s.now(), time.Time{}); err == nil {
			prev = p
		}
	}
	tok, err := randomToken(s.rand, 32)
	if err != nil {
		return nil, err
	}
	now := s.now()
	sess := &store.Session{
		ID: uuid.NewString(), TokenHash: hashToken(tok), UserID: userID, AuthTime: now, AMR: amr, ACR: acr,
		IP: clientIPFrom(r.Context()), UserAgent: truncate(r.UserAgent(), 256),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.opts.Lifetimes.SessionAbsolute),
		PasswordEpoch: u.PasswordEpoch,
	}
	switch {
	case prev != nil && prev.UserID == userID:
		if err := s.st.RotateSession(r.Context(), prev.ID, sess, now); err != nil {
			return nil, err
		}
	default:
		if prev != nil {
			if err := s.st.RevokeSession(r.Context(), prev.ID, now); err != nil {
				return nil, err
			}
		}
		if err := s.st.CreateSession(r.Context(), sess); err != nil {
			return nil, err
		}
	}
	s.cookies.set(w, s.cookies.session, tok, s.opts.Lifetimes.SessionAbsolute)
	return sess, nil
}

// currentSession returns the browser's live SSO session, or nil.
func (s *Server) currentSession(r *http.Request) (*store.Session, error) {
	v := cookieValue(r, s.cookies.session)
	if v == "" {
		return nil, nil
	}
	now := s.now()
	sess, err := s.st.GetSessionByTokenHash(r.Context(), hashToken(v), now, now.Add(-s.opts.Lifetimes.SessionIdle))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := s.st.GetUser(r.Context(), sess.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, nil
	}
	return sess, err
}

// NormalizeEmail trims and case-folds an address. Addresses are compared in this form
// everywhere (signup, login, the CLI).
func NormalizeEmail(e string) string {
	return strings.ToLower(strings.TrimSpace(e))
}
