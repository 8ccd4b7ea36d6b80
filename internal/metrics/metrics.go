package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every metric of ours (idp_…). The Go runtime (go_…) and process (process_…)
// metrics keep their standard names so that stock dashboards work.
const namespace = "idp"

// other replaces any label value outside a label's fixed set.
const other = "other"

// The fixed label values. Each set is listed in the doc comment of the method that uses it.
var (
	loginOutcomes     = newLabelSet("success", "bad_credentials", "throttled", "locked", "unverified", "disabled")
	codeChannels      = newLabelSet("email", "sms", "voice")
	codeSentOutcomes  = newLabelSet("sent", "failed", "limited")
	codeCheckOutcomes = newLabelSet("ok", "wrong", "too_many", "expired")
	providers         = newLabelSet("brevo", "smtp", "vonage")
	okError           = newLabelSet("ok", "error")
	grantTypes        = newLabelSet("authorization_code", "refresh_token", "client_credentials")
	rateLimitKinds    = newLabelSet("login", "email_send", "email_cooldown", "sms_send", "sms_cooldown", "recovery_code", "client_auth")
)

// Histogram buckets in seconds. HTTP: our handlers answer in about a millisecond from SQLite and a
// sign-in spends ~50–200 ms in argon2id; 10 s is where a request is surely stuck. External calls
// (Brevo, SMTP, Vonage) take tens to hundreds of milliseconds, and the mail client's retries can
// stretch one call to tens of seconds.
var (
	httpBuckets     = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	externalBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
)

// Metrics holds a private registry and the IdP's collectors. Create it with New; every method is
// safe for concurrent use and is a no-op on a nil *Metrics.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	httpInFlight prometheus.Gauge

	logins       *prometheus.CounterVec
	codesSent    *prometheus.CounterVec
	codesChecked *prometheus.CounterVec
	extDuration  *prometheus.HistogramVec
	extErrors    *prometheus.CounterVec
	grants       *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec

	pool *poolCollector
}

// New returns a Metrics with the Go runtime, process and IdP collectors registered on a registry
// of its own.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}

	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "http", Name: "requests_total",
		Help: "HTTP requests answered, by chi route pattern (\"unmatched\" when no route matched), method and status code.",
	}, []string{"route", "method", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "http", Name: "request_duration_seconds",
		Help:    "Time to answer an HTTP request, by chi route pattern and method.",
		Buckets: httpBuckets,
	}, []string{"route", "method"})
	m.httpInFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "http", Name: "requests_in_flight",
		Help: "HTTP requests being answered now.",
	})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "logins_total",
		Help: "Password sign-in attempts by outcome.",
	}, []string{"outcome"})
	m.codesSent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "codes_sent_total",
		Help: "One-time codes sent (or not) by channel and outcome.",
	}, []string{"channel", "outcome"})
	m.codesChecked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "codes_checked_total",
		Help: "One-time codes entered by channel and outcome.",
	}, []string{"channel", "outcome"})
	m.extDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "external_call_duration_seconds",
		Help:    "Duration of calls to external providers (retries included), by provider and outcome.",
		Buckets: externalBuckets,
	}, []string{"provider", "outcome"})
	m.extErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "external_call_errors_total",
		Help: "Failed calls to external providers.",
	}, []string{"provider"})
	m.grants = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "token_grants_total",
		Help: "Token endpoint grants by grant type and outcome.",
	}, []string{"grant_type", "outcome"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "rate_limit_refusals_total",
		Help: "Requests refused by an abuse limit, by kind of limit.",
	}, []string{"kind"})
	m.pool = &poolCollector{}

	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.httpInFlight,
		m.logins, m.codesSent, m.codesChecked, m.extDuration, m.extErrors, m.grants, m.rateLimited,
		m.pool,
	)

	// Start every known counter series at 0, so that rate() and increase() see the first event
	// and dashboards show a zero rather than "no data".
	for _, o := range loginOutcomes.values {
		m.logins.WithLabelValues(o)
	}
	for _, c := range codeChannels.values {
		for _, o := range codeSentOutcomes.values {
			m.codesSent.WithLabelValues(c, o)
		}
		for _, o := range codeCheckOutcomes.values {
			m.codesChecked.WithLabelValues(c, o)
		}
	}
	for _, p := range providers.values {
		m.extErrors.WithLabelValues(p)
	}
	for _, g := range grantTypes.values {
		for _, o := range okError.values {
			m.grants.WithLabelValues(g, o)
		}
	}
	for _, k := range rateLimitKinds.values {
		m.rateLimited.WithLabelValues(k)
	}

	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// One failing collector (a DB pool stats func that panicked) must not hide every
		// other metric.
		ErrorHandling: promhttp.ContinueOnError,
		// promhttp_metric_handler_errors_total on our registry.
		Registry: reg,
		// Bound concurrent scrapes; a scrape is cheap but a misbehaving scraper should not pile up.
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
	return m
}

// Handler serves this registry's metrics in the Prometheus text (or OpenMetrics, when asked)
// exposition format. On a nil *Metrics it answers 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}

// Login counts a password sign-in attempt: idp_logins_total{outcome}. outcome is one of success,
// bad_credentials, throttled, locked, unverified, disabled; anything else counts as "other".
func (m *Metrics) Login(outcome string) {
	if m == nil {
		return
	}
	m.logins.WithLabelValues(loginOutcomes.of(outcome)).Inc()
}

// CodeSent counts a one-time code send: idp_codes_sent_total{channel, outcome}. channel is email,
// sms or voice; outcome is sent, failed (the provider refused or was unreachable) or limited (an
// abuse limit refused to send). Anything else counts as "other".
func (m *Metrics) CodeSent(channel, outcome string) {
	if m == nil {
		return
	}
	m.codesSent.WithLabelValues(codeChannels.of(channel), codeSentOutcomes.of(outcome)).Inc()
}

// CodeChecked counts an entered one-time code: idp_codes_checked_total{channel, outcome}. channel
// is email, sms or voice; outcome is ok, wrong, too_many (the tries are used up) or expired.
// Anything else counts as "other".
func (m *Metrics) CodeChecked(channel, outcome string) {
	if m == nil {
		return
	}
	m.codesChecked.WithLabelValues(codeChannels.of(channel), codeCheckOutcomes.of(outcome)).Inc()
}

// ExternalCall records one call to an external provider that took d:
// idp_external_call_duration_seconds{provider, outcome}, and for any outcome but ok
// idp_external_call_errors_total{provider}. provider is brevo, smtp or vonage; outcome is ok or
// error. Anything else counts as "other" (and an unknown outcome as an error, so that the bug
// shows).
func (m *Metrics) ExternalCall(provider, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	p, o := providers.of(provider), okError.of(outcome)
	m.extDuration.WithLabelValues(p, o).Observe(max(d, 0).Seconds())
	if o != "ok" {
		m.extErrors.WithLabelValues(p).Inc()
	}
}

// Grant counts a token endpoint grant: idp_token_grants_total{grant_type, outcome}. grantType is
// authorization_code, refresh_token or client_credentials; outcome is ok or error. Anything else
// counts as "other".
func (m *Metrics) Grant(grantType, outcome string) {
	if m == nil {
		return
	}
	m.grants.WithLabelValues(grantTypes.of(grantType), okError.of(outcome)).Inc()
}

// RateLimited counts a request refused by an abuse limit: idp_rate_limit_refusals_total{kind}.
// kind is login (the failed sign-in delay or lock), email_send and sms_send (the per-account,
// per-IP or per-number send limits), email_cooldown and sms_cooldown (a resend asked for too
// soon), recovery_code (too many wrong recovery codes), client_auth (too many failed client
// authentications at the token, introspection or revocation endpoint). Anything else counts as
// "other".
func (m *Metrics) RateLimited(kind string) {
	if m == nil {
		return
	}
	m.rateLimited.WithLabelValues(rateLimitKinds.of(kind)).Inc()
}

// labelSet is the fixed set of values one label may take.
type labelSet struct {
	values []string // in the documented order, for pre-initialising series
	known  map[string]bool
}

func newLabelSet(values ...string) labelSet {
	s := labelSet{values: values, known: make(map[string]bool, len(values))}
	for _, v := range values {
		s.known[v] = true
	}
	return s
}

// of returns v when it is in the set and "other" otherwise.
func (s labelSet) of(v string) string {
	if s.known[v] {
		return v
	}
	return other
}
