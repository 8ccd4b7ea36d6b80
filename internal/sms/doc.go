// Package sms proves that a person holds a phone: it starts, checks, escalates ("call me instead")
// and cancels one-time-code verifications, and normalises phone numbers.
//
// A Verifier has two implementations:
//
//   - Vonage calls the Vonage Verify v2 API (docs/VENDORS.md). Vonage generates,
//     sends and checks the code; the IdP keeps only the request id, and only while the challenge
//     runs. Start and Check are never retried automatically: a retried Start can send (and bill) a
//     second SMS, and a retried Check can burn one of the person's attempts.
//   - Log generates the code itself with crypto/rand, writes it to the log (dev_only=true) and
//     keeps it for the development outbox page. It is for development and tests only.
//
// Every error a Verifier returns wraps exactly one of the sentinels (ErrWrongCode,
// ErrTooManyWrong, ErrNotFound, ErrConflict, ErrInvalid, ErrThrottled, ErrUnavailable); callers
// branch with errors.Is and show their own fixed text. A conflict on Start is a *ConflictError
// that carries the running verification's request id. Errors and log records never hold the API
// secret, the code or the full phone number: numbers appear masked by MaskPhone
// ("+44******1234").
//
// NormalizePhone turns what a person typed into E.164 with github.com/nyaruka/phonenumbers and
// refuses invalid, non-mobile and not-allowed numbers with fixed, human errors.
package sms
