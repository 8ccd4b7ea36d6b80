package sms

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Errors of NormalizePhone. Their text is fixed and fit to show to the person; the country
// error is wrapped with the ISO 3166 code of the number's country ("…: DE").
var (
	ErrPhoneInvalid      = errors.New("This is not a valid phone number. Check it, and start with + and the country code if it is not a local number.")
	ErrPhoneNotMobile    = errors.New("This number cannot receive text messages. Enter a mobile number.")
	ErrCountryNotAllowed = errors.New("We cannot send security codes to numbers in this country.")
)

// maxPhoneInput bounds what NormalizePhone parses.
const maxPhoneInput = 64

// NormalizePhone parses what a person typed (national format is read in defaultRegion, an ISO
// 3166 alpha-2 code such as "GB") and returns the number in E.164 ("+447400123456") and its
// region. It refuses, in this order: anything that is not a valid number or carries an extension
// (ErrPhoneInvalid); a number whose country is not in allowed, compared case-insensitively, an
// empty list allowing every country (an error wrapping ErrCountryNotAllowed); and a number the
// metadata knows cannot be a mobile (ErrPhoneNotMobile) — only MOBILE and FIXED_LINE_OR_MOBILE
// (used where the two share ranges, such as the US) pass, so landlines, toll-free, premium-rate,
// VoIP and pager numbers are refused.
func NormalizePhone(raw, defaultRegion string, allowed []string) (e164 string, region string, err error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > maxPhoneInput {
		return "", "", ErrPhoneInvalid
	}
	num, perr := phonenumbers.Parse(raw, strings.ToUpper(strings.TrimSpace(defaultRegion)))
	if perr != nil || !phonenumbers.IsValidNumber(num) || num.GetExtension() != "" {
		return "", "", ErrPhoneInvalid
	}
	region = phonenumbers.GetRegionCodeForNumber(num)
	if region == "" {
		// Non-geographic numbers (satellite, global services) have no country to allow.
		return "", "", ErrPhoneNotMobile
	}
	if len(allowed) > 0 && !containsFold(allowed, region) {
		return "", "", fmt.Errorf("%w: %s", ErrCountryNotAllowed, region)
	}
	switch phonenumbers.GetNumberType(num) {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
	default:
		return "", "", ErrPhoneNotMobile
	}
	return phonenumbers.Format(num, phonenumbers.E164), region, nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(strings.TrimSpace(v), s) {
			return true
		}
	}
	return false
}
