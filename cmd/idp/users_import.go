package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fintech-idp/idp/internal/config"
	"github.com/fintech-idp/idp/internal/store"
	"github.com/fintech-idp/idp/internal/userimport"
)

const usersImportUsage = `Usage:
  idp users import FILE|- [--format csv|jsonl] [--map COLUMN=SOURCE,...] [--update] [--dry-run]

Brings the users of another application (the Flask app this IdP replaces) over with their
password hashes, so nobody has to reset a password or enrol their phone again.

FILE is CSV with a header line, or JSON Lines (one object per line); the format comes from the
extension (.csv; .jsonl, .ndjson, .json) or --format, which "-" (standard input) needs.
Columns: email, password_hash, email_verified (required); phone, mfa_enabled, created_at
(optional). --map renames them, e.g. --map email_verified=is_verified,phone=phone_number.

  email           normalised as at signup (trimmed, lower case) and checked the same way
  password_hash   stored as given: Werkzeug pbkdf2:sha256|sha512:ITER$salt$hex or
                  scrypt:N:r:p$salt$hex, bcrypt $2a$/$2b$/$2y$, or argon2id; out-of-bounds
                  parameters are refused (see docs/ARCHITECTURE.md). The first sign-in replaces
                  it with argon2id.
  email_verified  true/false (also t/f, 1/0, yes/no; empty is false). Unverified people prove
                  their address with an email code at their first sign-in.
  mfa_enabled     two-step by SMS stays on; the phone is then required and must be a mobile in
                  VONAGE_ALLOWED_COUNTRIES. Recovery codes are shown at the first sign-in.
  phone           E.164 (+447700900123); national numbers are read in IDP_PHONE_DEFAULT_REGION.
                  Kept only with mfa_enabled.
  created_at      RFC 3339 or "2006-01-02 15:04:05[.999999][+00]" (no zone = UTC); empty = now

A line is rejected (with its number and the reason) when a value is wrong, and every line of an
address that appears more than once is rejected (no merging). An address that already exists is
left as it is and counted unchanged, unless --update writes the file's values (a changed password
hash signs the person out everywhere; a verified address is never un-verified). A re-run changes
nothing that did not change. Lines are written 1000 to a transaction; a bad line fails alone.
--dry-run checks everything and writes nothing. The exit status is 1 when any line was rejected.
An audit event (users.imported) records each run's counts.

Flags:
`

// mapFlag collects --map, which may be given more than once.
type mapFlag map[string]string

func (m mapFlag) String() string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func (m mapFlag) Set(v string) error { return userimport.ParseMap(v, m) }

func cmdUsersImport(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "users import", usersImportUsage)
	format := fs.String("format", "", "csv or jsonl (default: from the file's extension)")
	mapping := mapFlag{}
	fs.Var(mapping, "map", "rename columns: COLUMN=SOURCE[,COLUMN=SOURCE...]")
	update := fs.Bool("update", false, "write the file's values over existing users that differ")
	dryRun := fs.Bool("dry-run", false, "check and report; write nothing")
	// FILE first (flags after it), or flags first and FILE last.
	file, rest := "", args
	if len(args) > 0 && (args[0] == "-" || !strings.HasPrefix(args[0], "-")) {
		file, rest = args[0], args[1:]
	}
	cfg, err := loadConfig(e, fs, rest)
	if err != nil {
		return err
	}
	switch {
	case file == "" && fs.NArg() == 1:
		file = fs.Arg(0)
	case fs.NArg() > 0:
		return usagef("users import: one FILE, before or after the flags (unexpected %q)", fs.Arg(0))
	}
	if file == "" {
		return usagef("users import: name the file: idp users import FILE (or - for standard input)")
	}
	if *format == "" {
		*format = userimport.FormatOf(file)
		if *format == "" {
			return usagef("users import: say --format csv or --format jsonl (not known from %q)", file)
		}
	}
	if *format != userimport.FormatCSV && *format != userimport.FormatJSONL {
		return usagef("users import: --format must be csv or jsonl")
	}
	in := e.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("users import: %w", err)
		}
		defer f.Close()
		in = f
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	rep, err := userimport.Run(ctx, st, in, userimport.Options{
		Format: *format, Map: mapping, Update: *update, DryRun: *dryRun,
		DefaultRegion: cfg.PhoneDefaultRegion, AllowedCountries: cfg.VonageAllowedCountries,
	})
	if err != nil {
		return fmt.Errorf("users import: %w", err)
	}
	printImportReport(e.stdout, rep, *update, *dryRun, time.Since(start))
	if rep.TwoStep > 0 && cfg.SMSVerifier() == config.SMSNone {
		// They have no recovery codes before their first sign-in, so only SMS lets them in.
		fmt.Fprintf(e.stderr, "warning: %d imported users have two-step on, but without VONAGE_API_KEY/VONAGE_API_SECRET no SMS code can be sent: they cannot sign in until Vonage is configured (their recovery codes come with their first sign-in)\n", rep.TwoStep)
	}
	if !*dryRun {
		ev := &store.AuditEvent{Type: "users.imported", Detail: map[string]string{
			"by": "cli", "lines": strconv.Itoa(rep.Lines), "created": strconv.Itoa(rep.Created), "updated": strconv.Itoa(rep.Updated),
			"unchanged": strconv.Itoa(rep.Unchanged), "rejected": strconv.Itoa(len(rep.Rejected)), "update": strconv.FormatBool(*update),
		}}
		if err := st.AppendAudit(ctx, ev); err != nil {
			fmt.Fprintf(e.stderr, "warning: audit event not written: %v\n", err)
		}
	}
	if n := len(rep.Rejected); n > 0 {
		return fmt.Errorf("users import: %d of %d lines rejected (listed above)", n, rep.Lines)
	}
	return nil
}

// printImportReport writes the counts and each rejected line; never a hash, phone or address.
func printImportReport(w io.Writer, rep userimport.Report, update, dryRun bool, took time.Duration) {
	for _, r := range rep.Rejected {
		fmt.Fprintf(w, "line %d: rejected: %s\n", r.Line, r.Reason)
	}
	verb := ""
	if dryRun {
		verb = " (dry run: nothing written; this is what an import would do)"
	}
	fmt.Fprintf(w, "%d lines: %d created, %d updated, %d unchanged, %d rejected%s in %s\n",
		rep.Lines, rep.Created, rep.Updated, rep.Unchanged, len(rep.Rejected), verb, took.Round(time.Millisecond))
	if rep.Differs > 0 && !update {
		fmt.Fprintf(w, "%d of the unchanged already exist with other values; --update writes the file's values\n", rep.Differs)
	}
}
