package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/fintech-idp/idp/internal/tracing"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/fintech-idp/idp/internal/config"
	"github.com/fintech-idp/idp/internal/idp"
	"github.com/fintech-idp/idp/internal/mail"
	"github.com/fintech-idp/idp/internal/metrics"
	"github.com/fintech-idp/idp/internal/password"
	"github.com/fintech-idp/idp/internal/secrets"
	"github.com/fintech-idp/idp/internal/sms"
	"github.com/fintech-idp/idp/internal/store"
)

const serveUsage = `Usage: idp serve [flags]

Runs the OpenID Provider and its hosted pages. With no DATABASE_URL it uses the embedded SQLite
database under IDP_DATA_DIR; migrations are applied at start. SIGINT/SIGTERM stop it gracefully.

Tracing is off unless OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_TRACES_EXPORTER=otlp) is set; see
README, "Traces".

Flags (each overrides the environment variable named in its description):
`

// shutdownGrace bounds how long in-flight requests may take after SIGTERM.
const shutdownGrace = 20 * time.Second

func cmdServe(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "serve", serveUsage)
	cfg, err := loadConfig(e, fs, args)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve: unexpected argument %q", fs.Arg(0))
	}
	traceSettings, err := tracing.FromEnv(e.getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, e.stderr)
	// zitadel/oidc logs through slog.Default: give it the same JSON handler with request ids.
	slog.SetDefault(log)
	if err := cfg.EnsureSecretKey(log); err != nil {
		return err
	}
	// Listen first: with PORT=0 the system picks the port, and the development issuer follows it.
	// The "listening" line below names the address (tests start the server this way).
	ln, err := net.Listen("tcp", cfg.ListenAddr())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr(), err)
	}
	defer ln.Close()
	cfg.BindPort(ln.Addr().(*net.TCPAddr).Port)
	log.Info("starting", "env", cfg.Env, "issuer", cfg.Issuer, "store", storeKind(cfg))
	log.Debug("settings", "config", cfg)

	// Tracing first, so the store's query spans and everything after reach the exporter.
	stopTracing, err := tracing.Start(ctx, traceSettings, buildVersion())
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(sctx); err != nil {
			log.Warn("flushing traces failed", "error", err.Error())
		}
	}()
	if traceSettings.Enabled() {
		log.Info("tracing on", "endpoint", config.RedactURL(traceSettings.Endpoint), "service", traceSettings.ServiceName)
	}

	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	var prev []string
	if cfg.SecretKeyPrevious != "" {
		prev = append(prev, cfg.SecretKeyPrevious)
	}
	kr, err := secrets.NewKeyring(cfg.SecretKey, prev...)
	if err != nil {
		return err
	}
	admin := newAdmin(cfg, st)
	if cfg.Production() {
		if err := admin.CheckNoKnownSecrets(ctx); err != nil {
			return err
		}
	} else if cfg.DevClient {
		created, err := admin.EnsureDevClient(ctx)
		if err != nil {
			return fmt.Errorf("register development client: %w", err)
		}
		if created {
			log.Info("registered the development client", "client_id", idp.DevClientID,
				"redirect_uri", "http://localhost:5000/callback")
		}
	}

	// The server's hashes share one bound (docs/ARCHITECTURE.md, Limits): as many at once as
	// there are cores, a short queue in front, then 503.
	admin.Hasher.Gate = password.NewServerGate()

	var m *metrics.Metrics
	if cfg.MetricsAddr != "off" && cfg.MetricsAddr != "" {
		m = metrics.New()
		if in, ok := st.(store.Instrumented); ok {
			m.RegisterDBPool(func() metrics.PoolStats { return metrics.PoolStats(in.PoolStats()) })
		}
	}
	sender, outbox, err := newMailSender(cfg, log, m)
	if err != nil {
		return err
	}
	// Emails are branded with SENDER_NAME (default: the brand name).
	tmpl, err := newMailTemplates(cfg, senderName(cfg))
	if err != nil {
		return err
	}
	mfa, err := newMFA(cfg, log, m)
	if err != nil {
		return err
	}
	srv, err := idp.New(ctx, idp.Options{
		Issuer: cfg.Issuer, Development: !cfg.Production(), Lifetimes: lifetimes(cfg),
		BrandName: cfg.BrandName, BrandColor: cfg.BrandColor, BrandLogo: cfg.BrandLogo, TemplatesDir: cfg.TemplatesDir,
		Limits: limits(cfg), Policy: passwordPolicy(cfg),
		Mail: sender, MailTmpl: tmpl, Outbox: outbox, MFA: mfa, TrustedProxies: cfg.TrustedProxies, Metrics: m,
		Store: st, Keyring: kr, Hasher: admin.Hasher, Logger: log,
	})
	if err != nil {
		return err
	}

	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	// Metrics on their own address, never the public port.
	var ms *http.Server
	if m != nil {
		mln, err := listenMetrics(cfg, log)
		if err != nil {
			return err
		}
		if mln != nil {
			ms = m.Server(cfg.MetricsAddr)
			go func() { _ = ms.Serve(mln) }()
			log.Info("metrics listening", "addr", mln.Addr().String())
		}
	}
	hkCtx, stopHK := context.WithCancel(context.Background())
	defer stopHK()
	hkDone := make(chan struct{})
	go func() {
		defer close(hkDone)
		srv.RunHousekeeping(hkCtx, idp.Housekeeping{Interval: cfg.HousekeepingInterval,
			AuditRetention: cfg.AuditRetention, KeyRotationPeriod: cfg.KeyRotationPeriod})
	}()

	errc := make(chan error, 1)
	go func() {
		if cfg.TLSCertFile != "" {
			errc <- hs.ServeTLS(ln, cfg.TLSCertFile, cfg.TLSKeyFile)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	log.Info("listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer,
		"discovery", cfg.Issuer+"/.well-known/openid-configuration")

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Drain first: /readyz turns 503 and connections already queued are still accepted and
	// served; only then stop accepting and wait for the requests in flight.
	log.Info("shutting down", "drain", cfg.ShutdownDrain.String(), "grace", shutdownGrace.String())
	srv.Drain()
	time.Sleep(cfg.ShutdownDrain)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	stopHK()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if ms != nil {
		_ = ms.Shutdown(sctx)
	}
	<-hkDone
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// listenMetrics binds the metrics address. In development the default address (loopback) may be
// taken, by a local Prometheus say: that is a warning and the IdP runs without /metrics. An address
// the operator chose, or any address in production, must bind or the start fails.
func listenMetrics(cfg *config.Config, log *slog.Logger) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err == nil {
		return ln, nil
	}
	if cfg.Production() || cfg.MetricsAddrExplicit {
		return nil, fmt.Errorf("listen for metrics on %s: %w (set IDP_METRICS_ADDR to another address, or off)", cfg.MetricsAddr, err)
	}
	log.Warn("metrics are off: the default metrics address is busy; set IDP_METRICS_ADDR to another address (or off to silence this)",
		"addr", cfg.MetricsAddr, "error", err.Error())
	return nil, nil
}

// buildVersion is the module version the binary was built from ("devel" from a checkout).
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}

// vonageOperation names a Vonage Verify v2 call for its trace span, without the verification id.
func vonageOperation(r *http.Request) string {
	switch {
	case r.Method == http.MethodDelete:
		return "cancel"
	case strings.HasSuffix(r.URL.Path, "/next_workflow"):
		return "next_workflow"
	case strings.HasSuffix(r.URL.Path, "/v2/verify"):
		return "start"
	default:
		return "check"
	}
}

// newMailTemplates parses the email templates with the operator's logo and template overrides.
func newMailTemplates(cfg *config.Config, brand string) (*mail.Templates, error) {
	return mail.NewBrandedTemplates(mail.Branding{Name: brand, LogoURL: idp.LogoEmailURL(cfg.BrandLogo, cfg.Issuer),
		OverrideDir: cfg.TemplatesDir})
}

// storeKind names the store for the start line, without the connection string.
func storeKind(cfg *config.Config) string {
	if cfg.DatabaseURL != "" {
		return "postgres"
	}
	return "sqlite (" + cfg.DataDir + ")"
}

// outboxCapacity is how many development emails /dev/outbox keeps.
const outboxCapacity = 200

// newMailSender picks the sender the configuration names (config.MailSender): Brevo, SMTP, or in
// development the log sender whose messages /dev/outbox lists.
func senderName(cfg *config.Config) string {
	if cfg.SenderName != "" {
		return cfg.SenderName
	}
	return cfg.BrandName
}

func newMailSender(cfg *config.Config, log *slog.Logger, m *metrics.Metrics) (mail.Sender, *mail.Log, error) {
	name := senderName(cfg)
	observe := func(provider string) func(string, time.Duration) {
		return func(outcome string, d time.Duration) {
			if outcome == mail.OutcomeSent {
				m.ExternalCall(provider, "ok", d)
			} else {
				m.ExternalCall(provider, "error", d)
			}
		}
	}
	switch cfg.MailSender() {
	case config.MailBrevo:
		b, err := mail.NewBrevo(mail.BrevoConfig{APIKey: cfg.BrevoAPIKey, BaseURL: cfg.BrevoAPIURL,
			SenderEmail: cfg.SenderEmail, SenderName: name, Logger: log, Observe: observe("brevo"),
			HTTPClient: &http.Client{Transport: tracing.Transport("brevo", nil, func(*http.Request) string { return "send" })}})
		return b, nil, err
	case config.MailSMTP:
		s, err := mail.NewSMTP(cfg.SMTPURL, cfg.SenderEmail, name, mail.WithSMTPLogger(log), mail.WithSMTPObserve(observe("smtp")))
		return s, nil, err
	case config.MailLog:
		log.Warn("no BREVO_API_KEY or SMTP_URL: emails are only logged and listed at /dev/outbox (development)")
		l := mail.NewLog(log, outboxCapacity)
		return l, l, nil
	}
	return nil, nil, fmt.Errorf("no mail sender configured: set BREVO_API_KEY or SMTP_URL")
}

// newMFA builds the SMS second factor the configuration selects (config.SMSVerifier): Vonage
// Verify when VONAGE_API_KEY and VONAGE_API_SECRET are set; in development without them the log
// verifier, whose codes /dev/outbox lists; in production without them no verifier, so SMS
// two-step is not offered (README, "SMS two-step") — not an error, but logged as a warning.
func newMFA(cfg *config.Config, log *slog.Logger, m *metrics.Metrics) (idp.MFA, error) {
	mfa := idp.MFA{
		Brand:               cfg.SMSBrand(),
		VoiceFallback:       cfg.VonageVoiceFallback,
		AllowedCountries:    slices.Clone(cfg.VonageAllowedCountries), // empty ("*"): every country
		DefaultRegion:       cfg.PhoneDefaultRegion,
		Require:             cfg.RequireMFA,
		ChallengeTTL:        cfg.SMSChallengeTTL,
		MaxAttempts:         cfg.SMSMaxAttempts,
		SendLimitNumber10m:  cfg.SMSLimitNumber10m,
		SendLimitNumberHour: cfg.SMSLimitNumberHour,
		SendLimitAccountDay: cfg.SMSLimitAccountDay,
		SendLimitIPHour:     cfg.SMSLimitIPHour,
		GlobalHourlyCap:     cfg.SMSGlobalHourlyCap,
		RecoveryMaxFailures: cfg.RecoveryCodeMaxFailures,
	}
	switch cfg.SMSVerifier() {
	case config.SMSVonage:
		v, err := sms.NewVonage(sms.VonageConfig{APIKey: cfg.VonageAPIKey, APISecret: cfg.VonageAPISecret,
			BaseURL: cfg.VonageAPIURL, Logger: log, Observe: func(_, outcome string, d time.Duration) {
				m.ExternalCall("vonage", vonageCallOutcome(outcome), d)
			},
			HTTPClient: &http.Client{Transport: tracing.Transport("vonage", nil, vonageOperation)}})
		if err != nil {
			return idp.MFA{}, err
		}
		mfa.Verifier = v
	case config.SMSLog:
		l := sms.NewLog(log, nil)
		mfa.Verifier, mfa.SMSOutbox = l, l
	}
	if w := cfg.SMSWarning(); w != "" {
		log.Warn(w)
	}
	return mfa, nil
}

// vonageCallOutcome maps the outcome of one Vonage call (an sms.Outcome constant) to the
// provider-call metric's "ok" or "error". The metric watches Vonage's health, not people's
// typing: a wrong code, too many wrong codes, an unknown or finished verification and a
// verification already running are answers Vonage gives by design, so "ok". Refused parameters
// (invalid: our bug, or a number Vonage will not serve), throttling, and no usable answer
// (unavailable: 5xx, timeouts, bad credentials) are "error"; so is a call cut short because the
// request behind it ended (canceled), which is most often a slow provider.
func vonageCallOutcome(outcome string) string {
	switch outcome {
	case sms.OutcomeOK, sms.OutcomeWrongCode, sms.OutcomeTooManyWrong, sms.OutcomeNotFound, sms.OutcomeConflict:
		return "ok"
	}
	return "error"
}

func limits(cfg *config.Config) idp.Limits {
	return idp.Limits{
		EmailCodeTTL: cfg.EmailCodeTTL, EmailCodeMaxAttempts: cfg.EmailCodeMaxAttempts, EmailResendCooldown: cfg.EmailResendCooldown,
		EmailSendLimitAccount: cfg.EmailSendLimitAccount, EmailSendLimitIP: cfg.EmailSendLimitIP,
		LoginDelayAfter: cfg.LoginDelayAfter, LoginLockAfter: cfg.LoginLockAfter, LoginLockDuration: cfg.LoginLockDuration,
		ClientAuthFailures: cfg.ClientAuthLimit, ClientAuthFailuresIP: cfg.ClientAuthLimitIP, ClientAuthWindow: cfg.ClientAuthWindow,
	}
}
