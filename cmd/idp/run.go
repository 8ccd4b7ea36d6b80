package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/fintech-idp/idp/internal/config"
	"github.com/fintech-idp/idp/internal/idp"
	"github.com/fintech-idp/idp/internal/password"
	"github.com/fintech-idp/idp/internal/store"
)

// usageError is a mistake on the command line: exit status 2 and a hint.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// env is how the process sees its environment (os.Getenv, or a map in tests).
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

const mainUsage = `idp — the FinTech OpenID Connect identity provider

Usage:
  idp [serve] [flags]        run the server (the default)
  idp migrate up|down|version
  idp users create --email E (--password P | --password-stdin) [--verified]
  idp users import FILE|- [--format csv|jsonl] [--map C=S,...] [--update] [--dry-run]
  idp users list|show|disable|enable|revoke-sessions|reset-mfa|delete
  idp clients create --id ID --type web|spa|native|service [--redirect-uri URI ...] [flags]
  idp clients list|update|rotate-secret|delete
  idp resources create --id ID --audience URI [--scope S ...]   a resource server (API)
  idp resources list|update|delete
  idp keys list|rotate|reencrypt
  idp audit tail|search [flags]
  idp backup --out FILE
  idp restore --in FILE [--force]
  idp healthcheck [--url URL]  exit 0 when the local server is ready (container HEALTHCHECK)

Every command reads its configuration from the environment (see README.md, "Configuration");
flags override it. Run "idp <command> --help" for the flags of a command.
`

// run is the whole program; main only wires the process to it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "--help" && args[0] != "-help" {
		return cmdServe(ctx, e, args)
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, e, args[1:])
	case "migrate":
		return cmdMigrate(ctx, e, args[1:])
	case "users":
		return cmdUsers(ctx, e, args[1:])
	case "clients":
		return cmdClients(ctx, e, args[1:])
	case "resources":
		return cmdResources(ctx, e, args[1:])
	case "keys":
		return cmdKeys(ctx, e, args[1:])
	case "healthcheck":
		return cmdHealthcheck(ctx, e, args[1:])
	case "audit":
		return cmdAudit(ctx, e, args[1:])
	case "backup":
		return cmdBackup(ctx, e, args[1:])
	case "restore":
		return cmdRestore(ctx, e, args[1:])
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, mainUsage)
		return nil
	default:
		fmt.Fprint(stderr, mainUsage)
		return usagef("unknown command %q", args[0])
	}
}

// newFlagSet returns a flag set that reports errors instead of exiting, with a usage text.
func newFlagSet(e env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses and turns flag errors into usage errors (exit 2); --help exits 0.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	return nil
}

// loadConfig reads env, registers the common flags on fs, parses args and validates.
func loadConfig(e env, fs *flag.FlagSet, args []string) (*config.Config, error) {
	cfg, err := config.Load(e.getenv)
	if err != nil {
		return nil, err
	}
	cfg.RegisterFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return &cfg, nil
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	if logAsText(cfg, w) {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(idp.ContextLogHandler{Handler: h})
}

// logAsText says whether logs are human-readable text: when asked for, or with the default
// "auto" in development when they go to a terminal. Production logs JSON unless told otherwise.
func logAsText(cfg *config.Config, w io.Writer) bool {
	switch cfg.LogFormat {
	case "text":
		return true
	case "auto":
		return !cfg.Production() && isTerminal(w)
	}
	return false
}

// isTerminal reports whether w is a character device (a terminal), not a file or a pipe.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// configuredStore loads the configuration (the environment, then fs's flags in args) and opens its
// store: the start of every subcommand that reads or changes data. The caller closes the store.
func configuredStore(ctx context.Context, e env, fs *flag.FlagSet, args []string) (*config.Config, store.Store, error) {
	cfg, err := loadConfig(e, fs, args)
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}

// targetStore is configuredStore for a subcommand that acts on one named thing ("idp clients
// update ID [flags]"): it splits the name from the flags and refuses a missing name with the
// usage line given, before any database is opened.
func targetStore(ctx context.Context, e env, fs *flag.FlagSet, args []string, missing string) (string, *config.Config, store.Store, error) {
	id, rest := splitTarget(args)
	cfg, err := loadConfig(e, fs, rest)
	if err != nil {
		return "", nil, nil, err
	}
	if id == "" {
		return "", nil, nil, usagef("%s", missing)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return "", nil, nil, err
	}
	return id, cfg, st, nil
}

// openStore opens the configured database, migrated up to date.
func openStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	if err := store.Migrate(ctx, cfg.DatabaseURL, cfg.DataDir, "up"); err != nil {
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	return store.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
}

func newHasher(cfg *config.Config) *password.Hasher {
	p := password.DefaultParams()
	p.MemoryKiB, p.Iterations, p.Parallelism = cfg.Argon2MemoryKiB, cfg.Argon2Iterations, cfg.Argon2Parallelism
	return password.NewHasher(p)
}

func newAdmin(cfg *config.Config, st store.Store) *idp.Admin {
	return &idp.Admin{Store: st, Hasher: newHasher(cfg), Production: cfg.Production(), MinPassLen: cfg.PasswordMinLength,
		Brand: cfg.BrandName, Breaches: breachChecker(cfg), Now: time.Now}
}

// passwordPolicy is the policy every page that sets a password applies.
func passwordPolicy(cfg *config.Config) password.Policy {
	return password.Policy{MinLength: cfg.PasswordMinLength, MaxLength: 1024, Brand: cfg.BrandName, Breaches: breachChecker(cfg)}
}

// breachChecker is the Have I Been Pwned range API with IDP_BREACH_CHECK=hibp, else nil.
func breachChecker(cfg *config.Config) password.BreachChecker {
	if cfg.BreachCheck != config.BreachCheckHIBP {
		return nil
	}
	return &password.HIBP{BaseURL: cfg.HIBPAPIURL, UserAgent: "fintech-idp-breach-check"}
}

func lifetimes(cfg *config.Config) idp.Lifetimes {
	return idp.Lifetimes{
		AuthRequest: cfg.AuthRequestTTL, AuthCode: cfg.AuthCodeTTL, AccessToken: cfg.AccessTokenTTL, IDToken: cfg.IDTokenTTL,
		RefreshIdle: cfg.RefreshIdleTTL, RefreshAbsolute: cfg.RefreshAbsoluteTTL,
		SessionIdle: cfg.SessionIdleTTL, SessionAbsolute: cfg.SessionAbsoluteTTL,
	}
}

// confirm asks a yes/no question on stdin; anything but y/yes is no.
func confirm(e env, question string) bool {
	fmt.Fprintf(e.stderr, "%s [y/N] ", question)
	var answer string
	_, _ = fmt.Fscanln(e.stdin, &answer)
	answer = strings.ToLower(strings.TrimSpace(answer))
	return answer == "y" || answer == "yes"
}

func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" || a == "help" }
