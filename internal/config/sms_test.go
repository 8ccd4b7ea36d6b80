package config

import (
	"maps"
	"strings"
	"testing"
	"time"
)

// withEnv returns base with extra added (extra wins).
func withEnv(base, extra env) env {
	e := env{}
	maps.Copy(e, base)
	maps.Copy(e, extra)
	return e
}

// vonageEnv is the pair of Vonage credentials.
var vonageEnv = env{"VONAGE_API_KEY": "abcd1234", "VONAGE_API_SECRET": vonageSecret}

func TestLoadSMS(t *testing.T) {
	tests := []struct {
		name  string
		env   env
		check func(t *testing.T, c Config)
	}{
		{"defaults", env{}, func(t *testing.T, c Config) {
			if c.VonageAPIURL != "https://api.nexmo.com" || !c.VonageVoiceFallback || c.PhoneDefaultRegion != "GB" ||
				countriesString(c.VonageAllowedCountries) != "GB" || c.RequireMFA || c.SMSBrand() != "FinTech ID" {
				t.Fatalf("got %v", c)
			}
		}},
		{"allowed countries follow the default region", env{"IDP_PHONE_DEFAULT_REGION": " ie "}, func(t *testing.T, c Config) {
			if c.PhoneDefaultRegion != "IE" || countriesString(c.VonageAllowedCountries) != "IE" {
				t.Fatalf("region %q, allowed %v", c.PhoneDefaultRegion, c.VonageAllowedCountries)
			}
		}},
		{"explicit allowed countries do not follow the region", env{"IDP_PHONE_DEFAULT_REGION": "IE", "VONAGE_ALLOWED_COUNTRIES": "fr"}, func(t *testing.T, c Config) {
			if countriesString(c.VonageAllowedCountries) != "FR" {
				t.Fatalf("allowed %v", c.VonageAllowedCountries)
			}
		}},
		{"allowed countries trimmed, upper-cased, deduplicated", env{"VONAGE_ALLOWED_COUNTRIES": " gb , IE,,gb"}, func(t *testing.T, c Config) {
			if countriesString(c.VonageAllowedCountries) != "GB,IE" {
				t.Fatalf("allowed %v", c.VonageAllowedCountries)
			}
		}},
		{"* allows every country", env{"VONAGE_ALLOWED_COUNTRIES": "*"}, func(t *testing.T, c Config) {
			if c.VonageAllowedCountries == nil || len(c.VonageAllowedCountries) != 0 || countriesString(c.VonageAllowedCountries) != "*" {
				t.Fatalf("allowed %#v", c.VonageAllowedCountries)
			}
		}},
		{"brand falls back to IDP_BRAND_NAME", env{"IDP_BRAND_NAME": "Acme Pay"}, func(t *testing.T, c Config) {
			if c.VonageBrandName != "" || c.SMSBrand() != "Acme Pay" {
				t.Fatalf("VonageBrandName %q, SMSBrand %q", c.VonageBrandName, c.SMSBrand())
			}
		}},
		{"VONAGE_BRAND_NAME wins", env{"IDP_BRAND_NAME": "Acme Pay", "VONAGE_BRAND_NAME": "Acme"}, func(t *testing.T, c Config) {
			if c.SMSBrand() != "Acme" {
				t.Fatalf("SMSBrand %q", c.SMSBrand())
			}
		}},
		{"booleans", env{"VONAGE_VOICE_FALLBACK": "false", "IDP_REQUIRE_MFA": "1"}, func(t *testing.T, c Config) {
			if c.VonageVoiceFallback || !c.RequireMFA {
				t.Fatalf("voice %v, require %v", c.VonageVoiceFallback, c.RequireMFA)
			}
		}},
		{"durations and limits", env{"IDP_SMS_CHALLENGE_TTL": "30m", "IDP_SMS_MAX_ATTEMPTS": "10", "IDP_SMS_LIMIT_NUMBER_10M": "1",
			"IDP_SMS_LIMIT_NUMBER_HOUR": "2", "IDP_SMS_LIMIT_ACCOUNT_DAY": "3", "IDP_SMS_LIMIT_IP_HOUR": "4",
			"IDP_SMS_GLOBAL_HOURLY_CAP": "5", "IDP_RECOVERY_CODE_MAX_FAILURES": "6"}, func(t *testing.T, c Config) {
			got := []int{c.SMSMaxAttempts, c.SMSLimitNumber10m, c.SMSLimitNumberHour, c.SMSLimitAccountDay, c.SMSLimitIPHour,
				c.SMSGlobalHourlyCap, c.RecoveryCodeMaxFailures}
			want := []int{10, 1, 2, 3, 4, 5, 6}
			if c.SMSChallengeTTL != 30*time.Minute || !equalInts(got, want) {
				t.Fatalf("ttl %v, got %v, want %v", c.SMSChallengeTTL, got, want)
			}
		}},
		{"credentials", vonageEnv, func(t *testing.T, c Config) {
			if c.VonageAPIKey != "abcd1234" || c.VonageAPISecret != vonageSecret || c.SMSVerifier() != SMSVonage {
				t.Fatalf("key %q, verifier %q", c.VonageAPIKey, c.SMSVerifier())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.env)
			tt.check(t, c)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestLoadSMSErrors: a value that does not parse is named with its variable, and the setting
// keeps its default.
func TestLoadSMSErrors(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"VONAGE_VOICE_FALLBACK", "maybe", `VONAGE_VOICE_FALLBACK="maybe" is not true or false`},
		{"IDP_REQUIRE_MFA", "yes please", `IDP_REQUIRE_MFA="yes please" is not true or false`},
		{"VONAGE_ALLOWED_COUNTRIES", ", ,", `VONAGE_ALLOWED_COUNTRIES=", ," is not a comma-separated list of ISO 3166 alpha-2 country codes (GB,IE) or * for every country`},
		{"IDP_SMS_CHALLENGE_TTL", "10", `IDP_SMS_CHALLENGE_TTL="10" is not a duration`},
		{"IDP_SMS_MAX_ATTEMPTS", "five", `IDP_SMS_MAX_ATTEMPTS="five" is not a whole number`},
		{"IDP_SMS_LIMIT_NUMBER_10M", "3.5", `IDP_SMS_LIMIT_NUMBER_10M="3.5" is not a whole number`},
		{"IDP_SMS_LIMIT_NUMBER_HOUR", "lots", `IDP_SMS_LIMIT_NUMBER_HOUR="lots" is not a whole number`},
		{"IDP_SMS_LIMIT_ACCOUNT_DAY", "1e3", `IDP_SMS_LIMIT_ACCOUNT_DAY="1e3" is not a whole number`},
		{"IDP_SMS_LIMIT_IP_HOUR", "ten", `IDP_SMS_LIMIT_IP_HOUR="ten" is not a whole number`},
		{"IDP_SMS_GLOBAL_HOURLY_CAP", "1,000", `IDP_SMS_GLOBAL_HOURLY_CAP="1,000" is not a whole number`},
		{"IDP_RECOVERY_CODE_MAX_FAILURES", "x", `IDP_RECOVERY_CODE_MAX_FAILURES="x" is not a whole number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env{tt.name: tt.value}.get)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load() = %v, want %q", err, tt.want)
			}
			if c.String() != Default().String() {
				t.Errorf("a bad value changed the config:\n got %v\nwant %v", c, Default())
			}
		})
	}
}

func TestValidateSMS(t *testing.T) {
	tests := []struct {
		name string
		prod bool
		env  env
		want []string // fragments of the error; none = valid
	}{
		{"development without Vonage", false, env{}, nil},
		{"production without Vonage is not an error", true, env{}, nil},
		{"production with Vonage", true, vonageEnv, nil},
		{"development requires two-step with the log verifier", false, env{"IDP_REQUIRE_MFA": "true"}, nil},
		{"production requires two-step with Vonage", true, withEnv(vonageEnv, env{"IDP_REQUIRE_MFA": "true"}), nil},
		{"brand of 16 characters", true, withEnv(vonageEnv, env{"VONAGE_BRAND_NAME": "Acme Pay Limited"}), nil},
		{"brand of 16 non-ASCII characters", true, withEnv(vonageEnv, env{"VONAGE_BRAND_NAME": "Ünïcödé Bänk Äpp"}), nil},
		{"long IDP_BRAND_NAME without Vonage", true, env{"IDP_BRAND_NAME": "Acme Payments International"}, nil},
		{"long IDP_BRAND_NAME with a short VONAGE_BRAND_NAME", true,
			withEnv(vonageEnv, env{"IDP_BRAND_NAME": "Acme Payments International", "VONAGE_BRAND_NAME": "Acme Pay"}), nil},
		{"http Vonage URL (a local fake)", false, env{"VONAGE_API_URL": "http://127.0.0.1:9999/"}, nil},
		{"every country", true, env{"VONAGE_ALLOWED_COUNTRIES": "*"}, nil},
		{"several countries", false, env{"IDP_PHONE_DEFAULT_REGION": "US", "VONAGE_ALLOWED_COUNTRIES": "us,CA,pr"}, nil},
		{"challenge TTL bounds", false, env{"IDP_SMS_CHALLENGE_TTL": "1m", "IDP_SMS_MAX_ATTEMPTS": "1"}, nil},
		{"challenge TTL upper bound", false, env{"IDP_SMS_CHALLENGE_TTL": "30m", "IDP_SMS_MAX_ATTEMPTS": "10"}, nil},

		{"key without secret", false, env{"VONAGE_API_KEY": "abcd1234"},
			[]string{"VONAGE_API_KEY and VONAGE_API_SECRET must be set together, or neither"}},
		{"secret without key", true, env{"VONAGE_API_SECRET": vonageSecret},
			[]string{"VONAGE_API_KEY and VONAGE_API_SECRET must be set together, or neither"}},
		{"key with a colon", false, withEnv(vonageEnv, env{"VONAGE_API_KEY": "ab:cd"}),
			[]string{"VONAGE_API_KEY must not contain a colon or control characters."}},
		{"secret with a control character", false, withEnv(vonageEnv, env{"VONAGE_API_SECRET": "ab\x01cd-" + vonageSecret}),
			[]string{"VONAGE_API_SECRET must not contain control characters."}},
		{"Vonage URL not http", false, env{"VONAGE_API_URL": "ftp://api.nexmo.com"},
			[]string{"VONAGE_API_URL must be an http(s) URL without credentials, query or fragment"}},
		{"Vonage URL without scheme", false, env{"VONAGE_API_URL": "api.nexmo.com"},
			[]string{"VONAGE_API_URL must be an http(s) URL"}},
		{"Vonage URL with credentials", false, env{"VONAGE_API_URL": "https://u:" + vonageSecret + "@api.nexmo.com"},
			[]string{"VONAGE_API_URL must be an http(s) URL without credentials"}},
		{"Vonage URL with a query", false, env{"VONAGE_API_URL": "https://api.nexmo.com?x=1"},
			[]string{"VONAGE_API_URL must be an http(s) URL"}},
		{"brand of 17 characters", false, env{"VONAGE_BRAND_NAME": "Acme Pay Limited!"},
			[]string{"VONAGE_BRAND_NAME must be at most 16 printable characters (Vonage's limit)."}},
		{"brand with a control character", false, env{"VONAGE_BRAND_NAME": "Acme\x07Pay"},
			[]string{"VONAGE_BRAND_NAME must be at most 16 printable characters"}},
		{"long IDP_BRAND_NAME with Vonage", true, withEnv(vonageEnv, env{"IDP_BRAND_NAME": "Acme Payments International"}),
			[]string{"VONAGE_BRAND_NAME must be set to a name of at most 16 characters for the SMS: IDP_BRAND_NAME is longer than Vonage accepts."}},
		{"region UK", false, env{"IDP_PHONE_DEFAULT_REGION": "uk"},
			[]string{`IDP_PHONE_DEFAULT_REGION must be an ISO 3166 alpha-2 country code such as GB, not "UK".`}},
		{"region of three letters", false, env{"IDP_PHONE_DEFAULT_REGION": "GBR", "VONAGE_ALLOWED_COUNTRIES": "GB"},
			[]string{`IDP_PHONE_DEFAULT_REGION must be an ISO 3166 alpha-2 country code such as GB, not "GBR".`}},
		{"region non-geographic", false, env{"IDP_PHONE_DEFAULT_REGION": "001", "VONAGE_ALLOWED_COUNTRIES": "GB"},
			[]string{`IDP_PHONE_DEFAULT_REGION must be an ISO 3166 alpha-2 country code such as GB, not "001".`}},
		{"allowed UK", false, env{"VONAGE_ALLOWED_COUNTRIES": "GB,uk"},
			[]string{`VONAGE_ALLOWED_COUNTRIES must list ISO 3166 alpha-2 country codes (GB,IE) or be * alone for every country; "UK" is not one. The United Kingdom is GB.`}},
		{"allowed * among codes", false, env{"VONAGE_ALLOWED_COUNTRIES": "GB,*"},
			[]string{`VONAGE_ALLOWED_COUNTRIES must list ISO 3166 alpha-2 country codes (GB,IE) or be * alone for every country; "*" is not one.`}},
		{"allowed unknown codes", false, env{"VONAGE_ALLOWED_COUNTRIES": "EU, X1 ,GBR"},
			[]string{`"EU", "X1", "GBR" is not one.`}},
		{"production requires two-step without Vonage", true, env{"IDP_REQUIRE_MFA": "true"},
			[]string{"IDP_REQUIRE_MFA=true needs VONAGE_API_KEY and VONAGE_API_SECRET in production: without SMS nobody could turn two-step on, so nobody could sign in."}},
		{"challenge TTL too short", false, env{"IDP_SMS_CHALLENGE_TTL": "59s"},
			[]string{"IDP_SMS_CHALLENGE_TTL must be from 1m to 30m, not 59s."}},
		{"challenge TTL too long", false, env{"IDP_SMS_CHALLENGE_TTL": "31m"},
			[]string{"IDP_SMS_CHALLENGE_TTL must be from 1m to 30m, not 31m0s."}},
		{"no attempts", false, env{"IDP_SMS_MAX_ATTEMPTS": "0"}, []string{"IDP_SMS_MAX_ATTEMPTS must be from 1 to 10, not 0."}},
		{"eleven attempts", false, env{"IDP_SMS_MAX_ATTEMPTS": "11"}, []string{"IDP_SMS_MAX_ATTEMPTS must be from 1 to 10, not 11."}},
		{"every limit at zero or below", false, env{"IDP_SMS_LIMIT_NUMBER_10M": "0", "IDP_SMS_LIMIT_NUMBER_HOUR": "-1",
			"IDP_SMS_LIMIT_ACCOUNT_DAY": "0", "IDP_SMS_LIMIT_IP_HOUR": "0", "IDP_SMS_GLOBAL_HOURLY_CAP": "0", "IDP_RECOVERY_CODE_MAX_FAILURES": "0"},
			[]string{"IDP_SMS_LIMIT_NUMBER_10M must be at least 1, not 0.", "IDP_SMS_LIMIT_NUMBER_HOUR must be at least 1, not -1.",
				"IDP_SMS_LIMIT_ACCOUNT_DAY must be at least 1, not 0.", "IDP_SMS_LIMIT_IP_HOUR must be at least 1, not 0.",
				"IDP_SMS_GLOBAL_HOURLY_CAP must be at least 1, not 0.", "IDP_RECOVERY_CODE_MAX_FAILURES must be at least 1, not 0."}},
		{"everything at once", true, env{"VONAGE_API_KEY": "k", "IDP_REQUIRE_MFA": "true", "IDP_PHONE_DEFAULT_REGION": "XX", "IDP_SMS_MAX_ATTEMPTS": "0"},
			[]string{"must be set together", "IDP_REQUIRE_MFA=true", "IDP_PHONE_DEFAULT_REGION", "IDP_SMS_MAX_ATTEMPTS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := env{}
			if tt.prod {
				base = prodEnv()
			}
			c := mustLoad(t, withEnv(base, tt.env))
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.want)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("Validate() =\n%s\nlacks %q", msg, w)
				}
			}
			if n := strings.Count(msg, "\n") + 1; n != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%s", n, len(tt.want), msg)
			}
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasSuffix(line, ".") {
					t.Errorf("problem %q is not a sentence", line)
				}
			}
			for _, secret := range []string{vonageSecret, "ab:cd"} {
				if strings.Contains(msg, secret) {
					t.Errorf("Validate() leaks a secret: %s", msg)
				}
			}
		})
	}
}

func TestSMSVerifierAndWarning(t *testing.T) {
	tests := []struct {
		name     string
		prod     bool
		env      env
		verifier string
		warning  string // fragment; "" = no warning
	}{
		{"development without Vonage", false, env{}, SMSLog, "SMS codes are only logged and listed at /dev/outbox"},
		{"production without Vonage", true, env{}, SMSNone, "SMS two-step is not offered"},
		{"production with only the key", true, env{"VONAGE_API_KEY": "k"}, SMSNone, "SMS two-step is not offered"},
		{"development with Vonage", false, vonageEnv, SMSVonage, ""},
		{"production with Vonage", true, vonageEnv, SMSVonage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := env{}
			if tt.prod {
				base = prodEnv()
			}
			c := mustLoad(t, withEnv(base, tt.env))
			if got := c.SMSVerifier(); got != tt.verifier {
				t.Errorf("SMSVerifier() = %q, want %q", got, tt.verifier)
			}
			w := c.SMSWarning()
			if (tt.warning == "") != (w == "") || !strings.Contains(w, tt.warning) {
				t.Errorf("SMSWarning() = %q, want %q", w, tt.warning)
			}
			if strings.Contains(w, vonageSecret) {
				t.Errorf("SMSWarning() leaks the secret: %q", w)
			}
		})
	}
}

// TestSMSDefaultsFollowFlags: --env does not disturb the SMS settings derived from
// IDP_PHONE_DEFAULT_REGION.
func TestSMSDefaultsFollowFlags(t *testing.T) {
	c := mustLoad(t, env{"IDP_PHONE_DEFAULT_REGION": "DE"})
	c.Env = EnvProduction
	c.derive()
	if countriesString(c.VonageAllowedCountries) != "DE" {
		t.Fatalf("allowed %v", c.VonageAllowedCountries)
	}
	c = mustLoad(t, env{"VONAGE_ALLOWED_COUNTRIES": "*"})
	c.derive()
	if countriesString(c.VonageAllowedCountries) != "*" {
		t.Fatalf("allowed %v", c.VonageAllowedCountries)
	}
}
