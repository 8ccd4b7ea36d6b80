// Package metrics is everything the IdP exposes on /metrics, and the small API the rest of the
// code calls to count what happens.
//
// New builds a Metrics value around a private prometheus.Registry (never the global default one,
// so tests and libraries cannot leak series into it) holding the Go runtime and process
// collectors and the IdP's own metrics in the "idp" namespace. Handler serves that registry;
// Server wraps it in an http.Server of its own for IDP_METRICS_ADDR (DefaultAddr, ":9090"), so
// that /metrics is never served on the public port (docs/ARCHITECTURE.md, "Rules that hold everywhere").
//
// Callers record events with one method each: Middleware (HTTP requests by chi route pattern),
// Login, CodeSent, CodeChecked, ExternalCall, Grant and RateLimited. RegisterDBPool adds a
// collector that reads the store's connection pools at scrape time.
//
// Two rules keep the metrics cheap and safe:
//
//   - Every label takes its value from a fixed set listed beside its method; anything else is
//     recorded as "other". A bug that passes an email, an id or an error text as a label value
//     therefore cannot create unbounded series. HTTP requests are labelled by the route pattern
//     ("/users/{id}"), never the raw path, which holds ids.
//   - Every method is a no-op on a nil *Metrics, so code that runs without metrics (tests, the
//     command-line tools) needs no nil checks.
//
// No label ever carries a user, client, email, phone number, IP address or code.
package metrics
