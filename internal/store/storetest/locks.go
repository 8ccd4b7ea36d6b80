package storetest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// notWaiting bounds how long WithLock may take to report a lock held elsewhere: it must not wait
// for the holder, which in these tests holds it until told to stop.
const notWaiting = 5 * time.Second

func noop(context.Context) error { return nil }

// testWithLock: "runs fn while holding the named lock ... or returns (false, nil) at once without
// running fn when another process holds it". With a peer (RunShared) the two sides are two stores
// on one database, as two replicas; without, two calls on one store.
func testWithLock(t *testing.T, e *env) {
	a, b := e.racer(0), e.racer(1)
	name := e.id("lock")

	e.run("runs fn with ctx and returns its error", func(t *testing.T, e *env) {
		type key struct{}
		ctx := context.WithValue(e.ctx, key{}, "v")
		var got any
		ran, err := a.WithLock(ctx, name, func(ctx context.Context) error { got = ctx.Value(key{}); return nil })
		if !ran || err != nil || got != "v" {
			t.Fatalf("ran %v, err %v, fn saw ctx value %v", ran, err, got)
		}
		boom := errors.New("boom")
		ran, err = a.WithLock(e.ctx, name, func(context.Context) error { return boom })
		if !ran || !errors.Is(err, boom) {
			t.Fatalf("ran %v, err %v, want fn's error", ran, err)
		}
		// An error releases the lock like success does.
		if ran, err := b.WithLock(e.ctx, name, noop); !ran || err != nil {
			t.Fatalf("after fn failed: ran %v, err %v", ran, err)
		}
	})
	e.run("a held lock is not waited for, and is free after", func(t *testing.T, e *env) {
		entered, release := make(chan struct{}), make(chan struct{})
		type result struct {
			ran bool
			err error
		}
		held := make(chan result, 1)
		go func() {
			ran, err := a.WithLock(e.ctx, name, func(context.Context) error {
				close(entered)
				<-release
				return nil
			})
			held <- result{ran, err}
		}()
		<-entered
		start := time.Now()
		ran, err := b.WithLock(e.ctx, name, func(context.Context) error {
			t.Error("fn ran while another caller held the lock")
			return nil
		})
		if ran || err != nil {
			t.Errorf("while held: ran %v, err %v, want false, nil", ran, err)
		}
		if d := time.Since(start); d > notWaiting {
			t.Errorf("WithLock waited %v for a held lock", d)
		}
		// Another name is another lock.
		if ran, err := b.WithLock(e.ctx, name+"-other", noop); !ran || err != nil {
			t.Errorf("another name while held: ran %v, err %v", ran, err)
		}
		close(release)
		if r := <-held; !r.ran || r.err != nil {
			t.Fatalf("holder: ran %v, err %v", r.ran, r.err)
		}
		if ran, err := b.WithLock(e.ctx, name, noop); !ran || err != nil {
			t.Fatalf("after release: ran %v, err %v, want the next caller to run", ran, err)
		}
	})
	e.run("exactly one of many concurrent callers runs", func(t *testing.T, e *env) {
		const n = 10
		var runs, skipped atomic.Int32
		ran := make([]bool, n)
		errs := race(n, func(i int) error {
			var err error
			ran[i], err = e.racer(i).WithLock(e.ctx, name, func(context.Context) error {
				runs.Add(1)
				// Hold the lock until every other caller has given up (or a second runner,
				// a failure, has waited long enough).
				deadline := time.Now().Add(notWaiting)
				for skipped.Load() < n-1 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				return nil
			})
			if !ran[i] {
				skipped.Add(1)
			}
			return err
		})
		for _, err := range errs {
			must(t, err)
		}
		if runs.Load() != 1 || skipped.Load() != n-1 {
			t.Fatalf("%d callers ran and %d were turned away, want 1 and %d", runs.Load(), skipped.Load(), n-1)
		}
		if ran, err := b.WithLock(e.ctx, name, noop); !ran || err != nil {
			t.Fatalf("afterwards: ran %v, err %v", ran, err)
		}
	})
	e.run("not reentrant", func(t *testing.T, e *env) {
		var innerRan bool
		var innerErr error
		ran, err := a.WithLock(e.ctx, name, func(ctx context.Context) error {
			innerRan, innerErr = a.WithLock(ctx, name, noop)
			return nil
		})
		if !ran || err != nil || innerRan || innerErr != nil {
			t.Fatalf("outer ran %v err %v; inner ran %v err %v, want true nil; false nil", ran, err, innerRan, innerErr)
		}
	})
	e.run("released after fn panics", func(t *testing.T, e *env) {
		func() {
			defer func() {
				if p := recover(); p != "boom" {
					t.Errorf("recovered %v, want the panic to reach the caller", p)
				}
			}()
			_, _ = a.WithLock(e.ctx, name, func(context.Context) error { panic("boom") })
		}()
		if ran, err := b.WithLock(e.ctx, name, noop); !ran || err != nil {
			t.Fatalf("after a panic: ran %v, err %v", ran, err)
		}
	})
	e.run("released when ctx ends while fn runs", func(t *testing.T, e *env) {
		ctx, cancel := context.WithCancel(e.ctx)
		ran, err := a.WithLock(ctx, name, func(ctx context.Context) error {
			cancel()
			<-ctx.Done()
			return ctx.Err()
		})
		if !ran || !errors.Is(err, context.Canceled) {
			t.Fatalf("ran %v, err %v, want true and fn's context.Canceled", ran, err)
		}
		if ran, err := b.WithLock(e.ctx, name, noop); !ran || err != nil {
			t.Fatalf("after cancellation: ran %v, err %v", ran, err)
		}
	})
	e.run("a ctx that has ended runs nothing", func(t *testing.T, e *env) {
		ctx, cancel := context.WithCancel(e.ctx)
		cancel()
		ran, err := a.WithLock(ctx, name, func(context.Context) error {
			t.Error("fn ran with an ended ctx")
			return nil
		})
		if ran || !errors.Is(err, context.Canceled) {
			t.Fatalf("ran %v, err %v, want false, context.Canceled", ran, err)
		}
		if ran, err := b.WithLock(e.ctx, name, noop); !ran || err != nil {
			t.Fatalf("afterwards: ran %v, err %v", ran, err)
		}
	})
	e.run("a name and fn are required", func(t *testing.T, e *env) {
		ran, err := a.WithLock(e.ctx, "", noop)
		if ran {
			t.Fatal("ran without a name")
		}
		wantSomeErr(t, err)
		ran, err = a.WithLock(e.ctx, name, nil)
		if ran {
			t.Fatal("ran without fn")
		}
		wantSomeErr(t, err)
	})
}
