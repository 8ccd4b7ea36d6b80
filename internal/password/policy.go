package password

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	zxcvbn "github.com/ccojocar/zxcvbn-go"

	"github.com/fintech-idp/idp/internal/password/breached"
)

// Defaults of Policy, used where a field is zero or negative.
const (
	// DefaultMinLength is NIST SP 800-63B-4 §3.1.1.2's minimum for a password that is the only
	// authentication factor: 15 characters.
	DefaultMinLength = 15
	// DefaultMaxLength is the cap in bytes of the normalised password. §3.1.1.2 asks verifiers
	// to permit at least 64 characters; 1024 bytes holds 256 characters even when each needs 4
	// bytes in UTF-8 (emoji), while keeping hashing and checking cheap.
	DefaultMaxLength = 1024
)

// Violation codes, stable for programs (templates, metrics, tests); Message is for people.
const (
	CodeInvalidText = "invalid_text"             // not valid UTF-8, or a control character (no browser sends those)
	CodeTooShort    = "too_short"                // fewer than MinLength characters
	CodeTooLong     = "too_long"                 // more than MaxLength bytes
	CodeCommon      = "common"                   // on the bundled list of common and breached passwords
	CodeEmail       = "contains_email"           // contains the email address or its name part
	CodeBrand       = "contains_brand"           // contains the service's name
	CodeRepetitive  = "repetitive"               // one character or short group repeated
	CodeSequence    = "sequence"                 // a run like 1234567890… or abcdef…
	CodeKeyboard    = "keyboard"                 // a walk along the keyboard: qwertyuiop…, 1qaz2wsx…
	CodeVariant     = "common_variant"           // a listed password with easy digits or symbols around it
	CodeGuessable   = "guessable"                // the strength estimator expects it to fall quickly
	CodeBreached    = "breached"                 // in known data breaches (BreachChecker)
	CodeUnchecked   = "breach_check_unavailable" // the breach check could not answer (fail closed)
)

// MinScore is the lowest zxcvbn score (0 to 4) a new password needs. zxcvbn's score 3 means an
// estimated crack time of at least 10⁶ seconds at 10⁴ guesses a second — about 10¹⁰ guesses, or
// some 34 bits — which is its "safely unguessable: moderate protection from an offline slow-hash
// scenario"; our argon2id hashes are such a slow hash.
const MinScore = 3

// maxEstimated is how many characters the strength estimator looks at. Its matching is
// super-linear (a 1,024-byte password takes seconds; 64 characters take tens of milliseconds at
// worst), so longer passwords skip it; the list, the pattern rules and the breach check still
// apply to them.
const maxEstimated = 64

// Policy decides whether a new password is acceptable, following NIST SP 800-63B-4 §3.1.1.2 for
// a password used as a single factor: a minimum length, a generous maximum, Unicode accepted and
// normalised, no composition rules (no "must contain a digit"), and a blocklist of common,
// breached, repetitive or sequential passwords and of words specific to the service and the
// person. The zero Policy uses the defaults. Policy is a value; Check is safe for concurrent use.
type Policy struct {
	// MinLength is the fewest characters (Unicode code points after normalisation, as
	// §3.1.1.2 counts them) allowed; 0 means DefaultMinLength (IDP_PASSWORD_MIN_LENGTH).
	MinLength int
	// MaxLength is the most bytes of the normalised password allowed; 0 means
	// DefaultMaxLength. Keep it at 256 or more so that 64 characters of any kind always fit.
	MaxLength int
	// Brand is the name of the service (for example IDP_BRAND_NAME). A password containing it,
	// ignoring case and spaces, is refused; a name shorter than 3 characters is ignored.
	Brand string
	// Breaches, when set, is asked about every password the offline rules accept (the Have I
	// Been Pwned range API with IDP_BREACH_CHECK=hibp); nil means the offline rules alone.
	Breaches BreachChecker
}

// Violation is one reason a password was refused.
type Violation struct {
	// Code is one of the Code constants.
	Code string
	// Message is a fixed sentence, shown next to the password field, that says what to change.
	// It depends only on Code and the Policy, never on the password.
	Message string
}

// Below these lengths a context word is too common to refuse (an email "bob@…" would otherwise
// ban every password containing "bob").
const (
	minEmailLocalLen = 4
	minBrandLen      = 3
)

// maxRawFactor bounds the work done on hostile input: a password longer than this many times
// MaxLength bytes is refused as too long without being normalised. NFKC shrinks UTF-8 text by a
// factor of 4 at most (U+1D400 MATHEMATICAL BOLD CAPITAL A, 4 bytes, becomes "A"), so nothing
// refused this way could have passed.
const maxRawFactor = 8

func (p Policy) minLength() int {
	if p.MinLength <= 0 {
		return DefaultMinLength
	}
	return p.MinLength
}

func (p Policy) maxLength() int {
	if p.MaxLength <= 0 {
		return DefaultMaxLength
	}
	return p.MaxLength
}

// Rule returns the sentence a signup or password-change page shows beside the field before
// anything is typed, as §3.1.1.2 asks verifiers to explain the requirements.
func (p Policy) Rule() string {
	return fmt.Sprintf("Use at least %d characters. Any characters, including spaces and emoji, "+
		"are allowed; common, breached or easily guessed passwords are refused.", p.minLength())
}

// message is the Violation.Message of code under p.
func (p Policy) message(code string) string {
	switch code {
	case CodeInvalidText:
		return "This password could not be read as text. Please type it again."
	case CodeTooShort:
		return fmt.Sprintf("Use at least %d characters.", p.minLength())
	case CodeTooLong:
		return fmt.Sprintf("This is too long. Use at most %d characters, fewer if you use emoji "+
			"or letters outside the Latin alphabet.", p.maxLength())
	case CodeCommon:
		return "This is one of the most common or breached passwords, which attackers try first. " +
			"Choose something else."
	case CodeEmail:
		return "Do not use your email address or the name before the @ in it."
	case CodeBrand:
		return fmt.Sprintf("Do not use the name “%s”.", strings.TrimSpace(p.Brand))
	case CodeRepetitive:
		return "Do not repeat the same character or group of characters over and over."
	case CodeSequence:
		return "Do not use a simple sequence such as 123456 or abcdef."
	case CodeKeyboard:
		return "This follows the keys of a keyboard (like qwertyuiop or 1qaz2wsx), which attackers " +
			"try early. Choose something else."
	case CodeVariant:
		return "This is a common password with a few digits or symbols added, which attackers try " +
			"early. Choose something else."
	case CodeGuessable:
		return "This password would be guessed quickly: it is built from common words, names, " +
			"dates or patterns. Add a few unrelated words."
	case CodeBreached:
		return "This password appears in known data breaches. Choose one you have not used anywhere else."
	case CodeUnchecked:
		return "We could not check this password against known data breaches just now. " +
			"Please try again in a minute."
	}
	return ""
}

// Check returns every reason the new password pw is refused for the account with this email
// (which may be empty), or nil when it is acceptable. It works on Normalize(pw), the form that is
// hashed. The result never contains pw or any part of it.
//
// The offline rules run first: length, the bundled list, the context words, repetitions,
// sequences, keyboard walks, listed passwords with easy decorations, then the zxcvbn estimate
// (MinScore). Only a password they all accept is sent to p.Breaches, if set. When that check
// cannot answer, Check refuses the password with CodeUnchecked and returns the error as well, for
// the caller's log (fail closed: see SECURITY.md, "Passwords").
//
// Check is meant for choosing a password (signup, reset, change), not for login: a password set
// before a policy change must still be accepted at login.
func (p Policy) Check(ctx context.Context, pw, email string) ([]Violation, error) {
	codes, n := p.offline(pw, email)
	if len(codes) > 0 || p.Breaches == nil {
		return p.violations(codes), nil
	}
	breached, err := p.Breaches.Breached(ctx, n)
	switch {
	case err != nil:
		return p.violations([]string{CodeUnchecked}), err
	case breached:
		return p.violations([]string{CodeBreached}), nil
	}
	return nil, nil
}

// offline returns the codes of every offline rule pw breaks, and its normalised form.
func (p Policy) offline(pw, email string) ([]string, string) {
	if len(pw) > maxRawFactor*p.maxLength() {
		return []string{CodeTooLong}, ""
	}
	if !utf8.ValidString(pw) || strings.IndexFunc(pw, isControl) >= 0 {
		// Normalising would turn the invalid bytes into U+FFFD and hash something other than what
		// the person typed; browsers always send UTF-8, so this is a broken client. Control
		// characters (NUL, escape, line breaks) cannot be typed into a password field: §3.1.1.2
		// asks for printing characters and spaces.
		return []string{CodeInvalidText}, ""
	}

	var codes []string
	n := Normalize(pw)
	if utf8.RuneCountInString(n) < p.minLength() {
		codes = append(codes, CodeTooShort)
	}
	if len(n) > p.maxLength() {
		codes = append(codes, CodeTooLong)
	}

	lower := strings.ToLower(n)
	words := strings.Fields(lower)
	joined := strings.Join(words, "") // every whitespace removed
	if isCommon(lower, words, joined) {
		codes = append(codes, CodeCommon)
	} else if isDecoratedCommon(joined) {
		codes = append(codes, CodeVariant)
	}
	if containsEmail(joined, email) {
		codes = append(codes, CodeEmail)
	}
	brand := contextKey(p.Brand)
	if utf8.RuneCountInString(brand) >= minBrandLen && strings.Contains(joined, brand) {
		codes = append(codes, CodeBrand)
	}
	// Spaces between the characters do not hide a pattern ("1 2 3 4 …"); a password of spaces
	// alone is still a repetition.
	lr, jr := []rune(lower), []rune(joined)
	if isRepetitive(lr) || isRepetitive(jr) || isDoubled(jr, p.minLength()) {
		codes = append(codes, CodeRepetitive)
	}
	if isSequence(lr) || isSequence(jr) {
		codes = append(codes, CodeSequence)
	}
	if len(codes) == 0 && isKeyboardWalk(joined) {
		codes = append(codes, CodeKeyboard)
	}
	if len(codes) == 0 && utf8.RuneCountInString(n) <= maxEstimated {
		if zxcvbn.PasswordStrength(n, estimatorHints(email, brand)).Score < MinScore {
			codes = append(codes, CodeGuessable)
		}
	}
	return codes, n
}

// isControl reports a control character other than tab (which a paste may bring along and is
// treated as whitespace).
func isControl(r rune) bool { return r != '\t' && unicode.IsControl(r) }

// estimatorHints are the words zxcvbn should treat as known to an attacker: the email, its local
// part and the brand.
func estimatorHints(email, brand string) []string {
	var hints []string
	if e := contextKey(email); e != "" {
		hints = append(hints, e)
		if local, _, ok := strings.Cut(e, "@"); ok && local != "" {
			hints = append(hints, local)
		}
	}
	if brand != "" {
		hints = append(hints, brand)
	}
	return hints
}

func (p Policy) violations(codes []string) []Violation {
	if len(codes) == 0 {
		return nil
	}
	vs := make([]Violation, len(codes))
	for i, c := range codes {
		vs[i] = Violation{Code: c, Message: p.message(c)}
	}
	return vs
}

// isCommon looks the password up in the breached list as typed (lower-cased), with surrounding
// whitespace trimmed and inner runs collapsed to one space, and with all whitespace removed, so
// that "  Password  123 " or "pass word 123" do not slip past "password123". (With today's
// list, whose entries hold no whitespace, the last form alone decides; the others are there for
// a list with multi-word entries.)
func isCommon(lower string, words []string, joined string) bool {
	trimmed := strings.TrimSpace(lower)
	collapsed := strings.Join(words, " ")
	for _, s := range []string{lower, trimmed, collapsed, joined} {
		if s != "" && breached.Contains(s) {
			return true
		}
	}
	return false
}

// contextKey is s as it is compared with a password: normalised, lower-cased, whitespace removed.
func contextKey(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(Normalize(s))), "")
}

// containsEmail reports whether joined (the password in contextKey form) contains the whole
// email, or its local part when that has at least minEmailLocalLen characters. For a
// subaddress ("anna.berg+bank@…") the part before "+" counts as well.
func containsEmail(joined, email string) bool {
	e := contextKey(email)
	if e == "" {
		return false
	}
	if strings.Contains(joined, e) {
		return true
	}
	local := e
	if at := strings.LastIndexByte(e, '@'); at >= 0 {
		local = e[:at]
	}
	base, _, _ := strings.Cut(local, "+")
	for _, w := range []string{local, base} {
		if utf8.RuneCountInString(w) >= minEmailLocalLen && strings.Contains(joined, w) {
			return true
		}
	}
	return false
}

// isRepetitive reports whether s is one group of characters repeated at least three times
// ("aaaaaaaa…", "abcabcabc…", "ilovemydog" three times), the last repetition possibly cut
// short. It uses the smallest period of s, n − π(n−1) with π the Knuth–Morris–Pratt prefix
// function: s has a period p ≤ n/3 exactly when its smallest period is ≤ n/3.
func isRepetitive(s []rune) bool {
	n := len(s)
	return n >= 3 && 3*smallestPeriod(s) <= n
}

// isSequence reports whether s (at least 3 characters) runs up or down one character at a time:
// "123456789012345", "abcdefghijklmno", "9876543210987". Digits wrap from 9 to 0 and letters
// from z to a; other characters follow their code points.
func isSequence(s []rune) bool {
	if len(s) < 3 {
		return false
	}
	up, down := true, true
	for i := 1; i < len(s) && (up || down); i++ {
		up = up && s[i] == next(s[i-1])
		down = down && s[i-1] == next(s[i])
	}
	return up || down
}

// next is the character after r in a sequence.
func next(r rune) rune {
	switch r {
	case '9':
		return '0'
	case 'z':
		return 'a'
	}
	return r + 1
}
