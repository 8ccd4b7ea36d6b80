package password

import (
	"errors"
	"runtime"
	"sync/atomic"
	"time"
)

// ErrBusy is returned by Hash, Verify and VerifyDummy when the Hasher's Gate is full: the caller
// answers 503 with Retry-After instead of queueing more memory-hard work.
var ErrBusy = errors.New("password: too many hashes at once")

// Gate bounds how many hashes run at once. argon2id takes its memory (19 MiB with the default
// parameters) for the whole computation, so a login storm without a bound grows the process by
// 19 MiB per request in flight; with it, memory stays at about Workers × that, and a short queue
// in front smooths bursts. Beyond the queue, or after waiting MaxWait, a hash is refused with
// ErrBusy. A nil *Gate admits everything.
type Gate struct {
	slots   chan struct{}
	queue   int64
	waiting atomic.Int64
	maxWait time.Duration
}

// Defaults of NewServerGate: the queue holds QueuePerCore waiting hashes per core (a waiting
// hash holds no argon2id memory, only its request), each waiting at most QueueWait.
const (
	QueuePerCore = 16
	QueueWait    = 5 * time.Second
)

// NewServerGate is the gate the server installs: one hash at a time per core
// (runtime.GOMAXPROCS), QueuePerCore per core waiting in front.
func NewServerGate() *Gate {
	n := runtime.GOMAXPROCS(0)
	return NewGate(n, QueuePerCore*n, QueueWait)
}

// NewGate admits workers hashes at once and queue more waiting (at most maxWait each).
func NewGate(workers, queue int, maxWait time.Duration) *Gate {
	return &Gate{slots: make(chan struct{}, max(workers, 1)), queue: int64(max(queue, 0)), maxWait: maxWait}
}

// Enter takes a slot, waiting in the queue if there is room, and returns the function that gives
// it back; ErrBusy when the queue is full or the wait ran out. Hash, Verify and VerifyDummy call
// it; other memory-hard work may share the bound through it.
func (g *Gate) Enter() (release func(), err error) {
	if g == nil {
		return func() {}, nil
	}
	select {
	case g.slots <- struct{}{}:
		return g.leave, nil
	default:
	}
	if g.waiting.Add(1) > g.queue {
		g.waiting.Add(-1)
		return nil, ErrBusy
	}
	defer g.waiting.Add(-1)
	t := time.NewTimer(g.maxWait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return g.leave, nil
	case <-t.C:
		return nil, ErrBusy
	}
}

func (g *Gate) leave() { <-g.slots }
