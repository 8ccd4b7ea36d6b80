package storetest

import (
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

func testPing(t *testing.T, e *env) {
	must(t, e.s.Ping(e.ctx))
}

func testUsers(t *testing.T, e *env) {
	e.run("create and get", func(t *testing.T, e *env) {
		// Times in another zone and with nanoseconds: they come back in UTC, at least to the
		// millisecond.
		zone := time.FixedZone("UTC+2", 2*3600)
		created := e.now.Add(-time.Hour).In(zone).Add(123456 * time.Nanosecond)
		u := &store.User{
			ID: "0b7c4c2e-8a35-4d0f-9d0e-6f1f1e0a2b3c", Email: "alice@example.com", PasswordHash: "$argon2id$v=19$x",
			EmailVerified: true, PhoneE164: "+14155550100", MFAEnabled: true, CreatedAt: created, UpdatedAt: e.now,
		}
		must(t, e.s.CreateUser(e.ctx, u))
		for name, get := range map[string]func() (*store.User, error){
			"GetUser":        func() (*store.User, error) { return e.s.GetUser(e.ctx, u.ID) },
			"GetUserByEmail": func() (*store.User, error) { return e.s.GetUserByEmail(e.ctx, u.Email) },
		} {
			got, err := get()
			must(t, err)
			wantUTC(t, name, got)
			if d := got.CreatedAt.Sub(created).Abs(); d >= time.Millisecond {
				t.Fatalf("%s: CreatedAt off by %v, want under a millisecond", name, d)
			}
			want := *u
			want.CreatedAt = got.CreatedAt
			same(t, name, got, &want)
		}
	})
	e.run("no phone and flags off", func(t *testing.T, e *env) {
		u := &store.User{ID: e.id("user"), Email: e.id("bob") + "@example.com", CreatedAt: e.now, UpdatedAt: e.now}
		must(t, e.s.CreateUser(e.ctx, u))
		got, err := e.s.GetUser(e.ctx, u.ID)
		must(t, err)
		same(t, "user", got, u)
	})
	e.run("duplicate email is a conflict", func(t *testing.T, e *env) {
		u := e.user()
		wantErr(t, e.s.CreateUser(e.ctx, &store.User{ID: e.id("user"), Email: u.Email, CreatedAt: e.now, UpdatedAt: e.now}), store.ErrConflict)
	})
	e.run("duplicate id is a conflict", func(t *testing.T, e *env) {
		u := e.user()
		wantErr(t, e.s.CreateUser(e.ctx, &store.User{ID: u.ID, Email: e.id("other") + "@example.com", CreatedAt: e.now, UpdatedAt: e.now}), store.ErrConflict)
	})
	e.run("id and email are required", func(t *testing.T, e *env) {
		wantSomeErr(t, e.s.CreateUser(e.ctx, &store.User{ID: e.id("user"), CreatedAt: e.now, UpdatedAt: e.now}))
		wantSomeErr(t, e.s.CreateUser(e.ctx, &store.User{Email: e.id("x") + "@example.com", CreatedAt: e.now, UpdatedAt: e.now}))
	})
	e.run("unknown", func(t *testing.T, e *env) {
		_, err := e.s.GetUser(e.ctx, "no-such-user")
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.GetUserByEmail(e.ctx, "nobody@example.com")
		wantErr(t, err, store.ErrNotFound)
	})
	e.run("UpdatePasswordHash", func(t *testing.T, e *env) {
		u := e.user()
		later := e.now.Add(time.Hour)
		must(t, e.s.UpdatePasswordHash(e.ctx, u.ID, "$argon2id$new", later))
		got, err := e.s.GetUser(e.ctx, u.ID)
		must(t, err)
		want := *u
		want.PasswordHash, want.UpdatedAt = "$argon2id$new", later
		same(t, "user", got, &want)
		wantErr(t, e.s.UpdatePasswordHash(e.ctx, "no-such-user", "h", later), store.ErrNotFound)
	})
}

func testListUsers(t *testing.T, e *env) {
	got, err := e.s.ListUsers(e.ctx)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("ListUsers on an empty store returned %d users", len(got))
	}
	// Inserted out of order: the list follows CreatedAt.
	var want []store.User
	for _, offset := range []time.Duration{2 * time.Hour, 0, time.Hour} {
		u := store.User{ID: e.id("user"), Email: e.id("u") + "@example.com", CreatedAt: e.now.Add(offset), UpdatedAt: e.now}
		must(t, e.s.CreateUser(e.ctx, &u))
		want = append(want, u)
	}
	want = []store.User{want[1], want[2], want[0]}
	got, err = e.s.ListUsers(e.ctx)
	must(t, err)
	same(t, "users", got, want)
}

func testSetUserDisabled(t *testing.T, e *env) {
	c := e.client()
	e.run("disabling revokes sessions and tokens", func(t *testing.T, e *env) {
		u, other := e.user(), e.user()
		sess, otherSess := e.session(u.ID), e.session(other.ID)
		withRefresh := e.redeem(e.code(c.ID, u.ID, sess.ID), c.ID, u.ID, true)
		accessOnly := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, false)
		rotated, err := e.rotate(withRefresh.refresh.Hash, e.now.Add(time.Minute), c.ID, u.ID)
		must(t, err)
		untouched := e.redeem(e.code(c.ID, other.ID, otherSess.ID), c.ID, other.ID, true)

		later := e.now.Add(2 * time.Minute)
		must(t, e.s.SetUserDisabled(e.ctx, u.ID, true, later))
		got, err := e.s.GetUser(e.ctx, u.ID)
		must(t, err)
		if !got.Disabled {
			t.Fatal("user not disabled")
		}
		sameTime(t, "UpdatedAt", got.UpdatedAt, later)
		_, err = e.s.GetSessionByTokenHash(e.ctx, sess.TokenHash, later, e.now.Add(-time.Hour))
		wantErr(t, err, store.ErrNotFound)
		e.wantRevoked(true, withRefresh, accessOnly, rotated)
		sameTime(t, "access RevokedAt", *e.getAccess(accessOnly.access.ID).RevokedAt, later)

		e.wantRevoked(false, untouched)
		if _, err := e.s.GetSessionByTokenHash(e.ctx, otherSess.TokenHash, later, e.now.Add(-time.Hour)); err != nil {
			t.Fatalf("another user's session: %v", err)
		}

		// A revoked refresh token is a reuse from now on.
		_, err = e.rotate(rotated.refresh.Hash, later, c.ID, u.ID)
		wantErr(t, err, store.ErrRefreshReused)

		// Enabling again restores the flag, not the sessions or tokens.
		must(t, e.s.SetUserDisabled(e.ctx, u.ID, false, later.Add(time.Minute)))
		got, err = e.s.GetUser(e.ctx, u.ID)
		must(t, err)
		if got.Disabled {
			t.Fatal("user still disabled")
		}
		e.wantRevoked(true, withRefresh, accessOnly, rotated)
	})
	e.run("unknown", func(t *testing.T, e *env) {
		wantErr(t, e.s.SetUserDisabled(e.ctx, "no-such-user", true, e.now), store.ErrNotFound)
		wantErr(t, e.s.SetUserDisabled(e.ctx, "no-such-user", false, e.now), store.ErrNotFound)
	})
}

func testClients(t *testing.T, e *env) {
	e.run("create and get", func(t *testing.T, e *env) {
		for _, c := range []*store.Client{
			{
				ID: e.id("web"), Name: "Dashboard", Type: store.ClientWeb, SecretHash: "$argon2id$s",
				RedirectURIs:           []string{"https://rp.example.com/cb", "https://rp.example.com/cb2"},
				PostLogoutRedirectURIs: []string{"https://rp.example.com/"},
				AccessTokenJWT:         true, PKCEExempt: true, CreatedAt: e.now, HomeURI: "https://rp.example.com/home",
			},
			{ID: e.id("spa"), Name: "SPA", Type: store.ClientSPA, RedirectURIs: []string{}, CreatedAt: e.now},
			{ID: e.id("native"), Type: store.ClientNative, RedirectURIs: []string{"com.example.app:/cb"}, CreatedAt: e.now},
			{ID: e.id("svc"), Type: store.ClientService, SecretHash: "$argon2id$t", CreatedAt: e.now},
		} {
			must(t, e.s.CreateClient(e.ctx, c))
			got, err := e.s.GetClient(e.ctx, c.ID)
			must(t, err)
			wantUTC(t, "client", got)
			same(t, "client "+c.ID, got, c)
		}
	})
	e.run("duplicate id is a conflict", func(t *testing.T, e *env) {
		c := e.client()
		wantErr(t, e.s.CreateClient(e.ctx, &store.Client{ID: c.ID, Type: store.ClientSPA, CreatedAt: e.now}), store.ErrConflict)
	})
	e.run("unknown", func(t *testing.T, e *env) {
		_, err := e.s.GetClient(e.ctx, "no-such-client")
		wantErr(t, err, store.ErrNotFound)
	})
}

func testListClients(t *testing.T, e *env) {
	var want []store.Client
	for _, id := range []string{"c-b", "c-a", "c-c"} {
		c := store.Client{ID: id, Type: store.ClientWeb, RedirectURIs: []string{"https://" + id + "/cb"}, CreatedAt: e.now}
		must(t, e.s.CreateClient(e.ctx, &c))
		want = append(want, c)
	}
	got, err := e.s.ListClients(e.ctx)
	must(t, err)
	same(t, "clients", got, []store.Client{want[1], want[0], want[2]})
}

func testDeleteClient(t *testing.T, e *env) {
	gone, kept := e.client(), e.client()
	u := e.user()
	// For each client: a pending request, an unredeemed code, a redeemed code with tokens and a
	// rotated refresh token.
	type fixture struct {
		pending  *store.AuthRequest
		codeHash string
		issued   grant
		rotated  grant
	}
	build := func(c *store.Client) fixture {
		var f fixture
		f.pending = e.authRequest(c.ID)
		f.codeHash = e.code(c.ID, u.ID, "")
		f.issued = e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)
		var err error
		f.rotated, err = e.rotate(f.issued.refresh.Hash, e.now.Add(time.Minute), c.ID, u.ID)
		must(t, err)
		return f
	}
	fg, fk := build(gone), build(kept)

	must(t, e.s.DeleteClient(e.ctx, gone.ID))
	_, err := e.s.GetClient(e.ctx, gone.ID)
	wantErr(t, err, store.ErrNotFound)
	_, err = e.s.GetAuthRequest(e.ctx, fg.pending.ID, e.now)
	wantErr(t, err, store.ErrNotFound)
	_, err = e.s.GetAuthRequestByCode(e.ctx, fg.codeHash, e.now)
	wantErr(t, err, store.ErrNotFound)
	for _, g := range []grant{fg.issued, fg.rotated} {
		_, err = e.s.GetAccessToken(e.ctx, g.access.ID)
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.GetRefreshToken(e.ctx, g.refresh.Hash)
		wantErr(t, err, store.ErrNotFound)
	}

	// The other client keeps everything.
	_, err = e.s.GetClient(e.ctx, kept.ID)
	must(t, err)
	_, err = e.s.GetAuthRequest(e.ctx, fk.pending.ID, e.now)
	must(t, err)
	_, err = e.s.GetAuthRequestByCode(e.ctx, fk.codeHash, e.now)
	must(t, err)
	e.wantRevoked(false, fk.issued, fk.rotated)

	wantErr(t, e.s.DeleteClient(e.ctx, gone.ID), store.ErrNotFound)
	wantErr(t, e.s.DeleteClient(e.ctx, "no-such-client"), store.ErrNotFound)
}

func testSigningKeys(t *testing.T, e *env) {
	key := func(id string, created time.Time) *store.SigningKey {
		return &store.SigningKey{
			ID: id, Algorithm: "RS256", PrivateEnc: []byte{0, 1, 2, 0xff, 0},
			PublicJWK: []byte(`{"kty":"RSA","kid":"` + id + `","n":"AQAB","e":"AQAB"}`), CreatedAt: created,
		}
	}
	k1, k2 := key("k1", e.now.Add(-2*time.Hour)), key("k2", e.now.Add(-time.Hour))
	must(t, e.s.CreateSigningKey(e.ctx, k1))
	must(t, e.s.CreateSigningKey(e.ctx, k2))
	list := func() []store.SigningKey {
		t.Helper()
		got, err := e.s.ListSigningKeys(e.ctx)
		must(t, err)
		return got
	}
	e.run("newest first", func(t *testing.T, e *env) {
		got := list()
		same(t, "keys", got, []store.SigningKey{*k2, *k1})
		wantUTC(t, "key", &got[0])
	})
	e.run("duplicate kid is a conflict", func(t *testing.T, e *env) {
		wantErr(t, e.s.CreateSigningKey(e.ctx, key("k1", e.now)), store.ErrConflict)
	})

	rot1, rot2 := e.now, e.now.Add(time.Hour)
	k3, k4 := key("k3", rot1), key("k4", rot2)
	e.run("rotate", func(t *testing.T, e *env) {
		must(t, e.s.RotateSigningKeys(e.ctx, k3, rot1))
		k1.RotatedAt, k2.RotatedAt = ptr(rot1), ptr(rot1)
		same(t, "keys", list(), []store.SigningKey{*k3, *k2, *k1})

		must(t, e.s.RotateSigningKeys(e.ctx, k4, rot2))
		k3.RotatedAt = ptr(rot2)
		same(t, "keys", list(), []store.SigningKey{*k4, *k3, *k2, *k1})
	})
	e.run("a failed rotation changes nothing", func(t *testing.T, e *env) {
		before := list()
		wantErr(t, e.s.RotateSigningKeys(e.ctx, key("k1", rot2.Add(time.Hour)), rot2.Add(time.Hour)), store.ErrConflict)
		same(t, "keys", list(), before)
	})
	e.run("delete rotated before", func(t *testing.T, e *env) {
		// Keys rotated exactly at the cut-off stay.
		n, err := e.s.DeleteSigningKeysRotatedBefore(e.ctx, rot1)
		must(t, err)
		if n != 0 {
			t.Fatalf("deleted %d keys rotated at the cut-off, want 0", n)
		}
		n, err = e.s.DeleteSigningKeysRotatedBefore(e.ctx, rot1.Add(time.Millisecond))
		must(t, err)
		if n != 2 {
			t.Fatalf("deleted %d keys, want 2", n)
		}
		same(t, "keys", list(), []store.SigningKey{*k4, *k3})
		// The signing key (never rotated) is never deleted.
		n, err = e.s.DeleteSigningKeysRotatedBefore(e.ctx, rot2.Add(24*time.Hour))
		must(t, err)
		if n != 1 {
			t.Fatalf("deleted %d keys, want 1", n)
		}
		same(t, "keys", list(), []store.SigningKey{*k4})
	})
}
