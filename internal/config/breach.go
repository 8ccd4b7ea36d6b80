package config

import (
	"fmt"
	"net/url"
)

// Values of IDP_BREACH_CHECK.
const (
	BreachCheckOff  = "off"  // the bundled list and the offline rules of internal/password only
	BreachCheckHIBP = "hibp" // also the Have I Been Pwned Pwned Passwords range API
)

// validateBreachCheck checks IDP_BREACH_CHECK and, when it is "hibp", IDP_HIBP_API_URL.
func (c Config) validateBreachCheck() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.BreachCheck {
	case BreachCheckOff:
	case BreachCheckHIBP:
		u, err := url.Parse(c.HIBPAPIURL)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
			add("%s must be an http(s) URL without credentials, query or fragment, such as https://api.pwnedpasswords.com.", varHIBPAPIURL)
		case c.Production() && u.Scheme != "https":
			add("%s must be https in production: password hash prefixes must not travel in clear text.", varHIBPAPIURL)
		}
	default:
		add("%s must be %q or %q, not %q.", varBreachCheck, BreachCheckOff, BreachCheckHIBP, c.BreachCheck)
	}
	return errs
}
