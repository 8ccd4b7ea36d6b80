package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

// signIn is one sign-in of a user in a session, finished but not redeemed: req was authenticated
// and its code (hash) saved but not exchanged; pending was authenticated and awaits its callback
// (no code yet).
type signIn struct {
	req, pending *store.AuthRequest
	code         string
}

// signInIn authenticates two auth requests of the client for userID in the session and saves a
// code for the first.
func (e *env) signInIn(clientID, userID, sessionID string) signIn {
	e.t.Helper()
	var si signIn
	si.req = e.authRequest(clientID)
	e.complete(si.req, userID, sessionID)
	si.code = e.id("code")
	must(e.t, e.s.SaveAuthCode(e.ctx, &store.AuthCode{Hash: si.code, AuthRequestID: si.req.ID, ExpiresAt: e.now.Add(5 * time.Minute)}))
	si.pending = e.authRequest(clientID)
	e.complete(si.pending, userID, sessionID)
	return si
}

// wantEnded checks that nothing more comes out of the sign-in: its requests are gone, the code
// does not exchange and the pending request gets no code.
func (e *env) wantEnded(si signIn, clientID, userID string) {
	e.t.Helper()
	for _, r := range []*store.AuthRequest{si.req, si.pending} {
		if _, err := e.s.GetAuthRequest(e.ctx, r.ID, e.now); !errors.Is(err, store.ErrNotFound) {
			e.t.Fatalf("auth request %s after the revocation: %v, want ErrNotFound", r.ID, err)
		}
	}
	g := grant{access: e.access(clientID, userID), refresh: e.refresh(clientID, userID)}
	err := e.s.IssueTokens(e.ctx, store.IssueParams{Now: e.now, CodeHash: si.code, Access: g.access, Refresh: g.refresh})
	wantErr(e.t, err, store.ErrNotFound)
	if _, err := e.s.GetAccessToken(e.ctx, g.access.ID); !errors.Is(err, store.ErrNotFound) {
		e.t.Fatalf("a refused exchange stored its access token: %v", err)
	}
	err = e.s.SaveAuthCode(e.ctx, &store.AuthCode{Hash: e.id("code"), AuthRequestID: si.pending.ID, ExpiresAt: e.now.Add(time.Minute)})
	wantErr(e.t, err, store.ErrNotFound)
}

// wantLive checks that the sign-in still completes: the pending request gets its code and the
// saved code exchanges.
func (e *env) wantLive(si signIn, clientID, userID string) {
	e.t.Helper()
	must(e.t, e.s.SaveAuthCode(e.ctx, &store.AuthCode{Hash: e.id("code"), AuthRequestID: si.pending.ID, ExpiresAt: e.now.Add(time.Minute)}))
	must(e.t, e.s.IssueTokens(e.ctx, store.IssueParams{Now: e.now, CodeHash: si.code, Access: e.access(clientID, userID), Refresh: e.refresh(clientID, userID)}))
}

// testRevocationEndsSignIns: every way of revoking a person's sessions also ends the sign-ins
// authenticated in them that were not redeemed yet: the auth requests, their unused codes, and the
// codes their callbacks would save (SaveAuthCode, IssueTokens, RevokeSession, RevokeUserSessions,
// SetUserDisabled, ChangePassword).
func testRevocationEndsSignIns(t *testing.T, e *env) {
	c := e.client()
	later := e.now.Add(time.Minute)
	e.run("RevokeSession", func(t *testing.T, e *env) {
		u := e.user()
		s, other := e.session(u.ID), e.session(u.ID)
		ended, kept := e.signInIn(c.ID, u.ID, s.ID), e.signInIn(c.ID, u.ID, other.ID)
		must(t, e.s.RevokeSession(e.ctx, s.ID, later))
		e.wantEnded(ended, c.ID, u.ID)
		e.wantLive(kept, c.ID, u.ID)
	})
	e.run("RevokeUserSessions", func(t *testing.T, e *env) {
		u, bystander := e.user(), e.user()
		s1, s2, current := e.session(u.ID), e.session(u.ID), e.session(u.ID)
		a, b, k := e.signInIn(c.ID, u.ID, s1.ID), e.signInIn(c.ID, u.ID, s2.ID), e.signInIn(c.ID, u.ID, current.ID)
		theirs := e.signInIn(c.ID, bystander.ID, e.session(bystander.ID).ID)
		_, err := e.s.RevokeUserSessions(e.ctx, u.ID, current.ID, later)
		must(t, err)
		e.wantEnded(a, c.ID, u.ID)
		e.wantEnded(b, c.ID, u.ID)
		e.wantLive(k, c.ID, u.ID)
		e.wantLive(theirs, c.ID, bystander.ID)
	})
	e.run("SetUserDisabled, and enabled again", func(t *testing.T, e *env) {
		u := e.user()
		si := e.signInIn(c.ID, u.ID, e.session(u.ID).ID)
		must(t, e.s.SetUserDisabled(e.ctx, u.ID, true, later))
		must(t, e.s.SetUserDisabled(e.ctx, u.ID, false, later))
		e.wantEnded(si, c.ID, u.ID)
	})
	e.run("ChangePassword", func(t *testing.T, e *env) {
		u := e.user()
		s, current := e.session(u.ID), e.session(u.ID)
		ended, kept := e.signInIn(c.ID, u.ID, s.ID), e.signInIn(c.ID, u.ID, current.ID)
		n, err := e.s.ChangePassword(e.ctx, u.ID, "$argon2id$new", current.ID, later)
		must(t, err)
		if n != 1 {
			t.Fatalf("ChangePassword revoked %d sessions, want 1", n)
		}
		e.wantEnded(ended, c.ID, u.ID)
		// The session that changed the password proved the new one: it goes on.
		e.wantLive(kept, c.ID, u.ID)
	})
}

// testIssueChecksAuthentication: SaveAuthCode and IssueTokens refuse a sign-in whose session has
// expired or was authenticated under an older password epoch, or whose user is disabled, even when
// nothing was revoked (a row written by a sign-in that raced a reset, a clock that moved on).
func testIssueChecksAuthentication(t *testing.T, e *env) {
	c := e.client()
	e.run("session expired before the exchange", func(t *testing.T, e *env) {
		u := e.user()
		s := e.session(u.ID)
		s.ID, s.TokenHash, s.ExpiresAt = e.id("sess"), e.id("hash"), e.now.Add(time.Minute)
		must(t, e.s.CreateSession(e.ctx, s))
		si := e.signInIn(c.ID, u.ID, s.ID)
		at := s.ExpiresAt // the code lives on; the session is live only while ExpiresAt is after now
		err := e.s.IssueTokens(e.ctx, store.IssueParams{Now: at, CodeHash: si.code, Access: e.access(c.ID, u.ID)})
		wantErr(t, err, store.ErrNotFound)
		// The refusal wrote nothing: the code is not spent.
		_, err = e.s.GetAuthRequestByCode(e.ctx, si.code, e.now)
		must(t, err)
	})
	e.run("session of an older password epoch", func(t *testing.T, e *env) {
		u := e.user()
		_, err := e.s.ChangePassword(e.ctx, u.ID, "$argon2id$new", "", e.now)
		must(t, err)
		stale := e.session(u.ID)
		stale.ID, stale.TokenHash, stale.PasswordEpoch = e.id("sess"), e.id("hash"), 0 // checked the old password
		must(t, e.s.CreateSession(e.ctx, stale))
		r := e.authRequest(c.ID)
		e.complete(r, u.ID, stale.ID)
		wantErr(t, e.s.SaveAuthCode(e.ctx, &store.AuthCode{Hash: e.id("code"), AuthRequestID: r.ID, ExpiresAt: e.now.Add(time.Minute)}), store.ErrNotFound)
	})
	e.run("no session", func(t *testing.T, e *env) {
		u := e.user()
		r := e.authRequest(c.ID)
		must(t, e.s.CompleteAuthRequest(e.ctx, r.ID, &store.AuthRequest{Subject: u.ID, AuthTime: e.now}, e.now))
		wantErr(t, e.s.SaveAuthCode(e.ctx, &store.AuthCode{Hash: e.id("code"), AuthRequestID: r.ID, ExpiresAt: e.now.Add(time.Minute)}), store.ErrNotFound)
	})
	e.run("another user's session", func(t *testing.T, e *env) {
		u, other := e.user(), e.user()
		r := e.authRequest(c.ID)
		must(t, e.s.CompleteAuthRequest(e.ctx, r.ID, &store.AuthRequest{Subject: u.ID, AuthTime: e.now, SessionID: e.session(other.ID).ID}, e.now))
		wantErr(t, e.s.SaveAuthCode(e.ctx, &store.AuthCode{Hash: e.id("code"), AuthRequestID: r.ID, ExpiresAt: e.now.Add(time.Minute)}), store.ErrNotFound)
	})
	e.run("refresh of a disabled user", func(t *testing.T, e *env) {
		u := e.user()
		g := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)
		// Disabling revokes the family; the rotation is refused whichever check sees it first,
		// and nothing is written.
		must(t, e.s.SetUserDisabled(e.ctx, u.ID, true, e.now))
		next, err := e.rotate(g.refresh.Hash, e.now.Add(time.Minute), c.ID, u.ID)
		wantErr(t, err, store.ErrRefreshReused)
		if _, err := e.s.GetRefreshToken(e.ctx, next.refresh.Hash); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a refused rotation stored its token: %v", err)
		}
	})
}

// testChangePassword: ChangePassword replaces the hash, moves the epoch on, revokes like
// RevokeUserSessions and carries the kept session into the new epoch; UpdatePasswordHash (a
// rehash) leaves the epoch alone.
func testChangePassword(t *testing.T, e *env) {
	c, u := e.client(), e.user()
	s, current := e.session(u.ID), e.session(u.ID)
	underS := e.redeem(e.code(c.ID, u.ID, s.ID), c.ID, u.ID, true)
	underCurrent := e.redeem(e.code(c.ID, u.ID, current.ID), c.ID, u.ID, true)

	must(t, e.s.UpdatePasswordHash(e.ctx, u.ID, "$argon2id$rehashed", e.now))
	got, err := e.s.GetUser(e.ctx, u.ID)
	must(t, err)
	if got.PasswordEpoch != 0 {
		t.Fatalf("a rehash moved the epoch to %d", got.PasswordEpoch)
	}

	later := e.now.Add(time.Minute)
	n, err := e.s.ChangePassword(e.ctx, u.ID, "$argon2id$new", current.ID, later)
	must(t, err)
	if n != 1 {
		t.Fatalf("revoked %d sessions, want 1", n)
	}
	got, err = e.s.GetUser(e.ctx, u.ID)
	must(t, err)
	if got.PasswordHash != "$argon2id$new" || got.PasswordEpoch != 1 {
		t.Fatalf("after the change: hash %q epoch %d", got.PasswordHash, got.PasswordEpoch)
	}
	sameTime(t, "UpdatedAt", got.UpdatedAt, later)
	e.wantRevoked(true, underS)
	e.wantRevoked(false, underCurrent)
	if k := e.getSession(current.ID); k.RevokedAt != nil || k.PasswordEpoch != 1 {
		t.Fatalf("kept session: revoked %v epoch %d, want live in epoch 1", k.RevokedAt, k.PasswordEpoch)
	}
	if r := e.getSession(s.ID); r.RevokedAt == nil || r.PasswordEpoch != 0 {
		t.Fatalf("other session: revoked %v epoch %d", r.RevokedAt, r.PasswordEpoch)
	}

	// Without a kept session everything goes, the epoch moves on again.
	n, err = e.s.ChangePassword(e.ctx, u.ID, "$argon2id$newer", "", later)
	must(t, err)
	if n != 1 {
		t.Fatalf("revoked %d sessions, want 1", n)
	}
	e.wantRevoked(true, underCurrent)
	got, err = e.s.GetUser(e.ctx, u.ID)
	must(t, err)
	if got.PasswordEpoch != 2 {
		t.Fatalf("epoch %d, want 2", got.PasswordEpoch)
	}

	_, err = e.s.ChangePassword(e.ctx, "no-such-user", "$argon2id$x", "", later)
	wantErr(t, err, store.ErrNotFound)
	if _, err := e.s.ChangePassword(e.ctx, u.ID, "", "", later); err == nil {
		t.Fatal("an empty hash was accepted")
	}
}

// testOfflineConsents: grant (idempotent), look up, list, and withdraw with the client's refresh
// tokens of the user.
func testOfflineConsents(t *testing.T, e *env) {
	c, other, u, someone := e.client(), e.client(), e.user(), e.user()
	must(t, e.s.GrantOfflineConsent(e.ctx, u.ID, c.ID, e.now))
	must(t, e.s.GrantOfflineConsent(e.ctx, u.ID, c.ID, e.now.Add(time.Minute))) // the first stays
	must(t, e.s.GrantOfflineConsent(e.ctx, u.ID, other.ID, e.now.Add(time.Second)))
	wantErr(t, e.s.GrantOfflineConsent(e.ctx, "no-such-user", c.ID, e.now), store.ErrNotFound)
	wantErr(t, e.s.GrantOfflineConsent(e.ctx, u.ID, "no-such-client", e.now), store.ErrNotFound)

	for _, tc := range []struct {
		user, client string
		want         bool
	}{{u.ID, c.ID, true}, {u.ID, other.ID, true}, {someone.ID, c.ID, false}, {u.ID, "no-such-client", false}} {
		got, err := e.s.HasOfflineConsent(e.ctx, tc.user, tc.client)
		must(t, err)
		if got != tc.want {
			t.Fatalf("HasOfflineConsent(%s, %s) = %v, want %v", tc.user, tc.client, got, tc.want)
		}
	}
	list, err := e.s.ListOfflineConsents(e.ctx, u.ID)
	must(t, err)
	same(t, "consents", list, []store.OfflineConsent{
		{UserID: u.ID, ClientID: other.ID, CreatedAt: e.now.Add(time.Second)},
		{UserID: u.ID, ClientID: c.ID, CreatedAt: e.now},
	})

	ofC := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)
	ofOther := e.redeem(e.code(other.ID, u.ID, ""), other.ID, u.ID, true)
	theirs := e.redeem(e.code(c.ID, someone.ID, ""), c.ID, someone.ID, true)
	must(t, e.s.RevokeOfflineConsent(e.ctx, u.ID, c.ID, e.now))
	e.wantRevoked(true, ofC)
	e.wantRevoked(false, ofOther, theirs)
	got, err := e.s.HasOfflineConsent(e.ctx, u.ID, c.ID)
	must(t, err)
	if got {
		t.Fatal("the consent is still there")
	}
	wantErr(t, e.s.RevokeOfflineConsent(e.ctx, u.ID, c.ID, e.now), store.ErrNotFound)

	// They go with the client and with the user.
	must(t, e.s.DeleteClient(e.ctx, other.ID))
	list, err = e.s.ListOfflineConsents(e.ctx, u.ID)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("consents after the client was deleted: %v", list)
	}
	must(t, e.s.GrantOfflineConsent(e.ctx, u.ID, c.ID, e.now))
	must(t, e.s.DeleteUser(e.ctx, u.ID))
	list, err = e.s.ListOfflineConsents(e.ctx, u.ID)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("consents after the user was deleted: %v", list)
	}
}

// revokeRounds is how often the revocation race is run; each round is a fresh person.
const revokeRounds = 12

// testRevokeRace: "sign out everywhere" (and a password reset, and disabling) while a callback
// saves a code and a token exchange redeems another, the three fired together. Whatever order
// they end up in, nothing issued survives the revocation: the exchange either fails or its tokens
// are revoked, and the callback either fails or its code cannot be exchanged afterwards.
func testRevokeRace(t *testing.T, e *env) {
	c := e.client()
	revokes := []struct {
		name string
		fn   func(s store.Store, userID string) error
	}{
		{"RevokeUserSessions", func(s store.Store, userID string) error {
			_, err := s.RevokeUserSessions(e.ctx, userID, "", e.now)
			return err
		}},
		{"ChangePassword", func(s store.Store, userID string) error {
			_, err := s.ChangePassword(e.ctx, userID, "$argon2id$new", "", e.now)
			return err
		}},
		{"SetUserDisabled", func(s store.Store, userID string) error {
			return s.SetUserDisabled(e.ctx, userID, true, e.now)
		}},
	}
	outcomes := map[string]int{}
	for round := range revokeRounds {
		rv := revokes[round%len(revokes)]
		u := e.user()
		sess := e.session(u.ID)
		si := e.signInIn(c.ID, u.ID, sess.ID)
		g := grant{access: e.access(c.ID, u.ID), refresh: e.refresh(c.ID, u.ID)}
		g.access.SessionID, g.refresh.SessionID = sess.ID, sess.ID
		callbackCode := e.id("code")
		errs := race(3, func(i int) error {
			s := e.racer(i)
			switch i {
			case 0:
				return rv.fn(s, u.ID)
			case 1:
				return s.SaveAuthCode(e.ctx, &store.AuthCode{Hash: callbackCode, AuthRequestID: si.pending.ID, ExpiresAt: e.now.Add(time.Minute)})
			default:
				return s.IssueTokens(e.ctx, store.IssueParams{Now: e.now, CodeHash: si.code, Access: g.access, Refresh: g.refresh})
			}
		})
		if errs[0] != nil {
			t.Fatalf("round %d: %s: %v", round, rv.name, errs[0])
		}
		for i, err := range errs[1:] {
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("round %d: call %d: %v, want success or ErrNotFound", round, i+1, err)
			}
		}
		outcomes[fmt.Sprintf("callback %v, exchange %v", errs[1] == nil, errs[2] == nil)]++
		if errs[2] == nil {
			e.wantRevoked(true, g) // exchanged before the revocation: revoked by it
		} else if _, err := e.s.GetAccessToken(e.ctx, g.access.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("round %d: a refused exchange stored its token: %v", round, err)
		}
		if errs[1] == nil {
			// Saved before the revocation: the revocation ended it.
			late := grant{access: e.access(c.ID, u.ID)}
			err := e.s.IssueTokens(e.ctx, store.IssueParams{Now: e.now, CodeHash: callbackCode, Access: late.access})
			wantErr(t, err, store.ErrNotFound)
		}
	}
	t.Logf("outcomes over %d rounds: %v", revokeRounds, outcomes)
}
