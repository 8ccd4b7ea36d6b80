package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fintech-idp/idp/internal/password"
)

// The two values of IDP_ENV.
const (
	EnvDevelopment = "development"
	EnvProduction  = "production"
)

// Environment variable names.
const (
	varEnv                = "IDP_ENV"
	varIssuer             = "ISSUER"
	varPort               = "PORT"
	varDatabaseURL        = "DATABASE_URL"
	varDataDir            = "IDP_DATA_DIR"
	varSecretKey          = "SECRET_KEY"
	varSecretKeyPrevious  = "SECRET_KEY_PREVIOUS"
	varTLSCertFile        = "TLS_CERT_FILE"
	varTLSKeyFile         = "TLS_KEY_FILE"
	varLogLevel           = "IDP_LOG_LEVEL"
	varLogFormat          = "IDP_LOG_FORMAT"
	varBrandName          = "IDP_BRAND_NAME"
	varBrandColor         = "IDP_BRAND_COLOR"
	varBrandLogo          = "IDP_BRAND_LOGO"
	varTemplatesDir       = "IDP_TEMPLATES_DIR"
	varAuthRequestTTL     = "IDP_AUTH_REQUEST_TTL"
	varAuthCodeTTL        = "IDP_AUTH_CODE_TTL"
	varAccessTokenTTL     = "IDP_ACCESS_TOKEN_TTL"
	varIDTokenTTL         = "IDP_ID_TOKEN_TTL"
	varRefreshIdleTTL     = "IDP_REFRESH_IDLE_TTL"
	varRefreshAbsoluteTTL = "IDP_REFRESH_ABSOLUTE_TTL"
	varSessionIdleTTL     = "IDP_SESSION_IDLE_TTL"
	varSessionAbsoluteTTL = "IDP_SESSION_ABSOLUTE_TTL"
	varKeyRotationPeriod  = "IDP_KEY_ROTATION_PERIOD"
	varArgon2MemoryKiB    = "IDP_ARGON2_MEMORY_KIB"
	varArgon2Iterations   = "IDP_ARGON2_ITERATIONS"
	varArgon2Parallelism  = "IDP_ARGON2_PARALLELISM"
	varPasswordMinLength  = "IDP_PASSWORD_MIN_LENGTH"
	varDevClient          = "IDP_DEV_CLIENT"
	varBreachCheck        = "IDP_BREACH_CHECK"
	varHIBPAPIURL         = "IDP_HIBP_API_URL"

	varBrevoAPIKey           = "BREVO_API_KEY"
	varBrevoAPIURL           = "BREVO_API_URL"
	varSMTPURL               = "SMTP_URL"
	varSenderEmail           = "SENDER_EMAIL"
	varSenderName            = "SENDER_NAME"
	varEmailCodeTTL          = "IDP_EMAIL_CODE_TTL"
	varEmailCodeMaxAttempts  = "IDP_EMAIL_CODE_MAX_ATTEMPTS"
	varEmailResendCooldown   = "IDP_EMAIL_RESEND_COOLDOWN"
	varEmailSendLimitAccount = "IDP_EMAIL_SEND_LIMIT_ACCOUNT"
	varEmailSendLimitIP      = "IDP_EMAIL_SEND_LIMIT_IP"
	varLoginDelayAfter       = "IDP_LOGIN_DELAY_AFTER"
	varLoginLockAfter        = "IDP_LOGIN_LOCK_AFTER"
	varLoginLockDuration     = "IDP_LOGIN_LOCK_DURATION"
	varClientAuthLimit       = "IDP_CLIENT_AUTH_LIMIT"
	varClientAuthLimitIP     = "IDP_CLIENT_AUTH_LIMIT_IP"
	varClientAuthWindow      = "IDP_CLIENT_AUTH_WINDOW"

	varVonageAPIKey            = "VONAGE_API_KEY"
	varVonageAPISecret         = "VONAGE_API_SECRET"
	varVonageBrandName         = "VONAGE_BRAND_NAME"
	varVonageAPIURL            = "VONAGE_API_URL"
	varVonageVoiceFallback     = "VONAGE_VOICE_FALLBACK"
	varVonageAllowedCountries  = "VONAGE_ALLOWED_COUNTRIES"
	varPhoneDefaultRegion      = "IDP_PHONE_DEFAULT_REGION"
	varRequireMFA              = "IDP_REQUIRE_MFA"
	varSMSChallengeTTL         = "IDP_SMS_CHALLENGE_TTL"
	varSMSMaxAttempts          = "IDP_SMS_MAX_ATTEMPTS"
	varSMSLimitNumber10m       = "IDP_SMS_LIMIT_NUMBER_10M"
	varSMSLimitNumberHour      = "IDP_SMS_LIMIT_NUMBER_HOUR"
	varSMSLimitAccountDay      = "IDP_SMS_LIMIT_ACCOUNT_DAY"
	varSMSLimitIPHour          = "IDP_SMS_LIMIT_IP_HOUR"
	varSMSGlobalHourlyCap      = "IDP_SMS_GLOBAL_HOURLY_CAP"
	varRecoveryCodeMaxFailures = "IDP_RECOVERY_CODE_MAX_FAILURES"

	varTrustedProxies       = "IDP_TRUSTED_PROXIES"
	varMetricsAddr          = "IDP_METRICS_ADDR"
	varAuditRetention       = "IDP_AUDIT_RETENTION"
	varHousekeepingInterval = "IDP_HOUSEKEEPING_INTERVAL"
	varShutdownDrain        = "IDP_SHUTDOWN_DRAIN"
)

// Limits Validate enforces.
const (
	minSecretKeyLen = 32
	// maxAuthCodeTTL: RFC 6749 §4.1.2 "A maximum authorization code lifetime of 10 minutes is
	// RECOMMENDED."
	maxAuthCodeTTL = 10 * time.Minute
	// OWASP Password Storage Cheat Sheet minimum for argon2id: m=19 MiB, t=2, p=1.
	minArgon2MemoryKiB  = 19456
	minArgon2Iterations = 2
	// NIST SP 800-63B-4 §3.1.1.2: at least 15 characters when the password is the only factor,
	// never fewer than 8; at least 64 must be allowed as a maximum, so the minimum may not exceed it.
	minPasswordMinLength = 8
	maxPasswordMinLength = 64
)

// Config is every setting of the IdP. The comment on each field names its environment variable
// and default.
type Config struct {
	Env         string // IDP_ENV: "development" (default) or "production"
	Issuer      string // ISSUER: public URL; default "http://localhost:<Port>" in development, required in production
	Port        int    // PORT: listen port, default 8080; 0 = a free port the system picks (BindPort)
	DatabaseURL string // DATABASE_URL (secret: may hold a password): PostgreSQL URL; empty = embedded SQLite under DataDir
	DataDir     string // IDP_DATA_DIR: default "./data"

	SecretKey         string // SECRET_KEY (secret): root of every derived key, ≥ 32 characters
	SecretKeyPrevious string // SECRET_KEY_PREVIOUS (secret): optional, still accepted for decryption during a rotation

	TLSCertFile string // TLS_CERT_FILE: set together with TLSKeyFile, or neither (TLS terminated by a proxy)
	TLSKeyFile  string // TLS_KEY_FILE

	LogLevel string // IDP_LOG_LEVEL: debug, info (default), warn or error
	// LogFormat is IDP_LOG_FORMAT: json, text, or auto (the default): human-readable text in
	// development when stderr is a terminal, JSON otherwise and always in production.
	LogFormat string

	BrandName  string // IDP_BRAND_NAME: default "FinTech ID"
	BrandColor string // IDP_BRAND_COLOR: "#rgb" or "#rrggbb", default "#0f5c4d"
	// BrandLogo (IDP_BRAND_LOGO): an https URL or an image file (PNG, JPEG, GIF, WebP, SVG; at most
	// 512 KiB) shown on every page and email; empty for the brand name in text.
	BrandLogo string
	// TemplatesDir (IDP_TEMPLATES_DIR): page (<page>.html, layout.html) and email
	// (<kind>.html.tmpl, <kind>.txt.tmpl) templates that replace the built-in ones by name.
	TemplatesDir string

	AuthRequestTTL     time.Duration // IDP_AUTH_REQUEST_TTL: default 30m
	AuthCodeTTL        time.Duration // IDP_AUTH_CODE_TTL: default 1m, at most 10m (RFC 6749 §4.1.2)
	AccessTokenTTL     time.Duration // IDP_ACCESS_TOKEN_TTL: default 15m
	IDTokenTTL         time.Duration // IDP_ID_TOKEN_TTL: default 15m
	RefreshIdleTTL     time.Duration // IDP_REFRESH_IDLE_TTL: default 720h (30 days)
	RefreshAbsoluteTTL time.Duration // IDP_REFRESH_ABSOLUTE_TTL: default 2160h (90 days from auth_time)
	SessionIdleTTL     time.Duration // IDP_SESSION_IDLE_TTL: default 1h
	SessionAbsoluteTTL time.Duration // IDP_SESSION_ABSOLUTE_TTL: default 24h
	KeyRotationPeriod  time.Duration // IDP_KEY_ROTATION_PERIOD: default 0 = only manual `idp keys rotate`

	Argon2MemoryKiB   uint32 // IDP_ARGON2_MEMORY_KIB: default 19456 (OWASP minimum, m=19 MiB)
	Argon2Iterations  uint32 // IDP_ARGON2_ITERATIONS: default 2
	Argon2Parallelism uint8  // IDP_ARGON2_PARALLELISM: default 1

	PasswordMinLength int // IDP_PASSWORD_MIN_LENGTH: default 15 (NIST SP 800-63B-4), 8..64
	// BreachCheck says whether new passwords are also checked against Have I Been Pwned:
	// IDP_BREACH_CHECK, "off" (default: the bundled list and the offline rules only) or "hibp"
	// (the Pwned Passwords range API, k-anonymity; fail closed, see SECURITY.md).
	BreachCheck string
	HIBPAPIURL  string // IDP_HIBP_API_URL: default "https://api.pwnedpasswords.com" (a mirror of the same API may replace it)

	// Email delivery: Brevo when BrevoAPIKey is set, else SMTP when SMTPURL is set, else (development
	// only) the log sender with the /dev/outbox page.
	BrevoAPIKey string // BREVO_API_KEY (secret)
	BrevoAPIURL string // BREVO_API_URL: default "https://api.brevo.com/v3"
	SMTPURL     string // SMTP_URL (secret: may hold a password): smtp://user:pass@host:587 (STARTTLS) or smtps://…:465
	SenderEmail string // SENDER_EMAIL: the From address; required with Brevo or SMTP
	SenderName  string // SENDER_NAME: the From name; default the brand name

	EmailCodeTTL          time.Duration // IDP_EMAIL_CODE_TTL: default 10m
	EmailCodeMaxAttempts  int           // IDP_EMAIL_CODE_MAX_ATTEMPTS: wrong tries per code, default 5
	EmailResendCooldown   time.Duration // IDP_EMAIL_RESEND_COOLDOWN: default 60s
	EmailSendLimitAccount int           // IDP_EMAIL_SEND_LIMIT_ACCOUNT: emails per account per hour, default 5
	EmailSendLimitIP      int           // IDP_EMAIL_SEND_LIMIT_IP: emails per client IP per hour, default 20

	LoginDelayAfter   int           // IDP_LOGIN_DELAY_AFTER: failed sign-ins before a growing delay, default 5
	LoginLockAfter    int           // IDP_LOGIN_LOCK_AFTER: failed sign-ins before a temporary lock, default 20
	LoginLockDuration time.Duration // IDP_LOGIN_LOCK_DURATION: how long the lock lasts, default 15m

	ClientAuthLimit   int           // IDP_CLIENT_AUTH_LIMIT: failed client authentications per client id per window, default 20
	ClientAuthLimitIP int           // IDP_CLIENT_AUTH_LIMIT_IP: the same per client IP, default 100
	ClientAuthWindow  time.Duration // IDP_CLIENT_AUTH_WINDOW: the window of both, default 10m

	// SMS two-step through Vonage Verify v2 when VonageAPIKey and VonageAPISecret are set; else,
	// in development, the log verifier with the /dev/outbox page; in production SMS two-step is
	// not offered (SMSVerifier, SMSWarning).
	VonageAPIKey    string // VONAGE_API_KEY (secret): set together with VonageAPISecret, or neither
	VonageAPISecret string // VONAGE_API_SECRET (secret)
	VonageBrandName string // VONAGE_BRAND_NAME: the name in the SMS, at most 16 characters; default the brand name (SMSBrand)
	VonageAPIURL    string // VONAGE_API_URL: default "https://api.nexmo.com"
	// VonageVoiceFallback adds a voice call after the SMS and offers "Call me instead"
	// (VONAGE_VOICE_FALLBACK, default true).
	VonageVoiceFallback bool
	// VonageAllowedCountries are the ISO 3166 alpha-2 codes (upper case) of the countries codes
	// are sent to; empty allows every country. VONAGE_ALLOWED_COUNTRIES, comma-separated, "*" for
	// every country; default PhoneDefaultRegion alone (SMS pumping fraud targets foreign
	// premium ranges, so other countries are opt-in).
	VonageAllowedCountries []string
	PhoneDefaultRegion     string // IDP_PHONE_DEFAULT_REGION: how national numbers are read, ISO 3166 alpha-2, default "GB"
	RequireMFA             bool   // IDP_REQUIRE_MFA: every user enrols at their next sign-in, default false

	SMSChallengeTTL         time.Duration // IDP_SMS_CHALLENGE_TTL: how long one SMS challenge runs, default 10m, 1m..30m
	SMSMaxAttempts          int           // IDP_SMS_MAX_ATTEMPTS: wrong codes per challenge, default 5, 1..10
	SMSLimitNumber10m       int           // IDP_SMS_LIMIT_NUMBER_10M: codes per number per 10 minutes, default 3
	SMSLimitNumberHour      int           // IDP_SMS_LIMIT_NUMBER_HOUR: codes per number per hour, default 5
	SMSLimitAccountDay      int           // IDP_SMS_LIMIT_ACCOUNT_DAY: codes per account per day, default 10
	SMSLimitIPHour          int           // IDP_SMS_LIMIT_IP_HOUR: codes per client IP per hour, default 10
	SMSGlobalHourlyCap      int           // IDP_SMS_GLOBAL_HOURLY_CAP: codes per hour across every replica, default 1000
	RecoveryCodeMaxFailures int           // IDP_RECOVERY_CODE_MAX_FAILURES: wrong recovery codes per account per hour, default 5

	// TrustedProxies are the proxies (CIDRs) whose X-Forwarded-For is believed. IDP_TRUSTED_PROXIES,
	// comma-separated, default none: behind Railway or a load balancer list its addresses, or
	// per-IP limits see only the proxy.
	TrustedProxies []netip.Prefix
	// MetricsAddr is where /metrics listens (IDP_METRICS_ADDR; "off" disables it). Never the
	// public port. Default ":9090" in production and "127.0.0.1:9090" in development, where a
	// busy port is only a warning (see MetricsAddrExplicit).
	MetricsAddr string
	// MetricsAddrExplicit says IDP_METRICS_ADDR (or its flag) was given: then an address that
	// cannot be bound stops the start, in development too.
	MetricsAddrExplicit bool
	// AuditRetention: audit events older than this are deleted by housekeeping
	// (IDP_AUDIT_RETENTION, default 0 = keep forever).
	AuditRetention time.Duration
	// HousekeepingInterval: how often expired rows are deleted and keys rotated when due
	// (IDP_HOUSEKEEPING_INTERVAL, default 10m; 0 disables the loop).
	HousekeepingInterval time.Duration

	// ShutdownDrain: after SIGTERM the server answers /readyz with 503 and keeps serving this long
	// (so a load balancer stops sending and connections already queued are accepted), then stops
	// accepting and finishes in-flight requests (IDP_SHUTDOWN_DRAIN, default 1s).
	ShutdownDrain time.Duration

	trustedProxiesRaw string

	// DevClient registers the example dashboard client. IDP_DEV_CLIENT, default true in
	// development; always false in production.
	DevClient bool

	// Load and the flags keep the derived defaults (Issuer, DevClient, VonageAllowedCountries) in
	// step with Env, Port and PhoneDefaultRegion unless the setting was given explicitly.
	issuerExplicit           bool
	envExplicit              bool
	devClientExplicit        bool
	devClientWanted          bool
	allowedCountriesExplicit bool
	// explicit records which environment variables were set, so derive leaves them alone.
	explicit map[string]bool
}

// sendLimit is a send limit whose default is relaxed in development so that trying the flows
// again and again never locks the developer out. Production keeps the strict value.
type sendLimit struct {
	name      string
	field     func(*Config) *int
	prod, dev int
}

// sendLimits are the development relaxations (README, "Development"): counts only; cooldowns,
// code tries and the sign-in throttle stay as in production.
var sendLimits = []sendLimit{
	{varEmailSendLimitAccount, func(c *Config) *int { return &c.EmailSendLimitAccount }, 5, 100},
	{varEmailSendLimitIP, func(c *Config) *int { return &c.EmailSendLimitIP }, 20, 1000},
	{varSMSLimitNumber10m, func(c *Config) *int { return &c.SMSLimitNumber10m }, 3, 100},
	{varSMSLimitNumberHour, func(c *Config) *int { return &c.SMSLimitNumberHour }, 5, 200},
	{varSMSLimitAccountDay, func(c *Config) *int { return &c.SMSLimitAccountDay }, 10, 500},
	{varSMSLimitIPHour, func(c *Config) *int { return &c.SMSLimitIPHour }, 10, 500},
}

// Default returns the development defaults.
func Default() Config {
	c := Config{
		Env:                EnvDevelopment,
		Port:               8080,
		DataDir:            "./data",
		LogLevel:           "info",
		LogFormat:          "auto",
		BrandName:          "FinTech ID",
		BrandColor:         "#0f5c4d",
		AuthRequestTTL:     30 * time.Minute,
		AuthCodeTTL:        time.Minute,
		AccessTokenTTL:     15 * time.Minute,
		IDTokenTTL:         15 * time.Minute,
		RefreshIdleTTL:     30 * 24 * time.Hour,
		RefreshAbsoluteTTL: 90 * 24 * time.Hour,
		SessionIdleTTL:     time.Hour,
		SessionAbsoluteTTL: 24 * time.Hour,
		Argon2MemoryKiB:    minArgon2MemoryKiB,
		Argon2Iterations:   minArgon2Iterations,
		Argon2Parallelism:  1,
		PasswordMinLength:  15,
		BreachCheck:        BreachCheckOff,
		HIBPAPIURL:         "https://api.pwnedpasswords.com",

		BrevoAPIURL:          "https://api.brevo.com/v3",
		EmailCodeTTL:         10 * time.Minute,
		EmailCodeMaxAttempts: 5,
		EmailResendCooldown:  60 * time.Second,
		LoginDelayAfter:      5,
		LoginLockAfter:       20,
		LoginLockDuration:    15 * time.Minute,
		ClientAuthLimit:      20,
		ClientAuthLimitIP:    100,
		ClientAuthWindow:     10 * time.Minute,

		VonageAPIURL:            "https://api.nexmo.com",
		VonageVoiceFallback:     true,
		PhoneDefaultRegion:      "GB",
		SMSChallengeTTL:         10 * time.Minute,
		SMSMaxAttempts:          5,
		SMSGlobalHourlyCap:      1000,
		RecoveryCodeMaxFailures: 5,

		HousekeepingInterval: 10 * time.Minute,
		ShutdownDrain:        time.Second,
	}
	c.derive()
	return c
}

// derive recomputes the defaults that depend on other settings: the development issuer follows
// Port, the example client is on in development unless IDP_DEV_CLIENT says otherwise and
// always off in production, and codes go only to the home country (PhoneDefaultRegion) unless
// VONAGE_ALLOWED_COUNTRIES says otherwise.
func (c *Config) derive() {
	if !c.allowedCountriesExplicit {
		c.VonageAllowedCountries = []string{c.PhoneDefaultRegion}
	}
	for _, l := range sendLimits {
		if c.explicit[l.name] {
			continue
		}
		if c.Env == EnvDevelopment {
			*l.field(c) = l.dev
		} else {
			*l.field(c) = l.prod
		}
	}
	if !c.MetricsAddrExplicit {
		c.MetricsAddr = ":9090"
		if c.Env == EnvDevelopment {
			c.MetricsAddr = "127.0.0.1:9090"
		}
	}
	if !c.issuerExplicit {
		c.Issuer = ""
		if c.Env == EnvDevelopment {
			c.Issuer = "http://localhost:" + strconv.Itoa(c.Port)
		}
	}
	switch {
	case c.Production():
		c.DevClient = false
	case c.devClientExplicit:
		c.DevClient = c.devClientWanted
	default:
		c.DevClient = true
	}
}

// Load returns Default() overridden by the environment, read through getenv (os.Getenv in main).
// Every value that does not parse is reported, joined into one error that names the variable;
// the Config returned alongside holds everything that did parse, so main can add Validate's
// findings and report all problems at once.
func Load(getenv func(string) string) (Config, error) {
	c := Default()
	l := loader{getenv: getenv}

	c.envExplicit = l.lower(varEnv, &c.Env)
	c.issuerExplicit = l.str(varIssuer, &c.Issuer)
	l.integer(varPort, &c.Port)
	l.str(varDatabaseURL, &c.DatabaseURL)
	l.str(varDataDir, &c.DataDir)
	l.str(varSecretKey, &c.SecretKey)
	l.str(varSecretKeyPrevious, &c.SecretKeyPrevious)
	l.str(varTLSCertFile, &c.TLSCertFile)
	l.str(varTLSKeyFile, &c.TLSKeyFile)
	l.lower(varLogLevel, &c.LogLevel)
	l.lower(varLogFormat, &c.LogFormat)
	l.str(varBrandName, &c.BrandName)
	l.str(varBrandColor, &c.BrandColor)
	l.str(varBrandLogo, &c.BrandLogo)
	l.str(varTemplatesDir, &c.TemplatesDir)
	l.duration(varAuthRequestTTL, &c.AuthRequestTTL)
	l.duration(varAuthCodeTTL, &c.AuthCodeTTL)
	l.duration(varAccessTokenTTL, &c.AccessTokenTTL)
	l.duration(varIDTokenTTL, &c.IDTokenTTL)
	l.duration(varRefreshIdleTTL, &c.RefreshIdleTTL)
	l.duration(varRefreshAbsoluteTTL, &c.RefreshAbsoluteTTL)
	l.duration(varSessionIdleTTL, &c.SessionIdleTTL)
	l.duration(varSessionAbsoluteTTL, &c.SessionAbsoluteTTL)
	l.duration(varKeyRotationPeriod, &c.KeyRotationPeriod)
	l.uint32(varArgon2MemoryKiB, &c.Argon2MemoryKiB)
	l.uint32(varArgon2Iterations, &c.Argon2Iterations)
	l.uint8(varArgon2Parallelism, &c.Argon2Parallelism)
	l.integer(varPasswordMinLength, &c.PasswordMinLength)
	l.lower(varBreachCheck, &c.BreachCheck)
	l.str(varHIBPAPIURL, &c.HIBPAPIURL)
	c.devClientExplicit = l.boolean(varDevClient, &c.devClientWanted)
	l.str(varBrevoAPIKey, &c.BrevoAPIKey)
	l.str(varBrevoAPIURL, &c.BrevoAPIURL)
	l.str(varSMTPURL, &c.SMTPURL)
	l.str(varSenderEmail, &c.SenderEmail)
	l.str(varSenderName, &c.SenderName)
	l.duration(varEmailCodeTTL, &c.EmailCodeTTL)
	l.integer(varEmailCodeMaxAttempts, &c.EmailCodeMaxAttempts)
	l.duration(varEmailResendCooldown, &c.EmailResendCooldown)
	l.integer(varEmailSendLimitAccount, &c.EmailSendLimitAccount)
	l.integer(varEmailSendLimitIP, &c.EmailSendLimitIP)
	l.integer(varLoginDelayAfter, &c.LoginDelayAfter)
	l.integer(varLoginLockAfter, &c.LoginLockAfter)
	l.duration(varLoginLockDuration, &c.LoginLockDuration)
	l.integer(varClientAuthLimit, &c.ClientAuthLimit)
	l.integer(varClientAuthLimitIP, &c.ClientAuthLimitIP)
	l.duration(varClientAuthWindow, &c.ClientAuthWindow)
	l.str(varVonageAPIKey, &c.VonageAPIKey)
	l.str(varVonageAPISecret, &c.VonageAPISecret)
	l.str(varVonageBrandName, &c.VonageBrandName)
	l.str(varVonageAPIURL, &c.VonageAPIURL)
	l.boolean(varVonageVoiceFallback, &c.VonageVoiceFallback)
	if v, ok := l.get(varVonageAllowedCountries); ok {
		countries, ok := parseCountries(v)
		if ok {
			c.VonageAllowedCountries, c.allowedCountriesExplicit = countries, true
		} else {
			l.fail(varVonageAllowedCountries, v, "a comma-separated list of ISO 3166 alpha-2 country codes (GB,IE) or * for every country")
		}
	}
	if v, ok := l.get(varPhoneDefaultRegion); ok {
		c.PhoneDefaultRegion = strings.ToUpper(v)
	}
	l.boolean(varRequireMFA, &c.RequireMFA)
	l.duration(varSMSChallengeTTL, &c.SMSChallengeTTL)
	l.integer(varSMSMaxAttempts, &c.SMSMaxAttempts)
	l.integer(varSMSLimitNumber10m, &c.SMSLimitNumber10m)
	l.integer(varSMSLimitNumberHour, &c.SMSLimitNumberHour)
	l.integer(varSMSLimitAccountDay, &c.SMSLimitAccountDay)
	l.integer(varSMSLimitIPHour, &c.SMSLimitIPHour)
	l.integer(varSMSGlobalHourlyCap, &c.SMSGlobalHourlyCap)
	l.integer(varRecoveryCodeMaxFailures, &c.RecoveryCodeMaxFailures)
	if l.str(varTrustedProxies, &c.trustedProxiesRaw) {
		for _, part := range strings.Split(c.trustedProxiesRaw, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			p, err := netip.ParsePrefix(part)
			if err != nil {
				if a, aerr := netip.ParseAddr(part); aerr == nil {
					p, err = a.Prefix(a.BitLen())
				}
			}
			if err != nil {
				l.fail(varTrustedProxies, part, "a CIDR such as 10.0.0.0/8 or an IP address")
				continue
			}
			c.TrustedProxies = append(c.TrustedProxies, p.Masked())
		}
	}
	c.MetricsAddrExplicit = l.str(varMetricsAddr, &c.MetricsAddr)
	l.duration(varAuditRetention, &c.AuditRetention)
	l.duration(varHousekeepingInterval, &c.HousekeepingInterval)
	l.duration(varShutdownDrain, &c.ShutdownDrain)

	c.explicit = l.seen
	c.derive()
	return c, errors.Join(l.errs...)
}

// loader reads typed values from the environment and collects parse errors. Every variable it
// parses (numbers, durations, booleans) is non-secret, so its errors may quote the value; the
// secret variables are plain strings and never fail to parse.
type loader struct {
	getenv func(string) string
	errs   []error
	seen   map[string]bool // variables that were set
}

func (l *loader) get(name string) (string, bool) {
	v := strings.TrimSpace(l.getenv(name))
	if v != "" {
		if l.seen == nil {
			l.seen = map[string]bool{}
		}
		l.seen[name] = true
	}
	return v, v != ""
}

func (l *loader) fail(name, v, want string) {
	l.errs = append(l.errs, fmt.Errorf("%s=%q is not %s", name, v, want))
}

func (l *loader) str(name string, dst *string) bool {
	v, ok := l.get(name)
	if ok {
		*dst = v
	}
	return ok
}

func (l *loader) lower(name string, dst *string) bool {
	v, ok := l.get(name)
	if ok {
		*dst = strings.ToLower(v)
	}
	return ok
}

func (l *loader) integer(name string, dst *int) {
	if v, ok := l.get(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			l.fail(name, v, "a whole number")
			return
		}
		*dst = n
	}
}

func (l *loader) uint32(name string, dst *uint32) {
	if v, ok := l.get(name); ok {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			l.fail(name, v, "a whole number from 0 to 4294967295")
			return
		}
		*dst = uint32(n)
	}
}

func (l *loader) uint8(name string, dst *uint8) {
	if v, ok := l.get(name); ok {
		n, err := strconv.ParseUint(v, 10, 8)
		if err != nil {
			l.fail(name, v, "a whole number from 0 to 255")
			return
		}
		*dst = uint8(n)
	}
}

func (l *loader) duration(name string, dst *time.Duration) {
	if v, ok := l.get(name); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			l.fail(name, v, "a duration such as 90s, 15m or 720h")
			return
		}
		*dst = d
	}
}

func (l *loader) boolean(name string, dst *bool) bool {
	v, ok := l.get(name)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		l.fail(name, v, "true or false")
		return false
	}
	*dst = b
	return true
}

// Production reports whether IDP_ENV is "production".
func (c Config) Production() bool { return c.Env == EnvProduction }

// ListenAddr is the address to listen on: all interfaces, Port.
func (c Config) ListenAddr() string { return ":" + strconv.Itoa(c.Port) }

// BindPort records the port the listener got when Port was 0 (the system picked a free one):
// the development issuer, unless ISSUER was given, follows it as it follows PORT.
func (c *Config) BindPort(port int) {
	if c.Port == 0 {
		c.Port = port
		c.derive()
	}
}

var brandColorRE = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// Validate checks every setting and returns all problems joined into one error (nil if none),
// each a sentence naming the environment variable. It never quotes a secret.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.Env != EnvDevelopment && c.Env != EnvProduction {
		add("%s must be %q or %q, not %q.", varEnv, EnvDevelopment, EnvProduction, c.Env)
	}
	if err := c.validateIssuer(); err != nil {
		errs = append(errs, err)
	}
	// An https issuer is a deployment: running it as development by default would serve
	// /dev/outbox, register the development client and drop Secure from the cookies. Either
	// choice is fine, but it must be made.
	if c.Env == EnvDevelopment && !c.envExplicit && strings.HasPrefix(c.Issuer, "https://") {
		add("%s is an https:// URL but %s is not set: set %s=production to deploy (or %s=development to run this issuer as development on purpose).",
			varIssuer, varEnv, varEnv, varEnv)
	}
	if c.Port < 0 || c.Port > 65535 {
		add("%s must be a port number from 1 to 65535 (or 0 for a free port the system picks), not %d.", varPort, c.Port)
	}
	if c.DatabaseURL != "" {
		// Never quote the URL nor url.Parse's error, which repeats it: it may hold a password.
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			add("%s must be a PostgreSQL URL (postgres://user:password@host:5432/dbname), or empty for the embedded SQLite database.", varDatabaseURL)
		}
	}
	if c.DataDir == "" {
		add("%s must not be empty.", varDataDir)
	}

	switch {
	case c.SecretKey == "" && c.Production():
		add("%s is required in production: set it to at least %d random characters (for example `openssl rand -base64 32`).", varSecretKey, minSecretKeyLen)
	case c.SecretKey != "" && utf8.RuneCountInString(c.SecretKey) < minSecretKeyLen:
		add("%s must be at least %d characters long.", varSecretKey, minSecretKeyLen)
	}
	if c.SecretKeyPrevious != "" && utf8.RuneCountInString(c.SecretKeyPrevious) < minSecretKeyLen {
		add("%s must be at least %d characters long.", varSecretKeyPrevious, minSecretKeyLen)
	}

	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		add("%s and %s must be set together, or neither (when a proxy terminates TLS).", varTLSCertFile, varTLSKeyFile)
	}

	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("%s must be debug, info, warn or error, not %q.", varLogLevel, c.LogLevel)
	}
	switch c.LogFormat {
	case "json", "text", "auto":
	default:
		add("%s must be json, text or auto, not %q.", varLogFormat, c.LogFormat)
	}

	if strings.TrimSpace(c.BrandName) == "" {
		add("%s must not be empty.", varBrandName)
	}
	if !brandColorRE.MatchString(c.BrandColor) {
		add("%s must be a colour like #0f5c4d or #0f5, not %q.", varBrandColor, c.BrandColor)
	}
	if c.BrandLogo != "" {
		if strings.Contains(c.BrandLogo, "://") {
			if u, err := url.Parse(c.BrandLogo); err != nil || u.Host == "" || !(u.Scheme == "https" || (!c.Production() && u.Scheme == "http")) {
				add("%s must be an https URL or an image file.", varBrandLogo)
			}
		} else if fi, err := os.Stat(c.BrandLogo); err != nil || !fi.Mode().IsRegular() {
			add("%s: no image file at %s.", varBrandLogo, c.BrandLogo)
		}
	}
	if c.TemplatesDir != "" {
		if fi, err := os.Stat(c.TemplatesDir); err != nil || !fi.IsDir() {
			add("%s: %s is not a directory.", varTemplatesDir, c.TemplatesDir)
		}
	}

	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{varAuthRequestTTL, c.AuthRequestTTL},
		{varAuthCodeTTL, c.AuthCodeTTL},
		{varAccessTokenTTL, c.AccessTokenTTL},
		{varIDTokenTTL, c.IDTokenTTL},
		{varRefreshIdleTTL, c.RefreshIdleTTL},
		{varRefreshAbsoluteTTL, c.RefreshAbsoluteTTL},
		{varSessionIdleTTL, c.SessionIdleTTL},
		{varSessionAbsoluteTTL, c.SessionAbsoluteTTL},
	} {
		if d.v <= 0 {
			add("%s must be a positive duration, not %s.", d.name, d.v)
		}
	}
	if c.KeyRotationPeriod < 0 {
		add("%s must be 0 (rotate manually) or a positive duration, not %s.", varKeyRotationPeriod, c.KeyRotationPeriod)
	}
	if c.AuthCodeTTL > maxAuthCodeTTL {
		add("%s must be at most %s (RFC 6749 §4.1.2), not %s.", varAuthCodeTTL, maxAuthCodeTTL, c.AuthCodeTTL)
	}
	if c.RefreshIdleTTL > c.RefreshAbsoluteTTL {
		add("%s (%s) must not be longer than %s (%s).", varRefreshIdleTTL, c.RefreshIdleTTL, varRefreshAbsoluteTTL, c.RefreshAbsoluteTTL)
	}
	if c.SessionIdleTTL > c.SessionAbsoluteTTL {
		add("%s (%s) must not be longer than %s (%s).", varSessionIdleTTL, c.SessionIdleTTL, varSessionAbsoluteTTL, c.SessionAbsoluteTTL)
	}

	// The upper bounds are the limits internal/password puts on every hash it verifies, so that
	// hashes made with these settings verify.
	if c.Argon2MemoryKiB < minArgon2MemoryKiB || c.Argon2MemoryKiB > password.MaxArgon2MemoryKiB {
		add("%s must be from %d (the OWASP minimum, 19 MiB) to %d, not %d.", varArgon2MemoryKiB, minArgon2MemoryKiB, password.MaxArgon2MemoryKiB, c.Argon2MemoryKiB)
	}
	if c.Argon2Iterations < minArgon2Iterations || c.Argon2Iterations > password.MaxArgon2Iterations {
		add("%s must be from %d (the OWASP minimum) to %d, not %d.", varArgon2Iterations, minArgon2Iterations, password.MaxArgon2Iterations, c.Argon2Iterations)
	}
	if c.Argon2Parallelism < 1 { // at most 255 (a uint8), password.MaxArgon2Parallelism
		add("%s must be at least 1.", varArgon2Parallelism)
	}
	if uint64(c.Argon2MemoryKiB)*uint64(c.Argon2Iterations) > password.MaxArgon2Work {
		add("%s × %s must not exceed %d KiB (4 GiB passes).", varArgon2MemoryKiB, varArgon2Iterations, password.MaxArgon2Work)
	}
	if c.PasswordMinLength < minPasswordMinLength || c.PasswordMinLength > maxPasswordMinLength {
		add("%s must be from %d to %d (NIST SP 800-63B-4 §3.1.1.2), not %d.", varPasswordMinLength, minPasswordMinLength, maxPasswordMinLength, c.PasswordMinLength)
	}
	errs = append(errs, c.validateMail()...)
	errs = append(errs, c.validateSMS()...)
	errs = append(errs, c.validateBreachCheck()...)
	return errors.Join(errs...)
}

// validateMail checks the email settings and the code and sign-in limits.
func (c Config) validateMail() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.MailSender() {
	case MailNone:
		add("A mail sender is required in production: set %s (Brevo) or %s.", varBrevoAPIKey, varSMTPURL)
	case MailBrevo, MailSMTP:
		if !plausibleEmail(c.SenderEmail) {
			add("%s must be the From address (for example no-reply@example.com) when %s or %s is set.", varSenderEmail, varBrevoAPIKey, varSMTPURL)
		}
	}
	if c.BrevoAPIKey != "" {
		if u, err := url.Parse(c.BrevoAPIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add("%s must be an http(s) URL such as https://api.brevo.com/v3.", varBrevoAPIURL)
		}
	}
	if c.SMTPURL != "" && c.BrevoAPIKey == "" {
		if u, err := url.Parse(c.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			add("%s must look like smtp://user:password@host:587 or smtps://user:password@host:465.", varSMTPURL)
		}
	}
	if utf8.RuneCountInString(c.SenderName) > 100 {
		add("%s must be at most 100 characters.", varSenderName)
	}
	if c.EmailCodeTTL < time.Minute || c.EmailCodeTTL > time.Hour {
		add("%s must be from 1m to 1h, not %s.", varEmailCodeTTL, c.EmailCodeTTL)
	}
	if c.EmailCodeMaxAttempts < 1 || c.EmailCodeMaxAttempts > 10 {
		add("%s must be from 1 to 10, not %d.", varEmailCodeMaxAttempts, c.EmailCodeMaxAttempts)
	}
	if c.EmailResendCooldown < 0 || c.EmailResendCooldown > 10*time.Minute {
		add("%s must be from 0s to 10m, not %s.", varEmailResendCooldown, c.EmailResendCooldown)
	}
	if c.EmailSendLimitAccount < 1 {
		add("%s must be at least 1, not %d.", varEmailSendLimitAccount, c.EmailSendLimitAccount)
	}
	if c.EmailSendLimitIP < 1 {
		add("%s must be at least 1, not %d.", varEmailSendLimitIP, c.EmailSendLimitIP)
	}
	if c.LoginDelayAfter < 1 || c.LoginLockAfter <= c.LoginDelayAfter {
		add("%s must be at least 1 and %s greater than it (now %d and %d).", varLoginDelayAfter, varLoginLockAfter, c.LoginDelayAfter, c.LoginLockAfter)
	}
	if c.AuditRetention < 0 {
		add("%s must not be negative.", varAuditRetention)
	}
	if c.ShutdownDrain < 0 || c.ShutdownDrain > time.Minute {
		add("%s must be from 0s to 1m, not %s.", varShutdownDrain, c.ShutdownDrain)
	}
	if c.HousekeepingInterval < 0 {
		add("%s must not be negative.", varHousekeepingInterval)
	}
	if c.MetricsAddr != "off" && c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" || (c.Port != 0 && port == strconv.Itoa(c.Port)) {
			add("%s must be host:port (e.g. :9090), not the public port, or \"off\".", varMetricsAddr)
		}
	}
	if c.LoginLockDuration < time.Minute || c.LoginLockDuration > 24*time.Hour {
		add("%s must be from 1m to 24h, not %s.", varLoginLockDuration, c.LoginLockDuration)
	}
	if c.ClientAuthLimit < 1 || c.ClientAuthLimitIP < 1 {
		add("%s and %s must be at least 1 (now %d and %d).", varClientAuthLimit, varClientAuthLimitIP, c.ClientAuthLimit, c.ClientAuthLimitIP)
	}
	if c.ClientAuthWindow < time.Minute || c.ClientAuthWindow > 24*time.Hour {
		add("%s must be from 1m to 24h, not %s.", varClientAuthWindow, c.ClientAuthWindow)
	}
	return errs
}

func plausibleEmail(s string) bool {
	at := strings.LastIndex(s, "@")
	return at > 0 && at < len(s)-3 && strings.Contains(s[at:], ".") && !strings.ContainsAny(s, " <>\"")
}

// validateIssuer applies OpenID Connect Discovery 1.0 §3 and Core §2 to ISSUER: a case-sensitive
// absolute URL with no query or fragment, https in production. We also refuse a trailing slash,
// because relying parties compare the issuer string exactly and "…/" would not match "…".
func (c Config) validateIssuer() error {
	if c.Issuer == "" {
		if c.Production() {
			return fmt.Errorf("%s is required in production: the public https:// URL of this server.", varIssuer)
		}
		return fmt.Errorf("%s must not be empty.", varIssuer)
	}
	u, err := url.Parse(c.Issuer)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("%s must be an absolute http:// or https:// URL, not %q.", varIssuer, c.Issuer)
	case u.User != nil:
		return fmt.Errorf("%s must not contain a user name or password.", varIssuer)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(c.Issuer, "#"):
		return fmt.Errorf("%s must not have a query or fragment, not %q.", varIssuer, c.Issuer)
	case strings.HasSuffix(c.Issuer, "/"):
		return fmt.Errorf("%s must not end with a slash: use %q.", varIssuer, strings.TrimRight(c.Issuer, "/"))
	case c.Production() && u.Scheme != "https":
		return fmt.Errorf("%s must be an https:// URL in production, not %q.", varIssuer, c.Issuer)
	}
	return nil
}

// LogValue implements slog.LogValuer: the effective configuration with secrets shown only as
// "set" or "unset" and the password in DATABASE_URL redacted.
func (c Config) LogValue() slog.Value {
	dur := func(k string, d time.Duration) slog.Attr { return slog.String(k, d.String()) }
	database := "embedded SQLite in " + c.DataDir
	if c.DatabaseURL != "" {
		database = RedactURL(c.DatabaseURL)
	}
	return slog.GroupValue(
		slog.String("env", c.Env),
		slog.String("issuer", c.Issuer),
		slog.Int("port", c.Port),
		slog.String("database", database),
		slog.String("data_dir", c.DataDir),
		slog.String("secret_key", setOrUnset(c.SecretKey)),
		slog.String("secret_key_previous", setOrUnset(c.SecretKeyPrevious)),
		slog.String("tls_cert_file", c.TLSCertFile),
		slog.String("tls_key_file", c.TLSKeyFile),
		slog.String("log_level", c.LogLevel),
		slog.String("log_format", c.LogFormat),
		slog.String("brand_name", c.BrandName),
		slog.String("brand_color", c.BrandColor),
		slog.String("brand_logo", c.BrandLogo),
		slog.String("templates_dir", c.TemplatesDir),
		dur("auth_request_ttl", c.AuthRequestTTL),
		dur("auth_code_ttl", c.AuthCodeTTL),
		dur("access_token_ttl", c.AccessTokenTTL),
		dur("id_token_ttl", c.IDTokenTTL),
		dur("refresh_idle_ttl", c.RefreshIdleTTL),
		dur("refresh_absolute_ttl", c.RefreshAbsoluteTTL),
		dur("session_idle_ttl", c.SessionIdleTTL),
		dur("session_absolute_ttl", c.SessionAbsoluteTTL),
		dur("key_rotation_period", c.KeyRotationPeriod),
		slog.Any("argon2_memory_kib", c.Argon2MemoryKiB),
		slog.Any("argon2_iterations", c.Argon2Iterations),
		slog.Any("argon2_parallelism", c.Argon2Parallelism),
		slog.Int("password_min_length", c.PasswordMinLength),
		slog.String("breach_check", c.BreachCheck),
		slog.String("hibp_api_url", redactIfSet(c.HIBPAPIURL)),
		slog.Bool("dev_client", c.DevClient),
		slog.String("mail", c.MailSender()),
		slog.String("brevo_api_key", setOrUnset(c.BrevoAPIKey)),
		slog.String("brevo_api_url", c.BrevoAPIURL),
		slog.String("smtp_url", redactIfSet(c.SMTPURL)),
		slog.String("sender_email", c.SenderEmail),
		slog.String("sender_name", c.SenderName),
		dur("email_code_ttl", c.EmailCodeTTL),
		slog.Int("email_code_max_attempts", c.EmailCodeMaxAttempts),
		dur("email_resend_cooldown", c.EmailResendCooldown),
		slog.Int("email_send_limit_account", c.EmailSendLimitAccount),
		slog.Int("email_send_limit_ip", c.EmailSendLimitIP),
		slog.Int("login_delay_after", c.LoginDelayAfter),
		slog.Int("login_lock_after", c.LoginLockAfter),
		dur("login_lock_duration", c.LoginLockDuration),
		slog.Int("client_auth_limit", c.ClientAuthLimit),
		slog.Int("client_auth_limit_ip", c.ClientAuthLimitIP),
		dur("client_auth_window", c.ClientAuthWindow),
		slog.String("sms", c.SMSVerifier()),
		slog.String("vonage_api_key", setOrUnset(c.VonageAPIKey)),
		slog.String("vonage_api_secret", setOrUnset(c.VonageAPISecret)),
		slog.String("vonage_brand_name", c.VonageBrandName),
		slog.String("vonage_api_url", redactIfSet(c.VonageAPIURL)),
		slog.Bool("vonage_voice_fallback", c.VonageVoiceFallback),
		slog.String("vonage_allowed_countries", countriesString(c.VonageAllowedCountries)),
		slog.String("phone_default_region", c.PhoneDefaultRegion),
		slog.Bool("require_mfa", c.RequireMFA),
		dur("sms_challenge_ttl", c.SMSChallengeTTL),
		slog.Int("sms_max_attempts", c.SMSMaxAttempts),
		slog.Int("sms_limit_number_10m", c.SMSLimitNumber10m),
		slog.Int("sms_limit_number_hour", c.SMSLimitNumberHour),
		slog.Int("sms_limit_account_day", c.SMSLimitAccountDay),
		slog.Int("sms_limit_ip_hour", c.SMSLimitIPHour),
		slog.Int("sms_global_hourly_cap", c.SMSGlobalHourlyCap),
		slog.Int("recovery_code_max_failures", c.RecoveryCodeMaxFailures),
		slog.Any("trusted_proxies", c.TrustedProxies),
		slog.String("metrics_addr", c.MetricsAddr),
		dur("audit_retention", c.AuditRetention),
		dur("housekeeping_interval", c.HousekeepingInterval),
		dur("shutdown_drain", c.ShutdownDrain),
	)
}

// String renders the configuration as LogValue does, so printing a Config with fmt (%v, %+v, %s)
// cannot leak a secret.
func (c Config) String() string { return c.LogValue().String() }

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

func redactIfSet(s string) string {
	if s == "" {
		return ""
	}
	return RedactURL(s)
}

// Mail senders MailSender can name.
const (
	MailBrevo = "brevo"
	MailSMTP  = "smtp"
	MailLog   = "log"
	MailNone  = "none"
)

// MailSender says which sender the settings select: Brevo when BREVO_API_KEY is set, SMTP when
// SMTP_URL is set, the log sender in development, none otherwise (a start-up error).
func (c Config) MailSender() string {
	switch {
	case c.BrevoAPIKey != "":
		return MailBrevo
	case c.SMTPURL != "":
		return MailSMTP
	case !c.Production():
		return MailLog
	}
	return MailNone
}

func setOrUnset(s string) string {
	if s == "" {
		return "unset"
	}
	return "set"
}

// RedactURL returns a database URL fit for logs: the password in the user info and any query
// parameter whose name contains "password" (libpq's password, sslpassword) replaced by "xxxxx".
// Anything that does not parse as a URL with a scheme (a key=value connection string, say) is
// replaced whole by "[redacted]".
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "[redacted]"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			u.RawQuery = "[redacted]"
		} else {
			for k := range q {
				if strings.Contains(strings.ToLower(k), "password") {
					q.Set(k, "xxxxx")
				}
			}
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}
