package idp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/fintech-idp/idp/internal/mail"
	"github.com/fintech-idp/idp/internal/password"
	"github.com/fintech-idp/idp/internal/sms"
	"github.com/fintech-idp/idp/internal/store"
)

const (
	mfaPath          = "/mfa"
	mfaResendPath    = "/mfa/resend"
	mfaCallPath      = "/mfa/call"
	mfaRecoveryPath  = "/mfa/recovery"
	enrolPath        = "/account/two-step"
	enrolDeclinePath = "/account/two-step/decline"
	mfaOffPath       = "/account/two-step/off"
	mfaChangePath    = "/account/two-step/change"
	mfaCodesPath     = "/account/two-step/recovery-codes"
	revokeOthersPath = "/account/sessions/revoke-others"

	purposeMFA         = "mfa"
	purposeChangeGrant = "mfa-change-grant"
	changeGrantTTL     = 10 * time.Minute
	// reauthAfter: account changes to the second factor ask for the password again when the
	// sign-in is older than this.
	reauthAfter = 5 * time.Minute

	// unmetAuthRequirements is the OpenID Connect error for a step-up that cannot be met.
	unmetAuthRequirements = "unmet_authentication_requirements"
)

// What a second factor is being asked for (handle.Mode).
const (
	modeLogin  = "login"  // after the password of a user with two-step on
	modeStepUp = "stepup" // acr_values=mfa (or two-step on) inside a password-only SSO session
	modeEnrol  = "enrol"  // proving a new number (turning two-step on, or changing the number)
	modeReset  = "reset"  // a password reset of a user with two-step on
	modeOff    = "off"    // turning two-step off
	modeChange = "change" // proving the current factor before entering a new number
	modeCodes  = "codes"  // new recovery codes
)

func challengePurpose(mode string) string {
	switch mode {
	case modeLogin:
		return store.SMSPurposeLogin
	case modeStepUp:
		return store.SMSPurposeStepUp
	case modeEnrol:
		return store.SMSPurposeEnrol
	case modeReset:
		return store.SMSPurposeReset
	default:
		return store.SMSPurposeDisable
	}
}

// requestsMFA: the relying party asked for acr mfa. Other acr values are ignored (docs/ARCHITECTURE.md, "Claims").
func requestsMFA(ar *store.AuthRequest) bool {
	return ar != nil && slices.Contains(ar.ACRValues, acrMFA)
}

// needsSecondFactor: this sign-in must end with acr mfa.
func (s *Server) needsSecondFactor(ar *store.AuthRequest, u *store.User) bool {
	return u.MFAEnabled || s.sms.cfg.Require || requestsMFA(ar)
}

// continueWithSession finishes an auth request with the browser's SSO session when it is
// strong enough, else asks for what is missing: the second factor of a user who has one, or
// enrolment (which a relying party's step-up may let the person decline).
func (s *Server) continueWithSession(w http.ResponseWriter, r *http.Request, ar *store.AuthRequest, sess *store.Session) {
	s.continueWithProof(w, r, ar, sess, "")
}

// continueWithProof is continueWithSession for a sign-in that may carry a sealed email proof
// (a fresh email code entered in it), which an enrolment in this sign-in then counts as its
// second factor.
func (s *Server) continueWithProof(w http.ResponseWriter, r *http.Request, ar *store.AuthRequest, sess *store.Session, proof string) {
	u, err := s.st.GetUser(r.Context(), sess.UserID)
	if err != nil {
		s.internalError(w, r, "load user", err)
		return
	}
	if sess.ACR == acrMFA || !s.needsSecondFactor(ar, u) {
		s.complete(w, r, ar, sess)
		return
	}
	if slices.Contains(ar.Prompt, oidc.PromptNone) {
		// No interaction allowed: this session lacks the second factor the request needs.
		op.AuthRequestError(w, r, authRequest{ar}, oidc.ErrInteractionRequired().WithDescription("A second factor is needed."), s.provider)
		return
	}
	if u.MFAEnabled {
		h := handle{Purpose: purposeMFA, Mode: modeStepUp, UserID: u.ID, Email: u.Email, AuthRequestID: ar.ID}
		s.redirectToMFA(w, r, h)
		return
	}
	if !s.sms.available() {
		if s.sms.cfg.Require {
			s.renderError(w, r, http.StatusServiceUnavailable, "Two-step verification is required, but it cannot be set up right now. Please try again later.")
			return
		}
		s.unmet(w, r, ar)
		return
	}
	next := enrolPath + "?authRequestID=" + url.QueryEscape(ar.ID)
	if proof != "" {
		next += "&proof=" + url.QueryEscape(proof)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// purposeEmailProof seals "this browser entered a fresh email code in this sign-in".
const (
	purposeEmailProof = "email-proof"
	emailProofTTL     = 15 * time.Minute
)

// sealEmailProof notes that the session sess (of this browser, for auth request arID) began with
// a fresh email code.
func (s *Server) sealEmailProof(w http.ResponseWriter, r *http.Request, sess *store.Session, arID string) (string, error) {
	b, err := s.browserHash(w, r)
	if err != nil {
		return "", err
	}
	return s.sealer.seal(handle{Purpose: purposeEmailProof, UserID: sess.UserID, CodeID: sess.ID, AuthRequestID: arID,
		Browser: b, Expires: s.now().Add(emailProofTTL).Unix()})
}

// openEmailProof: v proves a fresh email code for this user, auth request, session and browser.
func (s *Server) openEmailProof(r *http.Request, v, userID, arID, sessionID string) bool {
	if v == "" {
		return false
	}
	p, err := s.sealer.open(v)
	if err != nil || p.Purpose != purposeEmailProof || p.UserID != userID || p.AuthRequestID != arID || p.CodeID != sessionID {
		return false
	}
	c := cookieValue(r, s.cookies.browser)
	return c != "" && hashToken(c) == p.Browser
}

// unmet sends the person back to the relying party: the step-up it asked for cannot be met.
func (s *Server) unmet(w http.ResponseWriter, r *http.Request, ar *store.AuthRequest) {
	s.audit.log(r.Context(), "mfa.step_up_unmet", "", ar.ClientID, nil)
	op.AuthRequestError(w, r, authRequest{ar}, &oidc.Error{ErrorType: unmetAuthRequirements,
		Description: "The user has no second factor and did not set one up."}, s.provider)
}

// browserHash returns the hash of the browser binding cookie, setting one when missing.
func (s *Server) browserHash(w http.ResponseWriter, r *http.Request) (string, error) {
	v := cookieValue(r, s.cookies.browser)
	if len(v) < 32 {
		var err error
		if v, err = randomToken(s.rand, 32); err != nil {
			return "", err
		}
		s.cookies.set(w, s.cookies.browser, v, browserCookieTTL)
	}
	return hashToken(v), nil
}

func (s *Server) sealMFA(w http.ResponseWriter, r *http.Request, h handle) (string, error) {
	b, err := s.browserHash(w, r)
	if err != nil {
		return "", err
	}
	if h.Password == "" {
		// First issue: bind the handle to the password and the sessions as they are now.
		u, err := s.st.GetUser(r.Context(), h.UserID)
		if err != nil {
			return "", err
		}
		h.Password, h.Epoch = passwordFingerprint(u.PasswordHash), u.SessionEpoch
	}
	h.Purpose, h.Browser, h.Expires = purposeMFA, b, s.now().Add(handleTTL).Unix()
	return s.sealer.seal(h)
}

func (s *Server) redirectToMFA(w http.ResponseWriter, r *http.Request, h handle) {
	v, err := s.sealMFA(w, r, h)
	if err != nil {
		s.internalError(w, r, "seal handle", err)
		return
	}
	http.Redirect(w, r, mfaPath+"?h="+url.QueryEscape(v), http.StatusSeeOther)
}

// openMFA opens a second-factor page handle; it must have been made for this browser, and the
// user's password and session epoch must be those it was issued under.
func (s *Server) openMFA(w http.ResponseWriter, r *http.Request, v string) (handle, bool) {
	h, err := s.sealer.open(v)
	if err == nil && h.Purpose == purposeMFA {
		if c := cookieValue(r, s.cookies.browser); c != "" && hashToken(c) == h.Browser {
			u, err := s.st.GetUser(r.Context(), h.UserID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				s.internalError(w, r, "load user", err)
				return handle{}, false
			}
			if err == nil && handleCurrent(h, u) {
				return h, true
			}
		}
	}
	s.renderError(w, r, http.StatusBadRequest, msgPageExpired)
	return handle{}, false
}

// handleCurrent: the password and sessions of u are still those h was issued under.
func handleCurrent(h handle, u *store.User) bool {
	return h.Password == passwordFingerprint(u.PasswordHash) && h.Epoch == u.SessionEpoch
}

// startChallenge sends a code for h (to phone) and shows the code page. A refusal shows the page
// without a running code: it still offers a recovery code (fail closed, never open).
func (s *Server) startChallenge(w http.ResponseWriter, r *http.Request, h handle, phone string, prev *store.SMSChallenge) {
	ch, reused, err := s.sms.send(r.Context(), r, h.UserID, challengePurpose(h.Mode), phone, h.AuthRequestID, prev)
	var ref *refusal
	switch {
	case errors.As(err, &ref):
		hv, serr := s.sealMFA(w, r, h)
		if serr != nil {
			s.internalError(w, r, "seal handle", serr)
			return
		}
		s.showMFA(w, r, ref.status, hv, h, prev, ref.msg, "")
		return
	case err != nil:
		s.internalError(w, r, "start sms challenge", err)
		return
	}
	h.CodeID = ch.ID
	if reused {
		hv, err := s.sealMFA(w, r, h)
		if err != nil {
			s.internalError(w, r, "seal handle", err)
			return
		}
		s.showMFA(w, r, http.StatusOK, hv, h, ch, "", "The code we sent is still valid. Please wait for it a little longer.")
		return
	}
	s.redirectToMFA(w, r, h)
}

type mfaPage struct {
	page
	Heading     string
	Intro       string
	Handle      string
	MaskedPhone string
	CodeSent    bool // a challenge runs: show the code form
	CanCall     bool
	Calling     bool
	CanRecover  bool
	SMSOffered  bool
	Error       string
	Notice      string
}

func mfaHeading(mode string) string {
	switch mode {
	case modeEnrol:
		return "Confirm your phone number"
	case modeReset, modeOff, modeChange, modeCodes:
		return "Confirm it's you"
	default:
		return "Two-step verification"
	}
}

// showMFA renders the code page of h; ch is its running challenge, if any.
func (s *Server) showMFA(w http.ResponseWriter, r *http.Request, status int, hv string, h handle, ch *store.SMSChallenge, errMsg, notice string) {
	p, err := s.newPage(mfaHeading(h.Mode))
	if err != nil {
		s.renderError(w, r, http.StatusInternalServerError, msgInternal)
		return
	}
	running := ch != nil && ch.EndedAt == nil && s.now().Before(ch.ExpiresAt)
	d := mfaPage{page: p, Heading: mfaHeading(h.Mode), Handle: hv, CodeSent: running, CanRecover: h.Mode != modeEnrol,
		SMSOffered: s.sms.available(), Error: errMsg, Notice: notice}
	if ch != nil {
		d.MaskedPhone = sms.MaskPhone(ch.PhoneE164)
		d.Calling = running && ch.Channel == store.SMSChannelVoice
		d.CanCall = running && s.sms.cfg.VoiceFallback && ch.Channel == store.SMSChannelSMS
	} else if u, err := s.st.GetUser(r.Context(), h.UserID); err == nil {
		d.MaskedPhone = sms.MaskPhone(u.PhoneE164)
	}
	switch {
	case d.Calling:
		d.Intro = "We are calling " + d.MaskedPhone + ". Enter the 6-digit code you hear."
	case running:
		d.Intro = "We sent a 6-digit code by text message to " + d.MaskedPhone + "."
	case !d.SMSOffered && d.CanRecover:
		d.Intro = "Codes by text message are not available right now. You can continue with one of your recovery codes."
	case h.Mode == modeStepUp:
		d.Intro = "This needs your second factor. We will send a code by text message to " + d.MaskedPhone + "."
	default:
		d.Intro = "We will send a code by text message to " + d.MaskedPhone + "."
	}
	s.render(w, r, status, "mfa", p, d)
}

// loadChallenge returns h's challenge when it is this user's and for this purpose (else nil).
func (s *Server) loadChallenge(ctx context.Context, h handle) (*store.SMSChallenge, error) {
	if h.CodeID == "" {
		return nil, nil
	}
	ch, err := s.st.GetSMSChallenge(ctx, h.CodeID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if ch.UserID != h.UserID || ch.Purpose != challengePurpose(h.Mode) {
		return nil, nil
	}
	return ch, nil
}

func (s *Server) handleMFAPage(w http.ResponseWriter, r *http.Request) {
	hv := r.URL.Query().Get("h")
	h, ok := s.openMFA(w, r, hv)
	if !ok {
		return
	}
	ch, err := s.loadChallenge(r.Context(), h)
	if err != nil {
		s.internalError(w, r, "load challenge", err)
		return
	}
	s.showMFA(w, r, http.StatusOK, hv, h, ch, "", "")
}

// mfaForm reads a posted second-factor form: its page handle and that handle's challenge (nil
// when none runs for it). It answers itself and returns false when the request cannot go on.
func (s *Server) mfaForm(w http.ResponseWriter, r *http.Request) (string, handle, *store.SMSChallenge, bool) {
	if !s.parseForm(w, r) {
		return "", handle{}, nil, false
	}
	hv := r.PostForm.Get("h")
	h, ok := s.openMFA(w, r, hv)
	if !ok {
		return "", handle{}, nil, false
	}
	ch, err := s.loadChallenge(r.Context(), h)
	if err != nil {
		s.internalError(w, r, "load challenge", err)
		return "", handle{}, nil, false
	}
	return hv, h, ch, true
}

// showRefusal shows a *refusal on h's page with its challenge as it is now; any other error is
// an internal one (what names it in the log).
func (s *Server) showRefusal(w http.ResponseWriter, r *http.Request, hv string, h handle, err error, what string) {
	var ref *refusal
	if !errors.As(err, &ref) {
		s.internalError(w, r, what, err)
		return
	}
	ch, err := s.loadChallenge(r.Context(), h)
	if err != nil {
		s.internalError(w, r, "load challenge", err)
		return
	}
	s.showMFA(w, r, ref.status, hv, h, ch, ref.msg, "")
}

// factorUser loads the user a second-factor page is for; a deleted or disabled account ends the
// page.
func (s *Server) factorUser(w http.ResponseWriter, r *http.Request, h handle) (*store.User, bool) {
	u, err := s.st.GetUser(r.Context(), h.UserID)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && (u.Disabled || !handleCurrent(h, u))):
		s.renderError(w, r, http.StatusBadRequest, msgPageExpired)
		return nil, false
	case err != nil:
		s.internalError(w, r, "load user", err)
		return nil, false
	}
	return u, true
}

// handleMFASubmit checks an SMS (or voice) code.
func (s *Server) handleMFASubmit(w http.ResponseWriter, r *http.Request) {
	hv, h, ch, ok := s.mfaForm(w, r)
	if !ok {
		return
	}
	if ch == nil || ch.EndedAt != nil {
		s.showMFA(w, r, http.StatusBadRequest, hv, h, ch, "Ask for a code first.", "")
		return
	}
	code, ok := readCode(r.PostForm.Get("code"))
	if !ok {
		s.showMFA(w, r, http.StatusBadRequest, hv, h, ch, msgCodeFormat, "")
		return
	}
	if err := s.sms.check(r.Context(), ch, code); err != nil {
		s.showRefusal(w, r, hv, h, err, "check sms code")
		return
	}
	u, ok := s.factorUser(w, r, h)
	if !ok {
		return
	}
	if h.Mode != modeEnrol && (!u.MFAEnabled || u.PhoneE164 != ch.PhoneE164) {
		// The factor must still be the user's: an operator may have reset it (lost phone) or
		// the number may have changed while this code was on its way.
		s.renderError(w, r, http.StatusBadRequest, msgPageExpired)
		return
	}
	method := "sms"
	if ch.Channel == store.SMSChannelVoice {
		method = "tel"
	}
	s.mfaPassed(w, r, h, u, method, ch.PhoneE164)
}

// handleMFAResend sends a new code (or the first one, on a step-up page).
func (s *Server) handleMFAResend(w http.ResponseWriter, r *http.Request) {
	_, h, prev, ok := s.mfaForm(w, r)
	if !ok {
		return
	}
	phone := ""
	if h.Mode == modeEnrol {
		if prev == nil {
			s.renderError(w, r, http.StatusBadRequest, msgPageExpired)
			return
		}
		phone = prev.PhoneE164
	} else {
		u, ok := s.factorUser(w, r, h)
		if !ok {
			return
		}
		if !u.MFAEnabled {
			s.renderError(w, r, http.StatusBadRequest, msgPageExpired)
			return
		}
		phone = u.PhoneE164
	}
	s.startChallenge(w, r, h, phone, prev)
}

// handleMFACall switches the running challenge to a voice call.
func (s *Server) handleMFACall(w http.ResponseWriter, r *http.Request) {
	hv, h, ch, ok := s.mfaForm(w, r)
	if !ok {
		return
	}
	if ch == nil {
		s.showMFA(w, r, http.StatusBadRequest, hv, h, nil, "Ask for a code first.", "")
		return
	}
	if err := s.sms.callInstead(r.Context(), ch); err != nil {
		s.showRefusal(w, r, hv, h, err, "call instead")
		return
	}
	s.showMFA(w, r, http.StatusOK, hv, h, ch, "", "We are calling you now.")
}

type recoveryPage struct {
	page
	Handle string
	Error  string
}

func (s *Server) showRecovery(w http.ResponseWriter, r *http.Request, status int, hv, msg string) {
	p, err := s.newPage("Use a recovery code")
	if err != nil {
		s.renderError(w, r, http.StatusInternalServerError, msgInternal)
		return
	}
	s.render(w, r, status, "mfa_recovery", p, recoveryPage{page: p, Handle: hv, Error: msg})
}

func (s *Server) handleRecoveryPage(w http.ResponseWriter, r *http.Request) {
	hv := r.URL.Query().Get("h")
	h, ok := s.openMFA(w, r, hv)
	if !ok {
		return
	}
	if h.Mode == modeEnrol {
		s.renderError(w, r, http.StatusBadRequest, msgPageExpired)
		return
	}
	s.showRecovery(w, r, http.StatusOK, hv, "")
}

// handleRecoverySubmit passes the second factor with a recovery code: it works when SMS does not
// (fail closed means the password alone never passes, but a recovery code always can).
func (s *Server) handleRecoverySubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	hv := r.PostForm.Get("h")
	h, ok := s.openMFA(w, r, hv)
	if !ok {
		return
	}
	if h.Mode == modeEnrol {
		s.renderError(w, r, http.StatusBadRequest, msgPageExpired)
		return
	}
	ctx := r.Context()
	u, ok := s.factorUser(w, r, h)
	if !ok {
		return
	}
	if !u.MFAEnabled {
		s.renderError(w, r, http.StatusBadRequest, msgPageExpired)
		return
	}
	left, err := s.useRecoveryCode(ctx, u.ID, r.PostForm.Get("code"))
	if err != nil {
		var ref *refusal
		if !errors.As(err, &ref) {
			s.internalError(w, r, "use recovery code", err)
			return
		}
		s.showRecovery(w, r, ref.status, hv, ref.msg)
		return
	}
	if h.CodeID != "" {
		s.sms.end(ctx, h.CodeID, store.SMSEndCancelled)
	}
	s.audit.log(ctx, "recovery_code.used", u.ID, s.clientOf(ctx, h.AuthRequestID), map[string]string{"for": h.Mode, "left": itoa(left)})
	detail := "You have " + plural(left, "recovery code", "recovery codes") + " left."
	if left <= 3 {
		detail += " Create new ones on your account page."
	}
	s.codes.notify(ctx, u.Email, mail.KindSecurityNotice, mail.NoticeData{Subject: "a recovery code was used",
		Summary: "One of your recovery codes was used instead of a code by text message.", Detail: detail})
	s.mfaPassed(w, r, h, u, "recovery", "")
}

// mfaPassed finishes what the second factor was asked for. method is sms, tel or recovery.
func (s *Server) mfaPassed(w http.ResponseWriter, r *http.Request, h handle, u *store.User, method, phone string) {
	ctx := r.Context()
	amr := []string{"pwd", method, "mfa"}
	if method == "recovery" {
		amr = []string{"pwd", "mfa"}
	}
	switch h.Mode {
	case modeLogin, modeStepUp:
		sess, err := s.startSession(w, r, u, amr, acrMFA)
		if err != nil {
			s.internalError(w, r, "start session", err)
			return
		}
		s.audit.log(ctx, "login.succeeded", u.ID, s.clientOf(ctx, h.AuthRequestID), map[string]string{"factor": method, "step": h.Mode})
		s.metrics.Login("success")
		if s.showFirstRecoveryCodes(w, r, h, u, sess) {
			return
		}
		s.finishSignIn(w, r, h.AuthRequestID, sess)
	case modeReset:
		s.showResetGrant(w, r, u, h.AuthRequestID)
	case modeEnrol:
		s.enrolPassed(w, r, h, u, amr, phone)
	case modeOff, modeChange, modeCodes:
		sess, cur, ok := s.accountSession(w, r)
		if !ok {
			return
		}
		if cur.ID != u.ID || !u.MFAEnabled {
			s.renderError(w, r, http.StatusBadRequest, msgPageExpired)
			return
		}
		s.accountFactorPassed(w, r, h, sess, u)
	default:
		s.renderError(w, r, http.StatusBadRequest, msgPageExpired)
	}
}

// showFirstRecoveryCodes: a person imported with two-step on (who never had recovery codes) gets
// them at the first sign-in that passed the second factor, shown once before the sign-in goes on
// (the auth request is completed first, so Continue leads to the relying party). It reports
// whether it answered the request.
func (s *Server) showFirstRecoveryCodes(w http.ResponseWriter, r *http.Request, h handle, u *store.User, sess *store.Session) bool {
	ctx := r.Context()
	codes, err := s.firstRecoveryCodes(ctx, u)
	if err != nil {
		s.log.ErrorContext(ctx, "first recovery codes", "error", err) // the sign-in goes on; the account page offers new codes
		return false
	}
	if codes == nil {
		return false
	}
	s.audit.log(ctx, "recovery_codes.issued", u.ID, "", map[string]string{"why": "first_sign_in"})
	next := accountPath
	if h.AuthRequestID != "" {
		ar, err := s.boundRequest(r, h.AuthRequestID)
		if err != nil {
			s.requestLookupFailed(w, r, err)
			return true
		}
		done := &store.AuthRequest{Subject: sess.UserID, AuthTime: sess.AuthTime, AMR: sess.AMR, ACR: sess.ACR, SessionID: sess.ID}
		if err := s.st.CompleteAuthRequest(ctx, ar.ID, done, s.now()); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				s.renderError(w, r, http.StatusBadRequest, msgExpired)
				return true
			}
			s.internalError(w, r, "complete auth request", err)
			return true
		}
		next = s.callbackURL(ar.ID)
	}
	s.showRecoveryCodes(w, r, codes, next, false)
	return true
}

// enrolPassed turns two-step on with the proven number (or replaces the number), then shows the
// recovery codes once.
func (s *Server) enrolPassed(w http.ResponseWriter, r *http.Request, h handle, u *store.User, amr []string, phone string) {
	ctx := r.Context()
	_, cur, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	if cur.ID != u.ID || phone == "" {
		s.renderError(w, r, http.StatusBadRequest, msgPageExpired)
		return
	}
	changed := u.MFAEnabled
	if err := s.st.SetUserMFA(ctx, u.ID, phone, true, s.now()); err != nil {
		s.internalError(w, r, "enable mfa", err)
		return
	}
	if changed {
		s.audit.log(ctx, "mfa.phone_changed", u.ID, "", map[string]string{"to": sms.MaskPhone(phone)})
		s.codes.notify(ctx, u.Email, mail.KindSecurityNotice, mail.NoticeData{Subject: "your two-step phone number was changed",
			Summary: "The phone number for two-step verification was changed to the number ending in " + last4(phone) + "."})
		http.Redirect(w, r, accountPath+"?done=phone", http.StatusSeeOther)
		return
	}
	codes, err := s.issueRecoveryCodes(ctx, u.ID)
	if err != nil {
		s.internalError(w, r, "recovery codes", err)
		return
	}
	s.audit.log(ctx, "mfa.enabled", u.ID, "", map[string]string{"phone": sms.MaskPhone(phone)})
	s.codes.notify(ctx, u.Email, mail.KindSecurityNotice, mail.NoticeData{Subject: "two-step verification turned on",
		Summary: "Two-step verification was turned on. Sign-ins now also need a code sent to the phone number ending in " + last4(phone) + ".",
		Detail:  "You received 10 recovery codes: keep them safe, they are the way in if you lose your phone."})
	next := accountPath
	if h.AuthRequestID != "" && !h.EmailProved {
		// Enrolled during a sign-in with only the password: a phone added now proves nothing
		// about the person (it may be the phone of whoever has the password), so the sign-in
		// goes on as it is, with acr pwd (README: what a relying party sees).
		if ar, err := s.boundRequest(r, h.AuthRequestID); err == nil && !ar.Done {
			s.audit.log(ctx, "mfa.enrolled_in_sign_in", u.ID, ar.ClientID, map[string]string{"acr": acrPassword})
			if sess, err := s.currentSession(r); err == nil && sess != nil && sess.UserID == u.ID {
				done := &store.AuthRequest{Subject: sess.UserID, AuthTime: sess.AuthTime, AMR: sess.AMR, ACR: sess.ACR, SessionID: sess.ID}
				if err := s.st.CompleteAuthRequest(ctx, ar.ID, done, s.now()); err == nil {
					next = s.callbackURL(ar.ID)
				}
			}
		}
	}
	if h.AuthRequestID != "" && h.EmailProved {
		// Enrolled during a sign-in that also proved the inbox with a fresh email code: the
		// email code is the second factor of that sign-in.
		ar, err := s.boundRequest(r, h.AuthRequestID)
		if err == nil && !ar.Done {
			ns, err := s.startSession(w, r, u, amr, acrMFA)
			if err != nil {
				s.internalError(w, r, "start session", err)
				return
			}
			done := &store.AuthRequest{Subject: ns.UserID, AuthTime: ns.AuthTime, AMR: ns.AMR, ACR: ns.ACR, SessionID: ns.ID}
			if err := s.st.CompleteAuthRequest(ctx, ar.ID, done, s.now()); err == nil {
				next = s.callbackURL(ar.ID)
			}
		}
	}
	// "Sign out all other sessions" only when there are others: this browser's is one of the list.
	others := false
	if list, err := s.st.ListSessions(ctx, u.ID, s.now()); err == nil {
		others = len(list) > 1
	}
	s.showRecoveryCodes(w, r, codes, next, others)
}

type recoveryCodesPage struct {
	page
	Codes       []string
	Text        string
	Next        string
	OfferLogout bool
}

func (s *Server) showRecoveryCodes(w http.ResponseWriter, r *http.Request, codes []string, next string, offerLogout bool) {
	p, err := s.newPage("Your recovery codes")
	if err != nil {
		s.renderError(w, r, http.StatusInternalServerError, msgInternal)
		return
	}
	text := s.opts.BrandName + " recovery codes\nEach code works once, when you cannot get a code by text message.\n\n"
	for _, c := range codes {
		text += c + "\n"
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, "recovery_codes", p, recoveryCodesPage{page: p, Codes: codes, Text: text, Next: next, OfferLogout: offerLogout})
}

// accountFactorPassed finishes an account change that needed the current second factor.
func (s *Server) accountFactorPassed(w http.ResponseWriter, r *http.Request, h handle, sess *store.Session, u *store.User) {
	ctx := r.Context()
	switch h.Mode {
	case modeOff:
		if err := s.st.SetUserMFA(ctx, u.ID, "", false, s.now()); err != nil {
			s.internalError(w, r, "disable mfa", err)
			return
		}
		s.audit.log(ctx, "mfa.disabled", u.ID, "", nil)
		s.codes.notify(ctx, u.Email, mail.KindSecurityNotice, mail.NoticeData{Subject: "two-step verification turned off",
			Summary: "Two-step verification was turned off. Sign-ins now need only your password, and your recovery codes no longer work."})
		http.Redirect(w, r, accountPath+"?done=mfa-off", http.StatusSeeOther)
	case modeChange:
		b, err := s.browserHash(w, r)
		if err != nil {
			s.internalError(w, r, "browser binding", err)
			return
		}
		g, err := s.sealer.seal(handle{Purpose: purposeChangeGrant, UserID: u.ID, Browser: b, Expires: s.now().Add(changeGrantTTL).Unix()})
		if err != nil {
			s.internalError(w, r, "seal grant", err)
			return
		}
		s.showEnrol(w, r, http.StatusOK, sess, enrolForm{Grant: g}, nil)
	case modeCodes:
		codes, err := s.issueRecoveryCodes(ctx, u.ID)
		if err != nil {
			s.internalError(w, r, "recovery codes", err)
			return
		}
		s.audit.log(ctx, "mfa.recovery_codes_replaced", u.ID, "", nil)
		s.codes.notify(ctx, u.Email, mail.KindSecurityNotice, mail.NoticeData{Subject: "new recovery codes",
			Summary: "New recovery codes were created for your account. The old ones no longer work."})
		s.showRecoveryCodes(w, r, codes, accountPath, false)
	}
}

// enrolForm is what the enrolment page keeps between tries.
type enrolForm struct {
	Phone         string
	AuthRequestID string
	Grant         string // a sealed change grant: the current factor was just proven
	Proof         string // a sealed email proof: a fresh email code was entered in this sign-in
}

type enrolPage struct {
	page
	enrolForm
	NeedPassword bool
	CanDecline   bool
	Required     bool
	Region       string
	Errors       map[string][]string
}

func (s *Server) showEnrol(w http.ResponseWriter, r *http.Request, status int, sess *store.Session, f enrolForm, errs map[string][]string) {
	p, err := s.newPage("Turn on two-step verification")
	if err != nil {
		s.renderError(w, r, http.StatusInternalServerError, msgInternal)
		return
	}
	s.render(w, r, status, "mfa_enrol", p, enrolPage{page: p, enrolForm: f, Errors: errs,
		NeedPassword: f.Grant == "" && s.now().Sub(sess.AuthTime) > reauthAfter,
		CanDecline:   f.AuthRequestID != "" && !s.sms.cfg.Require, Required: s.sms.cfg.Require,
		Region: s.sms.cfg.DefaultRegion})
}

// openChangeGrant returns whether v is a live change grant of this user in this browser.
func (s *Server) openChangeGrant(r *http.Request, v, userID string) bool {
	g, err := s.sealer.open(v)
	if err != nil || g.Purpose != purposeChangeGrant || g.UserID != userID {
		return false
	}
	c := cookieValue(r, s.cookies.browser)
	return c != "" && hashToken(c) == g.Browser
}

// enrolRequest returns the auth request an in-flow enrolment belongs to ("" when none), or
// false after answering when it cannot be used.
func (s *Server) enrolRequest(w http.ResponseWriter, r *http.Request, id string) (string, bool) {
	if id == "" {
		return "", true
	}
	ar, err := s.boundRequest(r, id)
	if err != nil {
		s.requestLookupFailed(w, r, err)
		return "", false
	}
	return ar.ID, true
}

func (s *Server) handleEnrolPage(w http.ResponseWriter, r *http.Request) {
	sess, u, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	arID, ok := s.enrolRequest(w, r, r.URL.Query().Get("authRequestID"))
	if !ok {
		return
	}
	if u.MFAEnabled {
		http.Redirect(w, r, accountPath, http.StatusSeeOther)
		return
	}
	if !s.sms.available() {
		s.renderError(w, r, http.StatusServiceUnavailable, "Two-step verification by text message is not available right now.")
		return
	}
	s.showEnrol(w, r, http.StatusOK, sess, enrolForm{AuthRequestID: arID, Proof: r.URL.Query().Get("proof")}, nil)
}

// handleEnrolSubmit checks the number, the consent and (for an older sign-in) the password, then
// sends a code to the number to prove it.
func (s *Server) handleEnrolSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	sess, u, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	f := enrolForm{Phone: r.PostForm.Get("phone"), Grant: r.PostForm.Get("grant"), Proof: r.PostForm.Get("proof")}
	if f.AuthRequestID, ok = s.enrolRequest(w, r, r.PostForm.Get("authRequestID")); !ok {
		return
	}
	if len(f.Phone) > 64 {
		f.Phone = ""
	}
	if f.Grant != "" && !s.openChangeGrant(r, f.Grant, u.ID) {
		s.renderError(w, r, http.StatusBadRequest, msgPageExpired)
		return
	}
	if u.MFAEnabled && f.Grant == "" {
		http.Redirect(w, r, accountPath, http.StatusSeeOther)
		return
	}
	if !s.sms.available() {
		s.renderError(w, r, http.StatusServiceUnavailable, "Two-step verification by text message is not available right now.")
		return
	}
	errs := map[string][]string{}
	if f.Grant == "" && s.now().Sub(sess.AuthTime) > reauthAfter {
		if msg := s.checkPasswordAgain(ctx, u, r.PostForm.Get("password")); msg != "" {
			errs["password"] = append(errs["password"], msg)
		}
	}
	phone, _, perr := sms.NormalizePhone(f.Phone, s.sms.cfg.DefaultRegion, s.sms.cfg.AllowedCountries)
	switch {
	case f.Phone == "":
		errs["phone"] = append(errs["phone"], "Enter your mobile number.")
	case errors.Is(perr, sms.ErrCountryNotAllowed):
		errs["phone"] = append(errs["phone"], sms.ErrCountryNotAllowed.Error())
	case errors.Is(perr, sms.ErrPhoneNotMobile):
		errs["phone"] = append(errs["phone"], sms.ErrPhoneNotMobile.Error())
	case perr != nil:
		errs["phone"] = append(errs["phone"], sms.ErrPhoneInvalid.Error())
	case u.MFAEnabled && phone == u.PhoneE164:
		errs["phone"] = append(errs["phone"], "This is already your two-step number. Enter the new one.")
	}
	if r.PostForm.Get("consent") != "yes" {
		errs["consent"] = append(errs["consent"], "Please agree to receive security codes at this number.")
	}
	if len(errs) > 0 {
		s.showEnrol(w, r, http.StatusBadRequest, sess, f, errs)
		return
	}
	h := handle{Purpose: purposeMFA, Mode: modeEnrol, UserID: u.ID, Email: u.Email, AuthRequestID: f.AuthRequestID,
		EmailProved: f.AuthRequestID != "" && s.openEmailProof(r, f.Proof, u.ID, f.AuthRequestID, sess.ID)}
	ch, _, err := s.sms.send(ctx, r, u.ID, store.SMSPurposeEnrol, phone, f.AuthRequestID, nil)
	var ref *refusal
	switch {
	case errors.As(err, &ref):
		errs["phone"] = append(errs["phone"], ref.msg)
		s.showEnrol(w, r, ref.status, sess, f, errs)
		return
	case err != nil:
		s.internalError(w, r, "start enrolment", err)
		return
	}
	h.CodeID = ch.ID
	s.audit.log(ctx, "mfa.enrol_started", u.ID, "", map[string]string{"phone": sms.MaskPhone(phone)})
	s.redirectToMFA(w, r, h)
}

// handleEnrolDecline: the person does not want two-step now; the relying party that asked for
// it learns that its requirement is unmet.
func (s *Server) handleEnrolDecline(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	ar, err := s.boundRequest(r, r.PostForm.Get("authRequestID"))
	if err != nil {
		s.requestLookupFailed(w, r, err)
		return
	}
	if s.sms.cfg.Require {
		s.renderError(w, r, http.StatusBadRequest, "Two-step verification is required for every account here.")
		return
	}
	s.unmet(w, r, ar)
}

// handleAccountFactor starts turning two-step off, changing the number or replacing the
// recovery codes: the password again, then the current second factor.
func (s *Server) handleAccountFactor(mode string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.parseForm(w, r) {
			return
		}
		sess, u, ok := s.accountSession(w, r)
		if !ok {
			return
		}
		if !u.MFAEnabled {
			http.Redirect(w, r, accountPath, http.StatusSeeOther)
			return
		}
		if msg := s.checkPasswordAgain(r.Context(), u, r.PostForm.Get("current")); msg != "" {
			s.showAccount(w, r, http.StatusBadRequest, sess, u, map[string][]string{"mfa": {msg}}, "")
			return
		}
		if mode == modeOff && s.sms.cfg.Require {
			s.showAccount(w, r, http.StatusBadRequest, sess, u, map[string][]string{"mfa": {"Two-step verification is required for every account here, so it cannot be turned off. You can change the number."}}, "")
			return
		}
		h := handle{Purpose: purposeMFA, Mode: mode, UserID: u.ID, Email: u.Email}
		s.startChallenge(w, r, h, u.PhoneE164, nil)
	}
}

// checkPasswordAgain verifies the password of a signed-in person before a security change (a new
// password, two-step changes), under the same throttle as sign-in. It returns the message to
// show, or "" when right.
func (s *Server) checkPasswordAgain(ctx context.Context, u *store.User, pw string) string {
	if pw == "" {
		return "Enter your password."
	}
	try, refused, err := s.throttle.reserve(ctx, keysFor(u.Email, clientIPFrom(ctx)))
	if err != nil {
		s.log.ErrorContext(ctx, "password throttle", "error", err)
		return msgInternal
	}
	if refused != nil {
		s.metrics.RateLimited("login")
		if refused.disabled {
			return msgFactorDisabled
		}
		return "Too many wrong passwords. Try again " + inDuration(refused.wait) + "."
	}
	if len(pw) <= maxPasswordLen {
		ok, _, err := s.hasher.Verify(u.PasswordHash, pw)
		if errors.Is(err, password.ErrBusy) {
			s.throttle.giveBack(ctx, try.keys)
			return msgBusy
		}
		if ok {
			if err := s.throttle.succeed(ctx, try.keys); err != nil {
				s.log.WarnContext(ctx, "reset password failures", "error", err)
			}
			return ""
		}
	}
	s.audit.log(ctx, "password.reauth_failed", u.ID, "", nil)
	s.passwordFailed(ctx, try, u, "")
	return "Your current password is not right."
}

// handleRevokeOthers signs out every other session of the person (after enrolment, say).
func (s *Server) handleRevokeOthers(w http.ResponseWriter, r *http.Request) {
	sess, u, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	n, err := s.st.RevokeUserSessions(r.Context(), u.ID, sess.ID, s.now())
	if err != nil {
		s.internalError(w, r, "revoke sessions", err)
		return
	}
	s.audit.log(r.Context(), "session.revoked_others", u.ID, "", map[string]string{"count": itoa(int(n))})
	http.Redirect(w, r, accountPath+"?done=others", http.StatusSeeOther)
}

// clientOf names the relying party of an auth request for the audit trail ("" when none).
func (s *Server) clientOf(ctx context.Context, authRequestID string) string {
	if authRequestID == "" {
		return ""
	}
	ar, err := s.st.GetAuthRequest(ctx, authRequestID, s.now())
	if err != nil {
		return ""
	}
	return ar.ClientID
}

func last4(phone string) string {
	if len(phone) < 4 {
		return phone
	}
	return phone[len(phone)-4:]
}
