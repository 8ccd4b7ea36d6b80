package metrics_test

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/fintech-idp/idp/internal/metrics"
	"github.com/fintech-idp/idp/internal/store"
)

// The store's snapshot converts into ours without a field-by-field copy; this stops compiling if
// the two drift apart.
var _ = metrics.PoolStats(store.PoolStats{})

// scrape fetches h as Prometheus would and parses the text exposition.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("scrape: parse: %v", err)
	}
	return fams
}

// sample is one series of a scrape: a counter's or gauge's value, or a histogram's count and sum.
type sample struct {
	value, sum float64
	count      uint64
}

// find returns the series of family name whose labels are exactly labels.
func find(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (sample, bool) {
	f, ok := fams[name]
	if !ok {
		return sample{}, false
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, lp := range m.GetLabel() {
			if v, ok := labels[lp.GetName()]; !ok || v != lp.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return sample{value: m.Counter.GetValue()}, true
		case m.Gauge != nil:
			return sample{value: m.Gauge.GetValue()}, true
		case m.Histogram != nil:
			return sample{count: m.Histogram.GetSampleCount(), sum: m.Histogram.GetSampleSum()}, true
		case m.Untyped != nil:
			return sample{value: m.Untyped.GetValue()}, true
		}
	}
	return sample{}, false
}

func mustFind(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) sample {
	t.Helper()
	s, ok := find(fams, name, labels)
	if !ok {
		t.Fatalf("no series %s%v in the scrape", name, labels)
	}
	return s
}

// labelValues lists every value label takes in family name.
func labelValues(fams map[string]*dto.MetricFamily, name, label string) []string {
	var vs []string
	for _, m := range fams[name].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label {
				vs = append(vs, lp.GetValue())
			}
		}
	}
	return vs
}

type series struct {
	name   string
	labels map[string]string
}

func TestEvents(t *testing.T) {
	tests := []struct {
		name string
		call func(*metrics.Metrics)
		want []series // each must read 1
		zero []series // each must read 0
	}{
		{"login success", func(m *metrics.Metrics) { m.Login("success") },
			[]series{{"idp_logins_total", map[string]string{"outcome": "success"}}},
			[]series{{"idp_logins_total", map[string]string{"outcome": "bad_credentials"}}}},
		{"login locked", func(m *metrics.Metrics) { m.Login("locked") },
			[]series{{"idp_logins_total", map[string]string{"outcome": "locked"}}}, nil},
		{"login unknown outcome", func(m *metrics.Metrics) { m.Login("ada@example.com") },
			[]series{{"idp_logins_total", map[string]string{"outcome": "other"}}}, nil},
		{"code sent by sms", func(m *metrics.Metrics) { m.CodeSent("sms", "sent") },
			[]series{{"idp_codes_sent_total", map[string]string{"channel": "sms", "outcome": "sent"}}},
			[]series{{"idp_codes_sent_total", map[string]string{"channel": "email", "outcome": "sent"}}}},
		{"code send limited", func(m *metrics.Metrics) { m.CodeSent("email", "limited") },
			[]series{{"idp_codes_sent_total", map[string]string{"channel": "email", "outcome": "limited"}}}, nil},
		{"code sent unknown channel and outcome", func(m *metrics.Metrics) { m.CodeSent("pigeon", "lost") },
			[]series{{"idp_codes_sent_total", map[string]string{"channel": "other", "outcome": "other"}}}, nil},
		{"code checked ok", func(m *metrics.Metrics) { m.CodeChecked("voice", "ok") },
			[]series{{"idp_codes_checked_total", map[string]string{"channel": "voice", "outcome": "ok"}}}, nil},
		{"code checked too many", func(m *metrics.Metrics) { m.CodeChecked("email", "too_many") },
			[]series{{"idp_codes_checked_total", map[string]string{"channel": "email", "outcome": "too_many"}}}, nil},
		{"code checked unknown outcome", func(m *metrics.Metrics) { m.CodeChecked("sms", "123456") },
			[]series{{"idp_codes_checked_total", map[string]string{"channel": "sms", "outcome": "other"}}}, nil},
		{"grant ok", func(m *metrics.Metrics) { m.Grant("authorization_code", "ok") },
			[]series{{"idp_token_grants_total", map[string]string{"grant_type": "authorization_code", "outcome": "ok"}}}, nil},
		{"grant error", func(m *metrics.Metrics) { m.Grant("refresh_token", "error") },
			[]series{{"idp_token_grants_total", map[string]string{"grant_type": "refresh_token", "outcome": "error"}}}, nil},
		{"grant unknown type", func(m *metrics.Metrics) { m.Grant("password", "ok") },
			[]series{{"idp_token_grants_total", map[string]string{"grant_type": "other", "outcome": "ok"}}}, nil},
		{"rate limited", func(m *metrics.Metrics) { m.RateLimited("sms_send") },
			[]series{{"idp_rate_limit_refusals_total", map[string]string{"kind": "sms_send"}}},
			[]series{{"idp_rate_limit_refusals_total", map[string]string{"kind": "login"}}}},
		{"rate limited unknown kind", func(m *metrics.Metrics) { m.RateLimited("login:ip:192.0.2.1") },
			[]series{{"idp_rate_limit_refusals_total", map[string]string{"kind": "other"}}}, nil},
		{"external call error", func(m *metrics.Metrics) { m.ExternalCall("vonage", "error", time.Second) },
			[]series{{"idp_external_call_errors_total", map[string]string{"provider": "vonage"}}},
			[]series{{"idp_external_call_errors_total", map[string]string{"provider": "brevo"}}}},
		{"external call ok", func(m *metrics.Metrics) { m.ExternalCall("brevo", "ok", time.Second) },
			nil,
			[]series{{"idp_external_call_errors_total", map[string]string{"provider": "brevo"}}}},
		{"external call unknown provider", func(m *metrics.Metrics) { m.ExternalCall("https://api.example.com", "error", time.Second) },
			[]series{{"idp_external_call_errors_total", map[string]string{"provider": "other"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metrics.New()
			tt.call(m)
			fams := scrape(t, m.Handler())
			for _, s := range tt.want {
				if got := mustFind(t, fams, s.name, s.labels).value; got != 1 {
					t.Errorf("%s%v = %v, want 1", s.name, s.labels, got)
				}
			}
			for _, s := range tt.zero {
				if got := mustFind(t, fams, s.name, s.labels).value; got != 0 {
					t.Errorf("%s%v = %v, want 0", s.name, s.labels, got)
				}
			}
		})
	}
}

func TestExternalCallDuration(t *testing.T) {
	tests := []struct {
		name              string
		provider, outcome string
		d                 time.Duration
		labels            map[string]string
		wantSum           float64
	}{
		{"smtp ok", "smtp", "ok", 250 * time.Millisecond, map[string]string{"provider": "smtp", "outcome": "ok"}, 0.25},
		{"brevo error", "brevo", "error", 2 * time.Second, map[string]string{"provider": "brevo", "outcome": "error"}, 2},
		{"unknown outcome", "vonage", "timeout", time.Second, map[string]string{"provider": "vonage", "outcome": "other"}, 1},
		{"negative duration", "smtp", "ok", -time.Second, map[string]string{"provider": "smtp", "outcome": "ok"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metrics.New()
			m.ExternalCall(tt.provider, tt.outcome, tt.d)
			s := mustFind(t, scrape(t, m.Handler()), "idp_external_call_duration_seconds", tt.labels)
			if s.count != 1 || math.Abs(s.sum-tt.wantSum) > 1e-9 {
				t.Errorf("count %d sum %v, want 1 and %v", s.count, s.sum, tt.wantSum)
			}
		})
	}
}

// TestLabelsStayClosed feeds every method values it does not know and checks that no series
// carries one of them.
func TestLabelsStayClosed(t *testing.T) {
	m := metrics.New()
	for i := range 50 {
		junk := fmt.Sprintf("junk-%d", i)
		m.Login(junk)
		m.CodeSent(junk, junk)
		m.CodeChecked(junk, junk)
		m.ExternalCall(junk, junk, time.Millisecond)
		m.Grant(junk, junk)
		m.RateLimited(junk)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if strings.Contains(rec.Body.String(), "junk-") {
		t.Error("an unknown label value reached the exposition")
	}
	fams := scrape(t, m.Handler())
	if got := mustFind(t, fams, "idp_logins_total", map[string]string{"outcome": "other"}).value; got != 50 {
		t.Errorf("idp_logins_total{outcome=other} = %v, want 50", got)
	}
}

func TestMiddleware(t *testing.T) {
	m := metrics.New()

	// zitadel/oidc's provider is a chi router of its own that we pass to Handle.
	inner := chi.NewRouter()
	inner.Post("/oauth/token", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadRequest) })

	api := chi.NewRouter()
	api.Get("/items/{item}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "item") })

	r := chi.NewRouter()
	r.Use(recoverer, m.Middleware)
	r.Get("/users/{id}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, chi.URLParam(r, "id")) })
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {})
	r.Get("/created", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	r.Get("/static/*", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "file") })
	r.Get("/panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	r.Get("/weird", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(999) })
	r.Handle("/oauth/token", inner)
	r.Mount("/api", api)
	r.Route("/account", func(r chi.Router) {
		r.Get("/sessions/{sid}", func(w http.ResponseWriter, r *http.Request) {})
	})

	tests := []struct {
		method, path string
		route, code  string
		wantMethod   string
	}{
		{"GET", "/users/123", "/users/{id}", "200", "GET"},
		{"GET", "/users/456", "/users/{id}", "200", "GET"},
		{"GET", "/", "/", "200", "GET"},
		{"GET", "/created", "/created", "201", "GET"},
		{"GET", "/static/css/site.css", "/static/*", "200", "GET"},
		{"GET", "/panic", "/panic", "500", "GET"},
		{"GET", "/weird", "/weird", "other", "GET"},
		{"POST", "/oauth/token", "/oauth/token", "400", "POST"},
		{"GET", "/api/items/9f8e", "/api/items/{item}", "200", "GET"},
		{"GET", "/account/sessions/abc", "/account/sessions/{sid}", "200", "GET"},
		{"GET", "/no/such/page/with-an-id-77", "unmatched", "404", "GET"},
		// chi records no pattern when the path matches but the method does not (405), nor for a
		// method it does not know, which it refuses before routing.
		{"DELETE", "/users/123", "unmatched", "405", "DELETE"},
		{"BREW", "/users/123", "unmatched", "405", "other"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, tt.path, nil)
		r.ServeHTTP(httptest.NewRecorder(), req)
	}

	fams := scrape(t, m.Handler())
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			labels := map[string]string{"route": tt.route, "method": tt.wantMethod, "code": tt.code}
			s := mustFind(t, fams, "idp_http_requests_total", labels)
			want := 1.0
			if tt.route == "/users/{id}" && tt.wantMethod == "GET" {
				want = 2
			}
			if s.value != want {
				t.Errorf("idp_http_requests_total%v = %v, want %v", labels, s.value, want)
			}
			h := mustFind(t, fams, "idp_http_request_duration_seconds", map[string]string{"route": tt.route, "method": tt.wantMethod})
			if h.count == 0 {
				t.Errorf("no latency observed for %s %s", tt.wantMethod, tt.route)
			}
		})
	}
	for _, route := range labelValues(fams, "idp_http_requests_total", "route") {
		for _, raw := range []string{"123", "9f8e", "abc", "77", "css"} {
			if strings.Contains(route, raw) {
				t.Errorf("route label %q holds part of a raw path", route)
			}
		}
	}
	if got := mustFind(t, fams, "idp_http_requests_in_flight", map[string]string{}).value; got != 0 {
		t.Errorf("idp_http_requests_in_flight = %v after every request ended", got)
	}
}

// recoverer turns a panic into a 500, as the server's own recovery does.
func recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if recover() != nil {
				w.WriteHeader(http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// TestMiddlewareOutsideRouter documents the installation rule: wrapped around the router rather
// than installed with Use, the middleware sees no route and says so instead of leaking the path.
func TestMiddlewareOutsideRouter(t *testing.T) {
	m := metrics.New()
	r := chi.NewRouter()
	r.Get("/users/{id}", func(w http.ResponseWriter, r *http.Request) {})
	m.Middleware(r).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/123", nil))
	fams := scrape(t, m.Handler())
	if got := labelValues(fams, "idp_http_requests_total", "route"); len(got) != 1 || got[0] != "unmatched" {
		t.Errorf("route labels %q, want [unmatched]", got)
	}
}

func TestNilReceiver(t *testing.T) {
	var m *metrics.Metrics
	m.Login("success")
	m.CodeSent("email", "sent")
	m.CodeChecked("email", "ok")
	m.ExternalCall("brevo", "ok", time.Second)
	m.Grant("refresh_token", "ok")
	m.RateLimited("login")
	m.RegisterDBPool(func() metrics.PoolStats { return metrics.PoolStats{} })

	called := false
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true; w.WriteHeader(http.StatusTeapot) })
	rec := httptest.NewRecorder()
	m.Middleware(next).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !called || rec.Code != http.StatusTeapot {
		t.Errorf("nil Middleware: called %v, status %d", called, rec.Code)
	}

	rec = httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("nil Handler: status %d, want 404", rec.Code)
	}
	if srv := m.Server(""); srv == nil || srv.Addr != metrics.DefaultAddr {
		t.Errorf("nil Server: %+v", srv)
	}
}

func TestDBPool(t *testing.T) {
	tests := []struct {
		name     string
		stats    metrics.PoolStats
		want     map[string]float64
		wantNone []string
		dialect  string
	}{
		{
			name: "postgres",
			stats: metrics.PoolStats{
				Dialect: "postgres", OpenConnections: 4, InUse: 3, Idle: 0, WaitCount: 7, WaitDuration: 1500 * time.Millisecond,
				MaxConns: 10, TotalConns: 4, AcquiredConns: 3, IdleConns: 1, AcquireCount: 100,
				AcquireDuration: 2 * time.Second, EmptyAcquireCount: 5, CanceledAcquireCount: 2,
			},
			want: map[string]float64{
				"idp_db_open_connections": 4, "idp_db_in_use_connections": 3, "idp_db_idle_connections": 0,
				"idp_db_wait_count_total": 7, "idp_db_wait_duration_seconds_total": 1.5,
				"idp_db_pool_max_conns": 10, "idp_db_pool_total_conns": 4, "idp_db_pool_acquired_conns": 3,
				"idp_db_pool_idle_conns": 1, "idp_db_pool_acquires_total": 100,
				"idp_db_pool_acquire_duration_seconds_total": 2, "idp_db_pool_empty_acquires_total": 5,
				"idp_db_pool_canceled_acquires_total": 2,
			},
			dialect: "postgres",
		},
		{
			name:     "sqlite has no pgxpool figures",
			stats:    metrics.PoolStats{Dialect: "sqlite", OpenConnections: 5, InUse: 1, Idle: 4},
			want:     map[string]float64{"idp_db_open_connections": 5, "idp_db_in_use_connections": 1, "idp_db_idle_connections": 4},
			wantNone: []string{"idp_db_pool_max_conns", "idp_db_pool_total_conns", "idp_db_pool_acquires_total"},
			dialect:  "sqlite",
		},
		{
			name:    "unknown dialect",
			stats:   metrics.PoolStats{Dialect: "postgres://user:secret@db/idp"},
			want:    map[string]float64{"idp_db_open_connections": 0},
			dialect: "other",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metrics.New()
			m.RegisterDBPool(func() metrics.PoolStats { return tt.stats })
			fams := scrape(t, m.Handler())
			for name, want := range tt.want {
				if got := mustFind(t, fams, name, map[string]string{}).value; got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			for _, name := range tt.wantNone {
				if _, ok := fams[name]; ok {
					t.Errorf("%s is exported", name)
				}
			}
			if got := mustFind(t, fams, "idp_db_info", map[string]string{"dialect": tt.dialect}).value; got != 1 {
				t.Errorf("idp_db_info{dialect=%q} = %v, want 1", tt.dialect, got)
			}
		})
	}
}

// TestDBPoolReadsAtScrapeTime checks that each scrape calls the func anew, that a later
// RegisterDBPool replaces it and nil removes it.
func TestDBPoolReadsAtScrapeTime(t *testing.T) {
	m := metrics.New()
	if _, ok := scrape(t, m.Handler())["idp_db_open_connections"]; ok {
		t.Fatal("DB metrics before RegisterDBPool")
	}
	open := 1
	m.RegisterDBPool(func() metrics.PoolStats { return metrics.PoolStats{Dialect: "sqlite", OpenConnections: open} })
	for _, want := range []int{1, 2, 7} {
		open = want
		if got := mustFind(t, scrape(t, m.Handler()), "idp_db_open_connections", map[string]string{}).value; got != float64(want) {
			t.Errorf("open connections %v, want %v", got, want)
		}
	}
	m.RegisterDBPool(func() metrics.PoolStats { return metrics.PoolStats{Dialect: "postgres", OpenConnections: 42} })
	if got := mustFind(t, scrape(t, m.Handler()), "idp_db_open_connections", map[string]string{}).value; got != 42 {
		t.Errorf("after a second RegisterDBPool: %v, want 42", got)
	}
	m.RegisterDBPool(nil)
	if _, ok := scrape(t, m.Handler())["idp_db_open_connections"]; ok {
		t.Error("DB metrics after RegisterDBPool(nil)")
	}
}

// TestDBPoolPanic: a broken stats func costs the DB metrics, not the process or the other metrics.
func TestDBPoolPanic(t *testing.T) {
	m := metrics.New()
	m.RegisterDBPool(func() metrics.PoolStats { panic("pool closed") })
	m.Login("success")
	fams := scrape(t, m.Handler())
	if got := mustFind(t, fams, "idp_logins_total", map[string]string{"outcome": "success"}).value; got != 1 {
		t.Errorf("idp_logins_total{outcome=success} = %v, want 1", got)
	}
	if _, ok := fams["idp_db_open_connections"]; ok {
		t.Error("DB metrics from a func that panicked")
	}
}

func TestStandardCollectors(t *testing.T) {
	fams := scrape(t, metrics.New().Handler())
	want := []string{"go_goroutines", "go_memstats_heap_alloc_bytes"}
	if runtime.GOOS == "linux" {
		want = append(want, "process_cpu_seconds_total", "process_open_fds")
	}
	for _, name := range want {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
	for name := range fams {
		if !strings.HasPrefix(name, "idp_") && !strings.HasPrefix(name, "go_") &&
			!strings.HasPrefix(name, "process_") && !strings.HasPrefix(name, "promhttp_") {
			t.Errorf("unexpected family %s", name)
		}
	}
}

// TestSeparateRegistries: two Metrics values do not share series (each server and test has its own).
func TestSeparateRegistries(t *testing.T) {
	a, b := metrics.New(), metrics.New()
	a.Login("success")
	if got := mustFind(t, scrape(t, b.Handler()), "idp_logins_total", map[string]string{"outcome": "success"}).value; got != 0 {
		t.Errorf("b saw a's login: %v", got)
	}
}

func TestServer(t *testing.T) {
	m := metrics.New()
	m.Login("success")
	srv := m.Server("")
	if srv.Addr != metrics.DefaultAddr || metrics.DefaultAddr != ":9090" {
		t.Errorf("Addr %q, DefaultAddr %q", srv.Addr, metrics.DefaultAddr)
	}
	if s := m.Server("127.0.0.1:9100"); s.Addr != "127.0.0.1:9100" {
		t.Errorf("Addr %q", s.Addr)
	}
	if srv.ReadHeaderTimeout == 0 || srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 {
		t.Errorf("a timeout is unset: %+v", srv)
	}
	ts := httptest.NewServer(srv.Handler)
	defer ts.Close()

	tests := []struct {
		path     string
		status   int
		contains string
	}{
		{"/metrics", http.StatusOK, `idp_logins_total{outcome="success"} 1`},
		{"/", http.StatusNotFound, ""},
		{"/metrics/extra", http.StatusNotFound, ""},
		{"/debug/pprof/", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(ts.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
		})
	}
}
