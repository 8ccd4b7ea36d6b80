package tracing

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

type env map[string]string

func (e env) get(k string) string { return e[k] }

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name     string
		env      env
		enabled  bool
		endpoint string
		service  string
		wantErr  string
	}{
		{"off by default", env{}, false, "", "idp", ""},
		{"endpoint turns it on", env{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}, true, "http://collector:4318/v1/traces", "idp", ""},
		{"traces endpoint as is", env{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c.example/otlp/traces", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://other:4318"},
			true, "https://c.example/otlp/traces", "idp", ""},
		{"exporter otlp without endpoint", env{"OTEL_TRACES_EXPORTER": "otlp"}, true, "http://localhost:4318/v1/traces", "idp", ""},
		{"exporter none", env{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false, "http://c:4318/v1/traces", "idp", ""},
		{"sdk disabled", env{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false, "http://c:4318/v1/traces", "idp", ""},
		{"service name", env{"OTEL_SERVICE_NAME": "idp-eu", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true, "http://c:4318/v1/traces", "idp-eu", ""},
		{"http/protobuf", env{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true, "http://c:4318/v1/traces", "idp", ""},
		{"grpc refused", env{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, false, "", "", "use http/protobuf"},
		{"unknown exporter", env{"OTEL_TRACES_EXPORTER": "zipkin"}, false, "", "", "use otlp or none"},
		{"bad endpoint", env{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, false, "", "", "must be an http(s) URL"},
		{"bad headers, value not echoed", env{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "s3cr3t-token"}, false, "", "", "key=value pairs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := FromEnv(tt.env.get)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Fatalf("error echoes the header value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Enabled() != tt.enabled || s.Endpoint != tt.endpoint || s.ServiceName != tt.service {
				t.Fatalf("got enabled %v endpoint %q service %q", s.Enabled(), s.Endpoint, s.ServiceName)
			}
		})
	}
	s, err := FromEnv(env{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20abc,x-tenant=eu"}.get)
	if err != nil || s.Headers["authorization"] != "Bearer abc" || s.Headers["x-tenant"] != "eu" {
		t.Fatalf("headers = %v, %v", s.Headers, err)
	}
}

func recorder(t *testing.T) *tracetest.SpanRecorder {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	return rec
}

// TestMiddlewareNamesSpansByRoute: the span is "METHOD pattern", never the path with its ids or
// the query with its codes.
func TestMiddlewareNamesSpansByRoute(t *testing.T) {
	rec := recorder(t)
	r := chi.NewRouter()
	r.Use(Middleware(func(r *http.Request) string { return chi.RouteContext(r.Context()).RoutePattern() }))
	r.Get("/authorize/callback", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusFound) })
	r.Get("/boom", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	srv := httptest.NewServer(r)
	defer srv.Close()
	for _, p := range []string{"/authorize/callback?id=secret-request-id&code=123456", "/boom", "/nope/abc"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	spans := rec.Ended()
	want := []string{"GET /authorize/callback", "GET /boom", "GET unmatched"}
	if len(spans) != len(want) {
		t.Fatalf("%d spans, want %d", len(spans), len(want))
	}
	for i, s := range spans {
		if s.Name() != want[i] {
			t.Errorf("span %d = %q, want %q", i, s.Name(), want[i])
		}
		for _, a := range s.Attributes() {
			if v := a.Value.Emit(); strings.Contains(v, "secret-request-id") || strings.Contains(v, "123456") || strings.Contains(v, "abc") {
				t.Errorf("span %q attribute %s = %q leaks the path or query", s.Name(), a.Key, v)
			}
		}
	}
	if spans[1].Status().Code.String() != "Error" {
		t.Errorf("a 500 is not an error span: %v", spans[1].Status())
	}
}

// TestTransportSpans: a vendor call is a client span "<vendor> <operation>" whose attributes hold
// neither the body (email, phone number, code) nor the credentials.
func TestTransportSpans(t *testing.T) {
	rec := recorder(t)
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	defer vendor.Close()
	c := &http.Client{Transport: Transport("vonage", nil, func(*http.Request) string { return "start" })}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, vendor.URL+"/v2/verify",
		strings.NewReader(`{"to":"447700900123","code":"424242"}`))
	req.SetBasicAuth("key", "vonage-secret")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Name() != "vonage start" {
		t.Fatalf("spans = %v", spans)
	}
	for _, a := range spans[0].Attributes() {
		v := a.Value.Emit()
		for _, secret := range []string{"447700900123", "424242", "vonage-secret", "a2V5On"} {
			if strings.Contains(v, secret) {
				t.Errorf("attribute %s = %q carries %q", a.Key, v, secret)
			}
		}
	}
}
