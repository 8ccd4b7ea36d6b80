package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

const usersUsage = `Usage:
  idp users create --email E (--password P | --password-stdin) [--verified]
  idp users list

create registers a person. --password-stdin reads the password from the first line of standard
input (keeps it out of the shell history and the process list). --verified marks the email as
already proven (an operator vouching for it); otherwise the person must verify it first.

Flags:
`

func cmdUsers(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "users", usersUsage)
	if len(args) == 0 {
		fs.Usage()
		return usagef("users: say create or list")
	}
	switch args[0] {
	case "create":
		email := fs.String("email", "", "the person's email address (required)")
		pw := fs.String("password", "", "the password (prefer --password-stdin)")
		pwStdin := fs.Bool("password-stdin", false, "read the password from standard input")
		verified := fs.Bool("verified", false, "mark the email as verified")
		cfg, err := loadConfig(e, fs, args[1:])
		if err != nil {
			return err
		}
		if *email == "" {
			return usagef("users create: --email is required")
		}
		if *pwStdin == (*pw != "") {
			return usagef("users create: give exactly one of --password or --password-stdin")
		}
		if *pwStdin {
			line, err := bufio.NewReader(e.stdin).ReadString('\n')
			if err != nil && line == "" {
				return usagef("users create: no password on standard input")
			}
			*pw = strings.TrimRight(line, "\r\n")
		}
		st, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		u, err := newAdmin(cfg, st).CreateUser(ctx, *email, *pw, *verified)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "created user %s (%s, email verified: %t)\n", u.ID, u.Email, u.EmailVerified)
		return nil
	case "list":
		cfg, err := loadConfig(e, fs, args[1:])
		if err != nil {
			return err
		}
		st, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		users, err := st.ListUsers(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tVERIFIED\tMFA\tDISABLED\tCREATED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%t\t%t\t%t\t%s\n", u.ID, u.Email, u.EmailVerified, u.MFAEnabled, u.Disabled, u.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	default:
		fs.Usage()
		return usagef("users: unknown subcommand %q (want create or list)", args[0])
	}
}
