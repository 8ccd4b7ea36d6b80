package store

import (
	"context"
	"errors"
	"strings"
	"time"
)

var errCounterWindow = errors.New("store: a counter window must be positive")

const counterCols = `key, count, window_start, updated_at`

func scanCounter(sc scanner) (Counter, error) {
	var c Counter
	err := sc.Scan(&c.Key, &c.Count, timeCol{&c.WindowStart}, timeCol{&c.UpdatedAt})
	return c, translate(err)
}

// windowCutoff is the start at or before which a window of length window has run out at now,
// truncated as a stored time is, so that Go and SQL draw the line at the same instant.
func windowCutoff(now time.Time, window time.Duration) time.Time {
	return now.Add(-window).UTC().Truncate(time.Microsecond)
}

// HitCounter is one upsert, atomic on both databases: PostgreSQL resolves a concurrent first hit
// through the primary key (the loser takes the DO UPDATE branch on the committed row), SQLite runs
// writers one at a time. Every SET expression reads the row as it was before the statement, so
// count and window_start restart together. expires_at, which only DeleteExpired reads, never moves
// earlier: a hit keeps the row until its own window has surely ended, even if a caller changed
// the window of a key between calls. The CASEs are spelled out because PostgreSQL's GREATEST and
// SQLite's max differ.
func (s *sqlStore) HitCounter(ctx context.Context, key string, window time.Duration, now time.Time) (Counter, error) {
	if window <= 0 {
		return Counter{}, errCounterWindow
	}
	cutoff := windowCutoff(now, window)
	return scanCounter(s.wr.row(ctx, `INSERT INTO counters (`+counterCols+`, expires_at) VALUES (?, 1, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET
			count = CASE WHEN counters.window_start <= ? THEN 1 ELSE counters.count + 1 END,
			window_start = CASE WHEN counters.window_start <= ? THEN excluded.window_start ELSE counters.window_start END,
			updated_at = excluded.updated_at,
			expires_at = CASE WHEN counters.expires_at > excluded.expires_at THEN counters.expires_at ELSE excluded.expires_at END
		RETURNING `+counterCols, key, now, now, now.Add(window), cutoff, cutoff))
}

func (s *sqlStore) GetCounter(ctx context.Context, key string, window time.Duration, now time.Time) (Counter, error) {
	if window <= 0 {
		return Counter{}, errCounterWindow
	}
	c, err := scanCounter(s.rd.row(ctx, `SELECT `+counterCols+` FROM counters WHERE key = ?`, key))
	if err != nil {
		return Counter{}, err
	}
	if !c.WindowStart.After(windowCutoff(now, window)) {
		c.Count = 0
	}
	return c, nil
}

func (s *sqlStore) ResetCounter(ctx context.Context, key string) error {
	_, err := s.wr.exec(ctx, `DELETE FROM counters WHERE key = ?`, key)
	return err
}

var errAttemptRule = errors.New("store: an attempt rule needs a positive window")

// noLock stands in for "never locked" in the SQL, so that one statement serves every rule.
const noLock = 1 << 30

// retention is how long a row of rule must outlive its latest attempt.
func (r AttemptRule) retention() time.Duration {
	d := max(r.Window, r.Lock)
	for _, w := range r.Waits {
		d = max(d, w.Wait)
	}
	return d
}

func (r AttemptRule) lockAfter() int {
	if r.LockAfter <= 0 {
		return noLock
	}
	return r.LockAfter
}

// retryAt is when the next attempt may go ahead given the stored row c (as the statement decides).
func (r AttemptRule) retryAt(c Counter, now time.Time) (time.Time, bool) {
	if c.Count >= r.lockAfter() {
		return c.UpdatedAt.Add(r.Lock), true
	}
	if !c.WindowStart.After(windowCutoff(now, r.Window)) {
		return now, false
	}
	var wait time.Duration
	for _, w := range r.Waits {
		if c.Count >= w.After {
			wait = w.Wait
		}
	}
	return c.UpdatedAt.Add(wait), false
}

// ReserveAttempt is one upsert whose DO UPDATE carries the rule as its WHERE: PostgreSQL
// serialises concurrent upserts of one key on the row (each sees the row as the previous one left
// it), SQLite runs writers one at a time. The rule's waits become cutoff times computed here, so
// the SQL needs no date arithmetic and reads the same in both dialects: an attempt may go ahead
// when the latest one is at or before now minus the wait that applies.
func (s *sqlStore) ReserveAttempt(ctx context.Context, key string, rule AttemptRule, now time.Time) (Reservation, error) {
	if rule.Window <= 0 {
		return Reservation{}, errAttemptRule
	}
	lockAfter := rule.lockAfter()
	wcut := windowCutoff(now, rule.Window)
	waits := "counters.updated_at <= counters.updated_at" // no waits: always
	var waitArgs []any
	if len(rule.Waits) > 0 {
		var b strings.Builder
		b.WriteString("counters.updated_at <= CASE")
		for i := len(rule.Waits) - 1; i >= 0; i-- {
			b.WriteString(` WHEN counters.count >= ? THEN ?`)
			waitArgs = append(waitArgs, rule.Waits[i].After, windowCutoff(now, rule.Waits[i].Wait))
		}
		b.WriteString(" ELSE counters.updated_at END")
		waits = b.String()
	}
	q := `INSERT INTO counters (` + counterCols + `, expires_at) VALUES (?, 1, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET
			count = CASE WHEN counters.count >= ? OR counters.window_start <= ? THEN 1 ELSE counters.count + 1 END,
			window_start = CASE WHEN counters.count >= ? OR counters.window_start <= ? THEN excluded.window_start ELSE counters.window_start END,
			updated_at = excluded.updated_at,
			expires_at = CASE WHEN counters.expires_at > excluded.expires_at THEN counters.expires_at ELSE excluded.expires_at END
		WHERE (counters.count >= ? AND counters.updated_at <= ?)
			OR (counters.count < ? AND (counters.window_start <= ?
				OR ` + waits + `))
		RETURNING ` + counterCols
	args := []any{key, now, now, now.Add(rule.retention()),
		lockAfter, wcut, lockAfter, wcut,
		lockAfter, windowCutoff(now, rule.Lock), lockAfter, wcut}
	args = append(args, waitArgs...)
	c, err := scanCounter(s.wr.row(ctx, q, args...))
	if err == nil {
		return Reservation{Counter: c, Allowed: true}, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return Reservation{}, err
	}
	// Refused: nothing changed. Read the row to tell when to come back.
	c, err = scanCounter(s.wr.row(ctx, `SELECT `+counterCols+` FROM counters WHERE key = ?`, key))
	if err != nil {
		return Reservation{}, err
	}
	at, locked := rule.retryAt(c, now)
	return Reservation{Counter: c, RetryAt: at, Locked: locked}, nil
}

func (s *sqlStore) ReleaseAttempt(ctx context.Context, key string) error {
	_, err := s.wr.exec(ctx, `UPDATE counters SET count = count - 1 WHERE key = ? AND count > 0`, key)
	return err
}
