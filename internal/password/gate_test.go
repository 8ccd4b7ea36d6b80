package password

import (
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestGate: workers run at once, queue more wait for a slot, the next is refused at once with
// ErrBusy; a queued one that waits too long is refused too. Synchronised on the gate's own
// counters, no sleeps.
func TestGate(t *testing.T) {
	g := NewGate(2, 1, time.Minute)
	var held []func()
	for range 2 {
		release, err := g.Enter()
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, release)
	}
	queued := make(chan error)
	go func() {
		release, err := g.Enter()
		if err == nil {
			release()
		}
		queued <- err
	}()
	for g.waiting.Load() != 1 {
		runtime.Gosched() // until the goroutine is queued
	}
	if _, err := g.Enter(); !errors.Is(err, ErrBusy) {
		t.Fatalf("beyond workers and queue: %v, want ErrBusy", err)
	}
	h := &Hasher{Params: DefaultParams(), Gate: g}
	if _, err := h.Hash("a long enough passphrase"); !errors.Is(err, ErrBusy) {
		t.Errorf("Hash: %v", err)
	}
	if _, _, err := h.Verify("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", "x"); !errors.Is(err, ErrBusy) {
		t.Errorf("Verify: %v", err)
	}
	if err := h.VerifyDummy("x"); !errors.Is(err, ErrBusy) {
		t.Errorf("VerifyDummy: %v", err)
	}
	held[0]()
	if err := <-queued; err != nil {
		t.Fatalf("the queued hash: %v", err)
	}
	held[1]()
	// Nothing held: everything passes, also many at once (they queue up to the bound).
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, err := h.Hash("a long enough passphrase"); err != nil && !errors.Is(err, ErrBusy) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if _, err := h.Hash("a long enough passphrase"); err != nil {
		t.Fatal(err)
	}

	t.Run("a queued hash waits at most maxWait", func(t *testing.T) {
		g := NewGate(1, 1, time.Millisecond)
		release, _ := g.Enter()
		defer release()
		if _, err := g.Enter(); !errors.Is(err, ErrBusy) {
			t.Fatalf("%v, want ErrBusy", err)
		}
	})
	t.Run("nil gate admits everything", func(t *testing.T) {
		var g *Gate
		release, err := g.Enter()
		if err != nil {
			t.Fatal(err)
		}
		release()
	})
}
