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
// SQLITE_BUSY, no spurious conflicts). The mix includes transactions that read before they write
// (SaveAuthCode, RevokeSession): with SQLite those fail at once with SQLITE_BUSY when another
// connection wrote in between, unless they take the write lock up front.
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
	)
	for i := range n {
		codes[i] = e.code(c.ID, u.ID, "")
		grants[i] = grant{access: e.access(c.ID, u.ID), refresh: e.refresh(c.ID, u.ID)}
		families[i] = e.redeem(e.code(c.ID, u.ID, ""), c.ID, u.ID, true)
		rotations[i] = grant{access: e.access(c.ID, u.ID), refresh: e.refresh(c.ID, u.ID)}
		pending[i] = e.authRequest(c.ID)
		e.complete(pending[i], u.ID, "")
		sessions[i] = e.session(u.ID)
	}
	const kinds = 5
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
	live, err := e.s.ListSessions(e.ctx, u.ID, e.now)
	must(t, err)
	if len(live) != 0 {
		t.Fatalf("%d sessions still live", len(live))
	}
}
