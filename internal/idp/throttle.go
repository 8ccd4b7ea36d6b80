package idp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

// throttle limits failed sign-ins per account and per client IP, in the store so that it holds
// across replicas (DESIGN.md, Security rules): after LoginDelayAfter failures each further try
// must wait a growing delay since the last failure; after LoginLockAfter failures sign-ins are
// refused for LoginLockDuration, which lifts by itself. The account key is derived from the
// submitted email whether or not an account exists, so the answers do not reveal which emails
// are registered. A client IP gets five times the account thresholds: offices and mobile
// carriers put many people behind one address.
type throttle struct {
	st     store.Store
	limits Limits
	now    func() time.Time
}

const ipThresholdFactor = 5

// maxLoginDelay caps the growing delay.
const maxLoginDelay = time.Minute

func emailKey(email string) string {
	sum := sha256.Sum256([]byte(email))
	return hex.EncodeToString(sum[:16])
}

type throttleKeys struct{ account, ip string }

func keysFor(email, ip string) throttleKeys {
	return throttleKeys{account: "login:acct:" + emailKey(email), ip: "login:ip:" + ip}
}

// wait returns how long the person must wait before another try (0 = go ahead) and whether it is
// a lock rather than a delay.
func (t *throttle) wait(ctx context.Context, k throttleKeys) (time.Duration, bool, error) {
	now := t.now()
	var longest time.Duration
	locked := false
	for _, key := range []struct {
		name   string
		factor int
	}{{k.account, 1}, {k.ip, ipThresholdFactor}} {
		if lock, err := t.st.GetCounter(ctx, "lock:"+key.name, t.limits.LoginLockDuration, now); err == nil && lock.Count > 0 {
			if d := lock.WindowStart.Add(t.limits.LoginLockDuration).Sub(now); d > longest {
				longest, locked = d, true
			}
			continue
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return 0, false, err
		}
		c, err := t.st.GetCounter(ctx, key.name, t.limits.LoginLockDuration, now)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, false, err
		}
		over := c.Count - t.limits.LoginDelayAfter*key.factor
		if over < 0 {
			continue
		}
		delay := time.Second << min(over, 6) // 1s, 2s, 4s … capped
		delay = min(delay, maxLoginDelay)
		if d := c.UpdatedAt.Add(delay).Sub(now); d > longest && !locked {
			longest = d
		}
	}
	return longest, locked, nil
}

// fail records a failed sign-in; it reports whether this failure locked the account (the caller
// tells the owner by email).
func (t *throttle) fail(ctx context.Context, k throttleKeys) (accountLocked bool, err error) {
	now := t.now()
	for _, key := range []struct {
		name   string
		factor int
	}{{k.account, 1}, {k.ip, ipThresholdFactor}} {
		c, err := t.st.HitCounter(ctx, key.name, t.limits.LoginLockDuration, now)
		if err != nil {
			return false, err
		}
		if c.Count == t.limits.LoginLockAfter*key.factor {
			if _, err := t.st.HitCounter(ctx, "lock:"+key.name, t.limits.LoginLockDuration, now); err != nil {
				return false, err
			}
			// The lock starts now; the failure count starts over when it lifts.
			if err := t.st.ResetCounter(ctx, key.name); err != nil {
				return false, err
			}
			if key.factor == 1 {
				accountLocked = true
			}
		}
	}
	return accountLocked, nil
}

// succeed clears the account's failures (the IP's stay: one good password must not wash away a
// spraying run from the same address).
func (t *throttle) succeed(ctx context.Context, k throttleKeys) error {
	return t.st.ResetCounter(ctx, k.account)
}
