package main

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/config"
	"github.com/fintech-idp/idp/internal/sms"
)

// TestNewMFA: the verifier follows the configuration and every setting reaches idp.MFA.
func TestNewMFA(t *testing.T) {
	prod := map[string]string{"IDP_ENV": "production", "ISSUER": "https://id.example.com", "SECRET_KEY": "0123456789abcdef0123456789abcdef",
		"SMTP_URL": "smtp://mail.example.com:587", "SENDER_EMAIL": "no-reply@example.com"}
	vonage := map[string]string{"VONAGE_API_KEY": "abcd1234", "VONAGE_API_SECRET": "vonage-secret", "VONAGE_API_URL": "http://127.0.0.1:1"}
	merge := func(ms ...map[string]string) func(string) string {
		out := map[string]string{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return func(k string) string { return out[k] }
	}
	tests := []struct {
		name     string
		getenv   func(string) string
		verifier string // "vonage", "log" or "" (none)
		warning  bool
	}{
		{"development without Vonage", merge(), "log", true},
		{"production without Vonage", merge(prod), "", true},
		{"production with Vonage", merge(prod, vonage), "vonage", false},
		{"development with Vonage", merge(vonage), "vonage", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(tt.getenv)
			if err == nil {
				err = cfg.Validate()
			}
			if err != nil {
				t.Fatal(err)
			}
			var logs syncBuffer
			mfa, err := newMFA(&cfg, newLogger(&cfg, &logs), nil)
			if err != nil {
				t.Fatal(err)
			}
			switch v := mfa.Verifier.(type) {
			case *sms.Vonage:
				if tt.verifier != "vonage" || mfa.SMSOutbox != nil {
					t.Errorf("got Vonage (outbox %v), want %q", mfa.SMSOutbox, tt.verifier)
				}
			case *sms.Log:
				if tt.verifier != "log" || mfa.SMSOutbox != v {
					t.Errorf("got the log verifier (outbox %v), want %q", mfa.SMSOutbox, tt.verifier)
				}
			case nil:
				if tt.verifier != "" || mfa.SMSOutbox != nil {
					t.Errorf("got no verifier, want %q", tt.verifier)
				}
			default:
				t.Errorf("verifier %T", v)
			}
			if got := logs.String(); tt.warning != (got != "") {
				t.Errorf("warning = %v, want %v: %s", got != "", tt.warning, got)
			}
			want := cfg
			if mfa.Brand != "FinTech ID" || mfa.VoiceFallback != want.VonageVoiceFallback || !slices.Equal(mfa.AllowedCountries, []string{"GB"}) ||
				mfa.DefaultRegion != "GB" || mfa.Require || mfa.ChallengeTTL != 10*time.Minute || mfa.MaxAttempts != 5 ||
				mfa.SendLimitNumber10m != want.SMSLimitNumber10m || mfa.SendLimitNumberHour != want.SMSLimitNumberHour ||
				mfa.SendLimitAccountDay != want.SMSLimitAccountDay || mfa.SendLimitIPHour != want.SMSLimitIPHour || mfa.GlobalHourlyCap != 1000 || mfa.RecoveryMaxFailures != 5 {
				t.Errorf("MFA settings = %+v", mfa)
			}
		})
	}
}

// TestNewMFASettings: non-default values reach idp.MFA, "*" allows every country.
func TestNewMFASettings(t *testing.T) {
	env := map[string]string{"VONAGE_BRAND_NAME": "Acme", "VONAGE_VOICE_FALLBACK": "false", "VONAGE_ALLOWED_COUNTRIES": "*",
		"IDP_PHONE_DEFAULT_REGION": "ie", "IDP_REQUIRE_MFA": "true", "IDP_SMS_CHALLENGE_TTL": "5m", "IDP_SMS_MAX_ATTEMPTS": "3",
		"IDP_SMS_LIMIT_NUMBER_10M": "2", "IDP_SMS_LIMIT_NUMBER_HOUR": "4", "IDP_SMS_LIMIT_ACCOUNT_DAY": "6",
		"IDP_SMS_LIMIT_IP_HOUR": "7", "IDP_SMS_GLOBAL_HOURLY_CAP": "50", "IDP_RECOVERY_CODE_MAX_FAILURES": "2"}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	mfa, err := newMFA(&cfg, newLogger(&cfg, &logs), nil)
	if err != nil {
		t.Fatal(err)
	}
	if mfa.Brand != "Acme" || mfa.VoiceFallback || len(mfa.AllowedCountries) != 0 || mfa.DefaultRegion != "IE" || !mfa.Require ||
		mfa.ChallengeTTL != 5*time.Minute || mfa.MaxAttempts != 3 || mfa.SendLimitNumber10m != 2 || mfa.SendLimitNumberHour != 4 ||
		mfa.SendLimitAccountDay != 6 || mfa.SendLimitIPHour != 7 || mfa.GlobalHourlyCap != 50 || mfa.RecoveryMaxFailures != 2 {
		t.Errorf("MFA settings = %+v", mfa)
	}
}

func TestVonageCallOutcome(t *testing.T) {
	for outcome, want := range map[string]string{
		sms.OutcomeOK: "ok", sms.OutcomeWrongCode: "ok", sms.OutcomeTooManyWrong: "ok", sms.OutcomeNotFound: "ok",
		sms.OutcomeConflict: "ok", sms.OutcomeInvalid: "error", sms.OutcomeThrottled: "error",
		sms.OutcomeUnavailable: "error", sms.OutcomeCanceled: "error", "something new": "error",
	} {
		if got := vonageCallOutcome(outcome); got != want {
			t.Errorf("vonageCallOutcome(%q) = %q, want %q", outcome, got, want)
		}
	}
}

// TestListenMetricsBusyPort: a busy default metrics port is only a warning in development (a local
// Prometheus owns 9090), but an address the operator chose, or production, must bind.
func TestListenMetricsBusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	tests := []struct {
		name     string
		prod     bool
		explicit bool
		wantErr  bool
	}{
		{"development default", false, false, false},
		{"development explicit", false, true, true},
		{"production", true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			if tt.prod {
				cfg.Env = config.EnvProduction
			}
			cfg.MetricsAddr, cfg.MetricsAddrExplicit = addr, tt.explicit
			var logs syncBuffer
			ln, err := listenMetrics(&cfg, newLogger(&cfg, &logs))
			if ln != nil {
				ln.Close()
				t.Fatal("bound a busy port")
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "IDP_METRICS_ADDR") {
				t.Fatalf("error %q does not name IDP_METRICS_ADDR", err)
			}
			if !tt.wantErr && !strings.Contains(logs.String(), "IDP_METRICS_ADDR") {
				t.Fatalf("no warning naming IDP_METRICS_ADDR in %s", logs.String())
			}
		})
	}
}
