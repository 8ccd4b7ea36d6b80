package store

import (
	"context"
	"errors"
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

// ReleaseHit is one conditional UPDATE, so that concurrent releases each take back one hit and
// the count never goes below zero. A window that has run out is left alone: the next hit
// restarts it anyway.
func (s *sqlStore) ReleaseHit(ctx context.Context, key string, window time.Duration, now time.Time) error {
	if window <= 0 {
		return errCounterWindow
	}
	_, err := s.wr.exec(ctx, `UPDATE counters SET count = count - 1 WHERE key = ? AND count > 0 AND window_start > ?`,
		key, windowCutoff(now, window))
	return err
}
