package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// DefaultAddr is where Server listens when given no address (IDP_METRICS_ADDR's default). It is
// a port of its own: /metrics is never served on the public port (docs/ARCHITECTURE.md, "Rules that hold everywhere").
const DefaultAddr = ":9090"

// unmatched is the route label of a request no route matched (404s, scans).
const unmatched = "unmatched"

var methods = newLabelSet(
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace,
)

// Middleware records every request in idp_http_requests_total{route, method, code},
// idp_http_request_duration_seconds{route, method} and idp_http_requests_in_flight.
//
// route is the chi route pattern that served the request ("/users/{id}"), read after the handler
// ran, or "unmatched" when no route matched; never the raw path, which holds ids and whatever a
// scanner sends. method is a standard HTTP method or "other"; code is the status written (200
// when the handler wrote nothing, 500 when it panicked before writing).
//
// Install it with Use on the outermost chi router: chi puts its routing context in the request
// only inside a router, so a middleware that wraps the router from outside sees no pattern and
// records every request as "unmatched". On a nil *Metrics it returns next unchanged.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.httpInFlight.Inc()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		finished := false
		// Deferred so that a panic, which a recoverer further out may turn into a 500, is
		// still counted.
		defer func() {
			m.httpInFlight.Dec()
			status := ww.Status()
			if status == 0 {
				status = http.StatusOK
				if !finished {
					status = http.StatusInternalServerError
				}
			}
			route := routePattern(chi.RouteContext(r.Context()))
			method := methods.of(r.Method)
			m.httpRequests.WithLabelValues(route, method, statusLabel(status)).Inc()
			m.httpDuration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(ww, r)
		finished = true
	})
}

// RoutePattern is the matched route of a request that went through a chi router ("unmatched"
// when none did): the label of the HTTP metrics, and the name of the request's trace span.
func RoutePattern(r *http.Request) string { return routePattern(chi.RouteContext(r.Context())) }

// routePattern is chi's Context.RoutePattern, except that it drops a pattern repeated right
// after itself: a chi router passed to Handle (rather than Mount), such as zitadel/oidc's
// provider at r.Handle("/oauth/token", provider), matches the same path again and would
// otherwise read "/oauth/token/oauth/token".
func routePattern(rctx *chi.Context) string {
	if rctx == nil {
		return unmatched
	}
	var b strings.Builder
	prev := ""
	for _, p := range rctx.RoutePatterns {
		if p == prev && !strings.HasSuffix(p, "*") {
			continue
		}
		b.WriteString(p)
		prev = p
	}
	pattern := b.String()
	for strings.Contains(pattern, "/*/") {
		pattern = strings.ReplaceAll(pattern, "/*/", "/")
	}
	if pattern != "/" {
		pattern = strings.TrimSuffix(pattern, "//")
		pattern = strings.TrimSuffix(pattern, "/")
	}
	if pattern == "" {
		return unmatched
	}
	return pattern
}

// statusLabel is the status code as text, or "other" outside 100–599.
func statusLabel(code int) string {
	if code < 100 || code > 599 {
		return other
	}
	return strconv.Itoa(code)
}

// Server returns an http.Server for the metrics address (addr, or DefaultAddr when empty) that
// serves Handler at /metrics and 404 everywhere else. The caller runs ListenAndServe and
// Shutdown, and may set ErrorLog.
func (m *Metrics) Server(addr string) *http.Server {
	if addr == "" {
		addr = DefaultAddr
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("/", http.NotFoundHandler())
	return &http.Server{
		Addr:              addr,
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// Longer than the handler's own 10 s scrape timeout, so that its 503 gets through.
		WriteTimeout:   30 * time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 16 << 10,
	}
}
