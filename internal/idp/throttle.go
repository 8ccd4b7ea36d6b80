package idp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/fintech-idp/idp/internal/mail"
	"github.com/fintech-idp/idp/internal/store"
)

// throttle limits password tries per account and per client IP, in the store so that it holds
// across replicas (docs/ARCHITECTURE.md, Limits): after LoginDelayAfter tries each further try
// must wait a growing delay since the last one; after LoginLockAfter tries are refused for
// LoginLockDuration, which lifts by itself. Every try is reserved before the password is checked
// (Store.ReserveAttempt decides and counts in one statement), so tries sent together cannot all
// pass; a right password gives its reservation back. The account key is derived from the
// submitted email whether or not an account exists, so the answers do not reveal which emails are
// registered. A client IP gets five times the account thresholds: offices and mobile carriers put
// many people behind one address.
//
// Beside the windows, consecutive failures per address are counted without a window: at
// maxConsecutiveFailures the password no longer signs in until the owner resets it by email.
type throttle struct {
	st     store.Store
	limits Limits
	now    func() time.Time
}

const ipThresholdFactor = 5

// maxLoginDelay caps the growing delay.
const maxLoginDelay = time.Minute

// maxConsecutiveFailures is how many failures in a row a factor (password, SMS code, recovery
// code, reset code) takes, across lock windows, before it is disabled until the owner recovers
// through email.
const maxConsecutiveFailures = 100

// forever stands for "until cleared" in counter windows.
const forever = 100 * 365 * 24 * time.Hour

func emailKey(email string) string {
	sum := sha256.Sum256([]byte(email))
	return hex.EncodeToString(sum[:16])
}

type throttleKeys struct{ account, ip, consecutive, reset string }

func keysFor(email, ip string) throttleKeys {
	return throttleKeys{account: "login:acct:" + emailKey(email), ip: "login:ip:" + ip, consecutive: factorKey("pwd", emailKey(email)),
		reset: factorKey("reset", emailKey(email))}
}

// factorKey names the consecutive-failure counter of one factor of one account (or address).
func factorKey(factor, subject string) string { return "factor:" + factor + ":" + subject }

// consecutiveRule counts failures in a row until a success clears them; at the limit the factor
// stays refused until the counter is reset (a recovery through email).
var consecutiveRule = store.AttemptRule{Window: forever, LockAfter: maxConsecutiveFailures, Lock: forever}

// rule is the sign-in rule with the thresholds multiplied by factor.
func (t *throttle) rule(factor int) store.AttemptRule {
	r := store.AttemptRule{Window: t.limits.LoginLockDuration, LockAfter: t.limits.LoginLockAfter * factor, Lock: t.limits.LoginLockDuration}
	after := t.limits.LoginDelayAfter * factor
	for over := 0; after+over < r.LockAfter; over++ {
		d := min(time.Second<<min(over, 16), maxLoginDelay)
		r.Waits = append(r.Waits, store.AttemptWait{After: after + over, Wait: d})
		if d == maxLoginDelay {
			break
		}
	}
	return r
}

// tryRefusal says why a try was refused before any check.
type tryRefusal struct {
	wait     time.Duration
	locked   bool // the sign-in lock, rather than a delay
	disabled bool // too many failures in a row: only a reset by email helps
}

// passwordTry is a reserved try; its outcome is reported with succeed or failed.
type passwordTry struct {
	keys        throttleKeys
	lockAfter   int
	account     store.Reservation
	consecutive store.Reservation
}

// reserve counts a try on the address, the IP and the consecutive failures before the password
// is checked. A refusal by one takes back what the others reserved, so that tries refused for the
// IP do not run the owner's account into its lock.
func (t *throttle) reserve(ctx context.Context, k throttleKeys) (*passwordTry, *tryRefusal, error) {
	now := t.now()
	try := &passwordTry{keys: k, lockAfter: t.limits.LoginLockAfter}
	steps := []struct {
		key  string
		rule store.AttemptRule
		into *store.Reservation
	}{
		{k.consecutive, consecutiveRule, &try.consecutive},
		{k.account, t.rule(1), &try.account},
		{k.ip, t.rule(ipThresholdFactor), nil},
	}
	for i, st := range steps {
		res, err := t.st.ReserveAttempt(ctx, st.key, st.rule, now)
		if err == nil && !res.Allowed {
			for _, done := range steps[:i] {
				if err := t.st.ReleaseAttempt(context.WithoutCancel(ctx), done.key); err != nil {
					return nil, nil, err
				}
			}
			return nil, &tryRefusal{wait: max(res.RetryAt.Sub(now), time.Second), locked: res.Locked, disabled: st.key == k.consecutive}, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if st.into != nil {
			*st.into = res
		}
	}
	return try, nil, nil
}

// failed reports what a wrong password just caused: the sign-in lock, or the password disabled
// after maxConsecutiveFailures in a row (the caller emails the owner either way, once).
func (p *passwordTry) failed() (locked, disabled bool) {
	return p.account.Count == p.lockAfter, p.consecutive.Count == maxConsecutiveFailures
}

// succeed clears the address's counters and gives the IP its reservation back (the IP's failures
// stay: one good password must not wash away a spraying run from the same address).
func (t *throttle) succeed(ctx context.Context, k throttleKeys) error {
	ctx = context.WithoutCancel(ctx)
	if err := t.st.ResetCounter(ctx, k.account); err != nil {
		return err
	}
	if err := t.st.ResetCounter(ctx, k.consecutive); err != nil {
		return err
	}
	if err := t.st.ResetCounter(ctx, k.reset); err != nil {
		return err
	}
	return t.st.ReleaseAttempt(ctx, k.ip)
}

// giveBack takes back a try that was reserved but never checked (the server was busy).
func (t *throttle) giveBack(ctx context.Context, k throttleKeys) {
	ctx = context.WithoutCancel(ctx)
	for _, key := range []string{k.consecutive, k.account, k.ip} {
		_ = t.st.ReleaseAttempt(ctx, key)
	}
}

// recovered clears the sign-in lock and every failure streak of the user after the owner proved
// the inbox (a password reset): the lock lifts at once and disabled factors work again.
func (t *throttle) recovered(ctx context.Context, u *store.User) error {
	k := keysFor(u.Email, "")
	ctx = context.WithoutCancel(ctx)
	for _, key := range []string{k.account, k.consecutive, factorKey("sms", u.ID), factorKey("recovery", u.ID)} {
		if err := t.st.ResetCounter(ctx, key); err != nil {
			return err
		}
	}
	return nil
}

// factorDisabled tells the owner (audit and email) that a factor stopped working after
// maxConsecutiveFailures failures in a row; what names it ("password sign-in", "codes by text
// message", "recovery codes").
func (s *Server) factorDisabled(ctx context.Context, userID, what string) {
	s.audit.log(ctx, "factor.disabled", userID, "", map[string]string{"factor": what})
	u, err := s.st.GetUser(ctx, userID)
	if err != nil {
		s.log.WarnContext(ctx, "load user for notice", "error", err)
		return
	}
	s.codes.notify(ctx, u.Email, mail.KindSecurityNotice, mail.NoticeData{Subject: what + " turned off",
		Summary: "After " + itoa(maxConsecutiveFailures) + " failed attempts in a row, " + what + " is turned off for your account.",
		Detail:  "To turn it back on, reset your password from the sign-in page with a code sent to this address."})
}

func (r *tryRefusal) message() string {
	switch {
	case r.disabled:
		return msgFactorDisabled
	case r.locked:
		return "Sign-in is paused after too many failed attempts. Try again " + inDuration(r.wait) + ", or reset your password."
	}
	return "Too many failed sign-ins. Try again " + inDuration(r.wait) + "."
}

func (r *tryRefusal) metric() string {
	if r.locked || r.disabled {
		return "locked"
	}
	return "throttled"
}

// msgFactorDisabled: after maxConsecutiveFailures wrong passwords in a row.
const msgFactorDisabled = "Sign-in with this password is turned off after too many failed attempts. Reset your password to turn it back on."

// passwordFailed records the consequences of a wrong password whose try was reserved: at the
// lock, or when the password is disabled, the owner is told by email.
func (s *Server) passwordFailed(ctx context.Context, try *passwordTry, u *store.User, clientID string) {
	locked, disabled := try.failed()
	if u == nil {
		return
	}
	switch {
	case disabled:
		s.factorDisabled(ctx, u.ID, "password sign-in")
	case locked:
		s.audit.log(ctx, "login.locked", u.ID, clientID, nil)
		s.codes.notify(ctx, u.Email, mail.KindLoginLocked, map[string]any{"Until": s.now().Add(s.limits.LoginLockDuration).Format("15:04 MST")})
	}
}
