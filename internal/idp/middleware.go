package idp

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

type ctxRequestIDKey struct{}

// RequestIDFrom returns the request id middleware put in ctx ("" outside a request).
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(ctxRequestIDKey{}).(string)
	return id
}

// ContextLogHandler adds the request id of the context to every record, so that every log line
// of a request, the library's included (it logs through slog.Default with the request context),
// can be found by the reference shown on error pages.
type ContextLogHandler struct{ slog.Handler }

func (h ContextLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestIDFrom(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h ContextLogHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return ContextLogHandler{h.Handler.WithAttrs(a)}
}

func (h ContextLogHandler) WithGroup(n string) slog.Handler {
	return ContextLogHandler{h.Handler.WithGroup(n)}
}

// statusRecorder remembers the status for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// requestContext assigns a request id, records the client IP, recovers panics and writes one
// access log line per request. Query strings are never logged: they carry codes, states and
// id_token_hints.
func (s *Server) requestContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := randomToken(s.rand, 12)
		ctx := context.WithValue(r.Context(), ctxRequestIDKey{}, id)
		ctx = withClientIP(ctx, clientIP(r, s.opts.TrustedProxies))
		r = r.WithContext(ctx)
		w.Header().Set("X-Request-Id", id)
		rec := &statusRecorder{ResponseWriter: w}
		start := time.Now()
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(ctx, "panic", "panic", v)
				if rec.status == 0 {
					s.renderError(rec, r, http.StatusInternalServerError, msgInternal)
				}
			}
			level := slog.LevelInfo
			if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
				level = slog.LevelDebug // probes every few seconds would drown the log
			}
			s.log.Log(ctx, level, "http request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
				"duration_ms", time.Since(start).Milliseconds())
		}()
		next.ServeHTTP(rec, r)
	})
}

// clientIP is the address per-IP limits and the audit log use. X-Forwarded-For is believed only
// when the connection comes from a configured trusted proxy (IDP_TRUSTED_PROXIES): then the
// rightmost address that is not itself a trusted proxy is the client (entries further left can be
// forged by the client). Without trusted proxies the header is ignored.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !isTrusted(peer, trusted) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: stop believing the chain
		}
		a = a.Unmap()
		if !isTrusted(a, trusted) {
			return a.String()
		}
	}
	return host
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// hstsValue is sent on every response of an https issuer (RFC 6797 §6.1): two years, and the
// subdomains too, so a browser never again talks to this host over plain http. It is sent whether
// TLS ends in this process or at a trusted proxy in front of it: the issuer is the public URL, and
// browsers ignore the header on plain http anyway (RFC 6797 §8.1).
const hstsValue = "max-age=63072000; includeSubDomains"

// apiCSP is the policy of every response that is not one of our HTML pages (JSON, JWKS, probes,
// redirects): nothing may load, nothing may frame it. Our pages replace it with pageHeaders'.
const apiCSP = "default-src 'none'; frame-ancestors 'none'"

// securityHeaders sets the headers every response carries, API, JWKS and probes included (see
// docs/ARCHITECTURE.md, "Security headers"). The browser protocol endpoints the library answers with HTML of its own (the
// form_post response of /authorize/callback submits itself with an inline handler) get only
// frame-ancestors; every page we render sets its full policy in pageHeaders.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	https := strings.HasPrefix(s.opts.Issuer, "https://")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if https {
			h.Set("Strict-Transport-Security", hstsValue)
		}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		switch r.URL.Path {
		case "/authorize", "/authorize/callback", "/end_session":
			h.Set("Content-Security-Policy", "frame-ancestors 'none'")
		default:
			h.Set("Content-Security-Policy", apiCSP)
		}
		next.ServeHTTP(w, r)
	})
}

// pageHeaders are the security headers of every HTML page we render.
// imgSrc is one more image origin (an IDP_BRAND_LOGO URL's), or "".
func pageHeaders(h http.Header, nonce, imgSrc string) {
	if imgSrc != "" {
		imgSrc = " " + imgSrc
	}
	// No form-action: browsers apply it to the redirect chain after a form post, which ends at
	// the relying party's origin.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self' 'nonce-"+nonce+"'; img-src 'self' data:"+imgSrc+"; script-src 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// noCORS keeps CORS off the endpoints a browser navigates to (authorize, its callback,
// end_session): the library wraps every endpoint in its CORS handler, but only the back-channel
// endpoints are fetched cross-origin (by spa clients). Without an Origin header the CORS handler
// sees no cross-origin request and adds nothing, preflight included.
func noCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Origin")
		next.ServeHTTP(w, r)
	})
}

// noStore marks token-bearing responses uncacheable (RFC 6749 §5.1).
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		next.ServeHTTP(w, r)
	})
}

// errorCapture buffers a response once its status is 4xx/5xx, so that the middleware can
// replace what the library wrote (plain err.Error() text, or a server_error carrying internal
// text) with a fixed answer.
type errorCapture struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (e *errorCapture) WriteHeader(code int) {
	if e.status != 0 {
		return
	}
	e.status = code
	if code < 400 {
		e.ResponseWriter.WriteHeader(code)
	}
}

func (e *errorCapture) Write(b []byte) (int, error) {
	if e.status == 0 {
		e.WriteHeader(http.StatusOK)
	}
	if e.status >= 400 {
		return e.buf.Write(b)
	}
	return e.ResponseWriter.Write(b)
}

func (e *errorCapture) captured() bool { return e.status >= 400 }

// browserErrors shows our error page instead of the library's plain-text errors on the endpoints
// a browser visits (authorize, its callback, end_session).
func (s *Server) browserErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ec := &errorCapture{ResponseWriter: w}
		next.ServeHTTP(ec, r)
		if !ec.captured() {
			return
		}
		s.log.WarnContext(r.Context(), "protocol error shown on error page", "path", r.URL.Path, "status", ec.status,
			"detail", truncate(ec.buf.String(), 300))
		for _, h := range []string{"Content-Type", "Content-Length", "X-Content-Type-Options"} {
			w.Header().Del(h)
		}
		status, msg := http.StatusBadRequest, msgBadRequest
		if ec.status >= 500 {
			status, msg = http.StatusInternalServerError, msgInternal
		}
		if r.URL.Path == "/authorize" || strings.HasPrefix(r.URL.Path, "/authorize/") {
			msg = msgBadAuthorize
		}
		s.renderErrorDetail(w, r, status, msg, truncate(strings.TrimSpace(ec.buf.String()), 300))
	})
}

// apiErrors keeps protocol errors in OAuth's JSON shape with fixed descriptions: the library
// writes some as plain text, and server errors with the internal error's text.
func (s *Server) apiErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ec := &errorCapture{ResponseWriter: w}
		next.ServeHTTP(ec, r)
		if !ec.captured() {
			return
		}
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description,omitempty"`
		}
		if json.Unmarshal(ec.buf.Bytes(), &body) != nil || body.Error == "" {
			switch {
			case ec.status == http.StatusUnauthorized:
				body.Error, body.Description = "invalid_client", "Client authentication failed."
			case ec.status >= 500:
				body.Error = "server_error"
			default:
				body.Error, body.Description = "invalid_request", "The request is malformed."
			}
		}
		if body.Error == "server_error" || ec.status >= 500 {
			body.Error, body.Description = "server_error", "The server could not complete the request. Please try again."
		}
		if ec.status >= 400 {
			s.log.InfoContext(r.Context(), "protocol error", "path", r.URL.Path, "status", ec.status, "error", body.Error,
				"detail", truncate(ec.buf.String(), 300))
		}
		out, _ := json.Marshal(body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Del("Content-Length")
		if ec.status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="idp"`)
		}
		w.WriteHeader(ec.status)
		_, _ = w.Write(out)
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// countGrants records each token request by grant type and outcome.
func (s *Server) countGrants(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		gt := r.PostFormValue("grant_type") // parses the form once; the library reuses it
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		outcome := "ok"
		if rec.status >= 400 {
			outcome = "error"
		}
		s.metrics.Grant(gt, outcome)
	})
}
