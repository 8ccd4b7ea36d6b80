package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fintech-idp/idp/migrations"
)

// Backups. Both kinds hold password hashes, client secret hashes and the signing keys (sealed with
// a key derived from SECRET_KEY, which is not in the backup): the files are created 0600, and
// keeping them safe is the operator's job.

var (
	errBackupOut   = errors.New("store: backup: an output file is required")
	errBackupChar  = errors.New("store: backup: the output file name must not contain '?'")
	errNotOurDB    = errors.New("no schema_migrations table: not an IdP database")
	errDirtyDB     = errors.New("its last migration failed half-way (dirty): not a usable backup")
	errRestoreOver = errors.New("store: restore: a database already exists in the data directory; restoring over it needs force")
)

// BackupSQLite writes a consistent online copy of the SQLite database under dataDir to out, a file
// that must not exist yet (it is created 0600). It runs VACUUM INTO on a connection of its own: a
// read transaction, so the server may keep running and writing meanwhile (WAL), and the copy holds
// exactly the transactions committed when it started, checkpointed into one file (no -wal) and
// compacted. The copy is then synced to disk and checked as RestoreSQLite would check it; on any
// failure out is removed. dataDir must hold a migrated database: a missing one is an error, never
// created.
func BackupSQLite(ctx context.Context, dataDir, out string) (err error) {
	src, err := existingSQLiteFile(dataDir)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if out == "" {
		return errBackupOut
	}
	if strings.Contains(out, "?") {
		return errBackupChar // the check below opens it through a data source name
	}
	// Absolute, so that SQLite never reads the name as a "file:" URI.
	out, err = filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	// O_EXCL: an existing file is never overwritten. VACUUM INTO accepts an empty file and keeps
	// its mode.
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(out)
		}
	}()

	// Not query_only: SQLite counts VACUUM INTO as a write. Nor the writer's settings: this
	// connection only reads the database.
	db, err := sql.Open("sqlite", src+"?"+url.Values{"_busy_timeout": {"10000"}}.Encode())
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, out); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("store: backup: VACUUM INTO: %w", err)
	}
	// VACUUM INTO does not sync what it wrote.
	if err := syncPath(out); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := syncPath(filepath.Dir(out)); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if _, err := checkSQLiteBackup(ctx, out); err != nil {
		return fmt.Errorf("store: backup: the copy %s: %w", out, err)
	}
	return nil
}

// RestoreSQLite makes the backup file the SQLite database of dataDir (created 0700 if missing).
// It refuses when dataDir already holds a database, unless force; an empty database file with no
// WAL does not count as one (Open and Migrate create it). It first copies the backup into dataDir
// and checks the copy: an SQLite database that passes PRAGMA quick_check, with our
// schema_migrations table, not dirty, at a version this binary knows (an older one is fine:
// migrate up afterwards). Only then does the copy replace the database, by rename (with force,
// after removing the old database's -wal and -shm files, which must not be applied to the new
// one). Stop the server first: a process that has the old database open keeps using it. On
// failure nothing in dataDir has changed.
func RestoreSQLite(ctx context.Context, backup, dataDir string, force bool) (err error) {
	if dataDir == "" {
		return errNoDataDir
	}
	if strings.Contains(dataDir, "?") {
		return errDataDirChar
	}
	dst := filepath.Join(dataDir, SQLiteFile)
	if !force {
		if exists, err := sqliteDatabaseExists(dst); err != nil || exists {
			return cmpErr(err, errRestoreOver)
		}
	}
	in, err := os.Open(backup)
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	defer in.Close()
	if fi, err := in.Stat(); err != nil || !fi.Mode().IsRegular() {
		return cmpErr(err, fmt.Errorf("store: restore: %s is not a regular file", backup))
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("store: restore: create data directory: %w", err)
	}
	tmp, err := os.CreateTemp(dataDir, "."+SQLiteFile+".restore-*") // 0600
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	tmpPath := tmp.Name()
	defer func() {
		if err != nil {
			removeSQLiteFiles(tmpPath)
		}
	}()
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: restore: copy %s: %w", backup, err)
	}

	version, err := checkSQLiteBackup(ctx, tmpPath)
	// Opening the copy may have made -wal and -shm files for it (a backup taken as a raw copy of
	// a WAL database); they hold nothing: the check only read.
	_ = os.Remove(tmpPath + "-wal")
	_ = os.Remove(tmpPath + "-shm")
	if err != nil {
		return fmt.Errorf("store: restore: %s: %w", backup, err)
	}
	latest, err := latestMigration(migrations.SQLite, "sqlite")
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	if version > latest {
		return fmt.Errorf("store: restore: %s is at schema version %d, newer than this program's %d: restore it with the newer release", backup, version, latest)
	}

	if !force { // again: something may have created it while we copied
		if exists, err := sqliteDatabaseExists(dst); err != nil || exists {
			return cmpErr(err, errRestoreOver)
		}
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(dst + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store: restore: %w", err)
		}
	}
	if err := os.Rename(tmpPath, dst); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	if err := syncPath(dataDir); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	return nil
}

// cmpErr returns err when it is not nil, otherwise alt.
func cmpErr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}

// existingSQLiteFile returns the path of the database file of dataDir, which must exist.
func existingSQLiteFile(dataDir string) (string, error) {
	if dataDir == "" {
		return "", errNoDataDir
	}
	if strings.Contains(dataDir, "?") {
		return "", errDataDirChar
	}
	path := filepath.Join(dataDir, SQLiteFile)
	exists, err := sqliteDatabaseExists(path)
	if err != nil {
		return "", err
	}
	if !exists {
		return "", fmt.Errorf("no database in %s", dataDir)
	}
	return path, nil
}

// sqliteDatabaseExists reports whether path holds a database: a non-empty file, or an empty one
// whose WAL is not empty (in WAL mode a new database may live in its -wal file until the first
// checkpoint).
func sqliteDatabaseExists(path string) (bool, error) {
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("store: %w", err)
		}
		if fi.Size() > 0 {
			return true, nil
		}
	}
	return false, nil
}

// checkSQLiteBackup opens the file read-only and checks that it is a sound SQLite database (PRAGMA
// quick_check) with our schema_migrations table, not dirty. It returns the schema version.
func checkSQLiteBackup(ctx context.Context, path string) (uint, error) {
	db, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&check); err != nil {
		return 0, fmt.Errorf("not a usable SQLite database: %w", err)
	}
	if check != "ok" {
		return 0, fmt.Errorf("damaged SQLite database: quick_check says %q", check)
	}
	var found int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&found); err != nil {
		return 0, fmt.Errorf("not a usable SQLite database: %w", err)
	}
	if found == 0 {
		return 0, errNotOurDB
	}
	var (
		version int64
		dirty   bool
	)
	err = db.QueryRowContext(ctx, `SELECT version, dirty FROM schema_migrations`).Scan(&version, &dirty)
	switch {
	case errors.Is(err, sql.ErrNoRows), err == nil && version <= 0:
		return 0, errors.New("no migration was ever applied to it: not an IdP database")
	case err != nil:
		return 0, fmt.Errorf("reading schema_migrations: %w", err)
	case dirty:
		return 0, errDirtyDB
	}
	return uint(version), nil
}

// latestMigration is the highest version among the embedded migration files of dir.
func latestMigration(fsys fs.FS, dir string) (uint, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return 0, err
	}
	var latest uint64
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			continue
		}
		if v, err := strconv.ParseUint(num, 10, 64); err == nil && v > latest {
			latest = v
		}
	}
	return uint(latest), nil
}

// removeSQLiteFiles removes a database file and the files SQLite keeps beside it.
func removeSQLiteFiles(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		_ = os.Remove(p)
	}
}

// syncPath fsyncs a file or directory (a directory: so that a new or renamed entry in it lasts).
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// PostgreSQL: pg_dump and pg_restore from the PostgreSQL client tools, which must be on PATH (and
// not older than the server: pg_dump refuses a newer server).

// pgDumpMagic starts every archive of pg_dump's custom format.
const pgDumpMagic = "PGDMP"

// BackupPostgres runs pg_dump --format=custom --no-owner for databaseURL into out, a file that must
// not exist yet (it is created 0600 and removed again on failure). pg_dump must be on PATH; without
// it the error names the missing tool. The password (from the URL's user info or its password
// parameter) reaches pg_dump through PGPASSWORD, never on its command line, and connection
// parameters that are pgx's or pgxpool's own (pool_max_conns, search_path and other run-time
// parameters) are left out of the URL pg_dump gets. The dump is one consistent snapshot, taken
// while the server runs.
//
// What is dumped is the IdP's schema, the first existing one on the URL's search_path (checked to
// hold schema_migrations first): with the default (public) the whole database, with another
// schema (search_path=idp in DATABASE_URL) that schema only.
func BackupPostgres(ctx context.Context, databaseURL, out string) (err error) {
	tool, err := pgTool("pg_dump")
	if err != nil {
		return err
	}
	if b, err := backendOf(databaseURL); err != nil || b != backendPostgres {
		return cmpErr(err, errBadURL)
	}
	if out == "" {
		return errBackupOut
	}
	target, err := pgToolTarget(databaseURL)
	if err != nil {
		return err
	}
	schema, err := idpSchema(ctx, databaseURL)
	if err != nil {
		return err
	}
	if out, err = filepath.Abs(out); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // pg_dump keeps the mode
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(out)
		}
	}()
	args := []string{"--format=custom", "--no-owner", "--no-password", "--file=" + out}
	if schema != "public" {
		args = append(args, "--schema="+pgPatternLiteral(schema))
	}
	args = append(args, "--dbname="+target.url)
	if err := runPGTool(ctx, tool, target.password, args); err != nil {
		return err
	}
	if err := checkPGArchive(out); err != nil {
		return fmt.Errorf("store: backup: pg_dump wrote %s: %w", out, err)
	}
	if err := syncPath(out); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	return syncPath(filepath.Dir(out))
}

// RestorePostgres runs pg_restore --clean --if-exists --no-owner --single-transaction for the
// archive backup (written by BackupPostgres) into databaseURL, with pg_restore from PATH and the
// password passed as in BackupPostgres. The objects of the archive are dropped where they exist and
// recreated, into the schema they were dumped from; objects the archive does not hold are left
// alone. --single-transaction makes it all or nothing: on any error the database is as it was.
// Restore into an empty database or one at the backup's schema version (migrate up afterwards);
// a schema that holds tables the backup lacks (a newer version) cannot be dropped, and the
// restore fails without changing anything. Stop the servers first.
func RestorePostgres(ctx context.Context, backup, databaseURL string) error {
	tool, err := pgTool("pg_restore")
	if err != nil {
		return err
	}
	if b, err := backendOf(databaseURL); err != nil || b != backendPostgres {
		return cmpErr(err, errBadURL)
	}
	if err := checkPGArchive(backup); err != nil {
		return fmt.Errorf("store: restore: %s: %w", backup, err)
	}
	target, err := pgToolTarget(databaseURL)
	if err != nil {
		return err
	}
	// Absolute, so that a name starting with "-" is not read as an option.
	if backup, err = filepath.Abs(backup); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	return runPGTool(ctx, tool, target.password, []string{
		"--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error",
		"--no-password", "--dbname=" + target.url, backup,
	})
}

// pgTool finds a PostgreSQL client tool on PATH.
func pgTool(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("store: %s not found on PATH: install the PostgreSQL client tools (Debian: apt-get install postgresql-client), of the server's major version or newer", name)
	}
	return path, nil
}

// pgTarget is what a libpq tool needs to connect: a URL without the password, and the password.
type pgTarget struct{ url, password string }

// libpqParams are the connection parameters libpq knows. The other query parameters of
// DATABASE_URL are pgx's and pgxpool's own (pool_max_conns, statement_cache_capacity, ...) or
// run-time parameters such as search_path that pgx sends to the server, and libpq refuses a URI
// holding a parameter it does not know. password and sslpassword are secrets and never go on a
// command line.
var libpqParams = map[string]bool{
	"host": true, "hostaddr": true, "port": true, "dbname": true, "user": true, "passfile": true,
	"channel_binding": true, "connect_timeout": true, "client_encoding": true, "options": true,
	"application_name": true, "fallback_application_name": true, "keepalives": true,
	"keepalives_idle": true, "keepalives_interval": true, "keepalives_count": true,
	"tcp_user_timeout": true, "sslmode": true, "sslcert": true, "sslkey": true, "sslrootcert": true,
	"sslcrl": true, "sslcrldir": true, "sslsni": true, "requirepeer": true,
	"ssl_min_protocol_version": true, "ssl_max_protocol_version": true, "gssencmode": true,
	"krbsrvname": true, "gsslib": true, "service": true, "target_session_attrs": true,
	"load_balance_hosts": true,
}

// pgToolTarget splits databaseURL for a libpq tool. Errors never repeat the URL.
func pgToolTarget(databaseURL string) (pgTarget, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return pgTarget{}, errors.New("store: DATABASE_URL cannot be read as a URL for the PostgreSQL client tools")
	}
	var t pgTarget
	if u.User != nil {
		t.password, _ = u.User.Password()
		if name := u.User.Username(); name != "" {
			u.User = url.User(name)
		} else {
			u.User = nil
		}
	}
	q := u.Query()
	if p := q.Get("password"); p != "" {
		t.password = p
	}
	keep := url.Values{}
	for k, v := range q {
		if libpqParams[k] {
			keep[k] = v
		}
	}
	u.RawQuery = keep.Encode()
	t.url = u.String()
	return t, nil
}

// idpSchema connects as the IdP does (search_path included) and returns the schema its tables
// are in, after checking that schema_migrations is there.
func idpSchema(ctx context.Context, databaseURL string) (string, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL) // accepts and drops the pool_* parameters
	if err != nil {
		return "", fmt.Errorf("store: postgres: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return "", fmt.Errorf("store: postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var (
		schema string
		ours   bool
	)
	err = conn.QueryRow(ctx, `SELECT COALESCE(current_schema(), ''),
		COALESCE(to_regclass(quote_ident(current_schema()) || '.schema_migrations') IS NOT NULL, false)`).Scan(&schema, &ours)
	if err != nil {
		return "", translate(err)
	}
	if !ours {
		return "", fmt.Errorf("store: backup: the database (schema %q) has %w; migrate it first", schema, errNotOurDB)
	}
	return schema, nil
}

// pgPatternLiteral quotes a name for pg_dump's -n, which takes a pattern: inside double quotes
// every character is literal (case, ".", "*" and "?" included), and a double quote is doubled.
func pgPatternLiteral(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// checkPGArchive checks that path starts like an archive of pg_dump's custom format.
func checkPGArchive(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, len(pgDumpMagic))
	if _, err := io.ReadFull(f, head); err != nil || string(head) != pgDumpMagic {
		return errors.New("not an archive of pg_dump's custom format")
	}
	return nil
}

// maxToolOutput is how much of a tool's output an error quotes (the end, where the reason is).
const maxToolOutput = 2000

// runPGTool runs a PostgreSQL client tool with the password in its environment. A failure quotes
// the end of what the tool printed; the tools print no passwords, and the URL they were given
// holds none.
func runPGTool(ctx context.Context, tool, password string, args []string) error {
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Env = os.Environ()
	if password != "" {
		cmd.Env = append(cmd.Env, "PGPASSWORD="+password) // the last value of a key wins
	}
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		msg := strings.TrimSpace(output.String())
		if len(msg) > maxToolOutput {
			msg = "…" + strings.ToValidUTF8(msg[len(msg)-maxToolOutput:], "")
		}
		return fmt.Errorf("store: %s failed (%v): %s", filepath.Base(tool), err, msg)
	}
	return nil
}
