package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/exaring/otelpgx"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/golang-migrate/migrate/v4"
	migratedb "github.com/golang-migrate/migrate/v4/database"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	migratesqlite "github.com/golang-migrate/migrate/v4/database/sqlite"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/fintech-idp/idp/migrations"
)

// SQLiteFile is the name of the embedded database inside the data directory.
const SQLiteFile = "idp.db"

var (
	errBadURL      = errors.New("store: DATABASE_URL must start with postgres:// or postgresql://, or be empty for the embedded SQLite database")
	errNoDataDir   = errors.New("store: a data directory is required for the embedded SQLite database")
	errDataDirChar = errors.New("store: the data directory path must not contain '?'")
	errDirection   = errors.New(`store: migration direction must be "up" or "down"`)
	errNothingDown = errors.New("store: no migration is applied, nothing to roll back")
)

type backend int

const (
	backendSQLite backend = iota
	backendPostgres
)

// backendOf picks the database from DATABASE_URL. The URL itself never appears in an error: it
// may carry a password.
func backendOf(databaseURL string) (backend, error) {
	if databaseURL == "" {
		return backendSQLite, nil
	}
	// Case-sensitive, like pgx's own parser, which would otherwise read the URL as key=value.
	if strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://") {
		return backendPostgres, nil
	}
	return 0, errBadURL
}

// Open connects to PostgreSQL when databaseURL is a postgres:// or postgresql:// URL (pgxpool
// settings such as pool_max_conns and run-time parameters such as search_path may be given in
// it), or opens the embedded SQLite database <dataDir>/idp.db when databaseURL is empty, creating
// dataDir (0700) and the file (0600) if missing. Anything else is an error. Open checks that the
// database answers but does not migrate: run Migrate first (`idp migrate up`).
//
// The returned Store also implements Instrumented.
func Open(ctx context.Context, databaseURL, dataDir string) (Store, error) {
	b, err := backendOf(databaseURL)
	if err != nil {
		return nil, err
	}
	if b == backendPostgres {
		return openPostgres(ctx, databaseURL)
	}
	return openSQLite(ctx, dataDir)
}

func openPostgres(ctx context.Context, databaseURL string) (*sqlStore, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL) // pgx redacts the password in its errors
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	// A span per query when tracing is on (the global tracer provider; a no-op otherwise). The SQL
	// text is recorded, never its arguments (otelpgx's default): they hold emails and hashes.
	cfg.ConnConfig.Tracer = otelpgx.NewTracer()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	// database/sql on top of the pool: OpenDBFromPool keeps no idle connections of its own, so
	// pgxpool stays the one pool (and the one to watch in PoolStats).
	db := stdlib.OpenDBFromPool(pool)
	r := runner{d: postgresDialect, x: db}
	return &sqlStore{
		d:  postgresDialect,
		rd: r,
		wr: r,
		closeFn: func() error {
			err := db.Close()
			pool.Close()
			return err
		},
		stats: func() PoolStats {
			p := PoolStats{Dialect: postgresDialect.name}
			sqlStats(&p, db)
			pgxStats(&p, pool)
			return p
		},
		now:   time.Now,
		locks: pgLocker{pool: pool},
	}, nil
}

// sqliteDSN is the modernc.org/sqlite data source for the file at path. Every connection gets a
// busy timeout (another process may hold the write lock) and foreign keys (ON DELETE CASCADE and
// the references are enforced only with them). The writer also turns on WAL (persistent in the
// file; readers then never block the writer nor it them), synchronous=FULL (a committed rotation
// or revocation survives a power cut) and BEGIN IMMEDIATE for every transaction (it takes the
// write lock up front, so two read-modify-write transactions queue instead of one failing with
// SQLITE_BUSY half-way). Readers are query_only, so a write sent to them fails loudly.
func sqliteDSN(path string, writer bool) string {
	v := url.Values{}
	v.Set("_busy_timeout", "10000")
	v.Set("_foreign_keys", "1")
	if writer {
		v.Set("_journal_mode", "WAL")
		v.Set("_synchronous", "FULL")
		v.Set("_txlock", "immediate")
	} else {
		v.Set("_query_only", "1")
	}
	return path + "?" + v.Encode()
}

// prepareSQLiteFile creates the data directory (0700) and the database file (0600) when missing,
// so that SQLite's own files (-wal, -shm), which copy the database file's mode, are private too.
func prepareSQLiteFile(dataDir string) (string, error) {
	if dataDir == "" {
		return "", errNoDataDir
	}
	if strings.Contains(dataDir, "?") {
		return "", errDataDirChar // the driver would take the rest for parameters
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("store: create data directory: %w", err)
	}
	path := filepath.Join(dataDir, SQLiteFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("store: open database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("store: open database file: %w", err)
	}
	return path, nil
}

// openSQLiteWriter opens the single-connection handle that writes.
func openSQLiteWriter(ctx context.Context, path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	return db, nil
}

func openSQLite(ctx context.Context, dataDir string) (*sqlStore, error) {
	path, err := prepareSQLiteFile(dataDir)
	if err != nil {
		return nil, err
	}
	// WithLock's locks are per file: two stores on one file (one given a relative path) share them.
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: data directory: %w", err)
	}
	// The writer connects first: it switches a new file to WAL before any reader opens it.
	w, err := openSQLiteWriter(ctx, path)
	if err != nil {
		return nil, err
	}
	r, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	n := max(4, runtime.NumCPU())
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	return &sqlStore{
		d:  sqliteDialect,
		rd: runner{d: sqliteDialect, x: r},
		wr: runner{d: sqliteDialect, x: w},
		closeFn: func() error {
			return errors.Join(r.Close(), w.Close())
		},
		stats: func() PoolStats {
			p := PoolStats{Dialect: sqliteDialect.name}
			sqlStats(&p, r, w)
			return p
		},
		now:   time.Now,
		locks: fileLocker{path: abs},
	}, nil
}

// Migrate applies the embedded migrations of the database Open would pick: direction "up" applies
// every pending one (nothing pending is not an error), "down" rolls back the latest one. Two
// processes migrating one PostgreSQL database at once are safe: golang-migrate holds an advisory
// lock (per database, schema and migrations table) while it works. Cancelling ctx stops after the
// migration that is running.
func Migrate(ctx context.Context, databaseURL, dataDir, direction string) error {
	if direction != "up" && direction != "down" {
		return errDirection
	}
	m, err := newMigrate(ctx, databaseURL, dataDir)
	if err != nil {
		return err
	}
	defer closeMigrate(m)

	// golang-migrate takes no context; GracefulStop makes it stop between migrations.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			m.GracefulStop <- true
		case <-stop:
		}
	}()

	if direction == "up" {
		err = m.Up()
	} else {
		err = m.Steps(-1)
	}
	switch {
	case errors.Is(err, migrate.ErrNoChange):
		err = nil
	case direction == "down" && errors.Is(err, fs.ErrNotExist):
		return errNothingDown
	}
	if err != nil {
		return fmt.Errorf("store: migrate %s: %w", direction, err)
	}
	return ctx.Err()
}

// MigrationVersion reports the schema version of the database Open would pick: 0 (and no error)
// when no migration was ever applied; dirty when a migration failed half-way and needs an
// operator.
func MigrationVersion(ctx context.Context, databaseURL, dataDir string) (version uint, dirty bool, err error) {
	m, err := newMigrate(ctx, databaseURL, dataDir)
	if err != nil {
		return 0, false, err
	}
	defer closeMigrate(m)
	version, dirty, err = m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: migration version: %w", err)
	}
	return version, dirty, nil
}

// newMigrate opens a connection of its own (golang-migrate closes it) and the embedded files of
// the matching dialect.
func newMigrate(ctx context.Context, databaseURL, dataDir string) (*migrate.Migrate, error) {
	b, err := backendOf(databaseURL)
	if err != nil {
		return nil, err
	}
	var (
		files   fs.FS
		dir     string
		name    string
		driver  migratedb.Driver
		derr    error
		closeDB func() error
	)
	switch b {
	case backendPostgres:
		cfg, err := pgx.ParseConfig(databaseURL)
		if err != nil {
			return nil, fmt.Errorf("store: postgres: %w", err)
		}
		db := stdlib.OpenDB(*cfg)
		if err := db.PingContext(ctx); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("store: postgres: %w", err)
		}
		closeDB = db.Close
		driver, derr = migratepgx.WithInstance(db, &migratepgx.Config{})
		files, dir, name = migrations.Postgres, "postgres", "pgx5"
	default:
		path, err := prepareSQLiteFile(dataDir)
		if err != nil {
			return nil, err
		}
		db, err := openSQLiteWriter(ctx, path)
		if err != nil {
			return nil, err
		}
		closeDB = db.Close
		driver, derr = migratesqlite.WithInstance(db, &migratesqlite.Config{})
		files, dir, name = migrations.SQLite, "sqlite", "sqlite"
	}
	if derr != nil {
		_ = closeDB()
		return nil, fmt.Errorf("store: migrate: %w", derr)
	}
	src, err := iofs.New(files, dir)
	if err != nil {
		_ = driver.Close()
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, name, driver)
	if err != nil {
		_ = src.Close()
		_ = driver.Close()
		return nil, fmt.Errorf("store: migrate: %w", err)
	}
	// Another process may hold the lock while it migrates; wait for it rather than the default
	// 15 s.
	m.LockTimeout = time.Minute
	return m, nil
}

func closeMigrate(m *migrate.Migrate) {
	_, _ = m.Close() // read-only source and a connection opened for this run only
}
