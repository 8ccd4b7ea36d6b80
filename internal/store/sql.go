package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqlStore is the one implementation of Store, over database/sql, for PostgreSQL and SQLite alike:
// every query is written once, with ? placeholders, and the dialect covers what differs (the
// placeholder syntax, how a time travels, how often a transaction is retried). Keeping a single copy
// is what keeps the two databases behaving the same; storetest proves that they do.
type sqlStore struct {
	d *dialect
	// rd runs single reads. For SQLite it is a pool of query_only connections, so that readers
	// never wait for the writer (WAL).
	rd runner
	// wr runs writes and every transaction. For SQLite it is a pool of exactly one connection:
	// SQLite allows one writer at a time, and queueing in database/sql is cheaper and fairer than
	// SQLITE_BUSY retries. For PostgreSQL rd and wr share one *sql.DB.
	wr runner

	closeFn func() error
	stats   func() PoolStats
	// now is the clock for the two methods whose contract has no now parameter (SaveAuthCode's
	// expiry check, AppendAudit's default At).
	now func() time.Time
	// locks takes the named locks of WithLock (sql_locks.go).
	locks locker
}

var _ Store = (*sqlStore)(nil)
var _ Instrumented = (*sqlStore)(nil)

// dialect is what PostgreSQL and SQLite do differently.
type dialect struct {
	name string
	// dollarArgs: PostgreSQL numbers its placeholders ($1, $2, ...); queries are written with ?.
	dollarArgs bool
	// unixMicroTimes: SQLite has no time type; times travel as INTEGER microseconds since 1970 UTC,
	// which compare correctly in SQL and keep PostgreSQL's precision.
	unixMicroTimes bool
	// attempts is how often withTx runs a transaction that the server aborted to resolve a
	// deadlock or a serialization conflict (PostgreSQL 40P01/40001). SQLite serialises writers,
	// so it never needs a second attempt.
	attempts int
	// syncAuditID, when set, runs after an audit event was inserted with an explicit id (the only
	// parameter) so that later generated ids do not collide with it. SQLite's AUTOINCREMENT does
	// this by itself.
	syncAuditID string
	// lockRow ends a SELECT that locks the row it reads until the transaction ends, so that
	// transactions touching the same user queue in one order (see lockUser). PostgreSQL takes FOR
	// NO KEY UPDATE, which does not block inserts that merely reference the row; SQLite needs
	// nothing, its write transactions already run one at a time (BEGIN IMMEDIATE).
	lockRow string
	// lockRowForDelete ends a SELECT that locks the row it reads against every other lock,
	// including the key-share lock an INSERT takes on the row its foreign key references
	// (PostgreSQL FOR UPDATE), so that rows referring to it cannot be added until the transaction
	// ends (see DeleteUser). SQLite needs nothing, for the same reason as lockRow.
	lockRowForDelete string
	// auditRetention, when set, runs in DeleteAuditBefore's transaction before its DELETE: the
	// append-only trigger of PostgreSQL (migration 000007) refuses a DELETE of audit events
	// unless it sees this transaction-local setting. SQLite's trigger refuses UPDATE only.
	auditRetention string
}

var (
	postgresDialect = &dialect{
		name:             "postgres",
		dollarArgs:       true,
		attempts:         5,
		syncAuditID:      `SELECT setval(pg_get_serial_sequence('audit_events', 'id'), GREATEST(nextval(pg_get_serial_sequence('audit_events', 'id')), ?))`,
		lockRow:          ` FOR NO KEY UPDATE`,
		lockRowForDelete: ` FOR UPDATE`,
		auditRetention:   `SELECT set_config('idp.audit_retention', 'on', true)`,
	}
	sqliteDialect = &dialect{
		name:           "sqlite",
		unixMicroTimes: true,
		attempts:       1,
	}
)

// rebind turns ? placeholders into $n for PostgreSQL. The queries of this package never hold a
// literal ? (no jsonb ? operator, no ? in string constants), so a plain scan is exact.
func (d *dialect) rebind(query string) string {
	if !d.dollarArgs {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// arg converts one Go value to what the column holds. Doing it here, for every argument of every
// query, means no method can forget to encode a time or a list.
//
//   - time.Time is truncated to microseconds (PostgreSQL's precision) in UTC, and sent as
//     microseconds since 1970 to SQLite; *time.Time is NULL when nil.
//   - []string becomes a JSON array ("[]" for nil and empty alike); map[string]string a JSON
//     object ("{}" for nil and empty).
//   - *int64 is NULL when nil.
func (d *dialect) arg(v any) any {
	switch v := v.(type) {
	case time.Time:
		v = v.UTC().Truncate(time.Microsecond)
		if d.unixMicroTimes {
			return v.UnixMicro()
		}
		return v
	case *time.Time:
		if v == nil {
			return nil
		}
		return d.arg(*v)
	case []string:
		if len(v) == 0 {
			return "[]"
		}
		b, _ := json.Marshal(v) // a []string always marshals
		return string(b)
	case map[string]string:
		if len(v) == 0 {
			return "{}"
		}
		b, _ := json.Marshal(v)
		return string(b)
	case *int64:
		if v == nil {
			return nil
		}
		return *v
	}
	return v
}

// optString stores an empty string as NULL: optional references (session_id, family_id, ...) must
// not match one another by all being the empty string.
func optString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// optTime stores a zero time as NULL (auth_time before a sign-in, or for client_credentials).
func optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// execer is what *sql.DB and *sql.Tx have in common.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// runner runs queries written with ? placeholders, on a database or inside a transaction, and
// translates driver errors on the way out.
type runner struct {
	d *dialect
	x execer
}

func (r runner) args(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = r.d.arg(a)
	}
	return out
}

// exec runs a statement and returns how many rows it affected.
func (r runner) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := r.x.ExecContext(ctx, r.d.rebind(query), r.args(args)...)
	if err != nil {
		return 0, translate(err)
	}
	n, err := res.RowsAffected()
	return n, translate(err)
}

// row runs a query for at most one row; its Scan errors still need translate.
func (r runner) row(ctx context.Context, query string, args ...any) *sql.Row {
	return r.x.QueryRowContext(ctx, r.d.rebind(query), r.args(args)...)
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface{ Scan(dest ...any) error }

// list runs a query and scans every row with scan.
func list[T any](ctx context.Context, r runner, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := r.x.QueryContext(ctx, r.d.rebind(query), r.args(args)...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, translate(rows.Err())
}

// committed marks an error that must reach the caller only after the transaction committed: a
// replayed code or a reused refresh token revokes tokens, and that revocation has to outlive the
// failed call (RFC 6749 §4.1.2, RFC 9700 §4.14.2).
type committed struct{ err error }

func (c *committed) Error() string { return c.err.Error() }

// afterCommit wraps err so that withTx commits before returning it.
func afterCommit(err error) error { return &committed{err: err} }

// withTx runs fn in one transaction on the writer: every read-modify-write of this package goes
// through it. fn returning nil commits; an error rolls back, unless it came from afterCommit. A
// transaction PostgreSQL aborted to break a deadlock or a serialization conflict is run again
// (fn must therefore not keep state between runs). For SQLite the writer opens transactions with
// BEGIN IMMEDIATE, so a write transaction holds the write lock from its first statement and
// concurrent ones queue instead of failing half-way.
func (s *sqlStore) withTx(ctx context.Context, fn func(tx runner) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tryTx(ctx, fn)
		if err == nil || attempt >= s.d.attempts || !retryable(err) {
			return err
		}
		// A short, jittered pause lets the transaction that won go first.
		pause := time.Duration(attempt)*5*time.Millisecond + rand.N(5*time.Millisecond)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

func (s *sqlStore) tryTx(ctx context.Context, fn func(tx runner) error) (err error) {
	db := s.wr.x.(*sql.DB)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	// A panic must not leave the transaction open: with SQLite's single writer connection that
	// would stop every later write.
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	ferr := fn(runner{d: s.d, x: tx})
	var keep *committed
	if ferr != nil && !errors.As(ferr, &keep) {
		_ = tx.Rollback()
		return ferr
	}
	if err := tx.Commit(); err != nil {
		return translate(err)
	}
	if keep != nil {
		return keep.err
	}
	return nil
}

// translate turns driver errors into this package's sentinels at the edge: no rows → ErrNotFound,
// unique violation → ErrConflict, foreign-key violation (a row referring to an unknown or just
// deleted client or user) → ErrNotFound. Other errors are wrapped with a fixed prefix.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return ErrConflict
		case "23503": // foreign_key_violation
			return ErrNotFound
		}
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return ErrConflict
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return ErrNotFound
		}
	}
	return fmt.Errorf("store: database error: %w", err)
}

// retryable reports a PostgreSQL deadlock (40P01) or serialization failure (40001).
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// Scan targets for the column encodings of dialect.arg. They accept what either driver returns.

// timeCol scans a time column: time.Time from PostgreSQL, int64 microseconds from SQLite; NULL is
// the zero time. The result is always UTC.
type timeCol struct{ p *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.p = time.Time{}
	case time.Time:
		*c.p = v.UTC()
	case int64:
		*c.p = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("store: cannot scan %T into a time", src)
	}
	return nil
}

// timePtrCol scans a nullable time column into a *time.Time (nil for NULL).
type timePtrCol struct{ p **time.Time }

func (c timePtrCol) Scan(src any) error {
	if src == nil {
		*c.p = nil
		return nil
	}
	var t time.Time
	if err := (timeCol{&t}).Scan(src); err != nil {
		return err
	}
	*c.p = &t
	return nil
}

// stringCol scans a nullable text column; NULL is "".
type stringCol struct{ p *string }

func (c stringCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.p = ""
	case string:
		*c.p = v
	case []byte:
		*c.p = string(v)
	default:
		return fmt.Errorf("store: cannot scan %T into a string", src)
	}
	return nil
}

// jsonBytes returns the text of a JSON column (jsonb arrives as string or []byte, SQLite TEXT as
// string); nil for NULL.
func jsonBytes(src any) ([]byte, error) {
	switch v := src.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(v), nil
	case []byte:
		return v, nil
	}
	return nil, fmt.Errorf("store: cannot scan %T as JSON", src)
}

// listCol scans a JSON array into a []string. An empty list comes back nil, whatever was stored.
type listCol struct{ p *[]string }

func (c listCol) Scan(src any) error {
	b, err := jsonBytes(src)
	if err != nil {
		return err
	}
	var v []string
	if len(b) > 0 {
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("store: bad JSON list: %w", err)
		}
	}
	if len(v) == 0 {
		v = nil
	}
	*c.p = v
	return nil
}

// mapCol scans a JSON object into a map[string]string. An empty map comes back nil.
type mapCol struct{ p *map[string]string }

func (c mapCol) Scan(src any) error {
	b, err := jsonBytes(src)
	if err != nil {
		return err
	}
	var v map[string]string
	if len(b) > 0 {
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("store: bad JSON object: %w", err)
		}
	}
	if len(v) == 0 {
		v = nil
	}
	*c.p = v
	return nil
}

// PoolStats is a snapshot of the store's connection pools for metrics. It carries plain numbers
// so that no driver type leaves this package.
type PoolStats struct {
	Dialect string // "postgres" or "sqlite"

	// database/sql's view, summed over the store's handles. With PostgreSQL, database/sql keeps
	// no idle connections of its own (pgxpool does the pooling), so Idle is 0 there.
	OpenConnections int
	InUse           int
	Idle            int
	WaitCount       int64
	WaitDuration    time.Duration

	// pgxpool's view; zero for SQLite.
	MaxConns             int32
	TotalConns           int32
	AcquiredConns        int32
	IdleConns            int32
	AcquireCount         int64
	AcquireDuration      time.Duration
	EmptyAcquireCount    int64
	CanceledAcquireCount int64
}

// Instrumented is implemented by every Store that Open returns; /metrics reads it with a type
// assertion (st.(store.Instrumented)) so that the Store interface stays about data.
type Instrumented interface {
	// Dialect is "postgres" or "sqlite".
	Dialect() string
	// PoolStats reports the connection pools.
	PoolStats() PoolStats
}

func (s *sqlStore) Dialect() string      { return s.d.name }
func (s *sqlStore) PoolStats() PoolStats { return s.stats() }

// sqlStats adds database/sql's figures of dbs (a handle listed twice counts once) to p.
func sqlStats(p *PoolStats, dbs ...*sql.DB) {
	seen := map[*sql.DB]bool{}
	for _, db := range dbs {
		if seen[db] {
			continue
		}
		seen[db] = true
		st := db.Stats()
		p.OpenConnections += st.OpenConnections
		p.InUse += st.InUse
		p.Idle += st.Idle
		p.WaitCount += st.WaitCount
		p.WaitDuration += st.WaitDuration
	}
}

// pgxStats adds pgxpool's figures to p.
func pgxStats(p *PoolStats, pool *pgxpool.Pool) {
	st := pool.Stat()
	p.MaxConns = st.MaxConns()
	p.TotalConns = st.TotalConns()
	p.AcquiredConns = st.AcquiredConns()
	p.IdleConns = st.IdleConns()
	p.AcquireCount = st.AcquireCount()
	p.AcquireDuration = st.AcquireDuration()
	p.EmptyAcquireCount = st.EmptyAcquireCount()
	p.CanceledAcquireCount = st.CanceledAcquireCount()
}

func (s *sqlStore) Ping(ctx context.Context) error {
	if err := s.rd.x.(*sql.DB).PingContext(ctx); err != nil {
		return translate(err)
	}
	if s.wr.x != s.rd.x {
		return translate(s.wr.x.(*sql.DB).PingContext(ctx))
	}
	return nil
}

func (s *sqlStore) Close() error { return s.closeFn() }
