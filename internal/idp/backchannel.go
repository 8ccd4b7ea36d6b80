package idp

import (
	"encoding/json"
	"mime"
	"net/http"
)

// writeOAuthError writes an OAuth error answer (RFC 6749 §5.2) with a fixed description.
func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	b, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{code, description})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Fixed answers of formOnly.
const (
	msgPostOnly    = "Use POST with an application/x-www-form-urlencoded body."
	msgNoQuery     = "Send parameters in the form body, never in the URL."
	msgFormBody    = "The body must be application/x-www-form-urlencoded."
	msgQueryBearer = "Send the access token in the Authorization header, never in the URL."
)

// formOnly guards the token, introspection and revocation endpoints: POST with a form body only
// (RFC 6749 §3.2, RFC 7662 §2.1, RFC 7009 §2.1), and nothing in the query string, so that no
// client secret, code or token can travel in a URL, where proxies, access logs and browser
// history keep it (RFC 6749 §2.3.1 allows credentials in the request body only). The library
// itself reads the merged form and would take them from the query. CORS preflights pass.
func formOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", msgPostOnly)
			return
		}
		if r.URL.RawQuery != "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", msgNoQuery)
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", msgFormBody)
			return
		}
		// RFC 6749 §3.1: parameters must not be repeated; NUL and invalid UTF-8 are no client's.
		if err := r.ParseForm(); err != nil || badParams(r.PostForm) {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", msgBadParams)
			return
		}
		if id, secret, ok := r.BasicAuth(); ok && !(cleanCredential(id) && cleanCredential(secret)) {
			// RFC 6749 §5.2: a failed HTTP Basic authentication is a 401 naming the scheme.
			w.Header().Set("WWW-Authenticate", `Basic realm="oauth"`)
			writeOAuthError(w, http.StatusUnauthorized, "invalid_client", msgBadParams)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// noQueryToken refuses an access token in the userinfo URL: RFC 6750 §2.3 makes the query
// parameter optional and RFC 9700 §4.3.2 advises against it (URLs are logged). The header
// (RFC 6750 §2.1) and the form body (§2.2) remain.
func noQueryToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("access_token") {
			// RFC 6750 §3.1: invalid_request is a 400, named in WWW-Authenticate.
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_request", error_description="`+msgQueryBearer+`"`)
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", msgQueryBearer)
			return
		}
		next.ServeHTTP(w, r)
	})
}
