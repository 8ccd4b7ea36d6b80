package idp

import (
	"net/http"
)

type logoutPage struct {
	page
	Email         string
	LogoutRequest string
}

type messagePage struct {
	page
	Heading  string
	Message  string
	Link     string
	LinkText string
}

// handleLogoutPage ends the SSO session the end_session endpoint validated. With a verified
// id_token_hint for the signed-in person it signs out at once; otherwise the person confirms
// first (OIDC RP-Initiated Logout §2: a logout without a hint may be a forgery).
func (s *Server) handleLogoutPage(w http.ResponseWriter, r *http.Request) {
	lrRaw := r.URL.Query().Get("lr")
	var lr logoutRequest
	if err := s.storage.urlSigner.open(lrRaw, &lr); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "This sign-out link is not valid or has expired.")
		return
	}
	sess, err := s.currentSession(r)
	if err != nil {
		s.log.ErrorContext(r.Context(), "load session", "error", err)
		s.renderError(w, r, http.StatusInternalServerError, msgInternal)
		return
	}
	if sess == nil {
		s.cookies.clear(w, s.cookies.session)
		http.Redirect(w, r, lr.RedirectURI, http.StatusFound)
		return
	}
	if lr.Hinted && lr.Subject == sess.UserID {
		s.endSession(w, r, sess.ID, sess.UserID, lr.ClientID)
		http.Redirect(w, r, lr.RedirectURI, http.StatusFound)
		return
	}
	p, err := s.newPage("Sign out")
	if err != nil {
		s.renderError(w, r, http.StatusInternalServerError, msgInternal)
		return
	}
	email := ""
	if u, err := s.st.GetUser(r.Context(), sess.UserID); err == nil {
		email = u.Email
	}
	s.render(w, r, http.StatusOK, "logout", p, logoutPage{page: p, Email: email, LogoutRequest: lrRaw})
}

func (s *Server) handleLogoutSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	var lr logoutRequest
	if err := s.storage.urlSigner.open(r.PostForm.Get("lr"), &lr); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "This sign-out link is not valid or has expired.")
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		s.showMessage(w, r, "You are still signed in", "Nothing was changed. You can close this page.")
		return
	}
	sess, err := s.currentSession(r)
	if err != nil {
		s.log.ErrorContext(r.Context(), "load session", "error", err)
		s.renderError(w, r, http.StatusInternalServerError, msgInternal)
		return
	}
	if sess != nil {
		s.endSession(w, r, sess.ID, sess.UserID, lr.ClientID)
	} else {
		s.cookies.clear(w, s.cookies.session)
	}
	http.Redirect(w, r, lr.RedirectURI, http.StatusSeeOther)
}

func (s *Server) endSession(w http.ResponseWriter, r *http.Request, sessionID, userID, clientID string) {
	if err := s.st.RevokeSession(r.Context(), sessionID, s.now()); err != nil {
		s.log.ErrorContext(r.Context(), "revoke session", "error", err)
	}
	s.cookies.clear(w, s.cookies.session)
	s.audit.log(r.Context(), "logout", userID, clientID, nil)
}

func (s *Server) handleLoggedOut(w http.ResponseWriter, r *http.Request) {
	s.showMessage(w, r, "You have signed out", "You can close this page.")
}

func (s *Server) showMessage(w http.ResponseWriter, r *http.Request, heading, msg string) {
	s.showMessageLink(w, r, heading, msg, "", "")
}

// showMessageLink shows a message page with an optional link onwards.
func (s *Server) showMessageLink(w http.ResponseWriter, r *http.Request, heading, msg, link, linkText string) {
	p, err := s.newPage(heading)
	if err != nil {
		s.renderError(w, r, http.StatusInternalServerError, msgInternal)
		return
	}
	s.render(w, r, http.StatusOK, "logged_out", p, messagePage{page: p, Heading: heading, Message: msg, Link: link, LinkText: linkText})
}
