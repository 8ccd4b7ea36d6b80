package idp

import (
	"net/http"
	"time"
)

// cookieNames: outside development the cookies carry the __Host- prefix, which makes browsers
// insist on Secure, Path=/ and no Domain, so no subdomain can plant or read them.
type cookieNames struct {
	session string
	browser string
	lang    string // the chosen page language (not a secret)
	app     string // the client id the browser last came from (not a secret)
	secure  bool
}

func newCookieNames(development bool) cookieNames {
	if development {
		return cookieNames{session: "idp_session", browser: "idp_browser", lang: "idp_lang", app: "idp_app"}
	}
	return cookieNames{session: "__Host-idp_session", browser: "__Host-idp_browser", lang: "__Host-idp_lang", app: "__Host-idp_app", secure: true}
}

func (c cookieNames) set(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (c cookieNames) clear(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	})
}

func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil || len(c.Value) > 256 {
		return ""
	}
	return c.Value
}
