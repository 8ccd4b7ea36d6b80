package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP trace receiver (http/protobuf, POST /v1/traces), as a collector
// runs it: it decodes ExportTraceServiceRequest messages and keeps their spans.
type otlpReceiver struct {
	mu       sync.Mutex
	spans    []*tracepb.Span
	services []string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want POST /v1/traces with application/x-protobuf", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, "not an ExportTraceServiceRequest", http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				o.services = append(o.services, a.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
	o.mu.Unlock()
	resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(resp)
}

func (o *otlpReceiver) snapshot() ([]*tracepb.Span, []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*tracepb.Span(nil), o.spans...), append([]string(nil), o.services...)
}

func attrString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_ArrayValue:
		var parts []string
		for _, e := range x.ArrayValue.Values {
			parts = append(parts, attrString(e))
		}
		return strings.Join(parts, ",")
	}
	return ""
}

// TestTracesOfOneSignIn: with OTEL_EXPORTER_OTLP_ENDPOINT set, one sign-in through the real server
// exports a server span per request named by its route (never the raw path or query), and on
// PostgreSQL a span per query; no span name or attribute carries the email, the password, a code,
// a token or a client secret.
func TestTracesOfOneSignIn(t *testing.T) {
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50") // milliseconds: the SDK reads it from the process
	for name, dbURL := range storeEnvs(t) {
		t.Run(name, func(t *testing.T) {
			recv := &otlpReceiver{}
			collector := httptest.NewServer(recv)
			defer collector.Close()
			f := setupFlowWith(t, dbURL(t), map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL,
				"OTEL_SERVICE_NAME":           "idp-under-test",
			})
			tok, _, _ := f.login(t, newBrowser(t))
			if tok.RefreshToken == "" {
				t.Fatal("no refresh token")
			}

			want := []string{"GET /authorize", "POST /login", "GET /authorize/callback", "POST /oauth/token"}
			var spans []*tracepb.Span
			var services []string
			deadline := time.Now().Add(20 * time.Second)
			for {
				spans, services = recv.snapshot()
				names := map[string]bool{}
				for _, s := range spans {
					names[s.Name] = true
				}
				missing := ""
				for _, w := range want {
					if !names[w] {
						missing = w
					}
				}
				if missing == "" && (name != "postgres" || hasDBSpan(spans)) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no span %q (or no store span) after 20s; got %d spans: %v", missing, len(spans), spanNames(spans))
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Logf("%d spans: %v", len(spans), spanNames(spans))
			if len(services) == 0 || services[0] != "idp-under-test" {
				t.Errorf("service.name = %v, want idp-under-test (OTEL_SERVICE_NAME)", services)
			}
			f.mu.Lock()
			secrets := append([]string{f.email, "ada%40example.com", strings.ToLower(f.email)}, f.secrets...)
			f.mu.Unlock()
			for _, s := range spans {
				texts := []string{s.Name}
				for _, a := range s.Attributes {
					texts = append(texts, a.Key+"="+attrString(a.Value))
					if a.Key == "url.path" || a.Key == "url.query" || a.Key == "http.target" {
						t.Errorf("span %q records %s", s.Name, a.Key)
					}
					if a.Key == "http.route" && strings.ContainsAny(attrString(a.Value), "?=") {
						t.Errorf("span %q: route %q is not a pattern", s.Name, attrString(a.Value))
					}
				}
				for _, e := range s.Events {
					texts = append(texts, e.Name)
					for _, a := range e.Attributes {
						texts = append(texts, attrString(a.Value))
					}
				}
				for _, text := range texts {
					for _, secret := range secrets {
						if len(secret) >= 6 && strings.Contains(text, secret) {
							t.Errorf("span %q carries a secret in %q", s.Name, text)
						}
					}
				}
			}
		})
	}
}

func hasDBSpan(spans []*tracepb.Span) bool {
	for _, s := range spans {
		for _, a := range s.Attributes {
			if a.Key == "db.system" || a.Key == "db.system.name" {
				return true
			}
		}
	}
	return false
}

func spanNames(spans []*tracepb.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
