package idp

import (
	"time"

	"github.com/fintech-idp/idp/internal/sms"
)

// MFA configures the SMS second factor (docs/ARCHITECTURE.md, "Second factor" and "Rules that hold everywhere"). The zero value
// offers no SMS: users who already have two-step on then pass only with a recovery code (fail
// closed), and nobody can turn it on.
type MFA struct {
	// Verifier sends and checks the codes: sms.Vonage in production, sms.Log in development
	// without Vonage credentials. nil: SMS two-step is not offered.
	Verifier sms.Verifier
	// SMSOutbox (development only) lists the codes the log verifier "sent" on /dev/outbox.
	SMSOutbox *sms.Log
	// Brand is VONAGE_BRAND_NAME, shown in the message; empty: the brand name.
	Brand string
	// VoiceFallback (VONAGE_VOICE_FALLBACK, default true) adds the voice call step after SMS and
	// offers "Call me instead".
	VoiceFallback bool
	// AllowedCountries (VONAGE_ALLOWED_COUNTRIES, ISO 3166 alpha-2) are the only destinations
	// codes are sent to; empty allows every country.
	AllowedCountries []string
	// DefaultRegion (IDP_PHONE_DEFAULT_REGION) is how national numbers are read.
	DefaultRegion string
	// Require (IDP_REQUIRE_MFA) makes every user enrol at their next sign-in.
	Require bool
	// ChallengeTTL (IDP_SMS_CHALLENGE_TTL, default 10m) is how long one SMS challenge runs.
	ChallengeTTL time.Duration
	// MaxAttempts (IDP_SMS_MAX_ATTEMPTS, default 5) wrong codes end a challenge.
	MaxAttempts int

	// Send limits, each counted in the store so that it holds across replicas.
	SendLimitNumber10m  int // IDP_SMS_LIMIT_NUMBER_10M: per number per 10 minutes, default 3
	SendLimitNumberHour int // IDP_SMS_LIMIT_NUMBER_HOUR: per number per hour, default 5
	SendLimitAccountDay int // IDP_SMS_LIMIT_ACCOUNT_DAY: per account per day, default 10
	SendLimitIPHour     int // IDP_SMS_LIMIT_IP_HOUR: per client IP per hour, default 10
	// GlobalHourlyCap (IDP_SMS_GLOBAL_HOURLY_CAP, default 1000): above it no SMS is sent by any
	// replica for the rest of the hour and an alert is logged.
	GlobalHourlyCap int
	// RecoveryMaxFailures (IDP_RECOVERY_CODE_MAX_FAILURES, default 5) wrong recovery codes per
	// account per hour.
	RecoveryMaxFailures int
}

// withDefaults fills every zero limit with its documented default.
func (m MFA) withDefaults() MFA {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if m.ChallengeTTL <= 0 {
		m.ChallengeTTL = 10 * time.Minute
	}
	def(&m.MaxAttempts, 5)
	def(&m.SendLimitNumber10m, 3)
	def(&m.SendLimitNumberHour, 5)
	def(&m.SendLimitAccountDay, 10)
	def(&m.SendLimitIPHour, 10)
	def(&m.GlobalHourlyCap, 1000)
	def(&m.RecoveryMaxFailures, 5)
	return m
}
