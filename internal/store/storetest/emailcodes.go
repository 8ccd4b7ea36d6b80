package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

// maxAttempts is the per-code limit the email code tests pass to CheckEmailCode (DESIGN: ≤5 wrong
// tries per code).
const maxAttempts = 5

// codeTTL is how long the fixtures' email codes are valid.
const codeTTL = 10 * time.Minute

// signupUser stores a user as signup leaves one: unverified, no password yet.
func (e *env) signupUser() *store.User {
	e.t.Helper()
	id := e.id("user")
	u := &store.User{ID: id, Email: id + "@example.com", CreatedAt: e.now, UpdatedAt: e.now}
	must(e.t, e.s.CreateUser(e.ctx, u))
	return u
}

// emailCode stores a code of the user and purpose whose hash is "hash-<id>", sent at at and valid
// for codeTTL, carrying pending as the signup password.
func (e *env) emailCode(userID, purpose, pending string, at time.Time) *store.EmailCode {
	e.t.Helper()
	id := e.id("ec")
	c := &store.EmailCode{
		ID: id, UserID: userID, Purpose: purpose, CodeHash: "hash-" + id, PendingPasswordHash: pending,
		CreatedAt: at, ExpiresAt: at.Add(codeTTL),
	}
	must(e.t, e.s.CreateEmailCode(e.ctx, c))
	return c
}

// latest returns LatestEmailCode, which must succeed.
func (e *env) latest(userID, purpose string) *store.EmailCode {
	e.t.Helper()
	c, err := e.s.LatestEmailCode(e.ctx, userID, purpose)
	must(e.t, err)
	return c
}

func (e *env) getUser(id string) *store.User {
	e.t.Helper()
	u, err := e.s.GetUser(e.ctx, id)
	must(e.t, err)
	return u
}

// testEmailCodes: CreateEmailCode (a resend voids the previous code) and LatestEmailCode.
func testEmailCodes(t *testing.T, e *env) {
	e.run("create and latest", func(t *testing.T, e *env) {
		u := e.user()
		_, err := e.s.LatestEmailCode(e.ctx, u.ID, store.PurposeVerify)
		wantErr(t, err, store.ErrNotFound)
		c := e.emailCode(u.ID, store.PurposeVerify, "$argon2id$pending", e.now)
		got := e.latest(u.ID, store.PurposeVerify)
		wantUTC(t, "email code", got)
		same(t, "email code", got, c)
		_, err = e.s.LatestEmailCode(e.ctx, u.ID, store.PurposeReset)
		wantErr(t, err, store.ErrNotFound)
	})
	e.run("a resend voids the previous code", func(t *testing.T, e *env) {
		u := e.user()
		first := e.emailCode(u.ID, store.PurposeVerify, "$argon2id$first", e.now)
		resent := e.now.Add(time.Minute)
		second := e.emailCode(u.ID, store.PurposeVerify, "$argon2id$second", resent)
		same(t, "latest after a resend", e.latest(u.ID, store.PurposeVerify), second)
		// The first code no longer counts: it is a wrong code now, and once the second one is
		// used there is no live code at all.
		_, err := e.s.CheckEmailCode(e.ctx, u.ID, store.PurposeVerify, first.CodeHash, maxAttempts, resent)
		wantErr(t, err, store.ErrCodeMismatch)
		got, err := e.s.CheckEmailCode(e.ctx, u.ID, store.PurposeVerify, second.CodeHash, maxAttempts, resent)
		must(t, err)
		if got.PendingPasswordHash != "$argon2id$second" {
			t.Fatalf("PendingPasswordHash = %q, want the resent code's", got.PendingPasswordHash)
		}
		_, err = e.s.CheckEmailCode(e.ctx, u.ID, store.PurposeVerify, first.CodeHash, maxAttempts, resent)
		wantErr(t, err, store.ErrNotFound)
		if u := e.getUser(u.ID); u.PasswordHash != "$argon2id$second" {
			t.Fatalf("password %q, want the one sent with the entered code", u.PasswordHash)
		}
	})
	e.run("get by id", func(t *testing.T, e *env) {
		u := e.user()
		first := e.emailCode(u.ID, store.PurposeVerify, "$argon2id$first", e.now)
		resent := e.now.Add(time.Minute)
		second := e.emailCode(u.ID, store.PurposeVerify, "$argon2id$second", resent)
		got, err := e.s.GetEmailCode(e.ctx, second.ID)
		must(t, err)
		wantUTC(t, "email code", got)
		same(t, "live code", got, second)
		// The voided one is still there, consumed when the resend went out.
		voided := *first
		voided.ConsumedAt = &resent
		got, err = e.s.GetEmailCode(e.ctx, first.ID)
		must(t, err)
		same(t, "voided code", got, &voided)
		_, err = e.s.GetEmailCode(e.ctx, "no-such-code")
		wantErr(t, err, store.ErrNotFound)
	})
	e.run("a resend at the same instant", func(t *testing.T, e *env) {
		u := e.user()
		e.emailCode(u.ID, store.PurposeReset, "", e.now)
		second := e.emailCode(u.ID, store.PurposeReset, "", e.now)
		same(t, "latest", e.latest(u.ID, store.PurposeReset), second)
	})
	e.run("purposes and users are separate", func(t *testing.T, e *env) {
		u, other := e.user(), e.user()
		verify := e.emailCode(u.ID, store.PurposeVerify, "", e.now)
		reset := e.emailCode(u.ID, store.PurposeReset, "", e.now)
		others := e.emailCode(other.ID, store.PurposeVerify, "", e.now)
		for _, c := range []*store.EmailCode{verify, reset, others} {
			same(t, "latest "+c.ID, e.latest(c.UserID, c.Purpose), c)
			_, err := e.s.CheckEmailCode(e.ctx, c.UserID, c.Purpose, c.CodeHash, maxAttempts, e.now)
			must(t, err)
		}
	})
	e.run("latest includes consumed and expired codes", func(t *testing.T, e *env) {
		u := e.user()
		c := e.emailCode(u.ID, store.PurposeReset, "", e.now)
		at := e.now.Add(time.Minute)
		_, err := e.s.CheckEmailCode(e.ctx, u.ID, store.PurposeReset, c.CodeHash, maxAttempts, at)
		must(t, err)
		want := *c
		want.Attempts, want.ConsumedAt = 1, &at
		same(t, "consumed code", e.latest(u.ID, store.PurposeReset), &want)

		expired := e.emailCode(u.ID, store.PurposeVerify, "", e.now.Add(-time.Hour))
		same(t, "expired code", e.latest(u.ID, store.PurposeVerify), expired)
	})
	e.run("refused", func(t *testing.T, e *env) {
		u := e.user()
		taken := e.emailCode(u.ID, store.PurposeVerify, "", e.now)
		valid := func(mod func(c *store.EmailCode)) *store.EmailCode {
			c := &store.EmailCode{ID: e.id("ec"), UserID: u.ID, Purpose: store.PurposeReset, CodeHash: "h", CreatedAt: e.now, ExpiresAt: e.now.Add(codeTTL)}
			mod(c)
			return c
		}
		for _, tc := range []struct {
			name string
			mod  func(c *store.EmailCode)
			want error // nil: a plain error
		}{
			{"unknown user", func(c *store.EmailCode) { c.UserID = "no-such-user" }, store.ErrNotFound},
			{"id taken", func(c *store.EmailCode) { c.ID = taken.ID }, store.ErrConflict},
			{"no id", func(c *store.EmailCode) { c.ID = "" }, nil},
			{"no user", func(c *store.EmailCode) { c.UserID = "" }, nil},
			{"no hash", func(c *store.EmailCode) { c.CodeHash = "" }, nil},
			{"unknown purpose", func(c *store.EmailCode) { c.Purpose = "login" }, nil},
		} {
			e.run(tc.name, func(t *testing.T, e *env) {
				err := e.s.CreateEmailCode(e.ctx, valid(tc.mod))
				if tc.want == nil {
					wantSomeErr(t, err)
				} else {
					wantErr(t, err, tc.want)
				}
			})
		}
		// A refused resend voids nothing: the old code still works.
		_, err := e.s.CheckEmailCode(e.ctx, u.ID, store.PurposeVerify, taken.CodeHash, maxAttempts, e.now)
		must(t, err)
	})
}

// testCheckEmailCode: the outcomes of CheckEmailCode, one fresh user per case.
func testCheckEmailCode(t *testing.T, e *env) {
	at := e.now.Add(time.Minute) // when the code is entered
	type guess struct {
		right bool
		want  error
		tries int // Attempts on the returned code; 0 when none is returned
	}
	wrong := func(tries int) guess { return guess{false, store.ErrCodeMismatch, tries} }
	for _, tc := range []struct {
		name    string
		purpose string
		pending string
		guesses []guess
		// What the user looks like afterwards: verified with this password, or untouched.
		verified bool
		password string
		consumed bool
	}{
		{
			name: "verify: right code sets email_verified and the pending password", purpose: store.PurposeVerify,
			pending: "$argon2id$chosen-at-signup", guesses: []guess{{true, nil, 1}},
			verified: true, password: "$argon2id$chosen-at-signup", consumed: true,
		},
		{
			name: "verify: without a pending password only the email is verified", purpose: store.PurposeVerify,
			guesses: []guess{{true, nil, 1}}, verified: true, consumed: true,
		},
		{
			name: "reset: right code does not touch the user", purpose: store.PurposeReset,
			guesses: []guess{{true, nil, 1}}, consumed: true,
		},
		{
			name: "wrong codes count, then the right one", purpose: store.PurposeVerify, pending: "$argon2id$p",
			guesses:  []guess{wrong(1), wrong(2), {true, nil, 3}},
			verified: true, password: "$argon2id$p", consumed: true,
		},
		{
			name: "right code on the last try", purpose: store.PurposeReset,
			guesses: []guess{wrong(1), wrong(2), wrong(3), wrong(4), {true, nil, 5}}, consumed: true,
		},
		{
			name: "max attempts: even the right code is refused", purpose: store.PurposeVerify, pending: "$argon2id$p",
			guesses: []guess{
				wrong(1), wrong(2), wrong(3), wrong(4), wrong(5),
				{true, store.ErrTooManyAttempts, 5}, {false, store.ErrTooManyAttempts, 5},
			},
		},
		{
			name: "consumed: a second use finds no live code", purpose: store.PurposeReset,
			guesses:  []guess{{true, nil, 1}, {true, store.ErrNotFound, 0}, {false, store.ErrNotFound, 0}},
			consumed: true,
		},
	} {
		e.run(tc.name, func(t *testing.T, e *env) {
			u := e.signupUser()
			c := e.emailCode(u.ID, tc.purpose, tc.pending, e.now)
			for i, g := range tc.guesses {
				hash := "wrong"
				if g.right {
					hash = c.CodeHash
				}
				got, err := e.s.CheckEmailCode(e.ctx, u.ID, tc.purpose, hash, maxAttempts, at)
				wantErr(t, err, g.want)
				switch {
				case g.tries == 0 && got != nil:
					t.Fatalf("guess %d: got a code with %v", i, err)
				case g.tries == 0:
				case got == nil:
					t.Fatalf("guess %d: no code returned with %v", i, err)
				default:
					want := *c
					want.Attempts = g.tries
					if g.right && g.want == nil {
						want.ConsumedAt = &at
					}
					wantUTC(t, "checked code", got)
					same(t, "checked code", got, &want)
				}
			}
			if stored := e.latest(u.ID, tc.purpose); (stored.ConsumedAt != nil) != tc.consumed {
				t.Fatalf("consumed_at = %v, want consumed %v", stored.ConsumedAt, tc.consumed)
			}
			want := *u
			if tc.verified {
				want.EmailVerified, want.PasswordHash, want.UpdatedAt = true, tc.password, at
			}
			same(t, "user", e.getUser(u.ID), &want)
		})
	}
	e.run("expired: no live code, no attempt counted", func(t *testing.T, e *env) {
		u := e.signupUser()
		c := e.emailCode(u.ID, store.PurposeVerify, "$argon2id$p", e.now)
		for _, now := range []time.Time{c.ExpiresAt, c.ExpiresAt.Add(time.Minute)} {
			got, err := e.s.CheckEmailCode(e.ctx, u.ID, store.PurposeVerify, c.CodeHash, maxAttempts, now)
			wantErr(t, err, store.ErrNotFound)
			if got != nil {
				t.Fatalf("got a code for an expired one: %+v", got)
			}
		}
		same(t, "stored code", e.latest(u.ID, store.PurposeVerify), c)
		same(t, "user", e.getUser(u.ID), u)
		// Just before expiry it still works.
		_, err := e.s.CheckEmailCode(e.ctx, u.ID, store.PurposeVerify, c.CodeHash, maxAttempts, c.ExpiresAt.Add(-time.Millisecond))
		must(t, err)
	})
	e.run("expired with attempts left over is not found", func(t *testing.T, e *env) {
		u := e.signupUser()
		c := e.emailCode(u.ID, store.PurposeReset, "", e.now)
		for range maxAttempts {
			_, err := e.s.CheckEmailCode(e.ctx, u.ID, store.PurposeReset, "wrong", maxAttempts, at)
			wantErr(t, err, store.ErrCodeMismatch)
		}
		_, err := e.s.CheckEmailCode(e.ctx, u.ID, store.PurposeReset, c.CodeHash, maxAttempts, c.ExpiresAt)
		wantErr(t, err, store.ErrNotFound)
	})
	e.run("a new code after too many attempts", func(t *testing.T, e *env) {
		u := e.signupUser()
		e.emailCode(u.ID, store.PurposeVerify, "$argon2id$old", e.now)
		for range maxAttempts {
			_, err := e.s.CheckEmailCode(e.ctx, u.ID, store.PurposeVerify, "wrong", maxAttempts, at)
			wantErr(t, err, store.ErrCodeMismatch)
		}
		_, err := e.s.CheckEmailCode(e.ctx, u.ID, store.PurposeVerify, "wrong", maxAttempts, at)
		wantErr(t, err, store.ErrTooManyAttempts)
		fresh := e.emailCode(u.ID, store.PurposeVerify, "$argon2id$new", at)
		got, err := e.s.CheckEmailCode(e.ctx, u.ID, store.PurposeVerify, fresh.CodeHash, maxAttempts, at)
		must(t, err)
		if got.ID != fresh.ID || got.Attempts != 1 {
			t.Fatalf("checked %s with %d attempts, want %s with 1", got.ID, got.Attempts, fresh.ID)
		}
		if u := e.getUser(u.ID); u.PasswordHash != "$argon2id$new" || !u.EmailVerified {
			t.Fatalf("user %+v, want verified with the new code's password", u)
		}
	})
	e.run("another purpose, another user, no code", func(t *testing.T, e *env) {
		u, other := e.signupUser(), e.signupUser()
		c := e.emailCode(u.ID, store.PurposeVerify, "", e.now)
		for _, tc := range []struct{ name, user, purpose string }{
			{"other purpose", u.ID, store.PurposeReset},
			{"other user", other.ID, store.PurposeVerify},
			{"unknown user", "no-such-user", store.PurposeVerify},
		} {
			_, err := e.s.CheckEmailCode(e.ctx, tc.user, tc.purpose, c.CodeHash, maxAttempts, at)
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s: %v, want ErrNotFound", tc.name, err)
			}
		}
		same(t, "untouched code", e.latest(u.ID, store.PurposeVerify), c)
	})
	e.run("bad arguments", func(t *testing.T, e *env) {
		u := e.signupUser()
		c := e.emailCode(u.ID, store.PurposeVerify, "", e.now)
		_, err := e.s.CheckEmailCode(e.ctx, u.ID, store.PurposeVerify, "", maxAttempts, at)
		wantSomeErr(t, err)
		_, err = e.s.CheckEmailCode(e.ctx, u.ID, store.PurposeVerify, c.CodeHash, 0, at)
		wantSomeErr(t, err)
		same(t, "untouched code", e.latest(u.ID, store.PurposeVerify), c)
	})
}
