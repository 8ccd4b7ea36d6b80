package storetest

import (
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
	foreign := e.redeem(e.code(c.ID, other.ID, s.ID), c.ID, other.ID, true)

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
