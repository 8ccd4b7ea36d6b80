package idp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/text/language"

	"github.com/fintech-idp/idp/internal/password"
	"github.com/fintech-idp/idp/internal/sms"
	"github.com/fintech-idp/idp/internal/store"
)

// The values of acr (docs/ARCHITECTURE.md, "Claims").
const (
	acrPassword = "pwd"
	acrMFA      = "mfa"
)

// refusal is a second-factor step that cannot go on, with the sentence the person reads and the
// HTTP status of the page that shows it. Its text is fixed: never a provider's answer.
type refusal struct {
	status int
	msg    string
}

func (r *refusal) Error() string { return r.msg }

func refuse(status int, msg string) *refusal { return &refusal{status: status, msg: msg} }

// Fixed sentences of the SMS second factor.
const (
	msgSMSUnavailable = "We can't send codes by text message right now."
	msgSMSBusy        = "The text message service is busy. Please try again in a minute."
	// msgSMSFactorDisabled: after maxConsecutiveFailures wrong SMS codes in a row.
	msgSMSFactorDisabled = "Codes by text message are turned off for this account after too many wrong codes. Use a recovery code, or reset your password by email to turn them back on."
	msgSMSRunning        = "A code to this number is already on its way. Please wait a few minutes before asking for another one."
	msgSMSBadNumber      = "We can't send a code to this number. Please check it, or use another mobile number."
	msgSMSCodeWrong      = "That code is not right. Check the message and try again."
	msgSMSCodeExpired    = "This code has expired or was replaced. Ask for a new code."
	msgSMSTooMany        = "Too many wrong codes. Ask for a new code."
	msgSMSCheckFailed    = "We could not check the code right now. Please try again in a moment."
)

// smsFactor sends and checks SMS codes through the configured Verifier, with the send limits
// and the global cap held in the store (so they hold across replicas). Every verification it
// starts is checked or cancelled: a replaced or abandoned one is cancelled here, an expired one
// by housekeeping.
type smsFactor struct {
	s   *Server
	cfg MFA
}

// available tells whether codes can be sent at all (Vonage configured, or the development log).
func (f *smsFactor) available() bool { return f.cfg.Verifier != nil }

// hitLimits counts one send against every limit, most specific first, and refuses with the time
// the person may try again. The global cap also logs an alert: it stops every replica.
func (f *smsFactor) hitLimits(ctx context.Context, userID, phone, ip string) error {
	now := f.s.now()
	limits := []struct {
		key    string
		window time.Duration
		limit  int
		kind   string
	}{
		{"sms:ip:" + ip, time.Hour, f.cfg.SendLimitIPHour, "ip"},
		{"sms:user:" + userID, 24 * time.Hour, f.cfg.SendLimitAccountDay, "account"},
		{"sms:num10:" + phone, 10 * time.Minute, f.cfg.SendLimitNumber10m, "number"},
		{"sms:numh:" + phone, time.Hour, f.cfg.SendLimitNumberHour, "number"},
		{"sms:global", time.Hour, f.cfg.GlobalHourlyCap, "global"},
	}
	for _, l := range limits {
		c, err := f.s.st.HitCounter(ctx, l.key, l.window, now)
		if err != nil {
			return err
		}
		if c.Count <= l.limit {
			continue
		}
		wait := c.WindowStart.Add(l.window).Sub(now)
		f.s.metrics.RateLimited("sms_send")
		f.s.metrics.CodeSent("sms", "limited")
		if l.kind == "global" {
			if c.Count == l.limit+1 {
				f.s.log.ErrorContext(ctx, "ALERT: global SMS hourly cap reached; no SMS is sent until the hour ends",
					"cap", l.limit, "resumes_in", wait.Round(time.Second).String())
			}
			f.s.audit.log(ctx, "sms.global_cap", userID, "", nil)
			return refuse(http.StatusServiceUnavailable, "We can't send codes by text message right now. Please try again "+inDuration(wait)+".")
		}
		f.s.audit.log(ctx, "sms.limited", userID, "", map[string]string{"limit": l.kind})
		return refuse(http.StatusTooManyRequests, "You have asked for too many codes. You can ask for a new one "+inDuration(wait)+".")
	}
	return nil
}

// send starts a verification of phone for (user, purpose) and stores it as the running
// challenge, replacing (and cancelling) the previous one. prev, when set, is the challenge the
// page showed: a Vonage 409 naming its own request keeps it running instead (the code already
// sent is still good). Every failure the person can act on is a *refusal.
func (f *smsFactor) send(ctx context.Context, r *http.Request, userID, purpose, phone, arID string, prev *store.SMSChallenge) (*store.SMSChallenge, bool, error) {
	if !f.available() {
		f.s.metrics.CodeSent("sms", "failed")
		return nil, false, refuse(http.StatusServiceUnavailable, msgSMSUnavailable)
	}
	if _, _, err := sms.NormalizePhone(phone, f.cfg.DefaultRegion, f.cfg.AllowedCountries); err != nil {
		// The allowed countries changed since the number was stored.
		f.s.metrics.CodeSent("sms", "limited")
		return nil, false, refuse(http.StatusBadRequest, msgSMSBadNumber)
	}
	if err := f.hitLimits(ctx, userID, phone, clientIPFrom(ctx)); err != nil {
		return nil, false, err
	}
	running := prev != nil && prev.EndedAt == nil && f.s.now().Before(prev.ExpiresAt) && prev.RequestID != ""
	if running {
		// Vonage runs one verification per number: end ours before asking for a new one.
		if err := f.cfg.Verifier.Cancel(ctx, prev.RequestID); err != nil && !errors.Is(err, sms.ErrNotFound) {
			f.s.log.InfoContext(ctx, "cancel previous verification", "error", err)
		}
	}
	id := uuid.NewString()
	start := func() (string, error) {
		return f.cfg.Verifier.Start(ctx, sms.StartRequest{To: phone, Brand: f.cfg.Brand, Locale: vonageLocale(r),
			ClientRef: strings.ReplaceAll(id, "-", "")[:16], Voice: f.cfg.VoiceFallback})
	}
	reqID, err := start()
	channel, adopted := store.SMSChannelSMS, false
	var conflict *sms.ConflictError
	if errors.As(err, &conflict) && conflict.RequestID != "" {
		if running && conflict.RequestID == prev.RequestID {
			f.s.metrics.CodeSent("sms", "limited")
			return prev, true, nil
		}
		// Another code page of the same person (a second tab, a sign-in started over) holds the
		// number at Vonage: end that one and start afresh, or, when Vonage will not cancel it
		// yet, let this sign-in take over the code already sent. Anyone else's: wait.
		if other, lerr := f.s.st.RunningSMSChallengeByRequestID(ctx, conflict.RequestID); lerr == nil &&
			other.UserID == userID && other.PhoneE164 == phone {
			cerr := f.cfg.Verifier.Cancel(ctx, other.RequestID)
			f.ended(ctx, other.ID, store.SMSEndReplaced)
			if cerr == nil || errors.Is(cerr, sms.ErrNotFound) {
				reqID, err = start()
			} else {
				reqID, err, channel, adopted = other.RequestID, nil, other.Channel, true
			}
		}
	}
	if err != nil {
		switch {
		case errors.Is(err, sms.ErrConflict):
			f.s.metrics.CodeSent("sms", "limited")
			return nil, false, refuse(http.StatusConflict, msgSMSRunning)
		case errors.Is(err, sms.ErrThrottled):
			f.s.metrics.CodeSent("sms", "limited")
			return nil, false, refuse(http.StatusTooManyRequests, msgSMSBusy)
		case errors.Is(err, sms.ErrInvalid):
			f.s.metrics.CodeSent("sms", "failed")
			return nil, false, refuse(http.StatusBadRequest, msgSMSBadNumber)
		default:
			f.s.metrics.CodeSent("sms", "failed")
			f.s.log.WarnContext(ctx, "start verification", "error", err)
			return nil, false, refuse(http.StatusServiceUnavailable, msgSMSUnavailable)
		}
	}
	now := f.s.now()
	ch := &store.SMSChallenge{ID: id, UserID: userID, Purpose: purpose, PhoneE164: phone, RequestID: reqID,
		Channel: channel, AuthRequestID: arID, CreatedAt: now, ExpiresAt: now.Add(f.cfg.ChallengeTTL)}
	replaced, err := f.s.st.CreateSMSChallenge(ctx, ch)
	if err != nil {
		f.cancel(ctx, reqID)
		return nil, false, err
	}
	for _, old := range replaced {
		f.cancel(ctx, old)
	}
	if adopted {
		f.s.metrics.CodeSent("sms", "limited")
		return ch, true, nil
	}
	f.s.metrics.CodeSent("sms", "sent")
	f.s.audit.log(ctx, "sms.sent", userID, "", map[string]string{"purpose": purpose, "to": sms.MaskPhone(phone)})
	return ch, false, nil
}

// cancel ends a verification at the provider, best effort: housekeeping has nothing left to
// find once the challenge has ended, so failures are only logged.
func (f *smsFactor) cancel(ctx context.Context, requestID string) {
	if requestID == "" || f.cfg.Verifier == nil {
		return
	}
	ctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer stop()
	if err := f.cfg.Verifier.Cancel(ctx, requestID); err != nil && !errors.Is(err, sms.ErrNotFound) {
		f.s.log.WarnContext(ctx, "cancel verification", "error", err)
	}
}

// end ends a running challenge for reason and cancels its request at the provider unless it
// succeeded there (a correct check already concluded it).
func (f *smsFactor) end(ctx context.Context, id, reason string) {
	reqID, err := f.s.st.EndSMSChallenge(ctx, id, reason, f.s.now())
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			f.s.log.WarnContext(ctx, "end challenge", "error", err)
		}
		return
	}
	if reason != store.SMSEndSuccess {
		f.cancel(ctx, reqID)
	}
}

// ended records that the provider already ended the verification (410: too many wrong codes):
// nothing is left to cancel.
func (f *smsFactor) ended(ctx context.Context, id, reason string) {
	if _, err := f.s.st.EndSMSChallenge(ctx, id, reason, f.s.now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		f.s.log.WarnContext(ctx, "end challenge", "error", err)
	}
}

// check runs one counted attempt of code against the challenge. nil: correct, the challenge
// ended with success (and its request id is gone). A *refusal says what to show.
func (f *smsFactor) check(ctx context.Context, ch *store.SMSChallenge, code string) error {
	if !f.available() {
		return refuse(http.StatusServiceUnavailable, msgSMSUnavailable)
	}
	// Wrong codes in a row, across challenges and lock windows, are counted per account before
	// the code is checked; at maxConsecutiveFailures SMS codes stop working until the owner
	// recovers through email (a password reset clears it).
	streak := factorKey("sms", ch.UserID)
	res, err := f.s.st.ReserveAttempt(ctx, streak, consecutiveRule, f.s.now())
	if err != nil {
		return err
	}
	if !res.Allowed {
		f.s.metrics.RateLimited("sms_factor")
		return refuse(http.StatusTooManyRequests, msgSMSFactorDisabled)
	}
	outcome := "unchecked"
	defer func() {
		// A wrong code stays counted, a right one ends the streak, anything else gives it back.
		var err error
		switch outcome {
		case "right":
			err = f.s.st.ResetCounter(context.WithoutCancel(ctx), streak)
		case "unchecked":
			err = f.s.st.ReleaseAttempt(context.WithoutCancel(ctx), streak)
		case "wrong":
			if res.Count == maxConsecutiveFailures {
				f.s.factorDisabled(ctx, ch.UserID, "codes by text message")
			}
		}
		if err != nil {
			f.s.log.WarnContext(ctx, "sms failure streak", "error", err)
		}
	}()
	counted, err := f.s.st.CountSMSAttempt(ctx, ch.ID, f.cfg.MaxAttempts, f.s.now())
	switch {
	case errors.Is(err, store.ErrTooManyAttempts):
		f.end(ctx, ch.ID, store.SMSEndTooMany)
		f.s.metrics.CodeChecked("sms", "too_many")
		return refuse(http.StatusTooManyRequests, msgSMSTooMany)
	case errors.Is(err, store.ErrNotFound):
		f.s.metrics.CodeChecked("sms", "expired")
		return refuse(http.StatusBadRequest, msgSMSCodeExpired)
	case err != nil:
		return err
	}
	cerr := f.cfg.Verifier.Check(ctx, counted.RequestID, code)
	switch {
	case cerr == nil:
		if _, err := f.s.st.EndSMSChallenge(ctx, ch.ID, store.SMSEndSuccess, f.s.now()); err != nil {
			// Ended meanwhile (a concurrent correct check, a replacement): this one does not count.
			if errors.Is(err, store.ErrNotFound) {
				return refuse(http.StatusBadRequest, msgSMSCodeExpired)
			}
			return err
		}
		f.s.metrics.CodeChecked("sms", "ok")
		outcome = "right"
		return nil
	case errors.Is(cerr, sms.ErrWrongCode), errors.Is(cerr, sms.ErrInvalid):
		outcome = "wrong"
		f.s.metrics.CodeChecked("sms", "wrong")
		f.s.audit.log(ctx, "code.failed", ch.UserID, "", map[string]string{"purpose": ch.Purpose, "channel": "sms", "reason": "mismatch"})
		left := f.cfg.MaxAttempts - counted.Attempts
		if left <= 0 {
			f.end(ctx, ch.ID, store.SMSEndTooMany)
			return refuse(http.StatusTooManyRequests, msgSMSTooMany)
		}
		return refuse(http.StatusBadRequest, fmt.Sprintf("%s %s left.", msgSMSCodeWrong, plural(left, "try", "tries")))
	case errors.Is(cerr, sms.ErrTooManyWrong):
		outcome = "wrong" // Vonage compared it: one wrong code too many
		f.ended(ctx, ch.ID, store.SMSEndTooMany)
		f.s.metrics.CodeChecked("sms", "too_many")
		return refuse(http.StatusTooManyRequests, msgSMSTooMany)
	case errors.Is(cerr, sms.ErrNotFound):
		f.ended(ctx, ch.ID, store.SMSEndExpired)
		f.s.metrics.CodeChecked("sms", "expired")
		return refuse(http.StatusBadRequest, msgSMSCodeExpired)
	case errors.Is(cerr, sms.ErrThrottled):
		return refuse(http.StatusTooManyRequests, msgSMSBusy)
	default:
		f.s.log.WarnContext(ctx, "check verification", "error", cerr)
		return refuse(http.StatusServiceUnavailable, msgSMSCheckFailed)
	}
}

// callInstead moves the running challenge to its voice step now ("Call me instead"). A call
// costs like a message, so it counts against the same limits.
func (f *smsFactor) callInstead(ctx context.Context, ch *store.SMSChallenge) error {
	if !f.available() || !f.cfg.VoiceFallback {
		return refuse(http.StatusBadRequest, "A phone call is not available. Use the code we sent by text message.")
	}
	if ch.EndedAt != nil || !f.s.now().Before(ch.ExpiresAt) || ch.RequestID == "" {
		return refuse(http.StatusBadRequest, msgSMSCodeExpired)
	}
	if ch.Channel == store.SMSChannelVoice {
		return refuse(http.StatusConflict, "We are already calling you. Please wait for the call.")
	}
	if _, _, err := sms.NormalizePhone(ch.PhoneE164, f.cfg.DefaultRegion, f.cfg.AllowedCountries); err != nil {
		return refuse(http.StatusBadRequest, msgSMSBadNumber)
	}
	if err := f.hitLimits(ctx, ch.UserID, ch.PhoneE164, clientIPFrom(ctx)); err != nil {
		return err
	}
	err := f.cfg.Verifier.NextChannel(ctx, ch.RequestID)
	switch {
	case err == nil:
	case errors.Is(err, sms.ErrConflict):
		return refuse(http.StatusConflict, "We are already calling you. Please wait for the call.")
	case errors.Is(err, sms.ErrNotFound):
		f.ended(ctx, ch.ID, store.SMSEndExpired)
		return refuse(http.StatusBadRequest, msgSMSCodeExpired)
	case errors.Is(err, sms.ErrThrottled):
		return refuse(http.StatusTooManyRequests, msgSMSBusy)
	default:
		f.s.log.WarnContext(ctx, "next channel", "error", err)
		f.s.metrics.CodeSent("voice", "failed")
		return refuse(http.StatusServiceUnavailable, "We can't call you right now. Use the code we sent by text message, or a recovery code.")
	}
	if err := f.s.st.SetSMSChallengeChannel(ctx, ch.ID, store.SMSChannelVoice); err != nil {
		return err
	}
	ch.Channel = store.SMSChannelVoice
	f.s.metrics.CodeSent("voice", "sent")
	f.s.audit.log(ctx, "sms.call_requested", ch.UserID, "", map[string]string{"purpose": ch.Purpose, "to": sms.MaskPhone(ch.PhoneE164)})
	return nil
}

// expireChallenges ends every running challenge past its expiry and cancels its request at the
// provider, so that no verification is left unconcluded (housekeeping).
func (f *smsFactor) expireChallenges(ctx context.Context) (int, error) {
	n := 0
	for {
		list, err := f.s.st.ExpiredSMSChallenges(ctx, f.s.now(), 100)
		if err != nil {
			return n, err
		}
		for _, ch := range list {
			reqID, err := f.s.st.EndSMSChallenge(ctx, ch.ID, store.SMSEndExpired, f.s.now())
			if errors.Is(err, store.ErrNotFound) {
				continue // ended meanwhile by its own page
			}
			if err != nil {
				return n, err
			}
			f.cancel(ctx, reqID)
			n++
		}
		if len(list) < 100 {
			return n, nil
		}
	}
}

// vonageLocales are the message languages Vonage Verify v2 offers; the first is the default.
var vonageLocales = []language.Tag{
	language.MustParse("en-US"), language.MustParse("en-GB"), language.MustParse("es-ES"), language.MustParse("es-MX"),
	language.MustParse("es-US"), language.MustParse("it-IT"), language.MustParse("fr-FR"), language.MustParse("de-DE"),
	language.MustParse("ru-RU"), language.MustParse("hi-IN"), language.MustParse("pt-BR"), language.MustParse("pt-PT"),
	language.MustParse("id-ID"),
}

var vonageLocaleMatcher = language.NewMatcher(vonageLocales)

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Recovery codes: 10 codes of 10 characters from an alphabet without look-alikes (about 49 bits
// each), shown once as "xxxxx-xxxxx" and stored as argon2id hashes with their own salt.
const (
	recoveryCodeCount    = 10
	recoveryCodeLen      = 10
	recoveryCodeAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"
)

func newRecoveryCodes() ([]string, error) {
	codes := make([]string, recoveryCodeCount)
	buf := make([]byte, recoveryCodeLen)
	for i := range codes {
		var b strings.Builder
		for b.Len() < recoveryCodeLen {
			if _, err := rand.Read(buf); err != nil {
				return nil, err
			}
			for _, c := range buf {
				// Rejection sampling keeps every character equally likely.
				if int(c) < 256-256%len(recoveryCodeAlphabet) && b.Len() < recoveryCodeLen {
					b.WriteByte(recoveryCodeAlphabet[int(c)%len(recoveryCodeAlphabet)])
				}
			}
		}
		codes[i] = b.String()[:5] + "-" + b.String()[5:]
	}
	return codes, nil
}

// readRecoveryCode accepts a recovery code as people type it (any case, spaces or dashes) and
// returns it in its canonical form, or false when it cannot be one.
func readRecoveryCode(v string) (string, bool) {
	if len(v) > 64 {
		return "", false
	}
	v = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(v)))
	if len(v) != recoveryCodeLen || strings.Trim(v, recoveryCodeAlphabet) != "" {
		return "", false
	}
	return v[:5] + "-" + v[5:], true
}

// issueRecoveryCodes replaces the user's recovery codes with 10 new ones and returns them (the
// only time they exist in the clear).
func (s *Server) issueRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	codes, hashes, err := s.hashedRecoveryCodes()
	if err != nil {
		return nil, err
	}
	if err := s.st.ReplaceRecoveryCodes(ctx, userID, hashes, s.now()); err != nil {
		return nil, err
	}
	return codes, nil
}

// firstRecoveryCodes gives a user with two-step on who never had recovery codes (imported with
// two-step from another application) their 10 codes, and returns them; nil when the user has or
// had codes. Only the first of concurrent sign-ins stores (and shows) a set.
func (s *Server) firstRecoveryCodes(ctx context.Context, u *store.User) ([]string, error) {
	if !u.MFAEnabled {
		return nil, nil
	}
	if n, err := s.st.CountUnusedRecoveryCodes(ctx, u.ID); err != nil || n > 0 {
		return nil, err // the cheap common case: codes exist, nothing to hash
	}
	codes, hashes, err := s.hashedRecoveryCodes()
	if err != nil {
		return nil, err
	}
	issued, err := s.st.IssueFirstRecoveryCodes(ctx, u.ID, hashes, s.now())
	if err != nil || !issued {
		return nil, err
	}
	return codes, nil
}

func (s *Server) hashedRecoveryCodes() (codes, hashes []string, err error) {
	if codes, err = newRecoveryCodes(); err != nil {
		return nil, nil, err
	}
	hashes = make([]string, len(codes))
	for i, c := range codes {
		if hashes[i], err = s.hasher.Hash(c); err != nil {
			return nil, nil, err
		}
	}
	return codes, hashes, nil
}

const (
	msgRecoveryWrong    = "That recovery code is not right, or it was already used."
	msgRecoveryDisabled = "Recovery codes are turned off for this account after too many wrong codes. Reset your password by email to turn them back on."
)

// useRecoveryCode checks code against the user's unused recovery codes and uses the one that
// matches, atomically (of two concurrent uses of one code, one succeeds). Every try is reserved
// per account before the first comparison (at most RecoveryMaxFailures an hour, so tries sent
// together cannot all be checked); a used code gives its reservation back.
func (s *Server) useRecoveryCode(ctx context.Context, userID, raw string) (left int, err error) {
	code, ok := readRecoveryCode(raw)
	if !ok {
		return 0, refuse(http.StatusBadRequest, "A recovery code has 10 letters and digits, like abcde-23456.")
	}
	key := "recovery:fail:" + userID
	now := s.now()
	res, err := s.st.ReserveAttempt(ctx, key, store.AttemptRule{Window: time.Hour, LockAfter: s.sms.cfg.RecoveryMaxFailures, Lock: time.Hour}, now)
	if err != nil {
		return 0, err
	}
	if !res.Allowed {
		s.metrics.RateLimited("recovery_code")
		return 0, refuse(http.StatusTooManyRequests, "Too many wrong recovery codes. Try again "+inDuration(res.RetryAt.Sub(now))+".")
	}
	// Wrong recovery codes in a row, across hours, are counted too: at maxConsecutiveFailures
	// recovery codes stop working until the owner recovers through email.
	streak := factorKey("recovery", userID)
	sres, err := s.st.ReserveAttempt(ctx, streak, consecutiveRule, now)
	if err != nil {
		return 0, err
	}
	if !sres.Allowed {
		_ = s.st.ReleaseAttempt(context.WithoutCancel(ctx), key)
		s.metrics.RateLimited("recovery_factor")
		return 0, refuse(http.StatusTooManyRequests, msgRecoveryDisabled)
	}
	giveBack := func() {
		for _, k := range []string{key, streak} {
			if err := s.st.ReleaseAttempt(context.WithoutCancel(ctx), k); err != nil {
				s.log.WarnContext(ctx, "release recovery code try", "error", err)
			}
		}
	}
	list, err := s.st.ListUnusedRecoveryCodes(ctx, userID)
	if err != nil {
		giveBack()
		return 0, err
	}
	for _, rc := range list {
		match, _, err := s.hasher.Verify(rc.Hash, code)
		if errors.Is(err, password.ErrBusy) {
			giveBack()
			return 0, refuse(http.StatusServiceUnavailable, msgBusy)
		}
		if !match {
			continue
		}
		if err := s.st.UseRecoveryCode(ctx, userID, rc.ID, s.now()); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				break // used concurrently: this attempt lost
			}
			return 0, err
		}
		giveBack()
		if err := s.st.ResetCounter(context.WithoutCancel(ctx), streak); err != nil {
			s.log.WarnContext(ctx, "reset recovery code failures", "error", err)
		}
		n, err := s.st.CountUnusedRecoveryCodes(ctx, userID)
		if err != nil {
			return 0, err
		}
		return n, nil
	}
	if len(list) == 0 {
		if err := s.hasher.VerifyDummy(code); errors.Is(err, password.ErrBusy) {
			giveBack()
			return 0, refuse(http.StatusServiceUnavailable, msgBusy)
		}
	}
	s.audit.log(ctx, "recovery_code.failed", userID, "", nil)
	if sres.Count == maxConsecutiveFailures {
		s.factorDisabled(ctx, userID, "recovery codes")
	}
	return 0, refuse(http.StatusBadRequest, msgRecoveryWrong)
}

func itoa(n int) string { return strconv.Itoa(n) }
