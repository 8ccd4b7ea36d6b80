package storetest

import (
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

func testIssueFromCode(t *testing.T, e *env) {
	c, u := e.client(), e.user()
	e.run("access and refresh token", func(t *testing.T, e *env) {
		hash := e.code(c.ID, u.ID, "sess-1")
		a := e.access(c.ID, u.ID)
		a.SessionID = "sess-1"
		r := e.refresh(c.ID, u.ID)
		r.SessionID = "sess-1"
		given := *r
		must(t, e.s.IssueTokens(e.ctx, store.IssueParams{Now: e.now, CodeHash: hash, Access: a, Refresh: r}))

		// A new family is named after its first token and both tokens remember the code.
		wantRefresh := given
		wantRefresh.FamilyID, wantRefresh.CodeHash = given.ID, hash
		same(t, "refresh token written back", r, &wantRefresh)
		got := e.getRefresh(r.Hash)
		wantUTC(t, "refresh token", got)
		same(t, "refresh token", got, &wantRefresh)

		wantAccess := a
		wantAccess.RefreshTokenID, wantAccess.FamilyID, wantAccess.CodeHash = r.ID, r.ID, hash
		gotA := e.getAccess(a.ID)
		wantUTC(t, "access token", gotA)
		same(t, "access token", gotA, &wantAccess)

		// The code is spent.
		_, err := e.s.GetAuthRequestByCode(e.ctx, hash, e.now)
		wantErr(t, err, store.ErrCodeReplayed)
	})
	e.run("access token only", func(t *testing.T, e *env) {
		g := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, false)
		got := e.getAccess(g.access.ID)
		if got.RefreshTokenID != "" || got.FamilyID != "" {
			t.Fatalf("access token without refresh token has refresh %q family %q", got.RefreshTokenID, got.FamilyID)
		}
	})
	e.run("caller's family and clamped expiry", func(t *testing.T, e *env) {
		hash := e.code(c.ID, u.ID, "")
		r := e.refresh(c.ID, u.ID)
		r.FamilyID = e.id("fam")
		r.FamilyExpiresAt = e.now.Add(time.Hour)
		r.ExpiresAt = e.now.Add(2 * time.Hour)
		must(t, e.s.IssueTokens(e.ctx, store.IssueParams{Now: e.now, CodeHash: hash, Access: e.access(c.ID, u.ID), Refresh: r}))
		got := e.getRefresh(r.Hash)
		if got.FamilyID != r.FamilyID {
			t.Fatalf("FamilyID = %q, want the caller's %q", got.FamilyID, r.FamilyID)
		}
		sameTime(t, "ExpiresAt (clamped to the family)", got.ExpiresAt, e.now.Add(time.Hour))
	})
	e.run("client credentials: no code, no refresh, no auth time", func(t *testing.T, e *env) {
		a := store.AccessToken{ID: e.id("at"), ClientID: c.ID, Subject: c.ID, Audience: []string{"api"}, Scopes: []string{"payments:read"}, CreatedAt: e.now, ExpiresAt: e.now.Add(time.Hour)}
		must(t, e.s.IssueTokens(e.ctx, store.IssueParams{Now: e.now, Access: a}))
		same(t, "access token", e.getAccess(a.ID), &a)
	})
	e.run("replay revokes what the code issued", func(t *testing.T, e *env) {
		hash := e.code(c.ID, u.ID, "")
		first := e.redeem(hash, c.ID, u.ID, true)
		rotated, err := e.rotate(first.refresh.Hash, e.now.Add(time.Minute), c.ID, u.ID)
		must(t, err)
		bystander := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)

		again := grant{access: e.access(c.ID, u.ID), refresh: e.refresh(c.ID, u.ID)}
		err = e.s.IssueTokens(e.ctx, store.IssueParams{Now: e.now.Add(2 * time.Minute), CodeHash: hash, Access: again.access, Refresh: again.refresh})
		wantErr(t, err, store.ErrCodeReplayed)
		e.wantRevoked(true, first, rotated)
		e.wantRevoked(false, bystander)
		_, err = e.s.GetAccessToken(e.ctx, again.access.ID)
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.GetRefreshToken(e.ctx, again.refresh.Hash)
		wantErr(t, err, store.ErrNotFound)
	})
	e.run("expired or unknown code", func(t *testing.T, e *env) {
		hash := e.code(c.ID, u.ID, "")
		expires := e.now.Add(time.Minute)
		for _, tc := range []struct {
			name string
			hash string
			now  time.Time
		}{
			{"at expiry", hash, expires},
			{"after expiry", hash, expires.Add(time.Hour)},
			{"unknown", "no-such-code", e.now},
		} {
			e.run(tc.name, func(t *testing.T, e *env) {
				a := e.access(c.ID, u.ID)
				err := e.s.IssueTokens(e.ctx, store.IssueParams{Now: tc.now, CodeHash: tc.hash, Access: a})
				wantErr(t, err, store.ErrNotFound)
				_, err = e.s.GetAccessToken(e.ctx, a.ID)
				wantErr(t, err, store.ErrNotFound)
			})
		}
		// Expiry did not consume it: just before, it still works.
		must(t, e.s.IssueTokens(e.ctx, store.IssueParams{Now: expires.Add(-time.Millisecond), CodeHash: hash, Access: e.access(c.ID, u.ID)}))
	})
	e.run("a failed insert does not spend the code", func(t *testing.T, e *env) {
		hash := e.code(c.ID, u.ID, "")
		taken := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, false)
		a := e.access(c.ID, u.ID)
		a.ID = taken.access.ID
		wantErr(t, e.s.IssueTokens(e.ctx, store.IssueParams{Now: e.now, CodeHash: hash, Access: a}), store.ErrConflict)
		e.redeem(hash, c.ID, u.ID, true)
	})
	e.run("code and refresh token together", func(t *testing.T, e *env) {
		hash := e.code(c.ID, u.ID, "")
		g := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)
		wantSomeErr(t, e.s.IssueTokens(e.ctx, store.IssueParams{Now: e.now, CodeHash: hash, RotateRefreshHash: g.refresh.Hash, Access: e.access(c.ID, u.ID)}))
		e.redeem(hash, c.ID, u.ID, false) // untouched
	})
	e.run("Now is required", func(t *testing.T, e *env) {
		hash := e.code(c.ID, u.ID, "")
		wantSomeErr(t, e.s.IssueTokens(e.ctx, store.IssueParams{CodeHash: hash, Access: e.access(c.ID, u.ID)}))
		e.redeem(hash, c.ID, u.ID, false) // untouched
	})
}

func testIssueRotation(t *testing.T, e *env) {
	c, u := e.client(), e.user()
	e.run("rotate", func(t *testing.T, e *env) {
		first := e.redeem(e.code(c.ID, u.ID, "sess-1"), c.ID, u.ID, true)
		at := e.now.Add(time.Hour)
		next := grant{access: e.access(c.ID, u.ID), refresh: e.refresh(c.ID, u.ID)}
		next.access.CreatedAt, next.refresh.CreatedAt = at, at
		// The caller's family values are ignored: they come from the consumed token.
		next.refresh.FamilyID, next.refresh.FamilyExpiresAt = "forged", at.Add(365*24*time.Hour)
		next.refresh.ExpiresAt = at.Add(30 * 24 * time.Hour)
		must(t, e.s.IssueTokens(e.ctx, store.IssueParams{Now: at, RotateRefreshHash: first.refresh.Hash, Access: next.access, Refresh: next.refresh}))

		old := e.getRefresh(first.refresh.Hash)
		if old.UsedAt == nil || !old.UsedAt.Equal(at) {
			t.Fatalf("consumed token UsedAt = %v, want %v", old.UsedAt, at)
		}
		if old.RevokedAt != nil {
			t.Fatal("consumed token revoked by a plain rotation")
		}
		got := e.getRefresh(next.refresh.Hash)
		if got.FamilyID != first.refresh.FamilyID || !got.FamilyExpiresAt.Equal(first.refresh.FamilyExpiresAt) {
			t.Fatalf("family %q until %v, want %q until %v", got.FamilyID, got.FamilyExpiresAt, first.refresh.FamilyID, first.refresh.FamilyExpiresAt)
		}
		if got.SessionID != "sess-1" || got.CodeHash != first.refresh.CodeHash {
			t.Fatalf("session %q code %q not inherited", got.SessionID, got.CodeHash)
		}
		sameTime(t, "ExpiresAt", got.ExpiresAt, at.Add(30*24*time.Hour))
		same(t, "written back", next.refresh, got)
		a := e.getAccess(next.access.ID)
		if a.RefreshTokenID != got.ID || a.FamilyID != got.FamilyID || a.SessionID != "sess-1" || a.CodeHash != got.CodeHash {
			t.Fatalf("access token refresh %q family %q session %q code %q, want %q %q %q %q",
				a.RefreshTokenID, a.FamilyID, a.SessionID, a.CodeHash, got.ID, got.FamilyID, "sess-1", got.CodeHash)
		}
		e.wantRevoked(false, first, next)
	})
	e.run("reuse of a rotated token revokes the family", func(t *testing.T, e *env) {
		first := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)
		second, err := e.rotate(first.refresh.Hash, e.now.Add(time.Minute), c.ID, u.ID)
		must(t, err)
		third, err := e.rotate(second.refresh.Hash, e.now.Add(2*time.Minute), c.ID, u.ID)
		must(t, err)
		bystander := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)

		// Days later, someone presents the first token again.
		stolen, err := e.rotate(first.refresh.Hash, e.now.Add(48*time.Hour), c.ID, u.ID)
		wantErr(t, err, store.ErrRefreshReused)
		e.wantRevoked(true, first, second, third)
		e.wantRevoked(false, bystander)
		_, err = e.s.GetAccessToken(e.ctx, stolen.access.ID)
		wantErr(t, err, store.ErrNotFound)
		// And the family's newest token is dead too.
		_, err = e.rotate(third.refresh.Hash, e.now.Add(49*time.Hour), c.ID, u.ID)
		wantErr(t, err, store.ErrRefreshReused)
	})
	e.run("revoked token", func(t *testing.T, e *env) {
		g := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)
		must(t, e.s.RevokeRefreshFamily(e.ctx, g.refresh.FamilyID, e.now))
		_, err := e.rotate(g.refresh.Hash, e.now.Add(time.Minute), c.ID, u.ID)
		wantErr(t, err, store.ErrRefreshReused)
	})
	e.run("idle expiry", func(t *testing.T, e *env) {
		g := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)
		idle := g.refresh.ExpiresAt
		for _, at := range []time.Time{idle, idle.Add(time.Hour)} {
			_, err := e.rotate(g.refresh.Hash, at, c.ID, u.ID)
			wantErr(t, err, store.ErrRefreshReused)
		}
		// Expired is not reused: nothing was revoked or consumed.
		e.wantRevoked(false, g)
		if e.getRefresh(g.refresh.Hash).UsedAt != nil {
			t.Fatal("expired token marked used")
		}
		_, err := e.rotate(g.refresh.Hash, idle.Add(-time.Millisecond), c.ID, u.ID)
		must(t, err)
	})
	e.run("absolute expiry", func(t *testing.T, e *env) {
		hash := e.code(c.ID, u.ID, "")
		r := e.refresh(c.ID, u.ID)
		r.ExpiresAt, r.FamilyExpiresAt = e.now.Add(time.Hour), e.now.Add(2*time.Hour)
		first := grant{access: e.access(c.ID, u.ID), refresh: r}
		must(t, e.s.IssueTokens(e.ctx, store.IssueParams{Now: e.now, CodeHash: hash, Access: first.access, Refresh: first.refresh}))
		// Rotating asks for 30 more days; the family ends in two hours.
		second, err := e.rotate(r.Hash, e.now.Add(30*time.Minute), c.ID, u.ID)
		must(t, err)
		end := e.now.Add(2 * time.Hour)
		sameTime(t, "rotated ExpiresAt", e.getRefresh(second.refresh.Hash).ExpiresAt, end)
		_, err = e.rotate(second.refresh.Hash, end, c.ID, u.ID)
		wantErr(t, err, store.ErrRefreshReused)
		e.wantRevoked(false, first, second)
		_, err = e.rotate(second.refresh.Hash, end.Add(-time.Millisecond), c.ID, u.ID)
		must(t, err)
	})
	e.run("unknown token", func(t *testing.T, e *env) {
		g, err := e.rotate("no-such-hash", e.now, c.ID, u.ID)
		wantErr(t, err, store.ErrRefreshReused)
		_, err = e.s.GetAccessToken(e.ctx, g.access.ID)
		wantErr(t, err, store.ErrNotFound)
	})
	e.run("rotation ending the family", func(t *testing.T, e *env) {
		first := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)
		a := e.access(c.ID, u.ID)
		must(t, e.s.IssueTokens(e.ctx, store.IssueParams{Now: e.now, RotateRefreshHash: first.refresh.Hash, Access: a}))
		if got := e.getAccess(a.ID); got.FamilyID != first.refresh.FamilyID {
			t.Fatalf("access token family %q, want %q", got.FamilyID, first.refresh.FamilyID)
		}
		must(t, e.s.RevokeRefreshFamily(e.ctx, first.refresh.FamilyID, e.now))
		e.wantRevoked(true, grant{access: a})
	})
}

func testAccessTokens(t *testing.T, e *env) {
	c, u := e.client(), e.user()
	e.run("unknown", func(t *testing.T, e *env) {
		_, err := e.s.GetAccessToken(e.ctx, "no-such-token")
		wantErr(t, err, store.ErrNotFound)
		must(t, e.s.RevokeAccessToken(e.ctx, "no-such-token", e.now))
	})
	e.run("revoke", func(t *testing.T, e *env) {
		g := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)
		must(t, e.s.RevokeAccessToken(e.ctx, g.access.ID, e.now))
		must(t, e.s.RevokeAccessToken(e.ctx, g.access.ID, e.now.Add(time.Hour)))
		got := e.getAccess(g.access.ID)
		if got.RevokedAt == nil || !got.RevokedAt.Equal(e.now) {
			t.Fatalf("RevokedAt = %v, want the first revocation %v", got.RevokedAt, e.now)
		}
		// Only that token.
		if e.getRefresh(g.refresh.Hash).RevokedAt != nil {
			t.Fatal("revoking an access token revoked its refresh token")
		}
	})
	e.run("expired tokens are still returned", func(t *testing.T, e *env) {
		a := e.access(c.ID, u.ID)
		a.CreatedAt, a.ExpiresAt = e.now.Add(-2*time.Hour), e.now.Add(-time.Hour)
		must(t, e.s.IssueTokens(e.ctx, store.IssueParams{Now: e.now, Access: a}))
		same(t, "expired access token", e.getAccess(a.ID), &a)
	})
}

func testRefreshTokens(t *testing.T, e *env) {
	c, u := e.client(), e.user()
	e.run("unknown", func(t *testing.T, e *env) {
		_, err := e.s.GetRefreshToken(e.ctx, "no-such-hash")
		wantErr(t, err, store.ErrNotFound)
		must(t, e.s.RevokeRefreshFamily(e.ctx, "no-such-family", e.now))
		must(t, e.s.RevokeRefreshFamily(e.ctx, "", e.now))
	})
	e.run("revoke family", func(t *testing.T, e *env) {
		first := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)
		second, err := e.rotate(first.refresh.Hash, e.now.Add(time.Minute), c.ID, u.ID)
		must(t, err)
		bystander := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)
		later := e.now.Add(time.Hour)
		must(t, e.s.RevokeRefreshFamily(e.ctx, first.refresh.FamilyID, later))
		e.wantRevoked(true, first, second)
		sameTime(t, "RevokedAt", *e.getRefresh(second.refresh.Hash).RevokedAt, later)
		e.wantRevoked(false, bystander)
		// Used, revoked and expired tokens are all still returned.
		got := e.getRefresh(first.refresh.Hash)
		if got.UsedAt == nil || got.RevokedAt == nil {
			t.Fatalf("used and revoked token: used %v revoked %v", got.UsedAt, got.RevokedAt)
		}
	})
}
