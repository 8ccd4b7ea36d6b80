package main

import (
	"context"
	"fmt"

	"github.com/fintech-idp/idp/internal/store"
)

const backupUsage = `Usage:
  idp backup --out FILE
  idp restore --in FILE [--force]

backup writes a consistent copy of the database while the server runs: for the embedded SQLite
database an online copy (VACUUM INTO); for PostgreSQL it runs pg_dump (custom format) when the
PostgreSQL client tools are installed. restore puts a backup into the configured database (an
existing SQLite database is only replaced with --force; PostgreSQL objects are dropped and
recreated by pg_restore --clean).

The backup holds the signing keys encrypted with a key derived from SECRET_KEY, which is NOT in
the backup: keep SECRET_KEY safe and separate — without it the private keys in the backup are
lost: a server on the restored database refuses to start until "idp keys rotate" makes a new
key sealed with the new SECRET_KEY. Encrypt backup files at rest
(see README, "Backups").

Flags:
`

func cmdBackup(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "backup", backupUsage)
	out := fs.String("out", "", "file to write (must not exist)")
	cfg, err := loadConfig(e, fs, args)
	if err != nil {
		return err
	}
	if *out == "" {
		return usagef("backup: --out FILE is required")
	}
	if cfg.DatabaseURL == "" {
		err = store.BackupSQLite(ctx, cfg.DataDir, *out)
	} else {
		err = store.BackupPostgres(ctx, cfg.DatabaseURL, *out)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(e.stdout, "backup written to %s\n", *out)
	fmt.Fprintln(e.stderr, "reminder: the signing keys in this backup are encrypted with SECRET_KEY, which is not in it; keep SECRET_KEY safe and encrypt the backup file at rest.")
	return nil
}

func cmdRestore(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "restore", backupUsage)
	in := fs.String("in", "", "backup file to restore")
	force := fs.Bool("force", false, "replace an existing SQLite database")
	cfg, err := loadConfig(e, fs, args)
	if err != nil {
		return err
	}
	if *in == "" {
		return usagef("restore: --in FILE is required")
	}
	if cfg.DatabaseURL == "" {
		err = store.RestoreSQLite(ctx, *in, cfg.DataDir, *force)
	} else {
		err = store.RestorePostgres(ctx, *in, cfg.DatabaseURL)
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// Bring the schema up to date in case the backup is older than this binary.
	if err := store.Migrate(ctx, cfg.DatabaseURL, cfg.DataDir, "up"); err != nil {
		return fmt.Errorf("restore: migrate: %w", err)
	}
	fmt.Fprintf(e.stdout, "restored %s\n", *in)
	return nil
}
