package storetest

import (
	"testing"
)

// testSessionEpoch: the session epoch moves on whenever every session of the user ends at once
// (sign out everywhere, a password change or reset, disabling) and not otherwise (a rehash,
// enabling, one session signed out). Every read of the user reports it.
func testSessionEpoch(t *testing.T, e *env) {
	u := e.user()
	want := int64(0)
	check := func(what string) {
		t.Helper()
		got, err := e.s.GetUser(e.ctx, u.ID)
		must(t, err)
		byEmail, err := e.s.GetUserByEmail(e.ctx, u.Email)
		must(t, err)
		if got.SessionEpoch != want || byEmail.SessionEpoch != want {
			t.Fatalf("%s: session epoch %d (by email %d), want %d", what, got.SessionEpoch, byEmail.SessionEpoch, want)
		}
	}
	check("a new user")
	sess := e.session(u.ID)
	must(t, e.s.RevokeSession(e.ctx, sess.ID, e.now))
	check("one session signed out")
	must(t, e.s.UpdatePasswordHash(e.ctx, u.ID, "$argon2id$rehash", e.now))
	check("a rehash")
	_, err := e.s.RevokeUserSessions(e.ctx, u.ID, "", e.now)
	must(t, err)
	want++
	check("sign out everywhere")
	keep := e.session(u.ID)
	_, err = e.s.RevokeUserSessions(e.ctx, u.ID, keep.ID, e.now)
	must(t, err)
	want++
	check("sign out everywhere else")
	_, err = e.s.ChangePassword(e.ctx, u.ID, "$argon2id$new", keep.ID, e.now)
	must(t, err)
	want++
	check("a password change")
	must(t, e.s.SetUserDisabled(e.ctx, u.ID, true, e.now))
	want++
	check("disabling")
	must(t, e.s.SetUserDisabled(e.ctx, u.ID, false, e.now))
	check("enabling")
	users, err := e.s.ListUsers(e.ctx)
	must(t, err)
	for _, lu := range users {
		if lu.ID == u.ID && lu.SessionEpoch != want {
			t.Fatalf("ListUsers: session epoch %d, want %d", lu.SessionEpoch, want)
		}
	}
}
