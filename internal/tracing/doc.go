// Package tracing sets up OpenTelemetry tracing from the standard OTEL_* variables and gives the
// IdP its spans: one per HTTP request, named by the route pattern (never the raw path or query,
// which carry codes, states and ids), one per store query on PostgreSQL (the pgx tracer, without
// query arguments) and one per Brevo or Vonage call. Tracing is off unless an OTLP endpoint is
// configured; then spans go out over OTLP/HTTP (http/protobuf). No span attribute carries an
// email, phone number, code, password, token or secret: docs/ARCHITECTURE.md, "Traces".
package tracing
