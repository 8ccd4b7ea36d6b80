package idp

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

const (
	msgBadForm   = "The form could not be read. Please try again."
	msgBadParams = "A parameter is repeated, or holds characters no client sends."
)

// badParams reports whether vs holds a parameter more than once (except those listed in
// repeatable), or a name or value that is not valid UTF-8 or carries a control character other
// than tab, CR and LF. RFC 6749 §3.1 says request parameters "MUST NOT be included more than
// once", and a browser never sends NUL or invalid UTF-8 from a form: refusing them at the door
// keeps them from every handler, log line and database query (PostgreSQL cannot store NUL in
// text).
func badParams(vs url.Values) bool {
	for k, v := range vs {
		if (len(v) > 1 && !repeatable[k]) || !cleanText(k) {
			return true
		}
		for _, s := range v {
			if !cleanText(s) {
				return true
			}
		}
	}
	return false
}

// cleanCredential is cleanText for an HTTP Basic user name or password, both as sent and after
// the form-decoding RFC 6749 §2.3.1 applies to them ("%00" is a NUL once decoded).
func cleanCredential(s string) bool {
	if !cleanText(s) {
		return false
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return cleanText(u)
	}
	return true
}

// repeatable are the parameters a request may carry more than once: RFC 8707 §2 lets a client
// name several resources.
var repeatable = map[string]bool{"resource": true}

func cleanText(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool {
		return (r < 0x20 && r != '\t' && r != '\r' && r != '\n') || r == 0x7f
	}) < 0
}

// pageQuery refuses, with the error page, a hosted page whose query repeats a parameter or
// carries characters no browser sends (badParams): a GET has no form for parseForm to check, and
// its query reaches the store (an auth request id, a page handle).
func (s *Server) pageQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if badParams(r.URL.Query()) {
			s.renderError(w, r, http.StatusBadRequest, msgBadRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// singleParams refuses, with the browser error page, a request to a browser-facing protocol
// endpoint (/authorize, its callback, /end_session) whose query or form repeats a parameter or carries
// characters no client sends (badParams).
func (s *Server) singleParams(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if badParams(r.URL.Query()) {
			s.renderError(w, r, http.StatusBadRequest, msgBadRequest)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil || badParams(r.PostForm) {
				s.renderError(w, r, http.StatusBadRequest, msgBadRequest)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
