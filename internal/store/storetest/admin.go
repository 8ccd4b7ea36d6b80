package storetest

import (
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

// userFixture is everything a user can have in the store: a session, an email code, a pending
// auth request naming them as id_token_hint subject, a completed one, an unredeemed code, a
// redeemed code (tombstone) whose refresh token was rotated, and an audit event.
type userFixture struct {
	u        *store.User
	session  *store.Session
	code     *store.EmailCode
	pending  *store.AuthRequest
	done     *store.AuthRequest
	codeHash string
	redeemed string
	issued   grant
	rotated  grant
	audit    store.AuditEvent
}

func (e *env) userWithEverything(c *store.Client) userFixture {
	e.t.Helper()
	var f userFixture
	f.u = e.user()
	f.session = e.session(f.u.ID)
	f.code = e.emailCode(f.u.ID, store.PurposeReset, "", e.now)
	f.pending = &store.AuthRequest{ID: e.id("ar"), ClientID: c.ID, HintSubject: f.u.ID, CreatedAt: e.now, ExpiresAt: e.now.Add(10 * time.Minute)}
	must(e.t, e.s.CreateAuthRequest(e.ctx, f.pending))
	f.done = e.authRequest(c.ID)
	e.complete(f.done, f.u.ID, f.session.ID)
	f.codeHash = e.code(c.ID, f.u.ID, f.session.ID)
	f.redeemed = e.code(c.ID, f.u.ID, f.session.ID)
	f.issued = e.redeem(f.redeemed, c.ID, f.u.ID, true)
	var err error
	f.rotated, err = e.rotate(f.issued.refresh.Hash, e.now.Add(time.Minute), c.ID, f.u.ID)
	must(e.t, err)
	f.audit = store.AuditEvent{At: e.now, Type: "login.succeeded", UserID: f.u.ID, ClientID: c.ID}
	must(e.t, e.s.AppendAudit(e.ctx, &f.audit))
	return f
}

// testDeleteUser: "removes the user and everything that is theirs ... in one transaction; audit
// events stay". Another user's rows are untouched.
func testDeleteUser(t *testing.T, e *env) {
	c := e.client()
	gone, kept := e.userWithEverything(c), e.userWithEverything(c)
	must(t, e.s.DeleteUser(e.ctx, gone.u.ID))

	e.run("the user and their rows are gone", func(t *testing.T, e *env) {
		_, err := e.s.GetUser(e.ctx, gone.u.ID)
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.GetUserByEmail(e.ctx, gone.u.Email)
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.GetSession(e.ctx, gone.session.ID)
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.GetEmailCode(e.ctx, gone.code.ID)
		wantErr(t, err, store.ErrNotFound)
		for _, r := range []*store.AuthRequest{gone.pending, gone.done} {
			_, err = e.s.GetAuthRequest(e.ctx, r.ID, e.now)
			wantErr(t, err, store.ErrNotFound)
		}
		_, err = e.s.GetAuthRequestByCode(e.ctx, gone.codeHash, e.now)
		wantErr(t, err, store.ErrNotFound)
		// The tombstone went too: the redeemed code is unknown now, not a replay.
		_, err = e.s.GetAuthRequestByCode(e.ctx, gone.redeemed, e.now)
		wantErr(t, err, store.ErrNotFound)
		for _, g := range []grant{gone.issued, gone.rotated} {
			_, err = e.s.GetAccessToken(e.ctx, g.access.ID)
			wantErr(t, err, store.ErrNotFound)
			_, err = e.s.GetRefreshToken(e.ctx, g.refresh.Hash)
			wantErr(t, err, store.ErrNotFound)
		}
		_, err = e.rotate(gone.rotated.refresh.Hash, e.now.Add(2*time.Minute), c.ID, gone.u.ID)
		wantErr(t, err, store.ErrRefreshReused)
	})
	e.run("the audit trail stays", func(t *testing.T, e *env) {
		got, err := e.s.ListAudit(e.ctx, gone.u.ID, 0)
		must(t, err)
		same(t, "events", got, []store.AuditEvent{gone.audit})
	})
	e.run("another user keeps everything", func(t *testing.T, e *env) {
		same(t, "user", e.getUser(kept.u.ID), kept.u)
		sessions, err := e.s.ListSessions(e.ctx, kept.u.ID, e.now)
		must(t, err)
		same(t, "sessions", sessions, []store.Session{*kept.session})
		same(t, "email code", e.latest(kept.u.ID, store.PurposeReset), kept.code)
		for _, r := range []*store.AuthRequest{kept.pending, kept.done} {
			got, err := e.s.GetAuthRequest(e.ctx, r.ID, e.now)
			must(t, err)
			same(t, "auth request", got, r)
		}
		_, err = e.s.GetAuthRequestByCode(e.ctx, kept.codeHash, e.now)
		must(t, err)
		e.wantRevoked(false, kept.issued, kept.rotated)
	})
	e.run("nothing new can refer to the deleted user", func(t *testing.T, e *env) {
		s := &store.Session{ID: e.id("sess"), TokenHash: e.id("hash"), UserID: gone.u.ID, AuthTime: e.now, CreatedAt: e.now, LastSeenAt: e.now, ExpiresAt: e.now.Add(time.Hour)}
		wantErr(t, e.s.CreateSession(e.ctx, s), store.ErrNotFound)
		code := &store.EmailCode{ID: e.id("ec"), UserID: gone.u.ID, Purpose: store.PurposeVerify, CodeHash: e.id("hash"), CreatedAt: e.now, ExpiresAt: e.now.Add(time.Hour)}
		wantErr(t, e.s.CreateEmailCode(e.ctx, code), store.ErrNotFound)
		wantErr(t, e.s.UpdatePasswordHash(e.ctx, gone.u.ID, "$argon2id$x", e.now), store.ErrNotFound)
	})
	e.run("the email address is free again", func(t *testing.T, e *env) {
		again := &store.User{ID: e.id("user"), Email: gone.u.Email, CreatedAt: e.now, UpdatedAt: e.now}
		must(t, e.s.CreateUser(e.ctx, again))
	})
	e.run("unknown", func(t *testing.T, e *env) {
		wantErr(t, e.s.DeleteUser(e.ctx, gone.u.ID), store.ErrNotFound)
		wantErr(t, e.s.DeleteUser(e.ctx, "no-such-user"), store.ErrNotFound)
	})
}

// testUpdateClient: the mutable fields are replaced; type, secret and creation time stay whatever
// the argument holds.
func testUpdateClient(t *testing.T, e *env) {
	e.run("replaces the mutable fields only", func(t *testing.T, e *env) {
		c := e.client()
		upd := &store.Client{
			ID: c.ID, Name: "Dashboard v2", Type: store.ClientSPA, SecretHash: "$argon2id$stale",
			RedirectURIs:           []string{"https://rp.example.com/cb2", "https://rp.example.com/cb3"},
			PostLogoutRedirectURIs: []string{"https://rp.example.com/bye"},
			AccessTokenJWT:         true, PKCEExempt: true, CreatedAt: e.now.Add(time.Hour),
			HomeURI: "https://rp.example.com/app",
		}
		must(t, e.s.UpdateClient(e.ctx, upd))
		got, err := e.s.GetClient(e.ctx, c.ID)
		must(t, err)
		want := *upd
		want.Type, want.SecretHash, want.CreatedAt = c.Type, c.SecretHash, c.CreatedAt
		want.AuthMethod = store.AuthSecretBasic // empty: the default of the stored type (web)
		same(t, "client", got, &want)
	})
	e.run("lists and flags can be emptied", func(t *testing.T, e *env) {
		c := e.client()
		c.AccessTokenJWT, c.PKCEExempt = true, true
		must(t, e.s.UpdateClient(e.ctx, c))
		c.Name, c.RedirectURIs, c.PostLogoutRedirectURIs, c.AccessTokenJWT, c.PKCEExempt = "", nil, []string{}, false, false
		must(t, e.s.UpdateClient(e.ctx, c))
		got, err := e.s.GetClient(e.ctx, c.ID)
		must(t, err)
		same(t, "client", got, c)
	})
	e.run("its tokens are not touched", func(t *testing.T, e *env) {
		c, u := e.client(), e.user()
		g := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)
		c.Name = "renamed"
		must(t, e.s.UpdateClient(e.ctx, c))
		e.wantRevoked(false, g)
	})
	e.run("unknown", func(t *testing.T, e *env) {
		wantErr(t, e.s.UpdateClient(e.ctx, &store.Client{ID: "no-such-client", Type: store.ClientWeb}), store.ErrNotFound)
	})
}

func testSetClientSecretHash(t *testing.T, e *env) {
	c, other := e.client(), e.client()
	e.run("replaces the hash only", func(t *testing.T, e *env) {
		must(t, e.s.SetClientSecretHash(e.ctx, c.ID, "$argon2id$rotated"))
		got, err := e.s.GetClient(e.ctx, c.ID)
		must(t, err)
		want := *c
		want.SecretHash = "$argon2id$rotated"
		same(t, "client", got, &want)
		got, err = e.s.GetClient(e.ctx, other.ID)
		must(t, err)
		same(t, "other client", got, other)
	})
	e.run("an empty hash is refused", func(t *testing.T, e *env) {
		wantSomeErr(t, e.s.SetClientSecretHash(e.ctx, c.ID, ""))
		got, err := e.s.GetClient(e.ctx, c.ID)
		must(t, err)
		if got.SecretHash != "$argon2id$rotated" {
			t.Fatalf("secret hash %q after a refused update", got.SecretHash)
		}
	})
	e.run("unknown", func(t *testing.T, e *env) {
		wantErr(t, e.s.SetClientSecretHash(e.ctx, "no-such-client", "$argon2id$x"), store.ErrNotFound)
	})
}

func testSetSigningKeyPrivate(t *testing.T, e *env) {
	rotated := e.now.Add(-time.Hour)
	k1 := &store.SigningKey{ID: "k1", Algorithm: "RS256", PrivateEnc: []byte("sealed-1"), PublicJWK: []byte(`{"kid":"k1"}`), CreatedAt: e.now.Add(-2 * time.Hour), RotatedAt: &rotated}
	k2 := &store.SigningKey{ID: "k2", Algorithm: "RS256", PrivateEnc: []byte("sealed-2"), PublicJWK: []byte(`{"kid":"k2"}`), CreatedAt: e.now.Add(-time.Hour)}
	must(t, e.s.CreateSigningKey(e.ctx, k1))
	must(t, e.s.CreateSigningKey(e.ctx, k2))
	e.run("replaces the sealed part only", func(t *testing.T, e *env) {
		// Binary, with zero bytes: it is ciphertext.
		resealed := []byte{0, 0xfe, 'n', 'e', 'w', 0}
		must(t, e.s.SetSigningKeyPrivate(e.ctx, k1.ID, resealed))
		got, err := e.s.ListSigningKeys(e.ctx)
		must(t, err)
		want := *k1
		want.PrivateEnc = resealed
		same(t, "keys", got, []store.SigningKey{*k2, want})
		k1.PrivateEnc = resealed
	})
	e.run("an empty sealed part is refused", func(t *testing.T, e *env) {
		wantSomeErr(t, e.s.SetSigningKeyPrivate(e.ctx, k2.ID, nil))
		got, err := e.s.ListSigningKeys(e.ctx)
		must(t, err)
		same(t, "keys", got, []store.SigningKey{*k2, *k1})
	})
	e.run("unknown", func(t *testing.T, e *env) {
		wantErr(t, e.s.SetSigningKeyPrivate(e.ctx, "no-such-key", []byte("x")), store.ErrNotFound)
	})
}
