package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// instrumentation is the name our tracer reports as its instrumentation scope.
const instrumentation = "github.com/fintech-idp/idp"

// Settings are the OTEL_* variables this package reads (the OpenTelemetry specification's
// names). Tracing is on when an endpoint is set, unless OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none.
type Settings struct {
	Endpoint    string // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, as is; else OTEL_EXPORTER_OTLP_ENDPOINT + "/v1/traces"
	Protocol    string // OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL: only http/protobuf (the default)
	Headers     map[string]string
	ServiceName string // OTEL_SERVICE_NAME, default "idp"
	Disabled    bool
}

// FromEnv reads the settings through getenv and reports every problem at once.
func FromEnv(getenv func(string) string) (Settings, error) {
	first := func(names ...string) string {
		for _, n := range names {
			if v := strings.TrimSpace(getenv(n)); v != "" {
				return v
			}
		}
		return ""
	}
	s := Settings{ServiceName: first("OTEL_SERVICE_NAME"), Protocol: first("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")}
	if s.ServiceName == "" {
		s.ServiceName = "idp"
	}
	var errs []error
	if v := first("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); v != "" {
		s.Endpoint = v
	} else if v := first("OTEL_EXPORTER_OTLP_ENDPOINT"); v != "" {
		s.Endpoint = strings.TrimRight(v, "/") + "/v1/traces"
	}
	if s.Endpoint != "" {
		if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL such as http://collector:4318"))
		}
	}
	switch s.Protocol {
	case "", "http/protobuf":
		s.Protocol = "http/protobuf"
	default:
		errs = append(errs, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q is not supported: use http/protobuf (an OTLP/HTTP collector on port 4318)", s.Protocol))
	}
	if h := first("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"); h != "" {
		s.Headers = map[string]string{}
		for _, kv := range strings.Split(h, ",") {
			k, v, ok := strings.Cut(kv, "=")
			k, _ = url.QueryUnescape(strings.TrimSpace(k))
			v, _ = url.QueryUnescape(strings.TrimSpace(v))
			if !ok || k == "" {
				// The value may hold a credential: name the variable only.
				errs = append(errs, errors.New("OTEL_EXPORTER_OTLP_HEADERS must be key=value pairs separated by commas"))
				break
			}
			s.Headers[k] = v
		}
	}
	exporter := strings.ToLower(first("OTEL_TRACES_EXPORTER"))
	switch exporter {
	case "", "otlp":
	case "none":
		s.Disabled = true
	default:
		errs = append(errs, fmt.Errorf("OTEL_TRACES_EXPORTER=%q is not supported: use otlp or none", exporter))
	}
	if exporter == "otlp" && s.Endpoint == "" {
		s.Endpoint = "http://localhost:4318/v1/traces" // the specification's default
	}
	if strings.EqualFold(first("OTEL_SDK_DISABLED"), "true") {
		s.Disabled = true
	}
	return s, errors.Join(errs...)
}

// Enabled says whether spans are exported.
func (s Settings) Enabled() bool { return !s.Disabled && s.Endpoint != "" }

// Start installs the global tracer provider and the W3C trace-context propagator when tracing is
// enabled. The returned function flushes and stops it; it is safe to call when tracing is off.
func Start(ctx context.Context, s Settings, version string) (shutdown func(context.Context) error, err error) {
	if !s.Enabled() {
		return func(context.Context) error { return nil }, nil
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(s.Endpoint)}
	if len(s.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(s.Headers))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(s.ServiceName), semconv.ServiceVersion(version)))
	if err != nil && res == nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp.Shutdown, nil
}

// Middleware starts a server span per request, named "METHOD route" once the router has matched
// (route(r) is asked after the handler ran, e.g. chi's RoutePattern). Only the method, the route
// pattern and the status are recorded: paths and query strings carry codes and ids.
func Middleware(route func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tracer := otel.GetTracerProvider().Tracer(instrumentation)
			ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method)))
			defer span.End()
			rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			r = r.WithContext(ctx)
			next.ServeHTTP(rec, r)
			pattern := route(r)
			if pattern == "" {
				pattern = "unmatched"
			}
			span.SetName(r.Method + " " + pattern)
			span.SetAttributes(semconv.HTTPRoute(pattern), semconv.HTTPResponseStatusCode(rec.status))
			if rec.status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(rec.status))
			}
		})
	}
}

type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Transport wraps a vendor client's transport so each call is a client span named
// "<vendor> <operation>" (otelhttp's client span: method, URL without credentials or query,
// status, duration). The request body, which holds the email, the phone number or the code, is
// never recorded; the URL holds at most Vonage's verification id.
func Transport(vendor string, base http.RoundTripper, operation func(*http.Request) string) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return otelhttp.NewTransport(base,
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return vendor + " " + operation(r) }),
		otelhttp.WithSpanOptions(trace.WithAttributes(attribute.String("peer.service", vendor))),
	)
}
