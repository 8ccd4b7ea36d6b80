package idp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/fintech-idp/idp/internal/store"
)

// offline_access for public clients. A client gets a refresh token only when its allowed scopes
// include offline_access (web clients by default, see README "Clients and resource servers"); a
// public client (spa, native) moreover only when the person said "Allow <app> to stay signed in"
// once. The answer is remembered per person and app, listed on /account and withdrawn there.
// docs/ARCHITECTURE.md ("Staying signed in") has the reasoning.

const (
	consentPath           = "/consent"
	accountAppsRevokePath = "/account/apps/revoke"
	consentDeclinedParam  = "offline"
	consentDeclinedValue  = "declined"
	msgConsentNotFound    = "That app could not be found among the apps that stay signed in."
	auditConsentGranted   = "consent.offline_granted"
	auditConsentWithdrawn = "consent.offline_withdrawn"
	consentDateFormat     = "2 Jan 2006"
)

type consentPage struct {
	page
	App           string
	Email         string
	AuthRequestID string
}

type consentRow struct {
	ClientID string
	App      string
	Since    string
}

// asksConsent reports whether the person must be asked before client gets offline_access: a
// public client whose request includes it.
func asksConsent(c *store.Client, scopes []string) bool {
	return !c.Type.Confidential() && slices.Contains(scopes, oidc.ScopeOfflineAccess)
}

// offlineGranted reports whether the refresh token of a public client's request may be issued:
// the person allowed it. Confidential clients need nothing beyond their allowed scopes.
func (s *opStorage) offlineGranted(ctx context.Context, r *store.AuthRequest) (bool, error) {
	if !slices.Contains(r.Scopes, oidc.ScopeOfflineAccess) {
		return true, nil
	}
	c, err := s.st.GetClient(ctx, r.ClientID)
	if err != nil {
		return false, err
	}
	if !asksConsent(c, r.Scopes) {
		return true, nil
	}
	return s.st.HasOfflineConsent(ctx, r.Subject, r.ClientID)
}

// withoutOffline drops offline_access from the request's scopes (no refresh token).
func withoutOffline(r *store.AuthRequest) {
	r.Scopes = slices.DeleteFunc(slices.Clone(r.Scopes), func(s string) bool { return s == oidc.ScopeOfflineAccess })
}

// offlineConsent runs before the library's callback: a finished sign-in of a public client that
// asks for offline_access, by a person who has not allowed it yet, first goes to the consent page.
// prompt=none cannot show a page: the sign-in goes on without a refresh token, as it does after
// "Not now" (the token endpoint drops the scope, see AuthRequestByCode).
func (s *Server) offlineConsent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get(consentDeclinedParam) == consentDeclinedValue {
			next.ServeHTTP(w, r)
			return
		}
		ar, err := s.boundRequest(r, q.Get("id"))
		if err != nil || !ar.Done || slices.Contains(ar.Prompt, oidc.PromptNone) {
			next.ServeHTTP(w, r) // the library answers
			return
		}
		granted, err := s.storage.offlineGranted(r.Context(), ar)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.internalError(w, r, "check offline consent", err)
			return
		}
		if err == nil && !granted {
			http.Redirect(w, r, consentPath+"?authRequestID="+url.QueryEscape(ar.ID), http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// consentRequest loads the finished auth request the consent page is about, and its client.
func (s *Server) consentRequest(w http.ResponseWriter, r *http.Request, id string) (*store.AuthRequest, *store.Client, bool) {
	ar, err := s.boundRequest(r, id)
	if err == nil && !ar.Done {
		err = store.ErrNotFound
	}
	if err != nil {
		s.requestLookupFailed(w, r, err)
		return nil, nil, false
	}
	c, err := s.st.GetClient(r.Context(), ar.ClientID)
	if err != nil {
		s.requestLookupFailed(w, r, err)
		return nil, nil, false
	}
	return ar, c, true
}

func (s *Server) handleConsentPage(w http.ResponseWriter, r *http.Request) {
	ar, c, ok := s.consentRequest(w, r, r.URL.Query().Get("authRequestID"))
	if !ok {
		return
	}
	u, err := s.st.GetUser(r.Context(), ar.Subject)
	if err != nil {
		s.internalError(w, r, "load user", err)
		return
	}
	p, err := s.newPage("Stay signed in")
	if err != nil {
		s.renderError(w, r, http.StatusInternalServerError, msgInternal)
		return
	}
	s.render(w, r, http.StatusOK, "consent", p, consentPage{page: p, App: appName(c), Email: u.Email, AuthRequestID: ar.ID})
}

// handleConsentSubmit: "Allow" remembers the consent and goes on; "Not now" goes on without
// offline_access (asked again at the next sign-in).
func (s *Server) handleConsentSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	ar, c, ok := s.consentRequest(w, r, r.PostForm.Get("authRequestID"))
	if !ok {
		return
	}
	next := s.callbackURL(ar.ID)
	switch r.PostForm.Get("choice") {
	case "allow":
		if err := s.st.GrantOfflineConsent(r.Context(), ar.Subject, c.ID, s.now()); err != nil {
			s.internalError(w, r, "grant offline consent", err)
			return
		}
		s.audit.log(r.Context(), auditConsentGranted, ar.Subject, c.ID, nil)
	case "decline":
		next += "&" + consentDeclinedParam + "=" + consentDeclinedValue
	default:
		s.renderError(w, r, http.StatusBadRequest, msgBadRequest)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// consentRows lists the person's apps that stay signed in, for /account.
func (s *Server) consentRows(ctx context.Context, userID string) ([]consentRow, error) {
	list, err := s.st.ListOfflineConsents(ctx, userID)
	if err != nil {
		return nil, err
	}
	rows := make([]consentRow, 0, len(list))
	for _, x := range list {
		name := x.ClientID
		if c, err := s.st.GetClient(ctx, x.ClientID); err == nil {
			name = appName(c)
		}
		rows = append(rows, consentRow{ClientID: x.ClientID, App: name, Since: x.CreatedAt.Format(consentDateFormat)})
	}
	return rows, nil
}

// handleAccountAppsRevoke withdraws a consent: the app's refresh tokens for the person are revoked
// with it, so the app is signed out.
func (s *Server) handleAccountAppsRevoke(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	_, u, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	clientID := r.PostForm.Get("client")
	err := s.st.RevokeOfflineConsent(r.Context(), u.ID, clientID, s.now())
	if errors.Is(err, store.ErrNotFound) {
		s.renderError(w, r, http.StatusBadRequest, msgConsentNotFound)
		return
	}
	if err != nil {
		s.internalError(w, r, "revoke offline consent", err)
		return
	}
	s.audit.log(r.Context(), auditConsentWithdrawn, u.ID, clientID, nil)
	http.Redirect(w, r, accountPath+"?done=app", http.StatusSeeOther)
}

// appName is what a person sees for a client: its registered name, else its id.
func appName(c *store.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}
