package storetest

import (
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

// testCounters walks one counter through a fixed window: hits, the boundary, a restart, a reset.
func testCounters(t *testing.T, e *env) {
	const window = time.Minute
	t0 := e.now
	key, other := e.id("login:account:"), e.id("login:ip:")
	type op int
	const (
		hit op = iota
		get
		reset
	)
	steps := []struct {
		name  string
		op    op
		key   string
		at    time.Time
		want  store.Counter // Key filled in from key
		error error
	}{
		{"never hit", get, key, t0, store.Counter{}, store.ErrNotFound},
		{"first hit opens the window", hit, key, t0, store.Counter{Count: 1, WindowStart: t0, UpdatedAt: t0}, nil},
		{"second hit", hit, key, t0.Add(10 * time.Second), store.Counter{Count: 2, WindowStart: t0, UpdatedAt: t0.Add(10 * time.Second)}, nil},
		{"get inside the window", get, key, t0.Add(30 * time.Second), store.Counter{Count: 2, WindowStart: t0, UpdatedAt: t0.Add(10 * time.Second)}, nil},
		{"another key is separate", hit, other, t0.Add(30 * time.Second), store.Counter{Count: 1, WindowStart: t0.Add(30 * time.Second), UpdatedAt: t0.Add(30 * time.Second)}, nil},
		{"hit just before the window ends", hit, key, t0.Add(window - time.Millisecond), store.Counter{Count: 3, WindowStart: t0, UpdatedAt: t0.Add(window - time.Millisecond)}, nil},
		{"get when the window has run out", get, key, t0.Add(window), store.Counter{Count: 0, WindowStart: t0, UpdatedAt: t0.Add(window - time.Millisecond)}, nil},
		{"hit when the window has run out restarts it", hit, key, t0.Add(window), store.Counter{Count: 1, WindowStart: t0.Add(window), UpdatedAt: t0.Add(window)}, nil},
		{"hit in the new window", hit, key, t0.Add(window + time.Second), store.Counter{Count: 2, WindowStart: t0.Add(window), UpdatedAt: t0.Add(window + time.Second)}, nil},
		{"hit long after restarts it", hit, key, t0.Add(10 * window), store.Counter{Count: 1, WindowStart: t0.Add(10 * window), UpdatedAt: t0.Add(10 * window)}, nil},
		{"hit again", hit, key, t0.Add(10 * window), store.Counter{Count: 2, WindowStart: t0.Add(10 * window), UpdatedAt: t0.Add(10 * window)}, nil},
		{"reset", reset, key, time.Time{}, store.Counter{}, nil},
		{"gone after reset", get, key, t0.Add(10 * window), store.Counter{}, store.ErrNotFound},
		{"the other key stays", get, other, t0.Add(45 * time.Second), store.Counter{Count: 1, WindowStart: t0.Add(30 * time.Second), UpdatedAt: t0.Add(30 * time.Second)}, nil},
		{"a hit after reset starts over", hit, key, t0.Add(10*window + time.Second), store.Counter{Count: 1, WindowStart: t0.Add(10*window + time.Second), UpdatedAt: t0.Add(10*window + time.Second)}, nil},
		{"reset of an unknown key", reset, "no-such-key", time.Time{}, store.Counter{}, nil},
	}
	for _, st := range steps {
		var (
			got store.Counter
			err error
		)
		switch st.op {
		case hit:
			got, err = e.s.HitCounter(e.ctx, st.key, window, st.at)
		case get:
			got, err = e.s.GetCounter(e.ctx, st.key, window, st.at)
		case reset:
			err = e.s.ResetCounter(e.ctx, st.key)
		}
		if st.error != nil {
			if err == nil {
				t.Fatalf("%s: got %+v, want %v", st.name, got, st.error)
			}
			wantErr(t, err, st.error)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if st.op == reset {
			continue
		}
		want := st.want
		want.Key = st.key
		wantUTC(t, st.name, &got)
		same(t, st.name, got, want)
	}
	e.run("bad window", func(t *testing.T, e *env) {
		for _, w := range []time.Duration{0, -time.Minute} {
			_, err := e.s.HitCounter(e.ctx, key, w, t0)
			wantSomeErr(t, err)
			_, err = e.s.GetCounter(e.ctx, key, w, t0)
			wantSomeErr(t, err)
		}
	})
}
