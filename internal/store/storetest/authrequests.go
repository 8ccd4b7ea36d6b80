package storetest

import (
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

func testAuthRequests(t *testing.T, e *env) {
	c := e.client()
	e.run("create and get", func(t *testing.T, e *env) {
		full := &store.AuthRequest{
			ID: e.id("ar"), ClientID: c.ID, RedirectURI: "https://rp.example.com/cb",
			Scopes: []string{"openid", "email", "profile"}, State: "st", Nonce: "no", ResponseType: "code",
			ResponseMode: "query", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
			CodeChallengeMethod: "S256", Prompt: []string{"login", "consent"}, MaxAge: ptr[int64](300),
			LoginHint: "alice@example.com", HintSubject: "user-from-hint", ACRValues: []string{"mfa"}, UILocales: []string{"de-CH", "en"},
			BrowserHash: "bh", CreatedAt: e.now, ExpiresAt: e.now.Add(10 * time.Minute),
		}
		minimal := &store.AuthRequest{ID: e.id("ar"), ClientID: c.ID, CreatedAt: e.now, ExpiresAt: e.now.Add(time.Minute)}
		zero := &store.AuthRequest{ID: e.id("ar"), ClientID: c.ID, MaxAge: ptr[int64](0), CreatedAt: e.now, ExpiresAt: e.now.Add(time.Minute)}
		for _, r := range []*store.AuthRequest{full, minimal, zero} {
			must(t, e.s.CreateAuthRequest(e.ctx, r))
			got, err := e.s.GetAuthRequest(e.ctx, r.ID, e.now)
			must(t, err)
			wantUTC(t, "auth request", got)
			same(t, "auth request", got, r)
		}
	})
	e.run("duplicate id is a conflict", func(t *testing.T, e *env) {
		r := e.authRequest(c.ID)
		wantErr(t, e.s.CreateAuthRequest(e.ctx, &store.AuthRequest{ID: r.ID, ClientID: c.ID, CreatedAt: e.now, ExpiresAt: e.now}), store.ErrConflict)
	})
	e.run("unknown client", func(t *testing.T, e *env) {
		// Implementations refuse a request for a client that does not exist (a foreign key).
		err := e.s.CreateAuthRequest(e.ctx, &store.AuthRequest{ID: e.id("ar"), ClientID: "no-such-client", CreatedAt: e.now, ExpiresAt: e.now.Add(time.Minute)})
		wantErr(t, err, store.ErrNotFound)
	})
	e.run("expiry", func(t *testing.T, e *env) {
		r := e.authRequest(c.ID)
		for _, tc := range []struct {
			name string
			now  time.Time
			want error
		}{
			{"just before", r.ExpiresAt.Add(-time.Millisecond), nil},
			{"at expiry", r.ExpiresAt, store.ErrNotFound},
			{"after", r.ExpiresAt.Add(time.Millisecond), store.ErrNotFound},
		} {
			e.run(tc.name, func(t *testing.T, e *env) {
				_, err := e.s.GetAuthRequest(e.ctx, r.ID, tc.now)
				wantErr(t, err, tc.want)
			})
		}
		_, err := e.s.GetAuthRequest(e.ctx, "no-such-request", e.now)
		wantErr(t, err, store.ErrNotFound)
	})
	e.run("complete", func(t *testing.T, e *env) {
		r := e.authRequest(c.ID)
		done := &store.AuthRequest{Subject: "user-1", AuthTime: e.now.Add(-time.Second), AMR: []string{"pwd", "tel", "mfa"}, ACR: "mfa", SessionID: "sess-1"}
		must(t, e.s.CompleteAuthRequest(e.ctx, r.ID, done, e.now))
		got, err := e.s.GetAuthRequest(e.ctx, r.ID, e.now)
		must(t, err)
		want := *r
		want.Subject, want.AuthTime, want.AMR, want.ACR, want.SessionID, want.Done = done.Subject, done.AuthTime, done.AMR, done.ACR, done.SessionID, true
		same(t, "completed request", got, &want)

		// Only once: a second completion (another person, another tab) is refused.
		wantErr(t, e.s.CompleteAuthRequest(e.ctx, r.ID, &store.AuthRequest{Subject: "user-2", AuthTime: e.now}, e.now), store.ErrNotFound)
		got, err = e.s.GetAuthRequest(e.ctx, r.ID, e.now)
		must(t, err)
		same(t, "request after a second completion", got, &want)
	})
	e.run("complete expired or unknown", func(t *testing.T, e *env) {
		r := e.authRequest(c.ID)
		done := &store.AuthRequest{Subject: "user-1", AuthTime: e.now}
		wantErr(t, e.s.CompleteAuthRequest(e.ctx, r.ID, done, r.ExpiresAt), store.ErrNotFound)
		wantErr(t, e.s.CompleteAuthRequest(e.ctx, "no-such-request", done, e.now), store.ErrNotFound)
		must(t, e.s.CompleteAuthRequest(e.ctx, r.ID, done, r.ExpiresAt.Add(-time.Millisecond)))
	})
	e.run("delete", func(t *testing.T, e *env) {
		r := e.authRequest(c.ID)
		must(t, e.s.DeleteAuthRequest(e.ctx, r.ID))
		_, err := e.s.GetAuthRequest(e.ctx, r.ID, e.now)
		wantErr(t, err, store.ErrNotFound)
		must(t, e.s.DeleteAuthRequest(e.ctx, r.ID))
		must(t, e.s.DeleteAuthRequest(e.ctx, "no-such-request"))
	})
	e.run("delete keeps the code tombstone", func(t *testing.T, e *env) {
		u := e.user()
		r := e.authRequest(c.ID)
		e.complete(r, u.ID, "")
		code := &store.AuthCode{Hash: e.id("code"), AuthRequestID: r.ID, ExpiresAt: e.now.Add(time.Minute)}
		must(t, e.s.SaveAuthCode(e.ctx, code))
		g := e.redeem(code.Hash, c.ID, u.ID, true)
		must(t, e.s.DeleteAuthRequest(e.ctx, r.ID))
		_, err := e.s.GetAuthRequestByCode(e.ctx, code.Hash, e.now)
		wantErr(t, err, store.ErrCodeReplayed)
		e.wantRevoked(true, g)
	})
}

func testAuthCodes(t *testing.T, e *env) {
	c, u := e.client(), e.user()
	e.run("save and load", func(t *testing.T, e *env) {
		r := e.authRequest(c.ID)
		e.complete(r, u.ID, "sess-9")
		code := &store.AuthCode{Hash: e.id("code"), AuthRequestID: r.ID, ExpiresAt: e.now.Add(time.Minute)}
		must(t, e.s.SaveAuthCode(e.ctx, code))
		if code.ClientID != c.ID || code.Subject != u.ID {
			t.Fatalf("SaveAuthCode set client %q subject %q, want %q %q", code.ClientID, code.Subject, c.ID, u.ID)
		}
		got, err := e.s.GetAuthRequestByCode(e.ctx, code.Hash, e.now)
		must(t, err)
		want := *r
		want.CodeHash = code.Hash
		same(t, "request by code", got, &want)
	})
	e.run("only for a done, unexpired request", func(t *testing.T, e *env) {
		pending := e.authRequest(c.ID)
		wantErr(t, e.s.SaveAuthCode(e.ctx, &store.AuthCode{Hash: e.id("code"), AuthRequestID: pending.ID, ExpiresAt: e.now.Add(time.Minute)}), store.ErrNotFound)
		wantErr(t, e.s.SaveAuthCode(e.ctx, &store.AuthCode{Hash: e.id("code"), AuthRequestID: "no-such-request", ExpiresAt: e.now.Add(time.Minute)}), store.ErrNotFound)

		// SaveAuthCode has no now parameter: the request expired by the wall clock.
		wall := time.Now().UTC().Truncate(time.Millisecond)
		expired := &store.AuthRequest{ID: e.id("ar"), ClientID: c.ID, CreatedAt: wall.Add(-time.Hour), ExpiresAt: wall.Add(-time.Second)}
		must(t, e.s.CreateAuthRequest(e.ctx, expired))
		must(t, e.s.CompleteAuthRequest(e.ctx, expired.ID, &store.AuthRequest{Subject: u.ID, AuthTime: wall.Add(-time.Hour)}, wall.Add(-time.Hour)))
		wantErr(t, e.s.SaveAuthCode(e.ctx, &store.AuthCode{Hash: e.id("code"), AuthRequestID: expired.ID, ExpiresAt: wall.Add(time.Minute)}), store.ErrNotFound)
	})
	e.run("one code per request", func(t *testing.T, e *env) {
		r := e.authRequest(c.ID)
		e.complete(r, u.ID, "")
		first := &store.AuthCode{Hash: e.id("code"), AuthRequestID: r.ID, ExpiresAt: e.now.Add(time.Minute)}
		must(t, e.s.SaveAuthCode(e.ctx, first))
		wantErr(t, e.s.SaveAuthCode(e.ctx, &store.AuthCode{Hash: e.id("code"), AuthRequestID: r.ID, ExpiresAt: e.now.Add(time.Minute)}), store.ErrConflict)
		// The same hash for another request is a conflict too.
		other := e.authRequest(c.ID)
		e.complete(other, u.ID, "")
		wantErr(t, e.s.SaveAuthCode(e.ctx, &store.AuthCode{Hash: first.Hash, AuthRequestID: other.ID, ExpiresAt: e.now.Add(time.Minute)}), store.ErrConflict)
	})
	e.run("expiry", func(t *testing.T, e *env) {
		hash := e.code(c.ID, u.ID, "")
		expires := e.now.Add(time.Minute) // as e.code sets it
		for _, tc := range []struct {
			name string
			now  time.Time
			want error
		}{
			{"just before", expires.Add(-time.Millisecond), nil},
			{"at expiry", expires, store.ErrNotFound},
			{"after", expires.Add(time.Hour), store.ErrNotFound},
		} {
			e.run(tc.name, func(t *testing.T, e *env) {
				_, err := e.s.GetAuthRequestByCode(e.ctx, hash, tc.now)
				wantErr(t, err, tc.want)
			})
		}
	})
	e.run("unknown", func(t *testing.T, e *env) {
		_, err := e.s.GetAuthRequestByCode(e.ctx, "no-such-code", e.now)
		wantErr(t, err, store.ErrNotFound)
	})
	e.run("used code is a replay and revokes", func(t *testing.T, e *env) {
		hash := e.code(c.ID, u.ID, "")
		g := e.redeem(hash, c.ID, u.ID, true)
		rotated, err := e.rotate(g.refresh.Hash, e.now.Add(time.Second), c.ID, u.ID)
		must(t, err)
		other := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)

		_, err = e.s.GetAuthRequestByCode(e.ctx, hash, e.now.Add(2*time.Second))
		wantErr(t, err, store.ErrCodeReplayed)
		e.wantRevoked(true, g, rotated)
		sameTime(t, "RevokedAt", *e.getAccess(g.access.ID).RevokedAt, e.now.Add(2*time.Second))
		e.wantRevoked(false, other)
	})
}
