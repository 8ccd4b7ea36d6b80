package idp

import (
	"github.com/fintech-idp/idp/internal/i18n"
	"net/http"
	"time"

	"github.com/fintech-idp/idp/internal/sms"
	"github.com/fintech-idp/idp/internal/store"
)

const (
	accountPath            = "/account"
	accountPasswordPath    = "/account/password"
	accountRevokePath      = "/account/sessions/revoke"
	accountRevokeAllPath   = "/account/sessions/revoke-all"
	accountLoginRedirectTo = loginPath // without an auth request the login page signs in to /account
)

type sessionRow struct {
	ID       string
	Device   string
	IP       string
	LastSeen string
	Created  string
	Current  bool
}

type accountPage struct {
	page
	Email         string
	EmailVerified bool
	MFAEnabled    bool
	MaskedPhone   string
	RecoveryLeft  int
	SMSOffered    bool
	Sessions      []sessionRow
	Consents      []consentRow // public apps allowed to stay signed in (offline_access)
	Rule          string
	MinLength     int
	Errors        map[string][]string
	Notice        string
	// BackName and BackURL: the way back to the app the person came from, when known.
	BackName, BackURL string
}

// accountSession returns the signed-in person's session and account, or sends the browser to
// sign in first.
func (s *Server) accountSession(w http.ResponseWriter, r *http.Request) (*store.Session, *store.User, bool) {
	sess, err := s.currentSession(r)
	if err != nil {
		s.internalError(w, r, "load session", err)
		return nil, nil, false
	}
	if sess == nil {
		http.Redirect(w, r, accountLoginRedirectTo, http.StatusSeeOther)
		return nil, nil, false
	}
	u, err := s.st.GetUser(r.Context(), sess.UserID)
	if err != nil {
		s.internalError(w, r, "load user", err)
		return nil, nil, false
	}
	if err := s.st.TouchSession(r.Context(), sess.ID, s.now(), clientIPFrom(r.Context())); err != nil {
		s.log.WarnContext(r.Context(), "touch session", "error", err)
	}
	return sess, u, true
}

func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) {
	sess, u, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	notice := ""
	switch r.URL.Query().Get("done") {
	case "password":
		notice = "Your password was changed. Your other sessions were signed out."
	case "revoked":
		notice = "That session was signed out."
	case "others":
		notice = "Every other session was signed out."
	case "app":
		notice = "That app no longer stays signed in, and was signed out."
	case "mfa-off":
		notice = "Two-step verification is off."
	case "phone":
		notice = "Your two-step phone number was changed."
	}
	if s.sms.cfg.Require && !u.MFAEnabled && s.sms.available() {
		http.Redirect(w, r, enrolPath, http.StatusSeeOther)
		return
	}
	s.showAccount(w, r, http.StatusOK, sess, u, nil, notice)
}

func (s *Server) showAccount(w http.ResponseWriter, r *http.Request, status int, sess *store.Session, u *store.User, errs map[string][]string, notice string) {
	p, err := s.newPage("Your account")
	if err != nil {
		s.renderError(w, r, http.StatusInternalServerError, msgInternal)
		return
	}
	list, err := s.st.ListSessions(r.Context(), u.ID, s.now())
	if err != nil {
		s.internalError(w, r, "list sessions", err)
		return
	}
	rows := make([]sessionRow, 0, len(list))
	for _, x := range list {
		rows = append(rows, sessionRow{ID: x.ID, Device: deviceName(x.UserAgent), IP: x.IP,
			LastSeen: lastSeen(r, x.LastSeenAt), Created: x.CreatedAt.Format(time.DateOnly), Current: x.ID == sess.ID})
	}
	consents, err := s.consentRows(r.Context(), u.ID)
	if err != nil {
		s.internalError(w, r, "list offline consents", err)
		return
	}
	left := 0
	if u.MFAEnabled {
		if left, err = s.st.CountUnusedRecoveryCodes(r.Context(), u.ID); err != nil {
			s.internalError(w, r, "count recovery codes", err)
			return
		}
	}
	backName, backURL, _ := s.backLink(r.Context(), r)
	s.render(w, r, status, "account", p, accountPage{page: p, Email: u.Email, EmailVerified: u.EmailVerified, MFAEnabled: u.MFAEnabled,
		MaskedPhone: sms.MaskPhone(u.PhoneE164), RecoveryLeft: left, SMSOffered: s.sms.available(),
		Sessions: rows, Consents: consents, Rule: s.policy.Rule(), MinLength: s.policy.MinLength, Errors: errs, Notice: notice,
		BackName: backName, BackURL: backURL})
}

// handleAccountPassword changes the password: the current one is required, the new one follows
// the policy, and every other session (and its refresh tokens) is signed out.
func (s *Server) handleAccountPassword(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	sess, u, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	current, pw, confirm := r.PostForm.Get("current"), r.PostForm.Get("password"), r.PostForm.Get("confirm")
	errs := map[string][]string{}
	if msg := s.checkPasswordAgain(ctx, u, current); msg != "" {
		errs["current"] = append(errs["current"], msg)
	}
	if msgs := s.passwordProblems(ctx, pw, u.Email); len(msgs) > 0 {
		errs["password"] = msgs
	}
	if pw != confirm {
		errs["confirm"] = append(errs["confirm"], msgPasswordsDif)
	}
	if len(errs) > 0 {
		s.showAccount(w, r, http.StatusBadRequest, sess, u, errs, "")
		return
	}
	if err := s.setPassword(ctx, u, pw, sess.ID); err != nil {
		s.internalError(w, r, "set password", err)
		return
	}
	s.audit.log(ctx, "password.changed", u.ID, "", nil)
	http.Redirect(w, r, accountPath+"?done=password", http.StatusSeeOther)
}

// handleAccountRevoke signs out one of the person's own sessions (its refresh tokens too).
func (s *Server) handleAccountRevoke(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	sess, u, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	target, err := s.st.GetSession(ctx, r.PostForm.Get("session"))
	if err != nil || target.UserID != u.ID {
		// Someone else's or unknown: the same answer, nothing revoked.
		s.renderError(w, r, http.StatusBadRequest, "That session could not be found. It may already be signed out.")
		return
	}
	if err := s.st.RevokeSession(ctx, target.ID, s.now()); err != nil {
		s.internalError(w, r, "revoke session", err)
		return
	}
	s.audit.log(ctx, "session.revoked", u.ID, "", map[string]string{"session": target.ID})
	if target.ID == sess.ID {
		s.cookies.clear(w, s.cookies.session)
		s.showMessageLink(w, r, "You have signed out", "This browser is signed out.", "", "")
		return
	}
	http.Redirect(w, r, accountPath+"?done=revoked", http.StatusSeeOther)
}

// handleAccountRevokeAll signs out every session, this one included, and every refresh token.
func (s *Server) handleAccountRevokeAll(w http.ResponseWriter, r *http.Request) {
	_, u, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if _, err := s.st.RevokeUserSessions(ctx, u.ID, "", s.now()); err != nil {
		s.internalError(w, r, "revoke sessions", err)
		return
	}
	s.audit.log(ctx, "session.revoked_all", u.ID, "", nil)
	s.cookies.clear(w, s.cookies.session)
	s.showMessageLink(w, r, "You have signed out everywhere", "Every browser and app signed in to your account has been signed out.", "", "")
}

// deviceName makes a short, human label of a User-Agent.
// lastSeen writes a session's last activity as people of the page's language write dates.
func lastSeen(r *http.Request, t time.Time) string {
	switch i18n.FromContext(r.Context()) {
	case i18n.German:
		return t.Format("02.01.2006, 15:04 MST")
	case i18n.French:
		return t.Format("02/01/2006 15:04 MST")
	}
	return t.Format("2 Jan 2006 15:04 MST")
}

func deviceName(ua string) string {
	browser, os := "Browser", ""
	for _, b := range []struct{ needle, name string }{{"Edg/", "Edge"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"}, {"curl/", "curl"}} {
		if containsFold(ua, b.needle) {
			browser = b.name
			break
		}
	}
	for _, o := range []struct{ needle, name string }{{"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"}} {
		if containsFold(ua, o.needle) {
			os = o.name
			break
		}
	}
	if os == "" {
		return browser
	}
	return browser + " on " + os
}
