package sms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Verifier starts, checks, escalates and cancels phone verifications. Implementations are safe
// for concurrent use. Every error wraps one of the sentinel errors below; a nil error is success.
// Every verification that was started must end with a successful Check or a Cancel: Vonage's
// fraud system blocks networks whose verifications are never concluded (docs/VENDORS.md).
type Verifier interface {
	// Start sends a code to r.To (SMS, then a voice call when r.Voice) and returns the request id
	// to store on the pending challenge. ErrInvalid: r is malformed or refused by the provider.
	// A *ConflictError (errors.Is ErrConflict): a verification to that number is still running;
	// it carries that verification's request id. ErrThrottled, ErrUnavailable. Start is never
	// retried by the implementation: a retry could send (and bill) a second message.
	Start(ctx context.Context, r StartRequest) (requestID string, err error)
	// Check tells whether code is the code of requestID. nil: correct, the verification is done
	// (a later Check or Cancel gives ErrNotFound). ErrWrongCode: wrong, another try is allowed.
	// ErrTooManyWrong: too many wrong codes, the verification is over, start a new one.
	// ErrNotFound: unknown, expired or already finished. ErrInvalid: the code is not 4–10 digits
	// (nothing was sent to the provider). ErrThrottled, ErrUnavailable. Never retried by the
	// implementation: a retry could burn one of the person's attempts.
	Check(ctx context.Context, requestID, code string) error
	// NextChannel moves to the next step of the workflow now ("call me instead"). ErrConflict:
	// there is no next step (no voice step was requested, or it is already running).
	// ErrNotFound, ErrThrottled, ErrUnavailable.
	NextChannel(ctx context.Context, requestID string) error
	// Cancel ends a running verification. ErrNotFound: unknown, expired or already finished.
	// ErrConflict: the provider refuses to cancel it yet. ErrThrottled, ErrUnavailable.
	Cancel(ctx context.Context, requestID string) error
}

// StartRequest describes one verification.
type StartRequest struct {
	To        string // E.164 with "+", as NormalizePhone returns it
	Brand     string // shown in the message ("Your Acme Pay code is …"); VONAGE_BRAND_NAME
	Locale    string // e.g. "en-gb"; empty: the provider's default
	ClientRef string // our reference, echoed in the provider's callbacks and reports; optional
	Voice     bool   // add the voice fallback step after SMS (VONAGE_VOICE_FALLBACK)
	// ChannelTimeout is how long each step waits before the next one (15 s – 15 min); zero: the
	// provider's default (300 s).
	ChannelTimeout time.Duration
}

// Channel names, as Vonage spells them.
const (
	ChannelSMS   = "sms"
	ChannelVoice = "voice"
)

// Operation names, used as the "op" log attribute and passed to the metrics hook.
const (
	OpStart       = "start"
	OpCheck       = "check"
	OpNextChannel = "next_channel"
	OpCancel      = "cancel"
)

// Outcomes of one operation, used as the "outcome" log attribute and passed to the metrics hook
// (VonageConfig.Observe). Each error outcome names the sentinel the error wraps.
const (
	OutcomeOK           = "ok"
	OutcomeWrongCode    = "wrong_code"
	OutcomeTooManyWrong = "too_many_wrong"
	OutcomeNotFound     = "not_found"
	OutcomeConflict     = "conflict"
	OutcomeInvalid      = "invalid"
	OutcomeThrottled    = "throttled"
	OutcomeUnavailable  = "unavailable"
	OutcomeCanceled     = "canceled" // the caller's ctx ended; the error wraps ErrUnavailable
)

// Bounds of StartRequest.ChannelTimeout (Vonage accepts 15–900 s, default 300 s).
const (
	minChannelTimeout     = 15 * time.Second
	maxChannelTimeout     = 15 * time.Minute
	defaultChannelTimeout = 300 * time.Second
)

var (
	// ErrWrongCode: the code is wrong; another try is allowed (Vonage 400 on check).
	ErrWrongCode = errors.New("sms: wrong code")
	// ErrTooManyWrong: too many wrong codes; the verification is over, start a new one (Vonage 410).
	ErrTooManyWrong = errors.New("sms: too many wrong codes")
	// ErrNotFound: the verification is unknown, expired or already finished (Vonage 404).
	ErrNotFound = errors.New("sms: verification not found")
	// ErrConflict: on Start, a verification to that number is running (Vonage 409; the error is a
	// *ConflictError); on NextChannel or Cancel, the verification cannot do that now.
	ErrConflict = errors.New("sms: conflicting verification")
	// ErrInvalid: the request is malformed or the provider refused its parameters (Vonage 422,
	// and 400 outside check).
	ErrInvalid = errors.New("sms: invalid verification request")
	// ErrThrottled: too many requests (Vonage 429). Try again later.
	ErrThrottled = errors.New("sms: throttled")
	// ErrUnavailable: no usable answer (5xx, timeouts, network errors, a canceled ctx, bad
	// credentials and any other unexpected answer). The second factor must fail closed.
	ErrUnavailable = errors.New("sms: verification service unavailable")
)

// ConflictError is returned by Start when a verification to the same number is still running.
// RequestID is that verification's id (empty when the provider did not say): a caller may reuse
// it only when it belongs to its own challenge. errors.Is(err, ErrConflict) holds.
type ConflictError struct{ RequestID string }

// Error implements error. It does not print the request id.
func (e *ConflictError) Error() string {
	return "sms: a verification to this number is already running"
}

// Unwrap lets errors.Is find ErrConflict.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// outcomeOf names the outcome of err for logs and metrics.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, ErrWrongCode):
		return OutcomeWrongCode
	case errors.Is(err, ErrTooManyWrong):
		return OutcomeTooManyWrong
	case errors.Is(err, ErrNotFound):
		return OutcomeNotFound
	case errors.Is(err, ErrConflict):
		return OutcomeConflict
	case errors.Is(err, ErrInvalid):
		return OutcomeInvalid
	case errors.Is(err, ErrThrottled):
		return OutcomeThrottled
	default:
		return OutcomeUnavailable
	}
}

// validate refuses a StartRequest no provider should see. Its errors wrap ErrInvalid and never
// echo the number.
func (r StartRequest) validate() error {
	switch {
	case !isE164(r.To):
		return fmt.Errorf("%w: the number is not in E.164 form (+ and 7 to 15 digits)", ErrInvalid)
	// Vonage Verify v2 refuses (422) a brand or client_ref longer than 16 characters.
	case strings.TrimSpace(r.Brand) == "" || utf8.RuneCountInString(r.Brand) > 16 || hasControl(r.Brand):
		return fmt.Errorf("%w: the brand must be 1 to 16 printable characters", ErrInvalid)
	case hasControl(r.Locale) || hasControl(r.ClientRef) || len(r.Locale) > 16 || utf8.RuneCountInString(r.ClientRef) > 16:
		return fmt.Errorf("%w: locale or client reference malformed", ErrInvalid)
	case r.ChannelTimeout != 0 && (r.ChannelTimeout < minChannelTimeout || r.ChannelTimeout > maxChannelTimeout):
		return fmt.Errorf("%w: channel timeout must be between 15 s and 15 min", ErrInvalid)
	}
	return nil
}

// steps lists the workflow's channels.
func (r StartRequest) steps() []string {
	if r.Voice {
		return []string{ChannelSMS, ChannelVoice}
	}
	return []string{ChannelSMS}
}

// checkCode refuses a code that cannot be right (Vonage codes are 4–10 digits) without asking
// the provider.
func checkCode(code string) error {
	if len(code) < 4 || len(code) > 10 || strings.Trim(code, "0123456789") != "" {
		return fmt.Errorf("%w: the code must be 4 to 10 digits", ErrInvalid)
	}
	return nil
}

// validRequestID reports whether id can name a verification: 1–128 printable ASCII characters
// and not a dot segment (which path escaping leaves alone).
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return false
		}
	}
	return true
}

// badRequestID is the error for a request id that cannot exist.
func badRequestID() error {
	return fmt.Errorf("%w: malformed request id", ErrNotFound)
}

// isE164 reports whether s is "+" followed by 7 to 15 digits, the first not 0.
func isE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	return strings.Trim(s[1:], "0123456789") == ""
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}

// MaskPhone hides most of a phone number for logs: "+447700900123" becomes "+44******0123".
// The first two digits (the country code or most of it) and the last four stay so that support
// can tell numbers apart. Anything that is not E.164 becomes "***"; the empty string stays empty.
func MaskPhone(e164 string) string {
	if e164 == "" {
		return ""
	}
	if !isE164(e164) {
		return "***"
	}
	d := e164[1:]
	return "+" + d[:2] + strings.Repeat("*", len(d)-6) + d[len(d)-4:]
}
