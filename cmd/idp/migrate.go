package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/fintech-idp/idp/internal/store"
)

const migrateUsage = `Usage: idp migrate up|down|version

  up       apply every pending migration (the server also does this at start)
  down     roll back the newest migration (asks for confirmation unless --yes)
  version  print the applied schema version

Uses DATABASE_URL, or the embedded SQLite database under IDP_DATA_DIR.

Flags:
`

func cmdMigrate(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "migrate", migrateUsage)
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	if len(args) > 0 && isHelp(args[0]) {
		fs.SetOutput(e.stdout)
		fs.Usage()
		return flag.ErrHelp
	}
	if len(args) == 0 {
		fs.Usage()
		return usagef("migrate: say up, down or version")
	}
	sub := args[0]
	cfg, err := loadConfig(e, fs, args[1:])
	if err != nil {
		return err
	}
	switch sub {
	case "up":
		if err := store.Migrate(ctx, cfg.DatabaseURL, cfg.DataDir, "up"); err != nil {
			return err
		}
	case "down":
		if !*yes && !confirm(e, "Roll back the newest migration? Data in the affected tables is lost.") {
			return fmt.Errorf("migrate down: not confirmed")
		}
		if err := store.Migrate(ctx, cfg.DatabaseURL, cfg.DataDir, "down"); err != nil {
			return err
		}
	case "version":
	default:
		fs.Usage()
		return usagef("migrate: unknown subcommand %q (want up, down or version)", sub)
	}
	v, dirty, err := store.MigrationVersion(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return err
	}
	state := ""
	if dirty {
		state = " (dirty: a migration failed half-way; fix it and force the version)"
	}
	fmt.Fprintf(e.stdout, "schema version %d%s\n", v, state)
	return nil
}
