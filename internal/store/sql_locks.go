package store

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

var errLockArgs = errors.New("store: WithLock needs a lock name and a function")

// locker takes the named locks of WithLock, one per database.
type locker interface {
	// tryLock takes the lock name without waiting. ok is false when another holder has it; when
	// ok is true, unlock releases it (once).
	tryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)
}

// WithLock holds the lock across fn and releases it by defer, so that a panic in fn does not leave
// it taken (with PostgreSQL: a pool connection holding an advisory lock for ever).
func (s *sqlStore) WithLock(ctx context.Context, name string, fn func(ctx context.Context) error) (bool, error) {
	if name == "" || fn == nil {
		return false, errLockArgs
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	unlock, ok, err := s.locks.tryLock(ctx, name)
	if err != nil || !ok {
		return false, err
	}
	defer unlock()
	return true, fn(ctx)
}

// pgLocker takes PostgreSQL session-level advisory locks. A session lock belongs to a connection,
// so it takes one from the pool for the whole time it holds the lock, and gives it back only after
// pg_advisory_unlock succeeded: a pooled connection still holding the lock would keep it taken
// until that connection closes, and would take it again for whoever borrows the connection next
// (session locks are reentrant). A connection whose lock state is in doubt is closed instead,
// which ends its session and with it every lock it held.
type pgLocker struct{ pool *pgxpool.Pool }

// unlockTimeout bounds pg_advisory_unlock, which runs after fn even when ctx has ended.
const unlockTimeout = 5 * time.Second

func (l pgLocker) tryLock(ctx context.Context, name string) (func(), bool, error) {
	c, err := l.pool.Acquire(ctx)
	if err != nil {
		return nil, false, translate(err)
	}
	// The schema is part of the key, so that two deployments (or two test runs) in separate
	// schemas of one database do not exclude each other. current_schema() is NULL when no schema
	// on search_path exists; the IdP's tables are not there either, but locking still works.
	var schema string
	if err := c.QueryRow(ctx, `SELECT COALESCE(current_schema(), '')`).Scan(&schema); err != nil {
		c.Release()
		return nil, false, translate(err)
	}
	key := advisoryKey(schema, name)
	var ok bool
	if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
		// Cancelled or broken after the server may have granted the lock: close, do not pool.
		closeConn(c)
		return nil, false, translate(err)
	}
	if !ok {
		c.Release()
		return nil, false, nil
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
		defer cancel()
		var released bool
		if err := c.QueryRow(uctx, `SELECT pg_advisory_unlock($1)`, key).Scan(&released); err != nil || !released {
			closeConn(c)
			return
		}
		c.Release()
	}, true, nil
}

// closeConn takes the connection out of the pool and closes it, which ends its session on the
// server and so releases the session's advisory locks.
func closeConn(c *pgxpool.Conn) {
	conn := c.Hijack()
	ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
	defer cancel()
	_ = conn.Close(ctx)
}

// advisoryKey is the 64-bit key of a lock: FNV-1a of the schema and the name. The single-bigint
// form of the advisory lock functions shares its key space with other users of the database, such
// as golang-migrate's lock (a different hash of the database and schema names); 64 bits make a
// collision negligible.
func advisoryKey(schema, name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(schema))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(name))
	return int64(h.Sum64())
}

// processLocks are the locks of every SQLite store in this process, keyed by database file and
// name, so that two stores opened on one file (as the tests do) share them. An entry exists only
// while its lock is held.
var processLocks = struct {
	sync.Mutex
	held map[string]bool
}{held: map[string]bool{}}

// fileLocker takes process-local locks for one SQLite file (its absolute path). One embedded
// database serves one server process, so that is every process that runs housekeeping on it.
type fileLocker struct{ path string }

func (l fileLocker) tryLock(_ context.Context, name string) (func(), bool, error) {
	key := l.path + "\x00" + name
	processLocks.Lock()
	defer processLocks.Unlock()
	if processLocks.held[key] {
		return nil, false, nil
	}
	processLocks.held[key] = true
	return func() {
		processLocks.Lock()
		delete(processLocks.held, key)
		processLocks.Unlock()
	}, true, nil
}
