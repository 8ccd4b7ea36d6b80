package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

// racers is how many goroutines present the same code or refresh token at once.
const racers = 50

// race runs call(i) for i in [0, n) at once (released together after all started) and returns
// the errors by i.
func race(n int, call func(i int) error) []error {
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs[i] = call(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return errs
}

// oneWinner checks that exactly one call succeeded and every other failed with lost, and returns
// the winner's index.
func oneWinner(t *testing.T, errs []error, lost error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("calls %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, lost):
			t.Fatalf("call %d: %v, want success or %v", i, err, lost)
		}
	}
	if winner < 0 {
		t.Fatal("no call succeeded")
	}
	return winner
}

// testCodeRace: an authorization code is single-use even when presented many times at once
// (RFC 6749 §4.1.2). One wins; the others are replays, and a replay revokes what the code issued,
// the winner's tokens included.
func testCodeRace(t *testing.T, e *env) {
	c, u := e.client(), e.user()
	hash := e.code(c.ID, u.ID, "")
	grants := make([]grant, racers) // built here: env is not safe for concurrent use
	for i := range grants {
		grants[i] = grant{access: e.access(c.ID, u.ID), refresh: e.refresh(c.ID, u.ID)}
	}
	errs := race(racers, func(i int) error {
		return e.racer(i).IssueTokens(e.ctx, store.IssueParams{Now: e.now, CodeHash: hash, Access: grants[i].access, Refresh: grants[i].refresh})
	})
	w := oneWinner(t, errs, store.ErrCodeReplayed)
	e.wantRevoked(true, grants[w])
	for i, g := range grants {
		if i == w {
			continue
		}
		if _, err := e.s.GetAccessToken(e.ctx, g.access.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("loser %d's access token: %v, want ErrNotFound", i, err)
		}
	}
}

// testRefreshRace: a refresh token rotates once even when presented many times at once; the
// others count as reuse (RFC 9700 §4.14.2), which revokes the family, the winner's new tokens
// included.
func testRefreshRace(t *testing.T, e *env) {
	c, u := e.client(), e.user()
	first := e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)
	at := e.now.Add(time.Minute)
	grants := make([]grant, racers)
	for i := range grants {
		grants[i] = grant{access: e.access(c.ID, u.ID), refresh: e.refresh(c.ID, u.ID)}
		grants[i].access.CreatedAt, grants[i].refresh.CreatedAt = at, at
	}
	errs := race(racers, func(i int) error {
		return e.racer(i).IssueTokens(e.ctx, store.IssueParams{Now: at, RotateRefreshHash: first.refresh.Hash, Access: grants[i].access, Refresh: grants[i].refresh})
	})
	w := oneWinner(t, errs, store.ErrRefreshReused)
	e.wantRevoked(true, first, grants[w])
	if got := e.getRefresh(grants[w].refresh.Hash); got.FamilyID != first.refresh.FamilyID {
		t.Fatalf("winner's family %q, want %q", got.FamilyID, first.refresh.FamilyID)
	}
	_, err := e.rotate(grants[w].refresh.Hash, at.Add(time.Minute), c.ID, u.ID)
	wantErr(t, err, store.ErrRefreshReused)
}

// testIndependentWrites: transactions on unrelated rows never fail for each other (no
// SQLITE_BUSY, no spurious conflicts, no deadlocks). The mix includes transactions that read before
// they write (SaveAuthCode, RevokeSession, CreateEmailCode, CheckEmailCode): with SQLite those fail
// at once with SQLITE_BUSY when another connection wrote in between, unless they take the write
// lock up front.
func testIndependentWrites(t *testing.T, e *env) {
	c, u := e.client(), e.user()
	const n = 15
	var (
		codes     = make([]string, n)
		grants    = make([]grant, n)
		families  = make([]grant, n)
		rotations = make([]grant, n)
		pending   = make([]*store.AuthRequest, n)
		sessions  = make([]*store.Session, n)
		resends   = make([]*store.EmailCode, n)
		checks    = make([]*store.EmailCode, n)
	)
	for i := range n {
		codes[i] = e.code(c.ID, u.ID, "")
		grants[i] = grant{access: e.access(c.ID, u.ID), refresh: e.refresh(c.ID, u.ID)}
		families[i] = e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)
		rotations[i] = grant{access: e.access(c.ID, u.ID), refresh: e.refresh(c.ID, u.ID)}
		pending[i] = e.authRequest(c.ID)
		e.complete(pending[i], u.ID, "")
		sessions[i] = e.session(u.ID)
		resends[i] = e.emailCode(e.signupUser().ID, store.PurposeReset, "", e.now)
		resends[i].ID, resends[i].CodeHash = e.id("ec"), e.id("hash") // sent again, voiding the first
		checks[i] = e.emailCode(e.signupUser().ID, store.PurposeVerify, "$argon2id$p", e.now)
	}
	const kinds = 8
	errs := race(kinds*n, func(i int) error {
		s, k := e.racer(i), i/kinds
		switch i % kinds {
		case 0:
			return s.IssueTokens(e.ctx, store.IssueParams{Now: e.now, CodeHash: codes[k], Access: grants[k].access, Refresh: grants[k].refresh})
		case 1:
			return s.IssueTokens(e.ctx, store.IssueParams{Now: e.now, RotateRefreshHash: families[k].refresh.Hash, Access: rotations[k].access, Refresh: rotations[k].refresh})
		case 2:
			return s.SaveAuthCode(e.ctx, &store.AuthCode{Hash: fmt.Sprintf("race-code-%d", k), AuthRequestID: pending[k].ID, ExpiresAt: e.now.Add(time.Minute)})
		case 3:
			return s.RevokeSession(e.ctx, sessions[k].ID, e.now)
		case 4:
			return s.CreateEmailCode(e.ctx, resends[k])
		case 5:
			_, err := s.CheckEmailCode(e.ctx, checks[k].UserID, store.PurposeVerify, checks[k].CodeHash, 5, e.now)
			return err
		case 6:
			_, err := s.HitCounter(e.ctx, fmt.Sprintf("race-counter-%d", k), time.Minute, e.now)
			return err
		default:
			ev := store.AuditEvent{At: e.now, Type: "token.issued", UserID: u.ID}
			return s.AppendAudit(e.ctx, &ev)
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	e.wantRevoked(false, append(grants, rotations...)...)
	for _, s := range sessions {
		if got := e.getSession(s.ID); got.RevokedAt == nil {
			t.Fatalf("session %s still live", s.ID)
		}
	}
}

// codeGuessers is how many goroutines guess one email code at once.
const codeGuessers = 200

// testEmailCodeRace: the attempt limit of an email code holds under concurrency (DESIGN: ≤5
// wrong tries per code, counted atomically). With maxAttempts 5, 200 parallel wrong guesses get
// exactly 5 comparisons; everyone else is told the code is dead.
func testEmailCodeRace(t *testing.T, e *env) {
	at := e.now.Add(time.Minute)
	e.run("wrong guesses only", func(t *testing.T, e *env) {
		u := e.signupUser()
		c := e.emailCode(u.ID, store.PurposeVerify, "$argon2id$p", e.now)
		tries := make([]int, codeGuessers)
		errs := race(codeGuessers, func(i int) error {
			got, err := e.racer(i).CheckEmailCode(e.ctx, u.ID, store.PurposeVerify, fmt.Sprintf("wrong-%d", i), maxAttempts, at)
			if got != nil {
				tries[i] = got.Attempts
			}
			return err
		})
		seen := map[int]bool{}
		var mismatches, tooMany int
		for i, err := range errs {
			switch {
			case errors.Is(err, store.ErrCodeMismatch):
				mismatches++
				if seen[tries[i]] {
					t.Fatalf("two mismatches report %d attempts", tries[i])
				}
				seen[tries[i]] = true
			case errors.Is(err, store.ErrTooManyAttempts):
				tooMany++
				if tries[i] != maxAttempts {
					t.Fatalf("ErrTooManyAttempts with a code of %d attempts", tries[i])
				}
			default:
				t.Fatalf("guess %d: %v, want ErrCodeMismatch or ErrTooManyAttempts", i, err)
			}
		}
		if mismatches != maxAttempts || tooMany != codeGuessers-maxAttempts {
			t.Fatalf("%d mismatches and %d too many, want %d and %d", mismatches, tooMany, maxAttempts, codeGuessers-maxAttempts)
		}
		for n := 1; n <= maxAttempts; n++ {
			if !seen[n] {
				t.Fatalf("no mismatch reported %d attempts: %v", n, seen)
			}
		}
		stored := e.latest(u.ID, store.PurposeVerify)
		if stored.Attempts != maxAttempts || stored.ConsumedAt != nil {
			t.Fatalf("stored code: %d attempts, consumed %v; want %d, unconsumed", stored.Attempts, stored.ConsumedAt, maxAttempts)
		}
		same(t, "user", e.getUser(u.ID), u)
		_, err := e.s.CheckEmailCode(e.ctx, u.ID, store.PurposeVerify, c.CodeHash, maxAttempts, at)
		wantErr(t, err, store.ErrTooManyAttempts)
	})
	e.run("the right code among them", func(t *testing.T, e *env) {
		u := e.signupUser()
		c := e.emailCode(u.ID, store.PurposeVerify, "$argon2id$p", e.now)
		right := codeGuessers / 2
		errs := race(codeGuessers, func(i int) error {
			hash := fmt.Sprintf("wrong-%d", i)
			if i == right {
				hash = c.CodeHash
			}
			_, err := e.racer(i).CheckEmailCode(e.ctx, u.ID, store.PurposeVerify, hash, maxAttempts, at)
			return err
		})
		var successes, mismatches, tooMany, notFound int
		for i, err := range errs {
			switch {
			case err == nil:
				successes++
				if i != right {
					t.Fatalf("wrong guess %d succeeded", i)
				}
			case errors.Is(err, store.ErrCodeMismatch):
				mismatches++
			case errors.Is(err, store.ErrTooManyAttempts):
				tooMany++
			case errors.Is(err, store.ErrNotFound):
				notFound++
			default:
				t.Fatalf("guess %d: %v", i, err)
			}
		}
		stored := e.latest(u.ID, store.PurposeVerify)
		if stored.Attempts != mismatches+successes || stored.Attempts > maxAttempts {
			t.Fatalf("stored %d attempts after %d mismatches and %d successes (max %d)", stored.Attempts, mismatches, successes, maxAttempts)
		}
		verified := e.getUser(u.ID).EmailVerified
		switch successes {
		case 1:
			// Consumed within the first five attempts: later guesses find no live code.
			if tooMany != 0 || stored.ConsumedAt == nil || !verified {
				t.Fatalf("after the success: %d too many, consumed %v, verified %v", tooMany, stored.ConsumedAt, verified)
			}
		case 0:
			if mismatches != maxAttempts || tooMany != codeGuessers-maxAttempts || notFound != 0 || stored.ConsumedAt != nil || verified {
				t.Fatalf("no success: %d mismatches, %d too many, %d not found, consumed %v, verified %v",
					mismatches, tooMany, notFound, stored.ConsumedAt, verified)
			}
		}
		t.Logf("%d success, %d mismatches, %d too many, %d not found", successes, mismatches, tooMany, notFound)
	})
	// Above, the right code may come after the limit and lose. Here it cannot: with fewer wrong
	// guesses than the limit beside it, it must win, whatever the order.
	e.run("the right code within the limit always wins", func(t *testing.T, e *env) {
		u := e.signupUser()
		c := e.emailCode(u.ID, store.PurposeVerify, "$argon2id$p", e.now)
		right := maxAttempts / 2
		errs := race(maxAttempts, func(i int) error {
			hash := fmt.Sprintf("wrong-%d", i)
			if i == right {
				hash = c.CodeHash
			}
			_, err := e.racer(i).CheckEmailCode(e.ctx, u.ID, store.PurposeVerify, hash, maxAttempts, at)
			return err
		})
		for i, err := range errs {
			switch {
			case i == right && err != nil:
				t.Fatalf("the right code, among %d wrong ones under a limit of %d, failed: %v", maxAttempts-1, maxAttempts, err)
			case i != right && !errors.Is(err, store.ErrCodeMismatch) && !errors.Is(err, store.ErrNotFound):
				t.Fatalf("wrong guess %d: %v, want ErrCodeMismatch (before the success) or ErrNotFound (after)", i, err)
			}
		}
		if stored := e.latest(u.ID, store.PurposeVerify); stored.ConsumedAt == nil || !e.getUser(u.ID).EmailVerified {
			t.Fatalf("after the success: consumed %v, verified %v", stored.ConsumedAt, e.getUser(u.ID).EmailVerified)
		}
	})
}

// testEmailResendRace: resends of one user's code at once all succeed and leave exactly one live
// code, the newest (a resend voids the previous code, even a concurrent one).
func testEmailResendRace(t *testing.T, e *env) {
	u := e.signupUser()
	codes := make([]*store.EmailCode, racers)
	for i := range codes {
		id := e.id("ec")
		codes[i] = &store.EmailCode{ID: id, UserID: u.ID, Purpose: store.PurposeVerify, CodeHash: "hash-" + id,
			PendingPasswordHash: "$argon2id$" + id, CreatedAt: e.now, ExpiresAt: e.now.Add(codeTTL)}
	}
	errs := race(racers, func(i int) error { return e.racer(i).CreateEmailCode(e.ctx, codes[i]) })
	for i, err := range errs {
		if err != nil {
			t.Fatalf("resend %d: %v", i, err)
		}
	}
	live := e.latest(u.ID, store.PurposeVerify)
	if live.ConsumedAt != nil {
		t.Fatalf("the newest code %s is consumed", live.ID)
	}
	// Every other code is void: a wrong code for the live one ...
	for _, c := range codes {
		if c.ID == live.ID {
			continue
		}
		_, err := e.s.CheckEmailCode(e.ctx, u.ID, store.PurposeVerify, c.CodeHash, racers, e.now)
		wantErr(t, err, store.ErrCodeMismatch)
	}
	// ... and once the live one is used, none is left.
	_, err := e.s.CheckEmailCode(e.ctx, u.ID, store.PurposeVerify, live.CodeHash, racers, e.now)
	must(t, err)
	for _, c := range codes {
		_, err := e.s.CheckEmailCode(e.ctx, u.ID, store.PurposeVerify, c.CodeHash, racers, e.now)
		wantErr(t, err, store.ErrNotFound)
	}
	if got := e.getUser(u.ID).PasswordHash; got != live.PendingPasswordHash {
		t.Fatalf("password %q, want the live code's %q", got, live.PendingPasswordHash)
	}
}

// testCounterRace: concurrent hits on one counter, the very first ones included, all count.
func testCounterRace(t *testing.T, e *env) {
	key := e.id("mail:ip:")
	counts := make([]int, racers)
	errs := race(racers, func(i int) error {
		c, err := e.racer(i).HitCounter(e.ctx, key, time.Hour, e.now)
		counts[i] = c.Count
		return err
	})
	seen := map[int]bool{}
	for i, err := range errs {
		must(t, err)
		if counts[i] < 1 || counts[i] > racers || seen[counts[i]] {
			t.Fatalf("hit %d returned count %d (seen before: %v)", i, counts[i], seen[counts[i]])
		}
		seen[counts[i]] = true
	}
	c, err := e.s.GetCounter(e.ctx, key, time.Hour, e.now)
	must(t, err)
	if c.Count != racers {
		t.Fatalf("count %d after %d concurrent hits", c.Count, racers)
	}
}

// testDeleteUserRace: "a session or email code created for the user concurrently is either
// deleted too or refused with ErrNotFound, and a refresh token rotated concurrently goes together
// with its successor". Chains of refresh rotations and of session and email code inserts run while
// the user is deleted: each call either committed before the deletion (and what it made is deleted
// with the user) or finds the user or its token gone. The deletion itself succeeds, and nothing of
// the user survives.
func testDeleteUserRace(t *testing.T, e *env) {
	c, u := e.client(), e.user()
	const chains, links, creators = 8, 15, 6
	heads := make([]grant, chains)
	next := make([][]grant, chains) // built here: env is not safe for concurrent use
	for i := range chains {
		heads[i] = e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)
		for range links {
			next[i] = append(next[i], grant{access: e.access(c.ID, u.ID), refresh: e.refresh(c.ID, u.ID)})
		}
	}
	sessions := make([][]*store.Session, creators)
	codes := make([][]*store.EmailCode, creators)
	for i := range creators {
		for range links {
			id := e.id("sess")
			sessions[i] = append(sessions[i], &store.Session{ID: id, TokenHash: "hash-" + id, UserID: u.ID,
				AuthTime: e.now, CreatedAt: e.now, LastSeenAt: e.now, ExpiresAt: e.now.Add(time.Hour)})
			id = e.id("ec")
			codes[i] = append(codes[i], &store.EmailCode{ID: id, UserID: u.ID, Purpose: store.PurposeVerify,
				CodeHash: "hash-" + id, CreatedAt: e.now, ExpiresAt: e.now.Add(time.Hour)})
		}
	}
	errs := race(chains+creators+1, func(i int) error {
		s := e.racer(i)
		switch {
		case i == chains+creators:
			return s.DeleteUser(e.ctx, u.ID)
		case i >= chains:
			k := i - chains
			for j := range links {
				err := s.CreateSession(e.ctx, sessions[k][j])
				if err == nil {
					err = s.CreateEmailCode(e.ctx, codes[k][j])
				}
				if errors.Is(err, store.ErrNotFound) {
					return nil // the user is gone
				}
				if err != nil {
					return fmt.Errorf("creator %d item %d: %w", k, j, err)
				}
			}
			return nil
		}
		hash := heads[i].refresh.Hash
		for j, g := range next[i] {
			at := e.now.Add(time.Duration(j+1) * time.Second)
			err := s.IssueTokens(e.ctx, store.IssueParams{Now: at, RotateRefreshHash: hash, Access: g.access, Refresh: g.refresh})
			if errors.Is(err, store.ErrRefreshReused) {
				return nil // deleted under it
			}
			if err != nil {
				return fmt.Errorf("chain %d link %d: %w", i, j, err)
			}
			hash = g.refresh.Hash
		}
		return nil
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	_, err := e.s.GetUser(e.ctx, u.ID)
	wantErr(t, err, store.ErrNotFound)
	for i := range chains {
		for _, g := range append([]grant{heads[i]}, next[i]...) {
			if _, err := e.s.GetAccessToken(e.ctx, g.access.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("access token %s after the user was deleted: %v, want ErrNotFound", g.access.ID, err)
			}
			if _, err := e.s.GetRefreshToken(e.ctx, g.refresh.Hash); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("refresh token %s after the user was deleted: %v, want ErrNotFound", g.refresh.ID, err)
			}
		}
	}
	for i := range creators {
		for j := range links {
			if _, err := e.s.GetSession(e.ctx, sessions[i][j].ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("session %s after the user was deleted: %v, want ErrNotFound", sessions[i][j].ID, err)
			}
			if _, err := e.s.GetEmailCode(e.ctx, codes[i][j].ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("email code %s after the user was deleted: %v, want ErrNotFound", codes[i][j].ID, err)
			}
		}
	}
}
