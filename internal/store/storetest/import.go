package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

const (
	importHashA = "pbkdf2:sha256:600000$salt$0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	importHashB = "scrypt:32768:8:1$salt$" + "ab"
)

// importLine is an ImportUser for a fresh address.
func (e *env) importLine(line int) store.ImportUser {
	id := e.id("imp")
	return store.ImportUser{Line: line, ID: id, Email: id + "@example.com", PasswordHash: importHashA,
		EmailVerified: true, CreatedAt: e.now.Add(-365 * 24 * time.Hour)}
}

// outcomes lists each result's outcome, and checks the line numbers came back in order.
func outcomes(t *testing.T, batch []store.ImportUser, res []store.ImportResult) []store.ImportOutcome {
	t.Helper()
	if len(res) != len(batch) {
		t.Fatalf("%d results for %d lines", len(res), len(batch))
	}
	out := make([]store.ImportOutcome, len(res))
	for i, r := range res {
		if r.Line != batch[i].Line {
			t.Fatalf("result %d is for line %d, want %d", i, r.Line, batch[i].Line)
		}
		if (r.Outcome == store.ImportFailed) != (r.Err != nil) {
			t.Fatalf("line %d: outcome %s with error %v", r.Line, r.Outcome, r.Err)
		}
		out[i] = r.Outcome
	}
	return out
}

// testImportUsers: created, unchanged on a re-run, differs without update, updated with it (and
// what an update does), dry run writes nothing, and a bad line fails alone.
func testImportUsers(t *testing.T, e *env) {
	e.run("create then re-run", func(t *testing.T, e *env) {
		plain, mfa := e.importLine(1), e.importLine(2)
		mfa.MFAEnabled, mfa.PhoneE164, mfa.EmailVerified = true, "+447700900123", false
		phoneOnly := e.importLine(3)
		phoneOnly.PhoneE164 = "+447700900124" // without two-step the phone is not kept
		batch := []store.ImportUser{plain, mfa, phoneOnly}
		res, err := e.s.ImportUsers(e.ctx, batch, false, false, e.now)
		must(t, err)
		same(t, "outcomes", outcomes(t, batch, res), []store.ImportOutcome{store.ImportCreated, store.ImportCreated, store.ImportCreated})
		for i, in := range batch {
			if res[i].UserID != in.ID {
				t.Fatalf("line %d: user id %q, want %q", in.Line, res[i].UserID, in.ID)
			}
			want := &store.User{ID: in.ID, Email: in.Email, PasswordHash: in.PasswordHash, EmailVerified: in.EmailVerified,
				MFAEnabled: in.MFAEnabled, CreatedAt: in.CreatedAt, UpdatedAt: e.now}
			if in.MFAEnabled {
				want.PhoneE164 = in.PhoneE164
			}
			same(t, fmt.Sprintf("user of line %d", in.Line), e.getUser(in.ID), want)
		}
		// A re-run, even with --update and new ids, changes nothing.
		again := append([]store.ImportUser(nil), batch...)
		for i := range again {
			again[i].ID = e.id("other")
		}
		res, err = e.s.ImportUsers(e.ctx, again, true, false, e.now.Add(time.Hour))
		must(t, err)
		same(t, "re-run outcomes", outcomes(t, again, res), []store.ImportOutcome{store.ImportUnchanged, store.ImportUnchanged, store.ImportUnchanged})
		for i, in := range batch {
			if res[i].UserID != in.ID {
				t.Fatalf("re-run line %d names user %q, want the existing %q", in.Line, res[i].UserID, in.ID)
			}
			sameTime(t, "updated_at after the re-run", e.getUser(in.ID).UpdatedAt, e.now)
		}
	})

	e.run("created at defaults to now", func(t *testing.T, e *env) {
		in := e.importLine(1)
		in.CreatedAt = time.Time{}
		_, err := e.s.ImportUsers(e.ctx, []store.ImportUser{in}, false, false, e.now)
		must(t, err)
		sameTime(t, "created_at", e.getUser(in.ID).CreatedAt, e.now)
	})

	e.run("existing address differs: left alone without update, written with it", func(t *testing.T, e *env) {
		u := e.user() // verified, two-step off
		must(t, e.s.SetUserMFA(e.ctx, u.ID, "+447700900123", true, e.now))
		must(t, e.s.ReplaceRecoveryCodes(e.ctx, u.ID, []string{"$argon2id$a"}, e.now))
		sess := e.session(u.ID)
		c := e.client()
		g := e.redeem(e.code(c.ID, u.ID, sess.ID), c.ID, u.ID, true)
		before := e.getUser(u.ID)

		in := store.ImportUser{Line: 7, ID: e.id("new"), Email: u.Email, PasswordHash: importHashB, EmailVerified: false}
		res, err := e.s.ImportUsers(e.ctx, []store.ImportUser{in}, false, false, e.now.Add(time.Minute))
		must(t, err)
		same(t, "without update", outcomes(t, []store.ImportUser{in}, res), []store.ImportOutcome{store.ImportDiffers})
		same(t, "user without update", e.getUser(u.ID), before)
		e.wantRevoked(false, g)

		later := e.now.Add(2 * time.Minute)
		res, err = e.s.ImportUsers(e.ctx, []store.ImportUser{in}, true, false, later)
		must(t, err)
		same(t, "with update", outcomes(t, []store.ImportUser{in}, res), []store.ImportOutcome{store.ImportUpdated})
		want := *before
		want.PasswordHash, want.MFAEnabled, want.PhoneE164, want.UpdatedAt = importHashB, false, "", later
		want.PasswordEpoch++ // a new password, as a reset: what the old one opened is over
		// EmailVerified stays true: an address proven here stays proven.
		same(t, "user after update", e.getUser(u.ID), &want)
		n, err := e.s.CountUnusedRecoveryCodes(e.ctx, u.ID)
		must(t, err)
		if n != 0 {
			t.Errorf("%d recovery codes after the update turned two-step off, want 0", n)
		}
		// A new password hash ends what the old password opened.
		e.wantRevoked(true, g)
		live, err := e.s.ListSessions(e.ctx, u.ID, later)
		must(t, err)
		if len(live) != 0 {
			t.Errorf("%d live sessions after the password hash changed, want 0", len(live))
		}
	})

	e.run("bad lines fail alone", func(t *testing.T, e *env) {
		taken := e.user()
		good1, good2 := e.importLine(1), e.importLine(5)
		noHash := e.importLine(2)
		noHash.PasswordHash = ""
		mfaNoPhone := e.importLine(3)
		mfaNoPhone.MFAEnabled = true
		idTaken := e.importLine(4)
		idTaken.ID = taken.ID // the id of another user: a racing insert loses the same way
		dup := good1
		dup.Line, dup.ID = 6, e.id("dup")
		batch := []store.ImportUser{good1, noHash, mfaNoPhone, idTaken, good2, dup}
		res, err := e.s.ImportUsers(e.ctx, batch, true, false, e.now)
		must(t, err)
		same(t, "outcomes", outcomes(t, batch, res), []store.ImportOutcome{
			store.ImportCreated, store.ImportFailed, store.ImportFailed, store.ImportFailed, store.ImportCreated, store.ImportFailed})
		for _, i := range []int{3, 5} {
			if !errors.Is(res[i].Err, store.ErrConflict) {
				t.Errorf("line %d: %v, want ErrConflict", batch[i].Line, res[i].Err)
			}
		}
		for _, in := range []store.ImportUser{noHash, mfaNoPhone, idTaken} {
			if _, err := e.s.GetUserByEmail(e.ctx, in.Email); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("line %d was written (%v)", in.Line, err)
			}
		}
		same(t, "the user whose id was reused", e.getUser(taken.ID), taken)
		e.getUser(good1.ID)
		e.getUser(good2.ID)
	})

	e.run("dry run writes nothing and says what would happen", func(t *testing.T, e *env) {
		u := e.user()
		before := e.getUser(u.ID)
		fresh := e.importLine(1)
		change := store.ImportUser{Line: 2, ID: e.id("x"), Email: u.Email, PasswordHash: importHashB, EmailVerified: true}
		batch := []store.ImportUser{fresh, change}
		res, err := e.s.ImportUsers(e.ctx, batch, true, true, e.now.Add(time.Minute))
		must(t, err)
		same(t, "dry-run outcomes", outcomes(t, batch, res), []store.ImportOutcome{store.ImportCreated, store.ImportUpdated})
		if _, err := e.s.GetUserByEmail(e.ctx, fresh.Email); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("dry run created a user (%v)", err)
		}
		same(t, "user after the dry run", e.getUser(u.ID), before)
	})

	e.run("many lines in one batch", func(t *testing.T, e *env) {
		batch := make([]store.ImportUser, 1234) // more than one multi-row INSERT
		for i := range batch {
			batch[i] = e.importLine(i + 1)
		}
		res, err := e.s.ImportUsers(e.ctx, batch, false, false, e.now)
		must(t, err)
		for i, o := range outcomes(t, batch, res) {
			if o != store.ImportCreated {
				t.Fatalf("line %d: %s (%v)", i+1, o, res[i].Err)
			}
		}
		e.getUser(batch[len(batch)-1].ID)
	})
}

// testIssueFirstRecoveryCodes: codes only for a user with two-step on who never had any.
func testIssueFirstRecoveryCodes(t *testing.T, e *env) {
	hashes := []string{"$argon2id$a", "$argon2id$b"}
	_, err := e.s.IssueFirstRecoveryCodes(e.ctx, "unknown", hashes, e.now)
	wantErr(t, err, store.ErrNotFound)

	off := e.user()
	ok, err := e.s.IssueFirstRecoveryCodes(e.ctx, off.ID, hashes, e.now)
	must(t, err)
	if ok {
		t.Fatal("issued codes to a user without two-step")
	}

	on := e.user()
	must(t, e.s.SetUserMFA(e.ctx, on.ID, "+447700900123", true, e.now))
	ok, err = e.s.IssueFirstRecoveryCodes(e.ctx, on.ID, hashes, e.now)
	must(t, err)
	if !ok {
		t.Fatal("no codes for a user with two-step on and none yet")
	}
	list, err := e.s.ListUnusedRecoveryCodes(e.ctx, on.ID)
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("%d codes, want 2", len(list))
	}
	// Used up is not "never had any".
	for _, c := range list {
		must(t, e.s.UseRecoveryCode(e.ctx, on.ID, c.ID, e.now))
	}
	ok, err = e.s.IssueFirstRecoveryCodes(e.ctx, on.ID, hashes, e.now)
	must(t, err)
	if ok {
		t.Fatal("issued first codes again after they were used up")
	}
}

// testIssueFirstRecoveryCodesRace: concurrent first sign-ins store one set of codes.
func testIssueFirstRecoveryCodesRace(t *testing.T, e *env) {
	const callers = 12
	u := e.user()
	must(t, e.s.SetUserMFA(e.ctx, u.ID, "+447700900123", true, e.now))
	issued := make([]bool, callers)
	errs := race(callers, func(i int) error {
		var err error
		issued[i], err = e.racer(i).IssueFirstRecoveryCodes(e.ctx, u.ID, []string{fmt.Sprintf("$argon2id$%d", i)}, e.now)
		return err
	})
	wins := 0
	for i, err := range errs {
		must(t, err)
		if issued[i] {
			wins++
		}
	}
	n, err := e.s.CountUnusedRecoveryCodes(e.ctx, u.ID)
	must(t, err)
	if wins != 1 || n != 1 {
		t.Fatalf("%d callers stored codes, %d codes stored; want 1 and 1", wins, n)
	}
}

// testImportSignupRace: imports and signups of one address at once create exactly one user; a
// losing signup gets ErrConflict, a losing import line fails with ErrConflict (it raced the
// insert) or finds the winner (differs or unchanged), and no transaction is aborted.
func testImportSignupRace(t *testing.T, e *env) {
	const callers = 12
	email := e.id("race") + "@example.com"
	outcomes := make([]store.ImportOutcome, callers)
	ids := make([]string, callers)
	for i := range ids {
		ids[i] = e.id("racer")
	}
	errs := race(callers, func(i int) error {
		id := ids[i]
		if i%2 == 0 {
			return e.racer(i).CreateUser(e.ctx, &store.User{ID: id, Email: email, PasswordHash: importHashB, CreatedAt: e.now, UpdatedAt: e.now})
		}
		res, err := e.racer(i).ImportUsers(e.ctx, []store.ImportUser{{Line: 1, ID: id, Email: email, PasswordHash: importHashA}}, false, false, e.now)
		if err != nil {
			return err
		}
		outcomes[i] = res[0].Outcome
		if res[0].Outcome == store.ImportFailed && !errors.Is(res[0].Err, store.ErrConflict) {
			return fmt.Errorf("import line failed with %v", res[0].Err)
		}
		return nil
	})
	created := 0
	for i, err := range errs {
		switch {
		case i%2 == 0 && err == nil:
			created++
		case i%2 == 0 && !errors.Is(err, store.ErrConflict):
			t.Fatalf("signup %d: %v", i, err)
		case i%2 == 1 && err != nil:
			t.Fatalf("import %d: %v", i, err)
		case i%2 == 1 && outcomes[i] == store.ImportCreated:
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d callers created the user, want 1 (imports: %v)", created, outcomes)
	}
	if _, err := e.s.GetUserByEmail(e.ctx, email); err != nil {
		t.Fatal(err)
	}
}
