package config

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

const (
	goodSecret   = "0123456789abcdef0123456789abcdef-good"
	dbPassword   = "s3cr3t-db-pass"
	vonageSecret = "v0nage-s3cret-value"
)

// env is a fake environment for Load.
type env map[string]string

func (e env) get(k string) string { return e[k] }

func mustLoad(t *testing.T, e env) Config {
	t.Helper()
	c, err := Load(e.get)
	if err != nil {
		t.Fatalf("Load() error: %v", err)
	}
	return c
}

// prodEnv is a minimal valid production environment.
func prodEnv() env {
	return env{
		"IDP_ENV":       "production",
		"ISSUER":        "https://id.example.com",
		"SECRET_KEY":    goodSecret,
		"DATABASE_URL":  "postgres://idp:" + dbPassword + "@db:5432/idp?sslmode=require",
		"BREVO_API_KEY": "xkeysib-test",
		"SENDER_EMAIL":  "no-reply@example.com",
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"Env", c.Env, "development"},
		{"Issuer", c.Issuer, "http://localhost:8080"},
		{"Port", c.Port, 8080},
		{"DatabaseURL", c.DatabaseURL, ""},
		{"DataDir", c.DataDir, "./data"},
		{"SecretKey", c.SecretKey, ""},
		{"LogLevel", c.LogLevel, "info"},
		{"LogFormat", c.LogFormat, "auto"},
		{"MetricsAddr", c.MetricsAddr, "127.0.0.1:9090"},
		{"BrandName", c.BrandName, "FinTech ID"},
		{"BrandColor", c.BrandColor, "#0f5c4d"},
		{"AuthRequestTTL", c.AuthRequestTTL, 30 * time.Minute},
		{"AuthCodeTTL", c.AuthCodeTTL, time.Minute},
		{"AccessTokenTTL", c.AccessTokenTTL, 15 * time.Minute},
		{"IDTokenTTL", c.IDTokenTTL, 15 * time.Minute},
		{"RefreshIdleTTL", c.RefreshIdleTTL, 720 * time.Hour},
		{"RefreshAbsoluteTTL", c.RefreshAbsoluteTTL, 2160 * time.Hour},
		{"SessionIdleTTL", c.SessionIdleTTL, time.Hour},
		{"SessionAbsoluteTTL", c.SessionAbsoluteTTL, 24 * time.Hour},
		{"KeyRotationPeriod", c.KeyRotationPeriod, time.Duration(0)},
		{"Argon2MemoryKiB", c.Argon2MemoryKiB, uint32(19456)},
		{"Argon2Iterations", c.Argon2Iterations, uint32(2)},
		{"Argon2Parallelism", c.Argon2Parallelism, uint8(1)},
		{"PasswordMinLength", c.PasswordMinLength, 15},
		{"DevClient", c.DevClient, true},
		{"VonageAPIKey", c.VonageAPIKey, ""},
		{"VonageAPISecret", c.VonageAPISecret, ""},
		{"VonageBrandName", c.VonageBrandName, ""},
		{"SMSBrand", c.SMSBrand(), "FinTech ID"},
		{"VonageAPIURL", c.VonageAPIURL, "https://api.nexmo.com"},
		{"VonageVoiceFallback", c.VonageVoiceFallback, true},
		{"VonageAllowedCountries", strings.Join(c.VonageAllowedCountries, ","), "GB"},
		{"PhoneDefaultRegion", c.PhoneDefaultRegion, "GB"},
		{"RequireMFA", c.RequireMFA, false},
		{"SMSChallengeTTL", c.SMSChallengeTTL, 10 * time.Minute},
		{"SMSMaxAttempts", c.SMSMaxAttempts, 5},
		// Development relaxes the send limits (counts only); TestSendLimitsFollowEnv has production's.
		{"SMSLimitNumber10m", c.SMSLimitNumber10m, 100},
		{"SMSLimitNumberHour", c.SMSLimitNumberHour, 200},
		{"SMSLimitAccountDay", c.SMSLimitAccountDay, 500},
		{"SMSLimitIPHour", c.SMSLimitIPHour, 500},
		{"EmailSendLimitAccount", c.EmailSendLimitAccount, 100},
		{"EmailSendLimitIP", c.EmailSendLimitIP, 1000},
		{"EmailResendCooldown", c.EmailResendCooldown, time.Minute},
		{"SMSGlobalHourlyCap", c.SMSGlobalHourlyCap, 1000},
		{"RecoveryCodeMaxFailures", c.RecoveryCodeMaxFailures, 5},
		{"BreachCheck", c.BreachCheck, "off"},
		{"HIBPAPIURL", c.HIBPAPIURL, "https://api.pwnedpasswords.com"},
		{"SMSVerifier", c.SMSVerifier(), "log"},
		{"ListenAddr", c.ListenAddr(), ":8080"},
		{"Production", c.Production(), false},
	}
	for _, tt := range checks {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

// TestSendLimitsFollowEnv: the development relaxation of the send limits and the loopback metrics
// address never reach production, and an explicit setting wins in both.
func TestSendLimitsFollowEnv(t *testing.T) {
	tests := []struct {
		name                               string
		env                                env
		emailAcct, emailIP, num10m, ipHour int
		metrics                            string
		metricsExplicit                    bool
	}{
		{"production", prodEnv(), 5, 20, 3, 10, ":9090", false},
		{"development", env{}, 100, 1000, 100, 500, "127.0.0.1:9090", false},
		{"development, explicit", env{"IDP_EMAIL_SEND_LIMIT_ACCOUNT": "2", "IDP_SMS_LIMIT_NUMBER_10M": "1", "IDP_METRICS_ADDR": ":9191"},
			2, 1000, 1, 500, ":9191", true},
		{"production, explicit", merge(prodEnv(), env{"IDP_EMAIL_SEND_LIMIT_IP": "50", "IDP_SMS_LIMIT_IP_HOUR": "30"}),
			5, 50, 3, 30, ":9090", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.env.get)
			if err != nil {
				t.Fatal(err)
			}
			got := []any{c.EmailSendLimitAccount, c.EmailSendLimitIP, c.SMSLimitNumber10m, c.SMSLimitIPHour, c.MetricsAddr, c.MetricsAddrExplicit}
			want := []any{tt.emailAcct, tt.emailIP, tt.num10m, tt.ipHour, tt.metrics, tt.metricsExplicit}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("got %v, want %v", got, want)
				}
			}
		})
	}
	// --env production on the command line after a development environment restores the strict values.
	c, err := Load(env{}.get)
	if err != nil {
		t.Fatal(err)
	}
	c.Env = EnvProduction
	c.derive()
	if c.EmailSendLimitAccount != 5 || c.SMSLimitNumber10m != 3 || c.MetricsAddr != ":9090" {
		t.Fatalf("after switching to production: email/account %d, sms/10m %d, metrics %q", c.EmailSendLimitAccount, c.SMSLimitNumber10m, c.MetricsAddr)
	}
}

// TestHTTPSIssuerNeedsAnExplicitEnv: an https issuer with IDP_ENV unset stops the start and
// says to set IDP_ENV; an explicit choice, from the environment or --env, is accepted.
func TestHTTPSIssuerNeedsAnExplicitEnv(t *testing.T) {
	https := env{"ISSUER": "https://id.example.com"}
	err := mustLoad(t, https).Validate()
	if err == nil || !strings.Contains(err.Error(), "IDP_ENV is not set") || !strings.Contains(err.Error(), "IDP_ENV=production") {
		t.Fatalf("https issuer without IDP_ENV: %v", err)
	}
	if err := mustLoad(t, env{"ISSUER": "https://id.example.com", "IDP_ENV": "development"}).Validate(); err != nil {
		t.Errorf("https issuer with IDP_ENV=development: %v", err)
	}
	c := mustLoad(t, https)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--env", "development"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("https issuer with --env development: %v", err)
	}
	if err := mustLoad(t, env{}).Validate(); err != nil {
		t.Errorf("the development default (http issuer, IDP_ENV unset): %v", err)
	}
}

// TestBindPort: with PORT=0 the development issuer follows the port the listener got; an
// explicit ISSUER or port stays.
func TestBindPort(t *testing.T) {
	c := mustLoad(t, env{"PORT": "0"})
	c.BindPort(41234)
	if c.Port != 41234 || c.Issuer != "http://localhost:41234" {
		t.Errorf("PORT=0: port %d issuer %q", c.Port, c.Issuer)
	}
	c = mustLoad(t, env{"PORT": "0", "ISSUER": "http://127.0.0.1:9"})
	if c.BindPort(41234); c.Issuer != "http://127.0.0.1:9" {
		t.Errorf("explicit ISSUER changed to %q", c.Issuer)
	}
	c = mustLoad(t, env{"PORT": "8081"})
	if c.BindPort(41234); c.Port != 8081 || c.Issuer != "http://localhost:8081" {
		t.Errorf("PORT=8081: port %d issuer %q", c.Port, c.Issuer)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name  string
		env   env
		check func(t *testing.T, c Config)
	}{
		{"empty environment is Default", env{}, func(t *testing.T, c Config) {
			if c.String() != Default().String() {
				t.Fatalf("Load(empty) = %v, want %v", c, Default())
			}
		}},
		{"every variable", env{
			"IDP_ENV": "production", "ISSUER": "https://id.example.com", "PORT": "9090",
			"DATABASE_URL": "postgres://u:p@h/db", "IDP_DATA_DIR": "/var/lib/idp",
			"SECRET_KEY": goodSecret, "SECRET_KEY_PREVIOUS": goodSecret + "-old",
			"TLS_CERT_FILE": "/tls/cert.pem", "TLS_KEY_FILE": "/tls/key.pem",
			"IDP_LOG_LEVEL": "debug", "IDP_LOG_FORMAT": "text",
			"IDP_BRAND_NAME": "Acme Pay", "IDP_BRAND_COLOR": "#abc",
			"IDP_AUTH_REQUEST_TTL": "10m", "IDP_AUTH_CODE_TTL": "30s", "IDP_ACCESS_TOKEN_TTL": "5m",
			"IDP_ID_TOKEN_TTL": "6m", "IDP_REFRESH_IDLE_TTL": "24h", "IDP_REFRESH_ABSOLUTE_TTL": "48h",
			"IDP_SESSION_IDLE_TTL": "20m", "IDP_SESSION_ABSOLUTE_TTL": "8h",
			"IDP_KEY_ROTATION_PERIOD": "2160h", "IDP_ARGON2_MEMORY_KIB": "65536",
			"IDP_ARGON2_ITERATIONS": "3", "IDP_ARGON2_PARALLELISM": "4",
			"IDP_PASSWORD_MIN_LENGTH": "12", "IDP_DEV_CLIENT": "false",
			"BREVO_API_KEY": "xkeysib-1", "BREVO_API_URL": "https://brevo.test/v3", "SMTP_URL": "smtp://u:smtppass@mail:587",
			"SENDER_EMAIL": "no-reply@acme.test", "SENDER_NAME": "Acme Pay", "IDP_EMAIL_CODE_TTL": "5m",
			"IDP_EMAIL_CODE_MAX_ATTEMPTS": "3", "IDP_EMAIL_RESEND_COOLDOWN": "30s", "IDP_EMAIL_SEND_LIMIT_ACCOUNT": "4",
			"IDP_EMAIL_SEND_LIMIT_IP": "10", "IDP_LOGIN_DELAY_AFTER": "3", "IDP_LOGIN_LOCK_AFTER": "10", "IDP_LOGIN_LOCK_DURATION": "30m",
			"IDP_CLIENT_AUTH_LIMIT": "7", "IDP_CLIENT_AUTH_LIMIT_IP": "30", "IDP_CLIENT_AUTH_WINDOW": "5m",
			"IDP_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1", "IDP_METRICS_ADDR": "127.0.0.1:9100",
			"IDP_AUDIT_RETENTION": "8760h", "IDP_HOUSEKEEPING_INTERVAL": "5m", "IDP_SHUTDOWN_DRAIN": "3s",
			"VONAGE_API_KEY": "vkey", "VONAGE_API_SECRET": vonageSecret, "VONAGE_BRAND_NAME": "Acme",
			"VONAGE_API_URL": "https://vonage.test", "VONAGE_VOICE_FALLBACK": "false", "VONAGE_ALLOWED_COUNTRIES": "gb, ie",
			"IDP_PHONE_DEFAULT_REGION": "ie", "IDP_REQUIRE_MFA": "true", "IDP_SMS_CHALLENGE_TTL": "5m",
			"IDP_SMS_MAX_ATTEMPTS": "3", "IDP_SMS_LIMIT_NUMBER_10M": "2", "IDP_SMS_LIMIT_NUMBER_HOUR": "4",
			"IDP_SMS_LIMIT_ACCOUNT_DAY": "8", "IDP_SMS_LIMIT_IP_HOUR": "6", "IDP_SMS_GLOBAL_HOURLY_CAP": "500",
			"IDP_RECOVERY_CODE_MAX_FAILURES": "4", "IDP_BREACH_CHECK": "HIBP", "IDP_HIBP_API_URL": "https://hibp.acme.test",
		}, func(t *testing.T, c Config) {
			want := Config{
				Env: "production", Issuer: "https://id.example.com", Port: 9090,
				DatabaseURL: "postgres://u:p@h/db", DataDir: "/var/lib/idp",
				SecretKey: goodSecret, SecretKeyPrevious: goodSecret + "-old",
				TLSCertFile: "/tls/cert.pem", TLSKeyFile: "/tls/key.pem",
				LogLevel: "debug", LogFormat: "text", BrandName: "Acme Pay", BrandColor: "#abc",
				AuthRequestTTL: 10 * time.Minute, AuthCodeTTL: 30 * time.Second, AccessTokenTTL: 5 * time.Minute,
				IDTokenTTL: 6 * time.Minute, RefreshIdleTTL: 24 * time.Hour, RefreshAbsoluteTTL: 48 * time.Hour,
				SessionIdleTTL: 20 * time.Minute, SessionAbsoluteTTL: 8 * time.Hour,
				KeyRotationPeriod: 2160 * time.Hour, Argon2MemoryKiB: 65536,
				Argon2Iterations: 3, Argon2Parallelism: 4, PasswordMinLength: 12, DevClient: false,
				BrevoAPIKey: "xkeysib-1", BrevoAPIURL: "https://brevo.test/v3", SMTPURL: "smtp://u:smtppass@mail:587",
				SenderEmail: "no-reply@acme.test", SenderName: "Acme Pay", EmailCodeTTL: 5 * time.Minute,
				EmailCodeMaxAttempts: 3, EmailResendCooldown: 30 * time.Second, EmailSendLimitAccount: 4,
				EmailSendLimitIP: 10, LoginDelayAfter: 3, LoginLockAfter: 10, LoginLockDuration: 30 * time.Minute,
				ClientAuthLimit: 7, ClientAuthLimitIP: 30, ClientAuthWindow: 5 * time.Minute,
				TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")},
				MetricsAddr:    "127.0.0.1:9100", AuditRetention: 8760 * time.Hour, HousekeepingInterval: 5 * time.Minute, ShutdownDrain: 3 * time.Second,
				VonageAPIKey: "vkey", VonageAPISecret: vonageSecret, VonageBrandName: "Acme", VonageAPIURL: "https://vonage.test",
				VonageVoiceFallback: false, VonageAllowedCountries: []string{"GB", "IE"}, PhoneDefaultRegion: "IE", RequireMFA: true,
				SMSChallengeTTL: 5 * time.Minute, SMSMaxAttempts: 3, SMSLimitNumber10m: 2, SMSLimitNumberHour: 4,
				SMSLimitAccountDay: 8, SMSLimitIPHour: 6, SMSGlobalHourlyCap: 500, RecoveryCodeMaxFailures: 4,
				BreachCheck: "hibp", HIBPAPIURL: "https://hibp.acme.test",
			}
			// Compare field by field through the unredacted parts plus the secrets.
			if c.LogValue().String() != want.LogValue().String() || c.SecretKey != want.SecretKey ||
				c.SecretKeyPrevious != want.SecretKeyPrevious || c.DatabaseURL != want.DatabaseURL ||
				c.VonageAPIKey != want.VonageAPIKey || c.VonageAPISecret != want.VonageAPISecret {
				t.Fatalf("Load() =\n%v\nwant\n%v", c, want)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
		}},
		{"values are trimmed and enums lower-cased", env{"IDP_ENV": " Production ", "PORT": " 8443 ", "IDP_LOG_LEVEL": "WARN", "IDP_LOG_FORMAT": "Text"}, func(t *testing.T, c Config) {
			if c.Env != "production" || c.Port != 8443 || c.LogLevel != "warn" || c.LogFormat != "text" {
				t.Fatalf("got env=%q port=%d level=%q format=%q", c.Env, c.Port, c.LogLevel, c.LogFormat)
			}
		}},
		{"development issuer follows PORT", env{"PORT": "9000"}, func(t *testing.T, c Config) {
			if c.Issuer != "http://localhost:9000" || c.ListenAddr() != ":9000" {
				t.Fatalf("Issuer = %q, ListenAddr = %q", c.Issuer, c.ListenAddr())
			}
		}},
		{"explicit ISSUER kept", env{"PORT": "9000", "ISSUER": "http://127.0.0.1:9000"}, func(t *testing.T, c Config) {
			if c.Issuer != "http://127.0.0.1:9000" {
				t.Fatalf("Issuer = %q", c.Issuer)
			}
		}},
		{"no issuer default in production", env{"IDP_ENV": "production"}, func(t *testing.T, c Config) {
			if c.Issuer != "" {
				t.Fatalf("Issuer = %q, want empty", c.Issuer)
			}
		}},
		{"dev client can be turned off in development", env{"IDP_DEV_CLIENT": "false"}, func(t *testing.T, c Config) {
			if c.DevClient {
				t.Fatal("DevClient = true")
			}
		}},
		{"dev client forced off in production", env{"IDP_ENV": "production", "IDP_DEV_CLIENT": "true"}, func(t *testing.T, c Config) {
			if c.DevClient {
				t.Fatal("DevClient = true in production")
			}
		}},
		{"key rotation can be zero", env{"IDP_KEY_ROTATION_PERIOD": "0"}, func(t *testing.T, c Config) {
			if c.KeyRotationPeriod != 0 {
				t.Fatalf("KeyRotationPeriod = %v", c.KeyRotationPeriod)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, mustLoad(t, tt.env))
		})
	}
}

func TestLoadErrors(t *testing.T) {
	bad := env{
		"PORT":                     "eighty",
		"IDP_AUTH_CODE_TTL":        "5",
		"IDP_REFRESH_IDLE_TTL":     "30d",
		"IDP_ARGON2_MEMORY_KIB":    "-1",
		"IDP_ARGON2_ITERATIONS":    "2.5",
		"IDP_ARGON2_PARALLELISM":   "256",
		"IDP_PASSWORD_MIN_LENGTH":  "fifteen",
		"IDP_DEV_CLIENT":           "maybe",
		"SECRET_KEY":               "short-secret-value",
		"DATABASE_URL":             "::not a url " + dbPassword,
		"IDP_SESSION_ABSOLUTE_TTL": "24h", // fine: must not be reported
	}
	c, err := Load(bad.get)
	if err == nil {
		t.Fatal("Load() succeeded")
	}
	msg := err.Error()
	for _, name := range []string{"PORT", "IDP_AUTH_CODE_TTL", "IDP_REFRESH_IDLE_TTL", "IDP_ARGON2_MEMORY_KIB",
		"IDP_ARGON2_ITERATIONS", "IDP_ARGON2_PARALLELISM", "IDP_PASSWORD_MIN_LENGTH", "IDP_DEV_CLIENT"} {
		if !strings.Contains(msg, name+"=") {
			t.Errorf("error does not name %s:\n%s", name, msg)
		}
	}
	if n := strings.Count(msg, "\n") + 1; n != 8 {
		t.Errorf("got %d errors, want 8:\n%s", n, msg)
	}
	for _, secret := range []string{"short-secret-value", dbPassword} {
		if strings.Contains(msg, secret) {
			t.Errorf("error leaks a secret:\n%s", msg)
		}
	}
	// What did parse is kept, what did not stays at its default.
	if c.Port != 8080 || c.SessionAbsoluteTTL != 24*time.Hour || c.SecretKey != "short-secret-value" {
		t.Errorf("partial config: port=%d session=%v", c.Port, c.SessionAbsoluteTTL)
	}
}

func TestValidate(t *testing.T) {
	// Each case starts from a valid config (development, or production with prodEnv) and applies
	// mutate; wantVars are the variables the error must name (none = valid).
	tests := []struct {
		name     string
		prod     bool
		mutate   func(c *Config)
		wantVars []string
	}{
		{"development defaults", false, func(c *Config) {}, nil},
		{"production", true, func(c *Config) {}, nil},
		{"production with TLS", true, func(c *Config) { c.TLSCertFile, c.TLSKeyFile = "c.pem", "k.pem" }, nil},
		{"production without DATABASE_URL uses SQLite", true, func(c *Config) { c.DatabaseURL = "" }, nil},
		{"postgresql scheme", true, func(c *Config) { c.DatabaseURL = "postgresql://u@h/db" }, nil},
		{"issuer with path", true, func(c *Config) { c.Issuer = "https://example.com/idp" }, nil},
		{"short colour", false, func(c *Config) { c.BrandColor = "#FA0" }, nil},
		{"auth code TTL exactly 10m", false, func(c *Config) { c.AuthCodeTTL = 10 * time.Minute }, nil},
		{"idle equals absolute", false, func(c *Config) { c.SessionIdleTTL = c.SessionAbsoluteTTL; c.RefreshIdleTTL = c.RefreshAbsoluteTTL }, nil},
		{"password min 8", false, func(c *Config) { c.PasswordMinLength = 8 }, nil},
		{"password min 64", false, func(c *Config) { c.PasswordMinLength = 64 }, nil},
		{"port 1 and 65535", false, func(c *Config) { c.Port = 65535 }, nil},
		{"port 0: the system picks", false, func(c *Config) { c.Port = 0 }, nil},
		{"stronger argon2", false, func(c *Config) { c.Argon2MemoryKiB, c.Argon2Iterations, c.Argon2Parallelism = 65536, 3, 4 }, nil},
		{"secret key in development", false, func(c *Config) { c.SecretKey = goodSecret }, nil},
		{"previous secret key", true, func(c *Config) { c.SecretKeyPrevious = goodSecret + "-old" }, nil},

		{"breach check hibp", true, func(c *Config) { c.BreachCheck = BreachCheckHIBP }, nil},
		{"breach check hibp http mirror in development", false, func(c *Config) {
			c.BreachCheck, c.HIBPAPIURL = BreachCheckHIBP, "http://127.0.0.1:9999"
		}, nil},
		{"breach check unknown", false, func(c *Config) { c.BreachCheck = "yes" }, []string{"IDP_BREACH_CHECK"}},
		{"breach check http in production", true, func(c *Config) {
			c.BreachCheck, c.HIBPAPIURL = BreachCheckHIBP, "http://hibp.internal"
		}, []string{"IDP_HIBP_API_URL"}},
		{"breach check URL with credentials", false, func(c *Config) {
			c.BreachCheck, c.HIBPAPIURL = BreachCheckHIBP, "https://u:p@hibp.internal"
		}, []string{"IDP_HIBP_API_URL"}},
		{"breach check not a URL", false, func(c *Config) {
			c.BreachCheck, c.HIBPAPIURL = BreachCheckHIBP, "api.pwnedpasswords.com"
		}, []string{"IDP_HIBP_API_URL"}},
		{"breach check off ignores the URL", false, func(c *Config) { c.HIBPAPIURL = "nonsense" }, nil},

		{"unknown env", false, func(c *Config) { c.Env = "staging" }, []string{"IDP_ENV"}},
		{"production without issuer", true, func(c *Config) { c.Issuer = "" }, []string{"ISSUER"}},
		{"production http issuer", true, func(c *Config) { c.Issuer = "http://id.example.com" }, []string{"ISSUER"}},
		{"issuer trailing slash", false, func(c *Config) { c.Issuer = "http://localhost:8080/" }, []string{"ISSUER"}},
		{"issuer query", false, func(c *Config) { c.Issuer = "http://localhost:8080?x=1" }, []string{"ISSUER"}},
		{"issuer empty query", false, func(c *Config) { c.Issuer = "http://localhost:8080?" }, []string{"ISSUER"}},
		{"issuer fragment", false, func(c *Config) { c.Issuer = "http://localhost:8080#top" }, []string{"ISSUER"}},
		{"issuer empty fragment", false, func(c *Config) { c.Issuer = "http://localhost:8080#" }, []string{"ISSUER"}},
		{"issuer relative", false, func(c *Config) { c.Issuer = "/idp" }, []string{"ISSUER"}},
		{"issuer no host", false, func(c *Config) { c.Issuer = "https://" }, []string{"ISSUER"}},
		{"issuer other scheme", false, func(c *Config) { c.Issuer = "ftp://example.com" }, []string{"ISSUER"}},
		{"issuer user info", false, func(c *Config) { c.Issuer = "https://user:pw@example.com" }, []string{"ISSUER"}},
		{"issuer not a URL", false, func(c *Config) { c.Issuer = "http://[::1" }, []string{"ISSUER"}},
		{"negative port", false, func(c *Config) { c.Port = -1 }, []string{"PORT"}},
		{"port 65536", false, func(c *Config) { c.Port = 65536 }, []string{"PORT"}},
		{"mysql database", false, func(c *Config) { c.DatabaseURL = "mysql://u:pw@h/db" }, []string{"DATABASE_URL"}},
		{"key=value database", false, func(c *Config) { c.DatabaseURL = "host=db password=pw" }, []string{"DATABASE_URL"}},
		{"empty data dir", false, func(c *Config) { c.DataDir = "" }, []string{"IDP_DATA_DIR"}},
		{"production without secret key", true, func(c *Config) { c.SecretKey = "" }, []string{"SECRET_KEY"}},
		{"short secret key in production", true, func(c *Config) { c.SecretKey = strings.Repeat("k", 31) }, []string{"SECRET_KEY"}},
		{"short secret key in development", false, func(c *Config) { c.SecretKey = "dev" }, []string{"SECRET_KEY"}},
		{"short previous secret key", true, func(c *Config) { c.SecretKeyPrevious = "old" }, []string{"SECRET_KEY_PREVIOUS"}},
		{"TLS cert only", false, func(c *Config) { c.TLSCertFile = "c.pem" }, []string{"TLS_CERT_FILE", "TLS_KEY_FILE"}},
		{"TLS key only", false, func(c *Config) { c.TLSKeyFile = "k.pem" }, []string{"TLS_CERT_FILE", "TLS_KEY_FILE"}},
		{"log level", false, func(c *Config) { c.LogLevel = "trace" }, []string{"IDP_LOG_LEVEL"}},
		{"log format", false, func(c *Config) { c.LogFormat = "xml" }, []string{"IDP_LOG_FORMAT"}},
		{"empty brand", false, func(c *Config) { c.BrandName = " " }, []string{"IDP_BRAND_NAME"}},
		{"colour name", false, func(c *Config) { c.BrandColor = "green" }, []string{"IDP_BRAND_COLOR"}},
		{"colour 4 digits", false, func(c *Config) { c.BrandColor = "#abcd" }, []string{"IDP_BRAND_COLOR"}},
		{"colour without hash", false, func(c *Config) { c.BrandColor = "0f5c4d" }, []string{"IDP_BRAND_COLOR"}},
		{"colour injection", false, func(c *Config) { c.BrandColor = "#fff;}body{x:y" }, []string{"IDP_BRAND_COLOR"}},
		{"zero auth request TTL", false, func(c *Config) { c.AuthRequestTTL = 0 }, []string{"IDP_AUTH_REQUEST_TTL"}},
		{"negative access token TTL", false, func(c *Config) { c.AccessTokenTTL = -time.Minute }, []string{"IDP_ACCESS_TOKEN_TTL"}},
		{"zero ID token TTL", false, func(c *Config) { c.IDTokenTTL = 0 }, []string{"IDP_ID_TOKEN_TTL"}},
		{"zero auth code TTL", false, func(c *Config) { c.AuthCodeTTL = 0 }, []string{"IDP_AUTH_CODE_TTL"}},
		{"auth code TTL above 10m", false, func(c *Config) { c.AuthCodeTTL = 11 * time.Minute }, []string{"IDP_AUTH_CODE_TTL"}},
		{"refresh idle above absolute", false, func(c *Config) { c.RefreshIdleTTL = c.RefreshAbsoluteTTL + time.Second }, []string{"IDP_REFRESH_IDLE_TTL", "IDP_REFRESH_ABSOLUTE_TTL"}},
		{"zero refresh absolute", false, func(c *Config) { c.RefreshAbsoluteTTL = 0 }, []string{"IDP_REFRESH_ABSOLUTE_TTL"}},
		{"session idle above absolute", false, func(c *Config) { c.SessionIdleTTL = 25 * time.Hour }, []string{"IDP_SESSION_IDLE_TTL", "IDP_SESSION_ABSOLUTE_TTL"}},
		{"zero session idle", false, func(c *Config) { c.SessionIdleTTL = 0 }, []string{"IDP_SESSION_IDLE_TTL"}},
		{"negative key rotation", false, func(c *Config) { c.KeyRotationPeriod = -time.Hour }, []string{"IDP_KEY_ROTATION_PERIOD"}},
		{"argon2 memory below OWASP", false, func(c *Config) { c.Argon2MemoryKiB = 19455 }, []string{"IDP_ARGON2_MEMORY_KIB"}},
		{"argon2 memory above 2 GiB", false, func(c *Config) { c.Argon2MemoryKiB = 2<<20 + 1 }, []string{"IDP_ARGON2_MEMORY_KIB"}},
		{"argon2 one iteration", false, func(c *Config) { c.Argon2Iterations = 1 }, []string{"IDP_ARGON2_ITERATIONS"}},
		{"argon2 101 iterations", false, func(c *Config) { c.Argon2Iterations = 101 }, []string{"IDP_ARGON2_ITERATIONS"}},
		{"argon2 1 GiB five times", false, func(c *Config) { c.Argon2MemoryKiB, c.Argon2Iterations = 1<<20, 5 }, []string{"IDP_ARGON2_MEMORY_KIB × IDP_ARGON2_ITERATIONS"}},
		{"argon2 no parallelism", false, func(c *Config) { c.Argon2Parallelism = 0 }, []string{"IDP_ARGON2_PARALLELISM"}},
		{"password min 7", false, func(c *Config) { c.PasswordMinLength = 7 }, []string{"IDP_PASSWORD_MIN_LENGTH"}},
		{"password min 65", false, func(c *Config) { c.PasswordMinLength = 65 }, []string{"IDP_PASSWORD_MIN_LENGTH"}},
		{"production without a mail sender", true, func(c *Config) { c.BrevoAPIKey = "" }, []string{"BREVO_API_KEY", "SMTP_URL"}},
		{"brevo without sender email", true, func(c *Config) { c.SenderEmail = "" }, []string{"SENDER_EMAIL"}},
		{"smtp instead of brevo", true, func(c *Config) { c.BrevoAPIKey, c.SMTPURL = "", "smtp://u:p@mail.example.com:587" }, nil},
		{"smtp url not smtp", true, func(c *Config) { c.BrevoAPIKey, c.SMTPURL = "", "http://mail.example.com" }, []string{"SMTP_URL"}},
		{"development logs mail", false, func(c *Config) {}, nil},
		{"email code limits", false, func(c *Config) { c.EmailCodeMaxAttempts, c.EmailCodeTTL = 0, time.Second }, []string{"IDP_EMAIL_CODE_MAX_ATTEMPTS", "IDP_EMAIL_CODE_TTL"}},
		{"bad trusted proxy and metrics on the public port", false, func(c *Config) { c.MetricsAddr = ":8080" }, []string{"IDP_METRICS_ADDR"}},
		{"login lock below delay", false, func(c *Config) { c.LoginDelayAfter, c.LoginLockAfter = 5, 5 }, []string{"IDP_LOGIN_LOCK_AFTER"}},
		{"client auth limits", false, func(c *Config) { c.ClientAuthLimit, c.ClientAuthWindow = 0, time.Second }, []string{"IDP_CLIENT_AUTH_LIMIT", "IDP_CLIENT_AUTH_WINDOW"}},
		{"everything at once", true, func(c *Config) {
			c.Issuer, c.SecretKey, c.Port, c.LogLevel, c.Argon2Iterations = "http://x", "", -1, "loud", 1
		}, []string{"ISSUER", "SECRET_KEY", "PORT", "IDP_LOG_LEVEL", "IDP_ARGON2_ITERATIONS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			if tt.prod {
				c = mustLoad(t, prodEnv())
			}
			tt.mutate(&c)
			err := c.Validate()
			if len(tt.wantVars) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors naming %v", tt.wantVars)
			}
			msg := err.Error()
			for _, v := range tt.wantVars {
				if !strings.Contains(msg, v) {
					t.Errorf("Validate() = %q, does not name %s", msg, v)
				}
			}
			if n := len(strings.Split(msg, "\n")); tt.name == "everything at once" && n != len(tt.wantVars) {
				t.Errorf("got %d problems, want %d:\n%s", n, len(tt.wantVars), msg)
			}
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasSuffix(line, ".") {
					t.Errorf("problem %q is not a sentence", line)
				}
			}
			for _, secret := range []string{goodSecret, dbPassword, "pw@", c.SecretKey} {
				if secret != "" && len(secret) > 3 && strings.Contains(msg, secret) {
					t.Errorf("Validate() leaks a secret: %s", msg)
				}
			}
		})
	}
}

func TestValidateNeverQuotesDatabaseURL(t *testing.T) {
	c := Default()
	for _, u := range []string{"mysql://u:" + dbPassword + "@h/db", "postgres://u:" + dbPassword + "@[bad/db", "host=h password=" + dbPassword} {
		c.DatabaseURL = u
		if err := c.Validate(); err == nil || strings.Contains(err.Error(), dbPassword) {
			t.Errorf("Validate(%q) = %v", u, err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://idp:" + dbPassword + "@db:5432/idp?sslmode=require", "postgres://idp:xxxxx@db:5432/idp?sslmode=require"},
		{"postgres://idp@db/idp", "postgres://idp@db/idp"},
		{"postgres://db/idp?user=idp&password=" + dbPassword, "postgres://db/idp?password=xxxxx&user=idp"},
		{"postgres://db/idp?sslpassword=" + dbPassword, "postgres://db/idp?sslpassword=xxxxx"},
		{"host=db password=" + dbPassword, "[redacted]"},
		{"postgres://u:" + dbPassword + "@[bad/db", "[redacted]"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := RedactURL(tt.in); got != tt.want {
				t.Fatalf("RedactURL() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	c := mustLoad(t, prodEnv())
	c.SecretKeyPrevious = goodSecret + "-previous"
	c.VonageAPIKey, c.VonageAPISecret = "vonage-key-value", vonageSecret

	var jsonLog, textLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("config", "config", c)
	slog.New(slog.NewTextHandler(&textLog, nil)).Info("config", "config", c)
	outputs := map[string]string{
		"json": jsonLog.String(), "text": textLog.String(),
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		"%s": c.String(), "pointer %+v": fmt.Sprintf("%+v", &c),
	}
	for name, out := range outputs {
		if strings.Contains(out, goodSecret) || strings.Contains(out, dbPassword) ||
			strings.Contains(out, vonageSecret) || strings.Contains(out, "vonage-key-value") {
			t.Errorf("%s leaks a secret: %s", name, out)
		}
	}
	for _, want := range []string{`"secret_key":"set"`, `"secret_key_previous":"set"`,
		`"database":"postgres://idp:xxxxx@db:5432/idp?sslmode=require"`, `"issuer":"https://id.example.com"`,
		`"auth_code_ttl":"1m0s"`, `"argon2_memory_kib":19456`, `"dev_client":false`,
		`"sms":"vonage"`, `"vonage_api_key":"set"`, `"vonage_api_secret":"set"`, `"vonage_allowed_countries":"GB"`} {
		if !strings.Contains(jsonLog.String(), want) {
			t.Errorf("JSON log lacks %s: %s", want, jsonLog.String())
		}
	}

	var devLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&devLog, nil)).Info("config", "config", Default())
	for _, want := range []string{`"secret_key":"unset"`, `"database":"embedded SQLite in ./data"`,
		`"sms":"log"`, `"vonage_api_key":"unset"`, `"vonage_api_secret":"unset"`} {
		if !strings.Contains(devLog.String(), want) {
			t.Errorf("JSON log lacks %s: %s", want, devLog.String())
		}
	}
}

// merge returns the union of environments, later ones winning.
func merge(envs ...env) env {
	out := env{}
	for _, e := range envs {
		for k, v := range e {
			out[k] = v
		}
	}
	return out
}

// TestBrandLogoAndTemplatesDir: a logo is an https URL (http only in development) or an existing
// file; the templates directory must exist.
func TestBrandLogoAndTemplatesDir(t *testing.T) {
	dir := t.TempDir()
	logo := dir + "/logo.png"
	if err := os.WriteFile(logo, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  env
		bad  string // the variable named in the error, or "" for valid
	}{
		{"file and dir", env{"IDP_BRAND_LOGO": logo, "IDP_TEMPLATES_DIR": dir}, ""},
		{"https URL in production", merge(prodEnv(), env{"IDP_BRAND_LOGO": "https://cdn.example/logo.svg"}), ""},
		{"http URL in development", env{"IDP_BRAND_LOGO": "http://localhost:9000/logo.svg"}, ""},
		{"http URL in production", merge(prodEnv(), env{"IDP_BRAND_LOGO": "http://cdn.example/logo.svg"}), "IDP_BRAND_LOGO"},
		{"missing file", env{"IDP_BRAND_LOGO": dir + "/nope.png"}, "IDP_BRAND_LOGO"},
		{"templates dir is a file", env{"IDP_TEMPLATES_DIR": logo}, "IDP_TEMPLATES_DIR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.env.get)
			if err == nil {
				err = c.Validate()
			}
			if tt.bad == "" && err != nil {
				t.Fatal(err)
			}
			if tt.bad != "" && (err == nil || !strings.Contains(err.Error(), tt.bad)) {
				t.Fatalf("err = %v, want one naming %s", err, tt.bad)
			}
		})
	}
}
