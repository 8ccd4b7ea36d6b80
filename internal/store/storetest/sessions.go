package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

func testSessions(t *testing.T, e *env) {
	u := e.user()
	idle := e.now.Add(-time.Hour) // the idle cut-off: seen before it means idle
	e.run("create and get", func(t *testing.T, e *env) {
		s := e.session(u.ID)
		got, err := e.s.GetSessionByTokenHash(e.ctx, s.TokenHash, e.now, idle)
		must(t, err)
		wantUTC(t, "session", got)
		same(t, "session", got, s)
	})
	e.run("conflicts and unknown user", func(t *testing.T, e *env) {
		s := e.session(u.ID)
		dupHash := *s
		dupHash.ID = e.id("sess")
		wantErr(t, e.s.CreateSession(e.ctx, &dupHash), store.ErrConflict)
		dupID := *s
		dupID.TokenHash = e.id("hash")
		wantErr(t, e.s.CreateSession(e.ctx, &dupID), store.ErrConflict)
		orphan := *s
		orphan.ID, orphan.TokenHash, orphan.UserID = e.id("sess"), e.id("hash"), "no-such-user"
		wantErr(t, e.s.CreateSession(e.ctx, &orphan), store.ErrNotFound)
	})
	e.run("validity", func(t *testing.T, e *env) {
		s := e.session(u.ID) // seen at e.now, expires a day later
		for _, tc := range []struct {
			name      string
			now, idle time.Time
			want      error
		}{
			{"live", e.now, idle, nil},
			{"just before absolute expiry", s.ExpiresAt.Add(-time.Millisecond), s.LastSeenAt.Add(-time.Millisecond), nil},
			{"at absolute expiry", s.ExpiresAt, idle, store.ErrNotFound},
			{"idle: last seen exactly at the cut-off", e.now, s.LastSeenAt, store.ErrNotFound},
			{"idle: last seen before the cut-off", e.now.Add(2 * time.Hour), e.now.Add(time.Hour), store.ErrNotFound},
		} {
			e.run(tc.name, func(t *testing.T, e *env) {
				_, err := e.s.GetSessionByTokenHash(e.ctx, s.TokenHash, tc.now, tc.idle)
				wantErr(t, err, tc.want)
			})
		}
		_, err := e.s.GetSessionByTokenHash(e.ctx, "no-such-hash", e.now, idle)
		wantErr(t, err, store.ErrNotFound)
	})
	e.run("touch", func(t *testing.T, e *env) {
		s := e.session(u.ID)
		later := e.now.Add(2 * time.Hour)
		// Idle two hours after it was last seen ...
		_, err := e.s.GetSessionByTokenHash(e.ctx, s.TokenHash, later, later.Add(-time.Hour))
		wantErr(t, err, store.ErrNotFound)
		// ... unless it was touched meanwhile.
		must(t, e.s.TouchSession(e.ctx, s.ID, later.Add(-time.Minute), "198.51.100.7"))
		got, err := e.s.GetSessionByTokenHash(e.ctx, s.TokenHash, later, later.Add(-time.Hour))
		must(t, err)
		sameTime(t, "LastSeenAt", got.LastSeenAt, later.Add(-time.Minute))
		if got.IP != "198.51.100.7" {
			t.Fatalf("IP = %q after a touch with an address", got.IP)
		}
		// An empty IP keeps the last one.
		must(t, e.s.TouchSession(e.ctx, s.ID, later, ""))
		got, err = e.s.GetSessionByTokenHash(e.ctx, s.TokenHash, later, later.Add(-time.Hour))
		must(t, err)
		if got.IP != "198.51.100.7" {
			t.Fatalf("IP = %q after a touch without an address", got.IP)
		}
		sameTime(t, "LastSeenAt", got.LastSeenAt, later)
		wantErr(t, e.s.TouchSession(e.ctx, "no-such-session", later, ""), store.ErrNotFound)
	})
}

func testRevokeSession(t *testing.T, e *env) {
	c, u, other := e.client(), e.user(), e.user()
	s, s2 := e.session(u.ID), e.session(u.ID)
	underS := e.redeem(e.code(c.ID, u.ID, s.ID), c.ID, u.ID, true)
	rotated, err := e.rotate(underS.refresh.Hash, e.now.Add(time.Minute), c.ID, u.ID)
	must(t, err)
	underS2 := e.redeem(e.code(c.ID, u.ID, s2.ID), c.ID, u.ID, true)
	noSession := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)
	// A token of another user that names the session (never issued so by the IdP) is not "of the
	// same user".
	foreign := e.redeem(e.naming(e.code(c.ID, other.ID, ""), s.ID), c.ID, other.ID, true)

	later := e.now.Add(time.Hour)
	must(t, e.s.RevokeSession(e.ctx, s.ID, later))
	_, err = e.s.GetSessionByTokenHash(e.ctx, s.TokenHash, later, e.now.Add(-time.Hour))
	wantErr(t, err, store.ErrNotFound)
	e.wantRevoked(true, underS, rotated)
	sameTime(t, "RevokedAt", *e.getRefresh(rotated.refresh.Hash).RevokedAt, later)
	e.wantRevoked(false, underS2, noSession, foreign)
	if _, err := e.s.GetSessionByTokenHash(e.ctx, s2.TokenHash, later, e.now.Add(-time.Hour)); err != nil {
		t.Fatalf("the other session: %v", err)
	}

	// Again, later: not an error, and the first revocation time stays.
	must(t, e.s.RevokeSession(e.ctx, s.ID, later.Add(time.Hour)))
	sameTime(t, "RevokedAt", *e.getRefresh(rotated.refresh.Hash).RevokedAt, later)
	must(t, e.s.RevokeSession(e.ctx, "no-such-session", later))
}

func testListSessions(t *testing.T, e *env) {
	u, other := e.user(), e.user()
	at := func(created, expires time.Time) *store.Session {
		t.Helper()
		id := e.id("sess")
		s := &store.Session{
			ID: id, TokenHash: "hash-" + id, UserID: u.ID, AuthTime: created, AMR: []string{"pwd"},
			CreatedAt: created, LastSeenAt: created, ExpiresAt: expires,
		}
		must(t, e.s.CreateSession(e.ctx, s))
		return s
	}
	old := at(e.now.Add(-2*time.Hour), e.now.Add(time.Hour))
	newest := at(e.now, e.now.Add(time.Hour))
	middle := at(e.now.Add(-time.Hour), e.now.Add(time.Hour))
	revoked := at(e.now.Add(-time.Minute), e.now.Add(time.Hour))
	must(t, e.s.RevokeSession(e.ctx, revoked.ID, e.now))
	at(e.now.Add(-3*time.Hour), e.now) // expires now
	e.session(other.ID)

	got, err := e.s.ListSessions(e.ctx, u.ID, e.now)
	must(t, err)
	same(t, "sessions", got, []store.Session{*newest, *middle, *old})

	got, err = e.s.ListSessions(e.ctx, "no-such-user", e.now)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("sessions of an unknown user: %d", len(got))
	}
}

// getSession returns GetSession, which must succeed.
func (e *env) getSession(id string) *store.Session {
	e.t.Helper()
	s, err := e.s.GetSession(e.ctx, id)
	must(e.t, err)
	return s
}

func testGetSession(t *testing.T, e *env) {
	u := e.user()
	s := e.session(u.ID)
	got := e.getSession(s.ID)
	wantUTC(t, "session", got)
	same(t, "session", got, s)

	// Revoked and expired ones too: the caller decides.
	later := e.now.Add(48 * time.Hour) // after its expiry
	must(t, e.s.RevokeSession(e.ctx, s.ID, later))
	want := *s
	want.RevokedAt = &later
	same(t, "revoked session", e.getSession(s.ID), &want)

	_, err := e.s.GetSession(e.ctx, "no-such-session")
	wantErr(t, err, store.ErrNotFound)
}

func testRevokeUserSessions(t *testing.T, e *env) {
	c := e.client()
	later := e.now.Add(time.Hour)
	// fixture is one user's sessions and tokens: two live sessions with a refresh family each
	// (the first rotated once) and an access token without refresh token under each, a family
	// started without a session, a session revoked before, and one that expired.
	type fixture struct {
		u                      *store.User
		s1, s2, revoked, ended *store.Session
		g1, rotated, g2, noSes grant
		a1, a2                 grant // access tokens without a refresh token
	}
	build := func(e *env) fixture {
		t := e.t
		t.Helper()
		var f fixture
		f.u = e.user()
		f.s1, f.s2, f.revoked = e.session(f.u.ID), e.session(f.u.ID), e.session(f.u.ID)
		must(t, e.s.RevokeSession(e.ctx, f.revoked.ID, e.now))
		f.ended = &store.Session{ID: e.id("sess"), TokenHash: e.id("hash"), UserID: f.u.ID, AuthTime: e.now, CreatedAt: e.now, LastSeenAt: e.now, ExpiresAt: e.now.Add(time.Minute)}
		must(t, e.s.CreateSession(e.ctx, f.ended))
		f.g1 = e.redeem(e.code(c.ID, f.u.ID, f.s1.ID), c.ID, f.u.ID, true)
		var err error
		f.rotated, err = e.rotate(f.g1.refresh.Hash, e.now.Add(time.Minute), c.ID, f.u.ID)
		must(t, err)
		f.g2 = e.redeem(e.code(c.ID, f.u.ID, f.s2.ID), c.ID, f.u.ID, true)
		f.noSes = e.redeem(e.naming(e.code(c.ID, f.u.ID, f.s1.ID), ""), c.ID, f.u.ID, true)
		f.a1 = e.redeem(e.code(c.ID, f.u.ID, f.s1.ID), c.ID, f.u.ID, false)
		f.a2 = e.redeem(e.code(c.ID, f.u.ID, f.s2.ID), c.ID, f.u.ID, false)
		return f
	}
	// wantSession checks a session's revocation time (nil: not revoked).
	wantSession := func(e *env, s *store.Session, revokedAt *time.Time) {
		e.t.Helper()
		got := e.getSession(s.ID).RevokedAt
		if (got == nil) != (revokedAt == nil) || (got != nil && !got.Equal(*revokedAt)) {
			e.t.Fatalf("session %s revoked at %v, want %v", s.ID, got, revokedAt)
		}
	}
	wantCount := func(e *env, got int64, err error, want int64) {
		e.t.Helper()
		must(e.t, err)
		if got != want {
			e.t.Fatalf("revoked %d sessions, want %d", got, want)
		}
	}

	e.run("everywhere", func(t *testing.T, e *env) {
		f, other := build(e), build(e)
		n, err := e.s.RevokeUserSessions(e.ctx, f.u.ID, "", later)
		wantCount(e, n, err, 2)
		wantSession(e, f.s1, &later)
		wantSession(e, f.s2, &later)
		wantSession(e, f.revoked, &e.now) // the first revocation stays
		wantSession(e, f.ended, nil)      // not live: not counted, left to DeleteExpired
		e.wantRevoked(true, f.g1, f.rotated, f.g2, f.noSes, f.a1, f.a2)
		sameTime(t, "rotated RevokedAt", *e.getRefresh(f.rotated.refresh.Hash).RevokedAt, later)
		_, err = e.rotate(f.rotated.refresh.Hash, later, c.ID, f.u.ID)
		wantErr(t, err, store.ErrRefreshReused)

		// Another user keeps everything.
		wantSession(e, other.s1, nil)
		wantSession(e, other.s2, nil)
		e.wantRevoked(false, other.rotated, other.g2, other.noSes, other.a1, other.a2)

		// Again: nothing left to revoke, and the times stay.
		n, err = e.s.RevokeUserSessions(e.ctx, f.u.ID, "", later.Add(time.Hour))
		wantCount(e, n, err, 0)
		wantSession(e, f.s1, &later)
	})
	e.run("except the current session", func(t *testing.T, e *env) {
		f := build(e)
		n, err := e.s.RevokeUserSessions(e.ctx, f.u.ID, f.s1.ID, later)
		wantCount(e, n, err, 1)
		wantSession(e, f.s1, nil)
		wantSession(e, f.s2, &later)
		if _, err := e.s.GetSessionByTokenHash(e.ctx, f.s1.TokenHash, later, e.now.Add(-time.Hour)); err != nil {
			t.Fatalf("the kept session: %v", err)
		}
		e.wantRevoked(false, f.rotated, f.a1)
		e.wantRevoked(true, f.g2, f.noSes, f.a2)
		// The kept session's family still rotates.
		_, err = e.rotate(f.rotated.refresh.Hash, later, c.ID, f.u.ID)
		must(t, err)
	})
	e.run("unknown user or session", func(t *testing.T, e *env) {
		n, err := e.s.RevokeUserSessions(e.ctx, "no-such-user", "", later)
		wantCount(e, n, err, 0)
		f := build(e)
		n, err = e.s.RevokeUserSessions(e.ctx, f.u.ID, "no-such-session", later)
		wantCount(e, n, err, 2)
		e.wantRevoked(true, f.rotated, f.g2, f.noSes, f.a1, f.a2)
	})
}

func testRotateSession(t *testing.T, e *env) {
	c, u, other := e.client(), e.user(), e.user()
	old := e.session(u.ID)
	under := e.redeem(e.code(c.ID, u.ID, old.ID), c.ID, u.ID, true)
	rotated, err := e.rotate(under.refresh.Hash, e.now.Add(time.Minute), c.ID, u.ID)
	must(t, err)
	foreign := e.redeem(e.naming(e.code(c.ID, other.ID, ""), old.ID), c.ID, other.ID, true)

	later := e.now.Add(time.Hour)
	next := &store.Session{ID: e.id("sess"), TokenHash: "hash-next", UserID: u.ID, AuthTime: later,
		AMR: []string{"pwd", "sms", "mfa"}, ACR: "mfa", CreatedAt: later, LastSeenAt: later, ExpiresAt: later.Add(24 * time.Hour)}

	t.Run("another user", func(t *testing.T) {
		stranger := *next
		stranger.ID, stranger.TokenHash, stranger.UserID = e.id("sess"), "hash-stranger", other.ID
		wantErr(t, e.s.RotateSession(e.ctx, old.ID, &stranger, later), store.ErrNotFound)
		wantErr(t, e.s.RotateSession(e.ctx, "no-such-session", next, later), store.ErrNotFound)
		if _, err := e.s.GetSession(e.ctx, stranger.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a refused rotation wrote its session: %v", err)
		}
		if _, err := e.s.GetSessionByTokenHash(e.ctx, old.TokenHash, e.now, e.now.Add(-time.Hour)); err != nil {
			t.Fatalf("a refused rotation revoked the old session: %v", err)
		}
	})

	must(t, e.s.RotateSession(e.ctx, old.ID, next, later))
	_, err = e.s.GetSessionByTokenHash(e.ctx, old.TokenHash, later, e.now.Add(-time.Hour))
	wantErr(t, err, store.ErrNotFound)
	got, err := e.s.GetSessionByTokenHash(e.ctx, next.TokenHash, later, e.now)
	must(t, err)
	same(t, "new session", *got, *next)
	// The tokens issued under the old session live on, now under the new one.
	e.wantRevoked(false, rotated, foreign)
	if r := e.getRefresh(rotated.refresh.Hash); r.SessionID != next.ID {
		t.Errorf("refresh token session = %q, want the new session", r.SessionID)
	}
	if a := e.getAccess(rotated.access.ID); a.SessionID != next.ID {
		t.Errorf("access token session = %q, want the new session", a.SessionID)
	}
	if r := e.getRefresh(foreign.refresh.Hash); r.SessionID != old.ID {
		t.Errorf("another user's token moved to the new session")
	}
	// Signing out of the new session now ends them.
	must(t, e.s.RevokeSession(e.ctx, next.ID, later))
	e.wantRevoked(true, rotated)
}
