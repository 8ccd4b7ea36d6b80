package idp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/fintech-idp/idp/internal/mail"
	"github.com/fintech-idp/idp/internal/password"
	"github.com/fintech-idp/idp/internal/store"
)

const (
	signupPath = "/signup"
	verifyPath = "/verify"
	resendPath = "/verify/resend"

	// handleTTL bounds how long a code page stays usable (the code itself expires sooner).
	handleTTL = 30 * time.Minute
)

// Fixed messages of the signup and code pages.
const (
	msgSendFailed   = "We couldn't send the email. Please try again in a moment."
	msgCodeWrong    = "That code is not right. Check the latest email we sent you, or ask for a new code."
	msgCodeTooMany  = "Too many wrong codes. Ask for a new code."
	msgCodeFormat   = "Enter the 6-digit code from the email."
	msgPageExpired  = "This page has expired. Please start again."
	msgPasswordsDif = "The two passwords do not match."
)

type signupPage struct {
	page
	AuthRequestID string
	Email         string
	Rule          string
	MinLength     int
	Errors        map[string][]string // field → messages
	FormError     string
}

func (s *Server) showSignup(w http.ResponseWriter, r *http.Request, status int, d signupPage) {
	p, err := s.newPage("Create your account")
	if err != nil {
		s.renderError(w, r, http.StatusInternalServerError, msgInternal)
		return
	}
	d.page, d.Rule, d.MinLength = p, s.policy.Rule(), s.policy.MinLength
	s.render(w, r, status, "signup", p, d)
}

// handleSignupPage shows the signup form; with an auth request it belongs to that sign-in.
func (s *Server) handleSignupPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	if id != "" {
		if _, err := s.boundRequest(r, id); err != nil {
			s.requestLookupFailed(w, r, err)
			return
		}
	}
	s.showSignup(w, r, http.StatusOK, signupPage{AuthRequestID: id})
}

// handleSignupSubmit creates (or refreshes) an unverified account and emails a code. The chosen
// password is kept on the code, not on the account: it takes effect only when this signup's code
// is entered, so no earlier or later signup with the same email can leave its password on the
// owner's account. An email that already belongs to a verified account gets the same page, and
// its owner an email instead of a code.
func (s *Server) handleSignupSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	arID := r.PostForm.Get("authRequestID")
	if arID != "" {
		if _, err := s.boundRequest(r, arID); err != nil {
			s.requestLookupFailed(w, r, err)
			return
		}
	}
	email := NormalizeEmail(r.PostForm.Get("email"))
	pw, confirm := r.PostForm.Get("password"), r.PostForm.Get("confirm")
	d := signupPage{AuthRequestID: arID, Email: email, Errors: map[string][]string{}}
	if err := ValidateEmail(email); err != nil {
		d.Errors["email"] = append(d.Errors["email"], "Enter a valid email address, like name@example.com.")
		if len(email) > maxEmailLen {
			d.Email = ""
		}
	}
	if msgs := s.passwordProblems(r.Context(), pw, email); len(msgs) > 0 {
		d.Errors["password"] = msgs
	}
	if pw != confirm {
		d.Errors["confirm"] = append(d.Errors["confirm"], msgPasswordsDif)
	}
	if len(d.Errors) > 0 {
		s.showSignup(w, r, http.StatusBadRequest, d)
		return
	}
	ctx := r.Context()
	// The limits come first, before any hashing or row: keyed by the address and the IP, they
	// answer alike whether or not the address has an account.
	if err := s.codes.reserveSend(ctx, email, store.PurposeVerify, clientIPFrom(ctx)); err != nil {
		s.signupSendFailed(w, r, d, err)
		return
	}
	// Every signup pays for one hash, also when the address is taken: the time a signup takes
	// must not tell either.
	pending, err := s.hasher.Hash(pw)
	if err != nil {
		s.codes.unreserve(ctx, email, store.PurposeVerify)
		s.internalError(w, r, "hash password", err)
		return
	}
	u, err := s.st.GetUserByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internalError(w, r, "load user", err)
		return
	}
	h := handle{Email: email, Purpose: store.PurposeVerify, AuthRequestID: arID, Expires: s.now().Add(handleTTL).Unix()}
	if u != nil && (u.EmailVerified || u.Disabled) {
		// Same page as a new signup; the owner learns of it by email (the send reserved above).
		// A disabled account gets no code of any kind.
		// Random ids keep the sealed handle the same length as a real one.
		h.UserID, h.CodeID = uuid.NewString(), uuid.NewString()
		s.codes.notify(ctx, u.Email, mail.KindSignupExisting, map[string]any{})
		s.audit.log(ctx, "signup.existing_email", u.ID, "", nil)
		s.redirectToCode(w, r, h)
		return
	}
	if u == nil {
		now := s.now()
		u = &store.User{ID: uuid.NewString(), Email: email, CreatedAt: now, UpdatedAt: now}
		if err := s.st.CreateUser(ctx, u); err != nil {
			if !errors.Is(err, store.ErrConflict) {
				s.internalError(w, r, "create user", err)
				return
			}
			// A concurrent signup for the same email created it: carry on with that row.
			if u, err = s.st.GetUserByEmail(ctx, email); err != nil {
				s.internalError(w, r, "load user", err)
				return
			}
		}
		s.audit.log(ctx, "signup", u.ID, "", nil)
	}
	codeID := uuid.NewString()
	if err := s.codes.sendReserved(ctx, u, store.PurposeVerify, pending, codeID); err != nil {
		s.signupSendFailed(w, r, d, err)
		return
	}
	h.UserID, h.CodeID = u.ID, codeID
	s.redirectToCode(w, r, h)
}

// msgBusy: every password hash slot and its queue are taken (password.Gate).
const msgBusy = "We are very busy right now. Please try again in a moment."

// busy answers 503 with Retry-After when the password hashes are at their bound: a login storm
// slows down instead of taking the memory of one argon2id hash per request.
func (s *Server) busy(w http.ResponseWriter, r *http.Request, what string) {
	s.log.WarnContext(r.Context(), "password hashing busy", "during", what)
	s.metrics.RateLimited("hash_busy")
	s.renderError(w, r, http.StatusServiceUnavailable, msgBusy)
}

// signupSendFailed shows the signup form again with why no code was sent.
func (s *Server) signupSendFailed(w http.ResponseWriter, r *http.Request, d signupPage, err error) {
	d.FormError = s.sendErrorMessage(r, err)
	if d.FormError == "" {
		s.internalError(w, r, "send code", err)
		return
	}
	d.Errors = nil
	s.showSignup(w, r, http.StatusServiceUnavailable, d)
}

// sendErrorMessage turns a send failure into the sentence the person sees ("" = unexpected).
func (s *Server) sendErrorMessage(r *http.Request, err error) string {
	var lim *limitedError
	switch {
	case errors.As(err, &lim):
		return "You have asked for too many emails. Try again " + inDuration(lim.retryAfter) + "."
	case errors.Is(err, errSendFailed):
		s.log.WarnContext(r.Context(), "email send failed", "error", err)
		return msgSendFailed
	}
	return ""
}

// inDuration renders a wait as "in 45 seconds" / "in 12 minutes".
func inDuration(d time.Duration) string {
	switch {
	case d <= time.Second:
		return "in a moment"
	case d < 2*time.Minute:
		return fmt.Sprintf("in %d seconds", int(math.Ceil(d.Seconds())))
	default:
		return fmt.Sprintf("in %d minutes", int(math.Ceil(d.Minutes())))
	}
}

func (s *Server) redirectToCode(w http.ResponseWriter, r *http.Request, h handle) {
	v, err := s.sealer.seal(h)
	if err != nil {
		s.internalError(w, r, "seal handle", err)
		return
	}
	path := verifyPath
	if h.Purpose == store.PurposeReset {
		path = resetVerifyPath
	}
	http.Redirect(w, r, path+"?h="+url.QueryEscape(v), http.StatusSeeOther)
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, password.ErrBusy) {
		s.busy(w, r, what)
		return
	}
	s.log.ErrorContext(r.Context(), what, "error", err)
	s.renderError(w, r, http.StatusInternalServerError, msgInternal)
}

type codePage struct {
	page
	Heading     string
	Action      string
	ResendPath  string
	Handle      string
	MaskedEmail string
	Error       string
	Notice      string
	ResendIn    int // seconds until resend is allowed
}

// showCodePage renders the code form for a handle.
func (s *Server) showCodePage(w http.ResponseWriter, r *http.Request, status int, hv string, h handle, errMsg, notice string) {
	title, action, resend := "Check your email", verifyPath, resendPath
	if h.Purpose == store.PurposeReset {
		title, action, resend = "Reset your password", resetVerifyPath, resetResendPath
	}
	p, err := s.newPage(title)
	if err != nil {
		s.renderError(w, r, http.StatusInternalServerError, msgInternal)
		return
	}
	// The countdown follows the handle (sealed when its code was sent), not the database: the
	// page must look the same whether or not a code exists for this address.
	wait := 0
	issued := time.Unix(h.Expires, 0).Add(-handleTTL)
	if d := issued.Add(s.limits.EmailResendCooldown).Sub(s.now()); d > 0 {
		wait = int(math.Ceil(d.Seconds()))
	}
	s.render(w, r, status, "code", p, codePage{page: p, Heading: title, Action: action, ResendPath: resend, Handle: hv,
		MaskedEmail: mail.Mask(h.Email), Error: errMsg, Notice: notice, ResendIn: wait})
}

func (s *Server) openHandle(w http.ResponseWriter, r *http.Request, v, purpose string) (handle, bool) {
	h, err := s.sealer.open(v)
	if err != nil || h.Purpose != purpose {
		s.renderError(w, r, http.StatusBadRequest, msgPageExpired)
		return handle{}, false
	}
	return h, true
}

func (s *Server) handleVerifyPage(w http.ResponseWriter, r *http.Request) {
	hv := r.URL.Query().Get("h")
	h, ok := s.openHandle(w, r, hv, store.PurposeVerify)
	if !ok {
		return
	}
	s.showCodePage(w, r, http.StatusOK, hv, h, "", "")
}

// readCode accepts the code with spaces or dashes people paste along with it.
func readCode(v string) (string, bool) {
	v = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.TrimSpace(v))
	if len(v) != 6 {
		return "", false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return v, true
}

// checkCode runs one counted attempt; it renders the answer itself unless the code was right.
func (s *Server) checkCode(w http.ResponseWriter, r *http.Request, hv string, h handle) (*store.EmailCode, bool) {
	code, ok := readCode(r.PostForm.Get("code"))
	if !ok {
		s.showCodePage(w, r, http.StatusBadRequest, hv, h, msgCodeFormat, "")
		return nil, false
	}
	if h.Purpose == store.PurposeReset {
		// Wrong reset codes in a row, across codes, are counted per address (known or not)
		// before the check: at maxConsecutiveFailures reset codes for the address stop working
		// until the owner signs in.
		streak, ok := s.reserveResetStreak(w, r, hv, h)
		if !ok {
			return nil, false
		}
		rec, outcome := s.checkCodeOnce(w, r, hv, h, code)
		streak.done(outcome)
		return rec, outcome == codeRight
	}
	rec, outcome := s.checkCodeOnce(w, r, hv, h, code)
	return rec, outcome == codeRight
}

// How one code check ended.
const (
	codeRight     = "right"
	codeWrong     = "wrong"     // compared, or counted as compared (no code: unknown, expired)
	codeUnchecked = "unchecked" // refused before any comparison (too many tries, an error)
)

// resetStreak is a reserved reset-code try; done records how it ended.
type resetStreak struct {
	s      *Server
	ctx    context.Context
	key    string
	count  int
	userID string
}

func (s *Server) reserveResetStreak(w http.ResponseWriter, r *http.Request, hv string, h handle) (*resetStreak, bool) {
	key := factorKey("reset", emailKey(h.Email))
	res, err := s.st.ReserveAttempt(r.Context(), key, consecutiveRule, s.now())
	if err != nil {
		s.internalError(w, r, "reset code streak", err)
		return nil, false
	}
	if !res.Allowed {
		s.metrics.RateLimited("reset_factor")
		s.showCodePage(w, r, http.StatusTooManyRequests, hv, h, msgResetCodesOff, "")
		return nil, false
	}
	return &resetStreak{s: s, ctx: context.WithoutCancel(r.Context()), key: key, count: res.Count, userID: h.UserID}, true
}

// done: a right code ends the streak, a wrong one stays counted (and at the limit tells the
// owner), a try that compared nothing is given back.
func (rs *resetStreak) done(outcome string) {
	var err error
	switch {
	case outcome == codeRight:
		err = rs.s.st.ResetCounter(rs.ctx, rs.key)
	case outcome == codeUnchecked:
		err = rs.s.st.ReleaseAttempt(rs.ctx, rs.key)
	case rs.count == maxConsecutiveFailures:
		if _, uerr := rs.s.st.GetUser(rs.ctx, rs.userID); uerr == nil {
			rs.s.factorDisabled(rs.ctx, rs.userID, "password reset by email code")
		}
	}
	if err != nil {
		rs.s.log.WarnContext(rs.ctx, "reset code streak", "error", err)
	}
}

// msgResetCodesOff: after maxConsecutiveFailures wrong reset codes in a row for one address.
const msgResetCodesOff = "Password reset codes for this address are turned off after too many wrong codes. Sign in with your password to turn them back on, or contact support."

// checkCodeOnce runs one counted attempt; it renders the answer itself unless the code was right.
func (s *Server) checkCodeOnce(w http.ResponseWriter, r *http.Request, hv string, h handle, code string) (*store.EmailCode, string) {
	rec, err := s.st.CheckEmailCode(r.Context(), h.UserID, h.Purpose, s.codes.hash(h.UserID, h.Purpose, h.CodeID, code),
		s.limits.EmailCodeMaxAttempts, s.now())
	switch {
	case err == nil:
		s.metrics.CodeChecked("email", "ok")
		return rec, codeRight
	case errors.Is(err, store.ErrTooManyAttempts):
		s.metrics.CodeChecked("email", "too_many")
		s.audit.log(r.Context(), "code.failed", "", "", map[string]string{"purpose": h.Purpose, "reason": "too_many"})
		s.showCodePage(w, r, http.StatusTooManyRequests, hv, h, msgCodeTooMany, "")
		return nil, codeUnchecked
	case errors.Is(err, store.ErrNotFound) && s.tooManyWithoutCode(r, h):
		// No code for this handle (an address without an account, an expired or replaced code):
		// its tries are counted all the same, so the sixth wrong code answers as it would for a
		// real one.
		s.metrics.CodeChecked("email", "too_many")
		s.audit.log(r.Context(), "code.failed", "", "", map[string]string{"purpose": h.Purpose, "reason": "too_many"})
		s.showCodePage(w, r, http.StatusTooManyRequests, hv, h, msgCodeTooMany, "")
		return nil, codeUnchecked
	case errors.Is(err, store.ErrCodeMismatch), errors.Is(err, store.ErrNotFound):
		outcome := "wrong"
		if errors.Is(err, store.ErrNotFound) {
			outcome = "expired"
		}
		s.metrics.CodeChecked("email", outcome)
		// Wrong, expired, replaced and unknown look the same (no account enumeration).
		s.audit.log(r.Context(), "code.failed", "", "", map[string]string{"purpose": h.Purpose, "reason": "mismatch"})
		s.showCodePage(w, r, http.StatusBadRequest, hv, h, msgCodeWrong, "")
		return nil, codeWrong
	default:
		s.internalError(w, r, "check code", err)
	}
	return nil, codeUnchecked
}

// tooManyWithoutCode counts a try on a page whose code does not exist, keyed by the handle's
// code id, and reports whether it is over the per-code limit. A store error counts as over.
func (s *Server) tooManyWithoutCode(r *http.Request, h handle) bool {
	c, err := s.st.HitCounter(r.Context(), "code:none:"+h.CodeID, s.limits.EmailCodeTTL, s.now())
	if err != nil {
		s.log.ErrorContext(r.Context(), "count code try", "error", err)
		return true
	}
	return c.Count > s.limits.EmailCodeMaxAttempts
}

// handleVerifySubmit: the right code verifies the email, sets the password chosen with this
// signup (one store transaction), starts the SSO session and continues the original sign-in.
func (s *Server) handleVerifySubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	hv := r.PostForm.Get("h")
	h, ok := s.openHandle(w, r, hv, store.PurposeVerify)
	if !ok {
		return
	}
	if _, ok := s.checkCode(w, r, hv, h); !ok {
		return
	}
	s.audit.log(r.Context(), "email.verified", h.UserID, "", nil)
	u, err := s.st.GetUser(r.Context(), h.UserID)
	if err != nil {
		s.internalError(w, r, "load user", err)
		return
	}
	sess, err := s.startSession(w, r, u, []string{"pwd"}, "pwd")
	if err != nil {
		s.internalError(w, r, "start session", err)
		return
	}
	if h.AuthRequestID == "" {
		http.Redirect(w, r, accountPath, http.StatusSeeOther)
		return
	}
	ar, err := s.boundRequest(r, h.AuthRequestID)
	if err != nil {
		s.requestLookupFailed(w, r, err)
		return
	}
	// This sign-in proved the inbox just now: an enrolment in it counts as its second factor.
	proof, err := s.sealEmailProof(w, r, sess, ar.ID)
	if err != nil {
		s.internalError(w, r, "seal email proof", err)
		return
	}
	s.continueWithProof(w, r, ar, sess, proof)
}

// finishSignIn continues the relying party's request, or goes to the account page when the
// person came without one.
func (s *Server) finishSignIn(w http.ResponseWriter, r *http.Request, authRequestID string, sess *store.Session) {
	if authRequestID == "" {
		http.Redirect(w, r, accountPath, http.StatusSeeOther)
		return
	}
	ar, err := s.boundRequest(r, authRequestID)
	if err != nil {
		s.requestLookupFailed(w, r, err)
		return
	}
	s.continueWithSession(w, r, ar, sess)
}

// handleVerifyResend sends a new code for the same signup: it carries the password of the code
// the handle names, never of another signup for the same email.
func (s *Server) handleVerifyResend(w http.ResponseWriter, r *http.Request) {
	s.resend(w, r, store.PurposeVerify)
}

func (s *Server) resend(w http.ResponseWriter, r *http.Request, purpose string) {
	if !s.parseForm(w, r) {
		return
	}
	hv := r.PostForm.Get("h")
	h, ok := s.openHandle(w, r, hv, purpose)
	if !ok {
		return
	}
	ctx := r.Context()
	u, err := s.st.GetUser(ctx, h.UserID)
	var prev *store.EmailCode
	if err == nil {
		prev, err = s.st.GetEmailCode(ctx, h.CodeID)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internalError(w, r, "load code", err)
		return
	}
	// The send is reserved for the address in any case: an unknown or already verified address
	// meets the same cooldown and limits, and gets the same answer, as a real resend.
	if err := s.codes.reserveSend(ctx, h.Email, purpose, clientIPFrom(ctx)); err != nil {
		msg := s.sendErrorMessage(r, err)
		if msg == "" {
			s.internalError(w, r, "send code", err)
			return
		}
		s.showCodePage(w, r, http.StatusTooManyRequests, hv, h, msg, "")
		return
	}
	codeID := uuid.NewString()
	real := err == nil && prev.UserID == u.ID && !u.Disabled && !(purpose == store.PurposeVerify && u.EmailVerified)
	if real {
		if err := s.codes.sendReserved(ctx, u, purpose, prev.PendingPasswordHash, codeID); err != nil {
			msg := s.sendErrorMessage(r, err)
			if msg == "" {
				s.internalError(w, r, "send code", err)
				return
			}
			s.showCodePage(w, r, http.StatusTooManyRequests, hv, h, msg, "")
			return
		}
	}
	h.CodeID = codeID
	h.Expires = s.now().Add(handleTTL).Unix()
	nv, err := s.sealer.seal(h)
	if err != nil {
		s.internalError(w, r, "seal handle", err)
		return
	}
	s.showCodePage(w, r, http.StatusOK, nv, h, "", "We sent a new code. It may take a minute to arrive.")
}
