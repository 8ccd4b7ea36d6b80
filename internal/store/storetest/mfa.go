package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

// smsTTL is how long the fixtures' SMS challenges run.
const smsTTL = 5 * time.Minute

// smsChallenge stores a running challenge of the user and purpose, created at at, whose Vonage
// request id is "req-<id>", and returns it with the request ids it replaced.
func (e *env) smsChallenge(userID, purpose string, at time.Time) (*store.SMSChallenge, []string) {
	e.t.Helper()
	id := e.id("sms")
	c := &store.SMSChallenge{
		ID: id, UserID: userID, Purpose: purpose, PhoneE164: "+447700900123", RequestID: "req-" + id,
		Channel: store.SMSChannelSMS, CreatedAt: at, ExpiresAt: at.Add(smsTTL),
	}
	replaced, err := e.s.CreateSMSChallenge(e.ctx, c)
	must(e.t, err)
	return c, replaced
}

func (e *env) getSMS(id string) *store.SMSChallenge {
	e.t.Helper()
	c, err := e.s.GetSMSChallenge(e.ctx, id)
	must(e.t, err)
	return c
}

// testSMSChallenges: the lifecycle of an SMS challenge; the request id lives only while it runs.
func testSMSChallenges(t *testing.T, e *env) {
	e.run("create and get", func(t *testing.T, e *env) {
		u := e.user()
		_, err := e.s.GetSMSChallenge(e.ctx, "unknown")
		wantErr(t, err, store.ErrNotFound)
		c, replaced := e.smsChallenge(u.ID, store.SMSPurposeLogin, e.now)
		if replaced != nil {
			t.Fatalf("first challenge replaced %v", replaced)
		}
		got := e.getSMS(c.ID)
		wantUTC(t, "challenge", got)
		same(t, "challenge", got, c)

		withRequest := &store.SMSChallenge{ID: e.id("sms"), UserID: u.ID, Purpose: store.SMSPurposeEnrol,
			PhoneE164: "+15550100", AuthRequestID: "ar-1", CreatedAt: e.now, ExpiresAt: e.now.Add(smsTTL)}
		_, err = e.s.CreateSMSChallenge(e.ctx, withRequest)
		must(t, err)
		if withRequest.Channel != store.SMSChannelSMS {
			t.Fatalf("empty channel stored as %q, want sms", withRequest.Channel)
		}
		same(t, "challenge without request id", e.getSMS(withRequest.ID), withRequest)
	})
	e.run("by request id while running", func(t *testing.T, e *env) {
		u := e.user()
		c, _ := e.smsChallenge(u.ID, store.SMSPurposeLogin, e.now)
		got, err := e.s.RunningSMSChallengeByRequestID(e.ctx, c.RequestID)
		must(t, err)
		same(t, "challenge by request id", got, c)
		_, err = e.s.RunningSMSChallengeByRequestID(e.ctx, "")
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.RunningSMSChallengeByRequestID(e.ctx, "req-unknown")
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.EndSMSChallenge(e.ctx, c.ID, store.SMSEndCancelled, e.now)
		must(t, err)
		_, err = e.s.RunningSMSChallengeByRequestID(e.ctx, c.RequestID)
		wantErr(t, err, store.ErrNotFound)
	})
	e.run("refused", func(t *testing.T, e *env) {
		u := e.user()
		base := store.SMSChallenge{UserID: u.ID, Purpose: store.SMSPurposeLogin, PhoneE164: "+15550100",
			CreatedAt: e.now, ExpiresAt: e.now.Add(smsTTL)}
		for name, mod := range map[string]func(c *store.SMSChallenge){
			"no id":         func(c *store.SMSChallenge) { c.ID = "" },
			"no user":       func(c *store.SMSChallenge) { c.UserID = "" },
			"no phone":      func(c *store.SMSChallenge) { c.PhoneE164 = "" },
			"bad purpose":   func(c *store.SMSChallenge) { c.Purpose = "marketing" },
			"bad channel":   func(c *store.SMSChallenge) { c.Channel = "fax" },
			"already ended": func(c *store.SMSChallenge) { c.EndedAt = ptr(e.now); c.EndReason = store.SMSEndSuccess },
		} {
			c := base
			c.ID = e.id("sms")
			mod(&c)
			if _, err := e.s.CreateSMSChallenge(e.ctx, &c); err == nil {
				t.Fatalf("%s: accepted", name)
			}
		}
		c := base
		c.ID, c.UserID = e.id("sms"), "unknown-user"
		_, err := e.s.CreateSMSChallenge(e.ctx, &c)
		wantErr(t, err, store.ErrNotFound)
		first, _ := e.smsChallenge(u.ID, store.SMSPurposeStepUp, e.now)
		c = base
		c.ID = first.ID
		_, err = e.s.CreateSMSChallenge(e.ctx, &c)
		wantErr(t, err, store.ErrConflict)
	})
	e.run("channel, attempts up to max", func(t *testing.T, e *env) {
		u := e.user()
		c, _ := e.smsChallenge(u.ID, store.SMSPurposeLogin, e.now)
		must(t, e.s.SetSMSChallengeChannel(e.ctx, c.ID, store.SMSChannelVoice))
		if got := e.getSMS(c.ID); got.Channel != store.SMSChannelVoice {
			t.Fatalf("channel %q, want voice", got.Channel)
		}
		if err := e.s.SetSMSChallengeChannel(e.ctx, c.ID, "pigeon"); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown channel: %v, want a plain error", err)
		}
		wantErr(t, e.s.SetSMSChallengeChannel(e.ctx, "unknown", store.SMSChannelVoice), store.ErrNotFound)
		at := e.now.Add(time.Minute)
		for n := 1; n <= maxAttempts; n++ {
			got, err := e.s.CountSMSAttempt(e.ctx, c.ID, maxAttempts, at)
			must(t, err)
			if got.Attempts != n || got.Channel != store.SMSChannelVoice || got.RequestID != c.RequestID {
				t.Fatalf("attempt %d: got %+v", n, got)
			}
		}
		got, err := e.s.CountSMSAttempt(e.ctx, c.ID, maxAttempts, at)
		wantErr(t, err, store.ErrTooManyAttempts)
		if got == nil || got.Attempts != maxAttempts || got.EndedAt != nil {
			t.Fatalf("too many attempts: challenge %+v, want it running with %d attempts", got, maxAttempts)
		}
		if e.getSMS(c.ID).Attempts != maxAttempts {
			t.Fatal("the refused attempt was counted")
		}
		_, err = e.s.CountSMSAttempt(e.ctx, c.ID, 0, at)
		wantSomeErr(t, err)
	})
	e.run("attempts on expired, ended and unknown challenges", func(t *testing.T, e *env) {
		u := e.user()
		c, _ := e.smsChallenge(u.ID, store.SMSPurposeLogin, e.now)
		got, err := e.s.CountSMSAttempt(e.ctx, c.ID, maxAttempts, c.ExpiresAt) // expiry is exclusive
		wantErr(t, err, store.ErrNotFound)
		if got != nil {
			t.Fatalf("expired: got %+v, want nil", got)
		}
		_, err = e.s.CountSMSAttempt(e.ctx, "unknown", maxAttempts, e.now)
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.EndSMSChallenge(e.ctx, c.ID, store.SMSEndCancelled, e.now)
		must(t, err)
		_, err = e.s.CountSMSAttempt(e.ctx, c.ID, maxAttempts, e.now)
		wantErr(t, err, store.ErrNotFound)
		wantErr(t, e.s.SetSMSChallengeChannel(e.ctx, c.ID, store.SMSChannelVoice), store.ErrNotFound)
	})
	e.run("end clears the request id", func(t *testing.T, e *env) {
		u := e.user()
		for _, reason := range []string{store.SMSEndSuccess, store.SMSEndCancelled, store.SMSEndExpired, store.SMSEndTooMany} {
			c, _ := e.smsChallenge(u.ID, store.SMSPurposeLogin, e.now)
			ended := e.now.Add(time.Minute)
			req, err := e.s.EndSMSChallenge(e.ctx, c.ID, reason, ended)
			must(t, err)
			if req != c.RequestID {
				t.Fatalf("%s: returned request id %q, want %q", reason, req, c.RequestID)
			}
			want := *c
			want.RequestID, want.EndedAt, want.EndReason = "", &ended, reason
			same(t, "ended challenge", e.getSMS(c.ID), &want)
			_, err = e.s.EndSMSChallenge(e.ctx, c.ID, reason, ended)
			wantErr(t, err, store.ErrNotFound)
		}
		_, err := e.s.EndSMSChallenge(e.ctx, "unknown", store.SMSEndCancelled, e.now)
		wantErr(t, err, store.ErrNotFound)
		c, _ := e.smsChallenge(u.ID, store.SMSPurposeLogin, e.now)
		_, err = e.s.EndSMSChallenge(e.ctx, c.ID, "bored", e.now)
		wantSomeErr(t, err)
		if e.getSMS(c.ID).EndedAt != nil {
			t.Fatal("an unknown reason ended the challenge")
		}
	})
	e.run("create replaces the running one of the same purpose", func(t *testing.T, e *env) {
		u, other := e.user(), e.user()
		first, _ := e.smsChallenge(u.ID, store.SMSPurposeLogin, e.now)
		enrol, _ := e.smsChallenge(u.ID, store.SMSPurposeEnrol, e.now)
		theirs, _ := e.smsChallenge(other.ID, store.SMSPurposeLogin, e.now)
		ended, _ := e.smsChallenge(u.ID, store.SMSPurposeLogin, e.now) // replaces first
		_, err := e.s.EndSMSChallenge(e.ctx, ended.ID, store.SMSEndSuccess, e.now)
		must(t, err)
		// first was replaced by ended, which has ended itself: nothing runs to replace now.
		at := e.now.Add(time.Minute)
		second, replaced := e.smsChallenge(u.ID, store.SMSPurposeLogin, at)
		if replaced != nil {
			t.Fatalf("replaced %v with nothing running", replaced)
		}
		third, replaced := e.smsChallenge(u.ID, store.SMSPurposeLogin, at.Add(time.Second))
		if !slices.Equal(replaced, []string{second.RequestID}) {
			t.Fatalf("replaced %v, want [%s]", replaced, second.RequestID)
		}
		got := e.getSMS(second.ID)
		if got.EndReason != store.SMSEndReplaced || got.RequestID != "" || got.EndedAt == nil || !got.EndedAt.Equal(at.Add(time.Second)) {
			t.Fatalf("replaced challenge: %+v", got)
		}
		if got := e.getSMS(first.ID); got.EndReason != store.SMSEndReplaced || got.RequestID != "" {
			t.Fatalf("first challenge: %+v", got)
		}
		same(t, "enrol challenge (other purpose)", e.getSMS(enrol.ID), enrol)
		same(t, "other user's challenge", e.getSMS(theirs.ID), theirs)
		same(t, "new challenge", e.getSMS(third.ID), third)
	})
	e.run("expired challenges", func(t *testing.T, e *env) {
		u := e.user()
		// Its own clock, far from the other sub-tests' challenges (they share the store).
		base := e.now.Add(-100 * 24 * time.Hour)
		old, _ := e.smsChallenge(u.ID, store.SMSPurposeLogin, base)
		older, _ := e.smsChallenge(u.ID, store.SMSPurposeEnrol, base.Add(-time.Minute))
		endedOld, _ := e.smsChallenge(u.ID, store.SMSPurposeReset, base)
		_, err := e.s.EndSMSChallenge(e.ctx, endedOld.ID, store.SMSEndSuccess, base)
		must(t, err)
		running, _ := e.smsChallenge(u.ID, store.SMSPurposeStepUp, base.Add(smsTTL))
		now := base.Add(smsTTL) // old expires exactly now; running expires later
		got, err := e.s.ExpiredSMSChallenges(e.ctx, now, 10)
		must(t, err)
		same(t, "expired challenges", got, []store.SMSChallenge{*older, *old})
		got, err = e.s.ExpiredSMSChallenges(e.ctx, now, 1)
		must(t, err)
		same(t, "the oldest expired challenge", got, []store.SMSChallenge{*older})
		_ = running
	})
}

// testSMSAttemptRace: the attempt limit of an SMS challenge holds under concurrency (DESIGN: ≤5
// wrong tries, counted atomically): 50 concurrent attempts with max 5 get exactly 5 counted.
func testSMSAttemptRace(t *testing.T, e *env) {
	const callers = 50
	u := e.user()
	c, _ := e.smsChallenge(u.ID, store.SMSPurposeLogin, e.now)
	tries := make([]int, callers)
	errs := race(callers, func(i int) error {
		got, err := e.racer(i).CountSMSAttempt(e.ctx, c.ID, maxAttempts, e.now.Add(time.Second))
		if got != nil {
			tries[i] = got.Attempts
		}
		return err
	})
	seen := map[int]bool{}
	var counted, tooMany int
	for i, err := range errs {
		switch {
		case err == nil:
			counted++
			if seen[tries[i]] {
				t.Fatalf("two attempts were number %d", tries[i])
			}
			seen[tries[i]] = true
		case errors.Is(err, store.ErrTooManyAttempts):
			tooMany++
		default:
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if counted != maxAttempts || tooMany != callers-maxAttempts {
		t.Fatalf("%d counted, %d too many; want %d and %d", counted, tooMany, maxAttempts, callers-maxAttempts)
	}
	if got := e.getSMS(c.ID); got.Attempts != maxAttempts {
		t.Fatalf("stored attempts %d, want %d", got.Attempts, maxAttempts)
	}
}

// testSMSEndRace: a challenge ends once; its request id goes to exactly one caller, whether it is
// ended or replaced.
func testSMSEndRace(t *testing.T, e *env) {
	const callers = 20
	u := e.user()
	c, _ := e.smsChallenge(u.ID, store.SMSPurposeLogin, e.now)
	got := make([]string, callers)
	errs := race(callers, func(i int) error {
		if i%4 == 3 {
			n := &store.SMSChallenge{ID: fmt.Sprintf("%s-new-%d", c.ID, i), UserID: u.ID, Purpose: store.SMSPurposeLogin,
				PhoneE164: c.PhoneE164, CreatedAt: e.now, ExpiresAt: e.now.Add(smsTTL)}
			replaced, err := e.racer(i).CreateSMSChallenge(e.ctx, n)
			got[i] = fmt.Sprint(replaced)
			return err
		}
		req, err := e.racer(i).EndSMSChallenge(e.ctx, c.ID, store.SMSEndCancelled, e.now)
		got[i] = "[" + req + "]"
		return err
	})
	handed := 0
	for i, err := range errs {
		if i%4 == 3 {
			must(t, err)
		} else if err != nil {
			wantErr(t, err, store.ErrNotFound)
			continue
		}
		if got[i] == "["+c.RequestID+"]" {
			handed++
		}
	}
	if handed != 1 {
		t.Fatalf("the request id was handed out %d times: %v", handed, got)
	}
}

// testRecoveryCodes: replace, list, use and count.
func testRecoveryCodes(t *testing.T, e *env) {
	u, other := e.user(), e.user()
	hashes := make([]string, 10)
	for i := range hashes {
		hashes[i] = fmt.Sprintf("$argon2id$code-%d", i)
	}
	wantErr(t, e.s.ReplaceRecoveryCodes(e.ctx, "unknown", hashes, e.now), store.ErrNotFound)
	wantSomeErr(t, e.s.ReplaceRecoveryCodes(e.ctx, u.ID, []string{"a", ""}, e.now))
	must(t, e.s.ReplaceRecoveryCodes(e.ctx, u.ID, hashes, e.now))
	must(t, e.s.ReplaceRecoveryCodes(e.ctx, other.ID, hashes[:2], e.now))
	count := func(userID string, want int) {
		t.Helper()
		n, err := e.s.CountUnusedRecoveryCodes(e.ctx, userID)
		must(t, err)
		if n != want {
			t.Fatalf("%d unused codes, want %d", n, want)
		}
	}
	list, err := e.s.ListUnusedRecoveryCodes(e.ctx, u.ID)
	must(t, err)
	if len(list) != 10 {
		t.Fatalf("%d codes, want 10", len(list))
	}
	var got []string
	ids := map[string]bool{}
	for _, c := range list {
		got = append(got, c.Hash)
		ids[c.ID] = true
		sameTime(t, "created", c.CreatedAt, e.now)
	}
	slices.Sort(got)
	if !slices.Equal(got, hashes) || len(ids) != 10 {
		t.Fatalf("hashes %v (%d ids), want %v", got, len(ids), hashes)
	}
	count(u.ID, 10)
	count("unknown", 0)

	used := list[3]
	must(t, e.s.UseRecoveryCode(e.ctx, u.ID, used.ID, e.now))
	wantErr(t, e.s.UseRecoveryCode(e.ctx, u.ID, used.ID, e.now), store.ErrNotFound)
	wantErr(t, e.s.UseRecoveryCode(e.ctx, other.ID, list[4].ID, e.now), store.ErrNotFound) // not theirs
	wantErr(t, e.s.UseRecoveryCode(e.ctx, u.ID, "unknown", e.now), store.ErrNotFound)
	count(u.ID, 9)
	list, err = e.s.ListUnusedRecoveryCodes(e.ctx, u.ID)
	must(t, err)
	for _, c := range list {
		if c.ID == used.ID {
			t.Fatal("a used code is listed")
		}
	}

	// A replacement voids every old code, used or not.
	must(t, e.s.ReplaceRecoveryCodes(e.ctx, u.ID, []string{"$argon2id$new"}, e.now.Add(time.Minute)))
	count(u.ID, 1)
	wantErr(t, e.s.UseRecoveryCode(e.ctx, u.ID, list[0].ID, e.now), store.ErrNotFound)
	count(other.ID, 2)
	must(t, e.s.ReplaceRecoveryCodes(e.ctx, u.ID, nil, e.now))
	count(u.ID, 0)
	list, err = e.s.ListUnusedRecoveryCodes(e.ctx, u.ID)
	must(t, err)
	if list != nil {
		t.Fatalf("codes after an empty replacement: %v", list)
	}
}

// testRecoveryCodeRace: a recovery code is single use even when entered many times at once.
func testRecoveryCodeRace(t *testing.T, e *env) {
	const callers = 20
	u := e.user()
	must(t, e.s.ReplaceRecoveryCodes(e.ctx, u.ID, []string{"$argon2id$a", "$argon2id$b"}, e.now))
	list, err := e.s.ListUnusedRecoveryCodes(e.ctx, u.ID)
	must(t, err)
	errs := race(callers, func(i int) error {
		return e.racer(i).UseRecoveryCode(e.ctx, u.ID, list[0].ID, e.now)
	})
	oneWinner(t, errs, store.ErrNotFound)
	n, err := e.s.CountUnusedRecoveryCodes(e.ctx, u.ID)
	must(t, err)
	if n != 1 {
		t.Fatalf("%d unused codes, want 1", n)
	}
}

// testSetUserMFA: turning two-step on stores the number; off clears it and deletes the codes.
func testSetUserMFA(t *testing.T, e *env) {
	u := e.user()
	on := e.now.Add(time.Minute)
	wantErr(t, e.s.SetUserMFA(e.ctx, "unknown", "+15550100", true, on), store.ErrNotFound)
	wantSomeErr(t, e.s.SetUserMFA(e.ctx, u.ID, "", true, on))
	must(t, e.s.SetUserMFA(e.ctx, u.ID, "+447700900123", true, on))
	want := *u
	want.MFAEnabled, want.PhoneE164, want.UpdatedAt = true, "+447700900123", on
	same(t, "user with two-step on", e.getUser(u.ID), &want)
	must(t, e.s.ReplaceRecoveryCodes(e.ctx, u.ID, []string{"$argon2id$a", "$argon2id$b"}, on))
	c, _ := e.smsChallenge(u.ID, store.SMSPurposeDisable, on)

	off := on.Add(time.Minute)
	must(t, e.s.SetUserMFA(e.ctx, u.ID, "+447700900123", false, off))
	want.MFAEnabled, want.PhoneE164, want.UpdatedAt = false, "", off
	same(t, "user with two-step off", e.getUser(u.ID), &want)
	n, err := e.s.CountUnusedRecoveryCodes(e.ctx, u.ID)
	must(t, err)
	if n != 0 {
		t.Fatalf("%d recovery codes after turning two-step off, want 0", n)
	}
	// The running challenge is the caller's to end (and cancel at Vonage).
	same(t, "running challenge", e.getSMS(c.ID), c)
}

// testDeleteUserMFA: DeleteUser removes the user's SMS challenges and recovery codes.
func testDeleteUserMFA(t *testing.T, e *env) {
	gone, kept := e.user(), e.user()
	var goneSMS, keptSMS []*store.SMSChallenge
	for _, u := range []*store.User{gone, kept} {
		running, _ := e.smsChallenge(u.ID, store.SMSPurposeLogin, e.now)
		ended, _ := e.smsChallenge(u.ID, store.SMSPurposeEnrol, e.now)
		_, err := e.s.EndSMSChallenge(e.ctx, ended.ID, store.SMSEndSuccess, e.now)
		must(t, err)
		must(t, e.s.ReplaceRecoveryCodes(e.ctx, u.ID, []string{"$argon2id$a"}, e.now))
		if u == gone {
			goneSMS = append(goneSMS, running, ended)
		} else {
			keptSMS = append(keptSMS, running, ended)
		}
	}
	must(t, e.s.DeleteUser(e.ctx, gone.ID))
	for _, c := range goneSMS {
		_, err := e.s.GetSMSChallenge(e.ctx, c.ID)
		wantErr(t, err, store.ErrNotFound)
	}
	for _, c := range keptSMS {
		e.getSMS(c.ID)
	}
	for u, want := range map[string]int{gone.ID: 0, kept.ID: 1} {
		n, err := e.s.CountUnusedRecoveryCodes(e.ctx, u)
		must(t, err)
		if n != want {
			t.Fatalf("user %s: %d codes, want %d", u, n, want)
		}
	}
	// The id of a deleted user's challenge is free again, and a new one for them is refused.
	_, err := e.s.CreateSMSChallenge(e.ctx, &store.SMSChallenge{ID: e.id("sms"), UserID: gone.ID,
		Purpose: store.SMSPurposeLogin, PhoneE164: "+15550100", CreatedAt: e.now, ExpiresAt: e.now.Add(smsTTL)})
	wantErr(t, err, store.ErrNotFound)
}

// testDeleteExpiredSMS: DeleteExpired removes ended challenges a day after they ended and never a
// running one, expired or not.
func testDeleteExpiredSMS(t *testing.T, e *env) {
	u := e.user()
	now := e.now.Add(48 * time.Hour)
	endedLongAgo, _ := e.smsChallenge(u.ID, store.SMSPurposeLogin, e.now)
	_, err := e.s.EndSMSChallenge(e.ctx, endedLongAgo.ID, store.SMSEndSuccess, now.Add(-store.SMSChallengeRetention)) // exactly a day
	must(t, err)
	endedRecently, _ := e.smsChallenge(u.ID, store.SMSPurposeLogin, e.now)
	_, err = e.s.EndSMSChallenge(e.ctx, endedRecently.ID, store.SMSEndCancelled, now.Add(-store.SMSChallengeRetention+time.Millisecond))
	must(t, err)
	runningExpired, _ := e.smsChallenge(u.ID, store.SMSPurposeEnrol, e.now)
	n, err := e.s.DeleteExpired(e.ctx, now)
	must(t, err)
	if n != 1 {
		t.Fatalf("DeleteExpired removed %d rows, want 1", n)
	}
	_, err = e.s.GetSMSChallenge(e.ctx, endedLongAgo.ID)
	wantErr(t, err, store.ErrNotFound)
	e.getSMS(endedRecently.ID)
	same(t, "running expired challenge", e.getSMS(runningExpired.ID), runningExpired)
}
