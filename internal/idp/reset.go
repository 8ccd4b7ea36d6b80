package idp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/fintech-idp/idp/internal/mail"
	"github.com/fintech-idp/idp/internal/store"
)

const (
	resetPath         = "/reset"
	resetVerifyPath   = "/reset/verify"
	resetResendPath   = "/reset/resend"
	resetPasswordPath = "/reset/password"

	purposeResetGrant = "reset-grant"
	resetGrantTTL     = 10 * time.Minute
	// backgroundSendTimeout bounds a reset email sent after the page has answered.
	backgroundSendTimeout = 30 * time.Second
)

type resetRequestPage struct {
	page
	AuthRequestID string
	Email         string
	Error         string
}

type resetPasswordPage struct {
	page
	Grant     string
	Rule      string
	MinLength int
	Errors    map[string][]string
}

func (s *Server) handleResetPage(w http.ResponseWriter, r *http.Request) {
	p, err := s.newPage("Reset your password")
	if err != nil {
		s.renderError(w, r, http.StatusInternalServerError, msgInternal)
		return
	}
	s.render(w, r, http.StatusOK, "reset_request", p, resetRequestPage{page: p, AuthRequestID: r.URL.Query().Get("authRequestID")})
}

// handleResetSubmit answers the same for every address, at the same speed: the code for a known,
// verified account is sent in the background, so neither the page nor its timing says whether an
// account exists.
func (s *Server) handleResetSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	arID := r.PostForm.Get("authRequestID")
	email := NormalizeEmail(r.PostForm.Get("email"))
	if err := ValidateEmail(email); err != nil {
		p, perr := s.newPage("Reset your password")
		if perr != nil {
			s.renderError(w, r, http.StatusInternalServerError, msgInternal)
			return
		}
		shown := email
		if len(shown) > maxEmailLen {
			shown = ""
		}
		s.render(w, r, http.StatusBadRequest, "reset_request", p, resetRequestPage{page: p, AuthRequestID: arID, Email: shown,
			Error: "Enter a valid email address, like name@example.com."})
		return
	}
	ctx := r.Context()
	h := handle{Email: email, Purpose: store.PurposeReset, AuthRequestID: arID, UserID: uuid.NewString(), CodeID: uuid.NewString(),
		Expires: s.now().Add(handleTTL).Unix()}
	u, err := s.st.GetUserByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internalError(w, r, "load user", err)
		return
	}
	// The send is reserved for every address alike (cooldown and limits keyed by the address), so
	// a "send a new code" right after answers the same whether or not an account exists.
	ip := clientIPFrom(ctx)
	reserveErr := s.codes.reserveSend(ctx, email, store.PurposeReset, ip)
	var lim *limitedError
	if reserveErr != nil && !errors.As(reserveErr, &lim) {
		s.internalError(w, r, "reserve send", reserveErr)
		return
	}
	if u != nil && u.EmailVerified && !u.Disabled {
		h.UserID = u.ID
		if reserveErr == nil {
			bg := context.WithoutCancel(ctx)
			go func() {
				ctx, cancel := context.WithTimeout(bg, backgroundSendTimeout)
				defer cancel()
				if err := s.codes.sendReserved(ctx, u, store.PurposeReset, "", h.CodeID); err != nil {
					s.log.WarnContext(ctx, "reset code not sent", "error", err)
				}
			}()
		}
		s.audit.log(ctx, "reset.requested", u.ID, "", nil)
	} else {
		s.audit.log(ctx, "reset.requested", "", "", map[string]string{"known": "false"})
	}
	s.redirectToCode(w, r, h)
}

func (s *Server) handleResetVerifyPage(w http.ResponseWriter, r *http.Request) {
	hv := r.URL.Query().Get("h")
	h, ok := s.openHandle(w, r, hv, store.PurposeReset)
	if !ok {
		return
	}
	s.showCodePage(w, r, http.StatusOK, hv, h, "", "If an account exists for this address, we sent it a code.")
}

func (s *Server) handleResetResend(w http.ResponseWriter, r *http.Request) {
	s.resend(w, r, store.PurposeReset)
}

// passwordFingerprint ties a reset grant to the password it replaces: once the password changed,
// the grant is dead (single use without storing it).
func passwordFingerprint(hash string) string {
	sum := sha256.Sum256([]byte("reset\x00" + hash))
	return hex.EncodeToString(sum[:8])
}

func (s *Server) handleResetVerifySubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	hv := r.PostForm.Get("h")
	h, ok := s.openHandle(w, r, hv, store.PurposeReset)
	if !ok {
		return
	}
	if _, ok := s.checkCode(w, r, hv, h); !ok {
		return
	}
	u, err := s.st.GetUser(r.Context(), h.UserID)
	if err != nil {
		s.internalError(w, r, "load user", err)
		return
	}
	if u.MFAEnabled {
		// No way around the second factor: a reset needs it too, before a new password exists.
		s.startChallenge(w, r, handle{Purpose: purposeMFA, Mode: modeReset, UserID: u.ID, Email: u.Email, AuthRequestID: h.AuthRequestID}, u.PhoneE164, nil)
		return
	}
	s.showResetGrant(w, r, u, h.AuthRequestID)
}

// showResetGrant shows the new-password form with a grant tied to the password it replaces.
func (s *Server) showResetGrant(w http.ResponseWriter, r *http.Request, u *store.User, authRequestID string) {
	grant := handle{UserID: u.ID, Email: u.Email, CodeID: passwordFingerprint(u.PasswordHash), Purpose: purposeResetGrant,
		AuthRequestID: authRequestID, Expires: s.now().Add(resetGrantTTL).Unix()}
	gv, err := s.sealer.seal(grant)
	if err != nil {
		s.internalError(w, r, "seal grant", err)
		return
	}
	s.showResetPassword(w, r, http.StatusOK, gv, nil)
}

func (s *Server) showResetPassword(w http.ResponseWriter, r *http.Request, status int, grant string, errs map[string][]string) {
	p, err := s.newPage("Choose a new password")
	if err != nil {
		s.renderError(w, r, http.StatusInternalServerError, msgInternal)
		return
	}
	s.render(w, r, status, "reset_password", p, resetPasswordPage{page: p, Grant: grant, Rule: s.policy.Rule(),
		MinLength: s.policy.MinLength, Errors: errs})
}

// handleResetPasswordSubmit sets the new password, signs the person out everywhere (every session
// and refresh token) and tells them by email.
func (s *Server) handleResetPasswordSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	gv := r.PostForm.Get("grant")
	g, ok := s.openHandle(w, r, gv, purposeResetGrant)
	if !ok {
		return
	}
	ctx := r.Context()
	u, err := s.st.GetUser(ctx, g.UserID)
	if err != nil || passwordFingerprint(u.PasswordHash) != g.CodeID {
		s.renderError(w, r, http.StatusBadRequest, msgPageExpired)
		return
	}
	pw, confirm := r.PostForm.Get("password"), r.PostForm.Get("confirm")
	errs := map[string][]string{}
	if msgs := s.passwordProblems(ctx, pw, u.Email); len(msgs) > 0 {
		errs["password"] = msgs
	}
	if pw != confirm {
		errs["confirm"] = append(errs["confirm"], msgPasswordsDif)
	}
	if len(errs) > 0 {
		s.showResetPassword(w, r, http.StatusBadRequest, gv, errs)
		return
	}
	if err := s.setPassword(ctx, u, pw, ""); err != nil {
		s.internalError(w, r, "set password", err)
		return
	}
	// The owner proved the inbox: the sign-in lock lifts at once and a password disabled after
	// too many failures works again.
	if err := s.throttle.recovered(ctx, u); err != nil {
		s.log.WarnContext(ctx, "clear sign-in failures", "error", err)
	}
	s.audit.log(ctx, "password.reset", u.ID, "", nil)
	s.cookies.clear(w, s.cookies.session)
	next := ""
	if g.AuthRequestID != "" {
		next = loginPath + "?authRequestID=" + g.AuthRequestID
	}
	s.showMessageLink(w, r, "Your password was changed", "You were signed out everywhere. Sign in with your new password.", next, "Sign in")
}

// setPassword stores a new password, moves the password epoch on and revokes every session,
// refresh token and unredeemed sign-in of the user but keepSession's (may be empty), in one store
// transaction, then emails the owner.
func (s *Server) setPassword(ctx context.Context, u *store.User, pw, keepSession string) error {
	h, err := s.hasher.Hash(pw)
	if err != nil {
		return err
	}
	if _, err := s.st.ChangePassword(ctx, u.ID, h, keepSession, s.now()); err != nil {
		return err
	}
	s.codes.notify(ctx, u.Email, mail.KindPasswordChanged, map[string]any{})
	return nil
}
