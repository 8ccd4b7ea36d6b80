package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// SMS verifiers SMSVerifier can name.
const (
	SMSVonage = "vonage"
	SMSLog    = "log"
	SMSNone   = "none"
)

// Limits of the SMS settings.
const (
	// maxSMSBrandLen: Vonage Verify v2 accepts a brand of 1 to 16 characters (its API reference
	// and server SDKs); a longer one is refused with 422 at every Start.
	maxSMSBrandLen     = 16
	minSMSChallengeTTL = time.Minute
	maxSMSChallengeTTL = 30 * time.Minute
	maxSMSMaxAttempts  = 10
)

// SMSVerifier says which verifier the settings select: Vonage when VONAGE_API_KEY and
// VONAGE_API_SECRET are both set, the log verifier in development, none otherwise (production
// without Vonage: SMS two-step is not offered, which SMSWarning explains).
func (c Config) SMSVerifier() string {
	switch {
	case c.VonageAPIKey != "" && c.VonageAPISecret != "":
		return SMSVonage
	case !c.Production():
		return SMSLog
	}
	return SMSNone
}

// SMSWarning is the warning serve logs at start about SMS two-step, or "" when Vonage is
// configured. It is not an error for production to run without Vonage (README, "SMS two-step": SMS two-step
// is then not offered), but the operator should know, since people who already turned two-step
// on can then sign in only with a recovery code.
func (c Config) SMSWarning() string {
	switch c.SMSVerifier() {
	case SMSLog:
		return "no " + varVonageAPIKey + "/" + varVonageAPISecret + ": SMS codes are only logged and listed at /dev/outbox (development)"
	case SMSNone:
		return "no " + varVonageAPIKey + "/" + varVonageAPISecret + ": SMS two-step is not offered; people who already turned it on can sign in only with a recovery code"
	}
	return ""
}

// SMSBrand is the name shown in the SMS: VONAGE_BRAND_NAME, default IDP_BRAND_NAME.
func (c Config) SMSBrand() string {
	if c.VonageBrandName != "" {
		return c.VonageBrandName
	}
	return c.BrandName
}

// validateSMS checks the Vonage and SMS two-step settings.
func (c Config) validateSMS() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	// Never quote the credentials.
	if (c.VonageAPIKey == "") != (c.VonageAPISecret == "") {
		add("%s and %s must be set together, or neither (then SMS two-step is not offered in production).", varVonageAPIKey, varVonageAPISecret)
	}
	if strings.ContainsAny(c.VonageAPIKey, ":") || hasControl(c.VonageAPIKey) {
		add("%s must not contain a colon or control characters.", varVonageAPIKey)
	}
	if hasControl(c.VonageAPISecret) {
		add("%s must not contain control characters.", varVonageAPISecret)
	}
	// The URL is sent the credentials: no user info, query or fragment either (sms.NewVonage
	// refuses them too, later and less clearly).
	if u, err := url.Parse(c.VonageAPIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		add("%s must be an http(s) URL without credentials, query or fragment, such as https://api.nexmo.com.", varVonageAPIURL)
	}

	switch {
	case c.VonageBrandName != "" && (utf8.RuneCountInString(c.VonageBrandName) > maxSMSBrandLen || hasControl(c.VonageBrandName)):
		add("%s must be at most %d printable characters (Vonage's limit).", varVonageBrandName, maxSMSBrandLen)
	case c.VonageBrandName == "" && c.SMSVerifier() == SMSVonage &&
		(utf8.RuneCountInString(c.BrandName) > maxSMSBrandLen || hasControl(c.BrandName)):
		add("%s must be set to a name of at most %d characters for the SMS: %s is longer than Vonage accepts.", varVonageBrandName, maxSMSBrandLen, varBrandName)
	}

	if !knownRegion(c.PhoneDefaultRegion) {
		add("%s must be an ISO 3166 alpha-2 country code such as GB, not %q.", varPhoneDefaultRegion, c.PhoneDefaultRegion)
	}
	if c.allowedCountriesExplicit {
		var bad []string
		for _, cc := range c.VonageAllowedCountries {
			if !knownRegion(cc) {
				bad = append(bad, fmt.Sprintf("%q", cc))
			}
		}
		if len(bad) > 0 {
			hint := ""
			if slices.Contains(c.VonageAllowedCountries, "UK") {
				hint = " The United Kingdom is GB."
			}
			add("%s must list ISO 3166 alpha-2 country codes (GB,IE) or be * alone for every country; %s is not one.%s",
				varVonageAllowedCountries, strings.Join(bad, ", "), hint)
		}
	}

	if c.RequireMFA && c.SMSVerifier() == SMSNone {
		add("%s=true needs %s and %s in production: without SMS nobody could turn two-step on, so nobody could sign in.",
			varRequireMFA, varVonageAPIKey, varVonageAPISecret)
	}
	if c.SMSChallengeTTL < minSMSChallengeTTL || c.SMSChallengeTTL > maxSMSChallengeTTL {
		add("%s must be from 1m to 30m, not %s.", varSMSChallengeTTL, c.SMSChallengeTTL)
	}
	if c.SMSMaxAttempts < 1 || c.SMSMaxAttempts > maxSMSMaxAttempts {
		add("%s must be from 1 to %d, not %d.", varSMSMaxAttempts, maxSMSMaxAttempts, c.SMSMaxAttempts)
	}
	for _, n := range []struct {
		name string
		v    int
	}{
		{varSMSLimitNumber10m, c.SMSLimitNumber10m},
		{varSMSLimitNumberHour, c.SMSLimitNumberHour},
		{varSMSLimitAccountDay, c.SMSLimitAccountDay},
		{varSMSLimitIPHour, c.SMSLimitIPHour},
		{varSMSGlobalHourlyCap, c.SMSGlobalHourlyCap},
		{varRecoveryCodeMaxFailures, c.RecoveryCodeMaxFailures},
	} {
		if n.v < 1 {
			add("%s must be at least 1, not %d.", n.name, n.v)
		}
	}
	return errs
}

// parseCountries reads VONAGE_ALLOWED_COUNTRIES: "*" is every country (an empty, non-nil list);
// otherwise comma-separated codes, trimmed, upper-cased, duplicates dropped. Validate checks
// that each is a country code. ok is false when no code is listed at all (say ","), which must
// not silently mean every country.
func parseCountries(raw string) (countries []string, ok bool) {
	if strings.TrimSpace(raw) == "*" {
		return []string{}, true
	}
	for _, part := range strings.Split(raw, ",") {
		cc := strings.ToUpper(strings.TrimSpace(part))
		if cc != "" && !slices.Contains(countries, cc) {
			countries = append(countries, cc)
		}
	}
	return countries, len(countries) > 0
}

// countriesString renders VonageAllowedCountries for logs: "*" for every country.
func countriesString(countries []string) string {
	if len(countries) == 0 {
		return "*"
	}
	return strings.Join(countries, ",")
}

// knownRegion reports whether cc is two upper-case letters that the phone number metadata
// (nyaruka/phonenumbers, which internal/sms parses numbers with) knows as a region: "UK", "EU"
// and lower case are refused.
func knownRegion(cc string) bool {
	if len(cc) != 2 || strings.Trim(cc, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return false
	}
	return phonenumbers.GetCountryCodeForRegion(cc) != 0
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}
