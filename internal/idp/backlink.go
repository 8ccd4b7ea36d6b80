package idp

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

// appCookieAge: the app a browser last came from is remembered this long.
const appCookieAge = 30 * 24 * time.Hour

// rememberApp notes the client a browser comes from (at /authorize, or /account?client_id=), so the
// account page can offer the way back to it. The client id is not a secret; an unknown one is
// simply not shown.
func (s *Server) rememberApp(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.URL.Query().Get("client_id"); id != "" && len(id) <= 64 && clientIDPattern.MatchString(id) &&
			cookieValue(r, s.cookies.app) != id {
			s.cookies.set(w, s.cookies.app, id, appCookieAge)
		}
		next.ServeHTTP(w, r)
	})
}

// backLink is the account page's way back to the app the person came from: the client named by
// ?client_id=, else the last client this browser signed in to. Its home URI, else the origin of
// its first redirect URI. ok is false when there is no such app (or it is a service client).
func (s *Server) backLink(ctx context.Context, r *http.Request) (name, href string, ok bool) {
	id := r.URL.Query().Get("client_id")
	if id == "" {
		id = cookieValue(r, s.cookies.app)
	}
	if id == "" || !clientIDPattern.MatchString(id) {
		return "", "", false
	}
	c, err := s.st.GetClient(ctx, id)
	if err != nil || c.Type == store.ClientService {
		return "", "", false
	}
	href = c.HomeURI
	if href == "" && len(c.RedirectURIs) > 0 {
		u, err := url.Parse(c.RedirectURIs[0])
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "", "", false // a native app's private-use scheme has no home page
		}
		href = u.Scheme + "://" + u.Host + "/"
	}
	if href == "" {
		return "", "", false
	}
	name = c.Name
	if name == "" {
		name = c.ID
	}
	return name, href, true
}
