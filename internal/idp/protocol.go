package idp

import (
	"bytes"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/fintech-idp/idp/internal/store"
)

// Protocol rules the library leaves open, as middleware around its endpoints. docs/ARCHITECTURE.md
// ("Protocol details") lists them.

// maxBodyBytes is the largest request body any endpoint reads.
const maxBodyBytes = 64 << 10

// Fixed answers of the protocol middleware.
const (
	msgTooLarge        = "The request is too large."
	msgRequestURI      = "Request objects by reference (request_uri) are not supported."
	msgGrantType       = "The grant type is not supported."
	msgCodeVerifier    = "The code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~' (RFC 7636 section 4.1)."
	msgInvalidToken    = "The access token is invalid or has expired."
	msgNoBearer        = "Send the access token in the Authorization header."
	msgRedirectInvalid = "This sign-in link is not valid: the application used a return address it has not registered. Please go back to the application and try again."
)

// apiPath reports whether path is a back-channel endpoint, whose errors are OAuth JSON.
func apiPath(path string) bool {
	switch path {
	case "/oauth/token", "/oauth/introspect", "/revoke", "/userinfo":
		return true
	}
	return false
}

// limitBody reads at most maxBodyBytes of every request body before anything else does, and
// answers 413 beyond it: an endpoint that parses a form must never meet an unbounded body (a 12 MB
// POST to /end_session used to end in a 500). The body read is put back for the handler.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		tooLarge := r.ContentLength > maxBodyBytes
		var buf []byte
		if !tooLarge {
			var err error
			buf, err = io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
			if err != nil {
				s.log.InfoContext(r.Context(), "read request body", "error", err)
				s.protocolError(w, r, http.StatusBadRequest, "invalid_request", msgBadRequest)
				return
			}
			tooLarge = len(buf) > maxBodyBytes
		}
		if tooLarge {
			w.Header().Set("Connection", "close") // the rest of the body is not read
			s.protocolError(w, r, http.StatusRequestEntityTooLarge, "invalid_request", msgTooLarge)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(buf))
		next.ServeHTTP(w, r)
	})
}

// protocolError answers an API endpoint with OAuth JSON and anything else with our error page.
func (s *Server) protocolError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if apiPath(r.URL.Path) {
		writeOAuthError(w, status, code, msg)
		return
	}
	s.renderError(w, r, status, msg)
}

// addIss puts iss=issuer into every authorization response, success and error (RFC 9207 §2), so
// that a client talking to several providers can tell which one answered (mix-up attacks). An
// authorization response is a redirect that leaves the IdP carrying code or error; the form_post
// answer of the callback gets a hidden input.
func (s *Server) addIss(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Only the library's endpoints write the form_post page.
		formPost := r.URL.Path == "/authorize" || r.URL.Path == "/authorize/callback"
		iw := &issWriter{ResponseWriter: w, issuer: s.opts.Issuer, formPost: formPost}
		next.ServeHTTP(iw, r)
		iw.flush()
	})
}

// issWriter rewrites the Location of an authorization response redirect, and buffers a 200 HTML
// answer of the library's form_post page to add the hidden iss input.
type issWriter struct {
	http.ResponseWriter
	issuer    string
	formPost  bool
	status    int
	buffering bool
	buf       bytes.Buffer
}

func (iw *issWriter) WriteHeader(code int) {
	if iw.status != 0 {
		return
	}
	iw.status = code
	h := iw.Header()
	if code >= 300 && code < 400 {
		if loc := h.Get("Location"); loc != "" {
			h.Set("Location", withIss(loc, iw.issuer))
		}
	}
	// The library writes its form_post page without a Content-Type.
	if ct := h.Get("Content-Type"); iw.formPost && code == http.StatusOK && (ct == "" || strings.HasPrefix(ct, "text/html")) {
		iw.buffering = true // perhaps the form_post page; decided in flush
		return
	}
	iw.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (iw *issWriter) Unwrap() http.ResponseWriter { return iw.ResponseWriter }

func (iw *issWriter) Write(b []byte) (int, error) {
	if iw.status == 0 {
		iw.WriteHeader(http.StatusOK)
	}
	if iw.buffering {
		return iw.buf.Write(b)
	}
	return iw.ResponseWriter.Write(b)
}

func (iw *issWriter) flush() {
	if !iw.buffering {
		return
	}
	body := iw.buf.Bytes()
	const formStart, formEnd = `<form method="post" action=`, "</form>"
	if bytes.Contains(body, []byte(formStart)) && bytes.Contains(body, []byte(`name="code"`)) {
		input := `<input type="hidden" name="iss" value="` + html.EscapeString(iw.issuer) + `"/>` + "\n" + formEnd
		body = bytes.Replace(body, []byte(formEnd), []byte(input), 1)
		iw.Header().Del("Content-Length")
	}
	iw.ResponseWriter.WriteHeader(iw.status)
	_, _ = iw.ResponseWriter.Write(body)
}

// withIss adds iss to loc when loc is an authorization response: it leaves the issuer and its
// query or fragment carries code or error. Anything else comes back unchanged.
func withIss(loc, issuer string) string {
	u, err := url.Parse(loc)
	if err != nil || !u.IsAbs() || strings.HasPrefix(loc, strings.TrimSuffix(issuer, "/")+"/") {
		return loc
	}
	if q := u.Query(); (q.Has("code") || q.Has("error")) && !q.Has("iss") {
		q.Set("iss", issuer)
		u.RawQuery = q.Encode()
		return u.String()
	}
	if f, err := url.ParseQuery(u.Fragment); err == nil && (f.Has("code") || f.Has("error")) && !f.Has("iss") {
		f.Set("iss", issuer)
		u.Fragment, u.RawFragment = "", ""
		return u.String() + "#" + f.Encode()
	}
	return loc
}

// authorizeChecks runs before the library on /authorize:
//   - request_uri is answered with request_uri_not_supported (OpenID Connect Core §6.2), at the
//     client's redirect_uri when that is registered, else on our error page;
//   - a native client's loopback redirect_uri must match a registered one in scheme, host literal,
//     path and query, any port (RFC 8252 §7.3); the library compares path and query only.
func (s *Server) authorizeChecks(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			s.renderError(w, r, http.StatusBadRequest, msgBadRequest)
			return
		}
		clientID, redirectURI := r.Form.Get("client_id"), r.Form.Get("redirect_uri")
		c, err := s.st.GetClient(r.Context(), clientID)
		if err != nil {
			next.ServeHTTP(w, r) // the library answers unknown clients
			return
		}
		if c.Type == store.ClientNative && !nativeRedirectAllowed(c.RedirectURIs, redirectURI) {
			s.renderError(w, r, http.StatusBadRequest, msgRedirectInvalid)
			return
		}
		if r.Form.Get("request_uri") != "" {
			if !registeredRedirect(c, redirectURI) {
				s.renderError(w, r, http.StatusBadRequest, msgRequestURI)
				return
			}
			e := &oidc.Error{ErrorType: "request_uri_not_supported", Description: msgRequestURI, State: r.Form.Get("state")}
			loc, err := op.AuthResponseURL(redirectURI, oidc.ResponseType(r.Form.Get("response_type")), oidc.ResponseMode(r.Form.Get("response_mode")), e, s.provider.Encoder())
			if err != nil {
				s.renderError(w, r, http.StatusBadRequest, msgRequestURI)
				return
			}
			http.Redirect(w, r, loc, http.StatusFound)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// registeredRedirect reports whether uri may receive an authorization response of c.
func registeredRedirect(c *store.Client, uri string) bool {
	if c.Type == store.ClientNative {
		return nativeRedirectAllowed(c.RedirectURIs, uri)
	}
	for _, r := range c.RedirectURIs {
		if r == uri {
			return true
		}
	}
	return false
}

// nativeRedirectAllowed: a registered URI exactly, or a loopback URI that differs from a
// registered loopback URI only in its port (RFC 8252 §7.3). Scheme and host are compared as
// written: http://localhost does not stand in for http://127.0.0.1, nor https for http.
func nativeRedirectAllowed(registered []string, uri string) bool {
	u, err := url.Parse(uri)
	if err != nil {
		return false
	}
	for _, reg := range registered {
		if reg == uri {
			return true
		}
		ru, err := url.Parse(reg)
		if err != nil || !isLoopbackHost(ru.Hostname()) {
			continue
		}
		if u.Scheme == ru.Scheme && u.Hostname() == ru.Hostname() && u.EscapedPath() == ru.EscapedPath() &&
			u.RawQuery == ru.RawQuery && u.User == nil && u.Fragment == "" {
			return true
		}
	}
	return false
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// tokenChecks runs before the library on /oauth/token (after formOnly):
//   - grant types that no client can be configured for (the JWT-bearer grant of RFC 7523 §2.1,
//     which the library turns on by itself, token exchange, device code) get a fixed
//     unsupported_grant_type: no parser text of an assertion reaches the client;
//   - a code_verifier must be 43-128 characters of the unreserved set (RFC 7636 §4.1).
func tokenChecks(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		gt := r.PostFormValue("grant_type")
		if gt != "" && !grantConfigurable(oidc.GrantType(gt)) {
			writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", msgGrantType)
			return
		}
		if gt == string(oidc.GrantTypeCode) && r.PostForm.Has("code_verifier") && !validVerifier(r.PostForm.Get("code_verifier")) {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", msgCodeVerifier)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// grantConfigurable reports whether some client type may use the grant (see grantTypes).
func grantConfigurable(gt oidc.GrantType) bool {
	for _, t := range []store.ClientType{store.ClientWeb, store.ClientSPA, store.ClientNative, store.ClientService} {
		for _, g := range grantTypes(t) {
			if g == gt {
				return true
			}
		}
	}
	return false
}

// validVerifier: code-verifier = 43*128unreserved, unreserved = ALPHA / DIGIT / "-" / "." / "_" /
// "~" (RFC 7636 §4.1).
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// userinfoErrors answers the userinfo endpoint's errors as a protected resource does (RFC 6750
// §3): `WWW-Authenticate: Bearer`, with error="invalid_token" for a token that is not accepted
// (401), error="invalid_request" for a malformed request (400) and no error code when the request
// carried no token at all (§3.1), and a JSON body with the same code. The library would answer a
// bad token with plain text, and the API error middleware with Basic.
func (s *Server) userinfoErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ec := &errorCapture{ResponseWriter: w}
		next.ServeHTTP(ec, r)
		if !ec.captured() {
			return
		}
		s.log.InfoContext(r.Context(), "userinfo refused", "status", ec.status, "detail", truncate(ec.buf.String(), 300))
		for _, h := range []string{"Content-Type", "Content-Length", "WWW-Authenticate"} {
			w.Header().Del(h)
		}
		if ec.status >= 500 {
			writeOAuthError(w, http.StatusInternalServerError, "server_error", "The server could not complete the request. Please try again.")
			return
		}
		status, code, msg := http.StatusUnauthorized, "invalid_token", msgInvalidToken
		challenge := `Bearer realm="idp", error="invalid_token", error_description="` + msgInvalidToken + `"`
		if !hasBearer(r) {
			// §3.1: a request without any token gets the challenge without an error code.
			code, msg, challenge = "invalid_request", msgNoBearer, `Bearer realm="idp"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		writeOAuthError(w, status, code, msg)
	})
}

// hasBearer reports whether the request carries a bearer token in the header or the form body.
func hasBearer(r *http.Request) bool {
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return true
	}
	return r.PostFormValue("access_token") != ""
}
