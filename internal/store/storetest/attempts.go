package storetest

import (
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

// attemptRule is a small sign-in style rule: two free attempts, then a wait of 10 s, from the
// fourth a wait of 20 s, a lock of two hours (longer than the window) after five; a window of one
// hour.
var attemptRule = store.AttemptRule{
	Window:    time.Hour,
	Waits:     []store.AttemptWait{{After: 2, Wait: 10 * time.Second}, {After: 4, Wait: 20 * time.Second}},
	LockAfter: 5,
	Lock:      2 * time.Hour,
}

// testReserveAttempt walks one key through the rule: free attempts, waits, the lock, the restart
// after it, a release and the window running out.
func testReserveAttempt(t *testing.T, e *env) {
	t0 := e.now
	key := e.id("login:acct:")
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	steps := []struct {
		name    string
		at      time.Time
		release bool
		allowed bool
		count   int
		retryAt time.Time // when refused
		locked  bool
	}{
		{name: "first", at: at(0), allowed: true, count: 1},
		{name: "second", at: at(time.Second), allowed: true, count: 2},
		{name: "third must wait 10s", at: at(5 * time.Second), count: 2, retryAt: at(11 * time.Second)},
		{name: "third after the wait", at: at(11 * time.Second), allowed: true, count: 3},
		{name: "fourth after 10s", at: at(21 * time.Second), allowed: true, count: 4},
		{name: "fifth must wait 20s", at: at(30 * time.Second), count: 4, retryAt: at(41 * time.Second)},
		{name: "a release gives one back", at: at(30 * time.Second), release: true, count: 3},
		{name: "with three counted 10s apply", at: at(31 * time.Second), allowed: true, count: 4},
		{name: "fifth locks", at: at(51 * time.Second), allowed: true, count: 5},
		{name: "locked", at: at(4 * time.Minute), count: 5, retryAt: at(51*time.Second + 2*time.Hour), locked: true},
		{name: "still locked when the window ran out", at: at(time.Hour + 4*time.Minute), count: 5, retryAt: at(51*time.Second + 2*time.Hour), locked: true},
		{name: "after the lock the count starts over", at: at(2*time.Hour + time.Minute), allowed: true, count: 1},
		{name: "then counts again", at: at(2*time.Hour + time.Minute), allowed: true, count: 2},
		{name: "the window runs out", at: at(3*time.Hour + 2*time.Minute), allowed: true, count: 1},
	}
	for _, st := range steps {
		if st.release {
			must(t, e.s.ReleaseAttempt(e.ctx, key))
			c, err := e.s.GetCounter(e.ctx, key, time.Hour, st.at)
			must(t, err)
			if c.Count != st.count {
				t.Fatalf("%s: count %d, want %d", st.name, c.Count, st.count)
			}
			continue
		}
		r, err := e.s.ReserveAttempt(e.ctx, key, attemptRule, st.at)
		must(t, err)
		if r.Allowed != st.allowed || r.Count != st.count {
			t.Fatalf("%s: allowed %v count %d, want %v %d", st.name, r.Allowed, r.Count, st.allowed, st.count)
		}
		if r.Key != key {
			t.Fatalf("%s: key %q", st.name, r.Key)
		}
		if !st.allowed {
			sameTime(t, st.name+": retry at", r.RetryAt, st.retryAt)
			if st.locked && !r.Locked {
				t.Fatalf("%s: not reported as locked", st.name)
			}
		} else {
			sameTime(t, st.name+": updated at", r.UpdatedAt, st.at)
		}
	}
	e.run("release of an unknown key", func(t *testing.T, e *env) {
		must(t, e.s.ReleaseAttempt(e.ctx, e.id("nothing:")))
	})
	e.run("a release never goes below zero", func(t *testing.T, e *env) {
		k := e.id("login:ip:")
		_, err := e.s.ReserveAttempt(e.ctx, k, attemptRule, t0)
		must(t, err)
		must(t, e.s.ReleaseAttempt(e.ctx, k))
		must(t, e.s.ReleaseAttempt(e.ctx, k))
		c, err := e.s.GetCounter(e.ctx, k, time.Hour, t0)
		must(t, err)
		if c.Count != 0 {
			t.Fatalf("count %d", c.Count)
		}
	})
	e.run("bad rule", func(t *testing.T, e *env) {
		_, err := e.s.ReserveAttempt(e.ctx, key, store.AttemptRule{}, t0)
		wantSomeErr(t, err)
	})
}

// testReserveAttemptRace: attempts fired together get exactly as many reservations as the rule
// admits at one instant (here two free, the rest wait; with a lock after three, three), however
// many arrive at once. A read-then-count would let them all through.
func testReserveAttemptRace(t *testing.T, e *env) {
	for _, tc := range []struct {
		name string
		rule store.AttemptRule
		want int
	}{
		{"delay", attemptRule, 2},
		{"lock", store.AttemptRule{Window: time.Hour, LockAfter: 3, Lock: time.Hour}, 3},
	} {
		key := e.id("login:acct:")
		allowed := make([]bool, racers)
		errs := race(racers, func(i int) error {
			r, err := e.racer(i).ReserveAttempt(e.ctx, key, tc.rule, e.now)
			allowed[i] = r.Allowed
			return err
		})
		n := 0
		for i, err := range errs {
			must(t, err)
			if allowed[i] {
				n++
			}
		}
		if n != tc.want {
			t.Fatalf("%s: %d of %d concurrent attempts allowed, want %d", tc.name, n, racers, tc.want)
		}
		c, err := e.s.GetCounter(e.ctx, key, time.Hour, e.now)
		must(t, err)
		if c.Count != tc.want {
			t.Fatalf("%s: count %d, want %d", tc.name, c.Count, tc.want)
		}
	}
}
