package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/fintech-idp/idp/internal/config"
	"github.com/fintech-idp/idp/internal/idp"
	"github.com/fintech-idp/idp/internal/mail"
	"github.com/fintech-idp/idp/internal/store"
)

const usersUsage = `Usage:
  idp users create --email E (--password P | --password-stdin) [--verified]
  idp users import FILE|- [--format csv|jsonl] [--map COLUMN=SOURCE,...] [--update] [--dry-run]
  idp users list
  idp users show USER
  idp users disable USER        sign-in refused; every session and token revoked at once
  idp users enable USER
  idp users revoke-sessions USER [--yes]
  idp users reset-mfa USER [--yes]
  idp users delete USER [--yes]

USER is an email address or a user id.

reset-mfa is for a person who lost their phone: it turns their two-step verification off
(the phone number and every recovery code are removed) and signs them out everywhere (every
session and refresh token revoked). They sign in with their password next and can turn two-step
on again with a new number. Check who is asking first: this removes their second factor. A user
without two-step on is left as is.

create registers a person. --password-stdin reads the password from the first line of standard
input (keeps it out of the shell history and the process list). --verified marks the email as
already proven (an operator vouching for it); otherwise the person must verify it first.

import brings users of another application over with their password hashes (JSON Lines or CSV);
"idp users import --help" explains the columns, --map, --update and --dry-run.

Flags:
`

func cmdUsers(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "users", usersUsage)
	if len(args) > 0 && isHelp(args[0]) {
		fs.SetOutput(e.stdout)
		fs.Usage()
		return flag.ErrHelp
	}
	if len(args) == 0 {
		fs.Usage()
		return usagef("users: say create, import or list")
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
		_, st, err := configuredStore(ctx, e, fs, args[1:])
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
	case "import":
		return cmdUsersImport(ctx, e, args[1:])
	case "show", "disable", "enable", "revoke-sessions", "reset-mfa", "delete":
		return cmdUserAction(ctx, e, fs, args[0], args[1:])
	default:
		fs.Usage()
		return usagef("users: unknown subcommand %q (want create, import, list, show, disable, enable, revoke-sessions, reset-mfa or delete)", args[0])
	}
}

// splitTarget takes the positional USER (or ID) off args wherever it stands among the flags.
func splitTarget(args []string) (string, []string) {
	for i, a := range args {
		if !strings.HasPrefix(a, "-") {
			return a, append(append([]string{}, args[:i]...), args[i+1:]...)
		}
	}
	return "", args
}

// findUser looks a user up by email (anything with an @) or id.
func findUser(ctx context.Context, st store.Store, ref string) (*store.User, error) {
	var u *store.User
	var err error
	if strings.Contains(ref, "@") {
		u, err = st.GetUserByEmail(ctx, idp.NormalizeEmail(ref))
	} else {
		u, err = st.GetUser(ctx, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no user %q", ref)
	}
	return u, err
}

func cmdUserAction(ctx context.Context, e env, fs *flag.FlagSet, action string, args []string) error {
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	ref, rest := splitTarget(args)
	cfg, err := loadConfig(e, fs, rest)
	if err != nil {
		return err
	}
	if ref == "" {
		return usagef("users %s: name the user: idp users %s EMAIL-OR-ID", action, action)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := findUser(ctx, st, ref)
	if err != nil {
		return fmt.Errorf("users %s: %w", action, err)
	}
	now := time.Now().UTC()
	audit := func(typ string) {
		if err := st.AppendAudit(ctx, &store.AuditEvent{At: now, Type: typ, UserID: u.ID, Detail: map[string]string{"by": "cli"}}); err != nil {
			fmt.Fprintf(e.stderr, "warning: audit event not written: %v\n", err)
		}
	}
	switch action {
	case "show":
		sessions, err := st.ListSessions(ctx, u.ID, now)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "id\t%s\nemail\t%s\nemail verified\t%t\ntwo-step\t%t\ndisabled\t%t\ncreated\t%s\nupdated\t%s\nlive sessions\t%d\n",
			u.ID, u.Email, u.EmailVerified, u.MFAEnabled, u.Disabled, u.CreatedAt.Format(time.RFC3339), u.UpdatedAt.Format(time.RFC3339), len(sessions))
		return tw.Flush()
	case "disable", "enable":
		if err := st.SetUserDisabled(ctx, u.ID, action == "disable", now); err != nil {
			return err
		}
		audit("user." + action + "d")
		fmt.Fprintf(e.stdout, "%sd %s\n", action, u.Email)
		return nil
	case "revoke-sessions":
		if !*yes && !confirm(e, fmt.Sprintf("Sign %s out everywhere (every session and refresh token)?", u.Email)) {
			return errors.New("users revoke-sessions: not confirmed, nothing changed")
		}
		n, err := st.RevokeUserSessions(ctx, u.ID, "", now)
		if err != nil {
			return err
		}
		audit("session.revoked_all")
		fmt.Fprintf(e.stdout, "revoked %d sessions of %s and all their refresh tokens\n", n, u.Email)
		return nil
	case "reset-mfa":
		if err := resetMFA(ctx, e, newAdmin(cfg, st), u, *yes); err != nil {
			return err
		}
		if u.MFAEnabled {
			notifyMFAReset(ctx, e, cfg, u.Email)
		}
		return nil
	case "delete":
		if !*yes && !confirm(e, fmt.Sprintf("Delete %s and everything that is theirs? This cannot be undone.", u.Email)) {
			return errors.New("users delete: not confirmed, nothing deleted")
		}
		if err := st.DeleteUser(ctx, u.ID); err != nil {
			return err
		}
		audit("user.deleted")
		fmt.Fprintf(e.stdout, "deleted %s\n", u.Email)
		return nil
	}
	return nil
}

// notifyMFAReset tells the person by email that support turned their two-step off, through the
// configured mail sender. A failure is a warning: the reset is done.
func notifyMFAReset(ctx context.Context, e env, cfg *config.Config, to string) {
	warn := func(err error) {
		fmt.Fprintf(e.stderr, "warning: the email telling %s about the reset was not sent: %v\n", to, err)
	}
	sender, _, err := newMailSender(cfg, newLogger(cfg, e.stderr), nil)
	if err != nil {
		warn(err)
		return
	}
	tmpl, err := newMailTemplates(cfg, cfg.BrandName)
	if err != nil {
		warn(err)
		return
	}
	msg, err := tmpl.Message(mail.KindSecurityNotice, to, "mfa-reset:"+uuid.NewString(), mail.NoticeData{
		Subject: "two-step verification turned off by support",
		Summary: "At your request, our support team turned two-step verification off for your account and signed you out everywhere.",
		Detail:  "Sign in with your password and turn two-step verification on again with your new phone number.",
	})
	if err == nil {
		err = sender.Send(ctx, msg)
	}
	if err != nil {
		warn(err)
		return
	}
	fmt.Fprintf(e.stdout, "emailed %s about it\n", to)
}

// resetMFA turns the user's two-step off and signs them out everywhere (idp.Admin.ResetMFA),
// after a confirmation unless yes. A user without two-step on is not an error: nothing changes.
func resetMFA(ctx context.Context, e env, admin *idp.Admin, u *store.User, yes bool) error {
	notOn := func() error {
		fmt.Fprintf(e.stdout, "%s has no two-step verification on: nothing changed\n", u.Email)
		return nil
	}
	if !u.MFAEnabled {
		return notOn()
	}
	if !yes && !confirm(e, fmt.Sprintf("Turn two-step verification off for %s (their phone number and recovery codes are removed) and sign them out everywhere?", u.Email)) {
		return errors.New("users reset-mfa: not confirmed, nothing changed")
	}
	res, err := admin.ResetMFA(ctx, u.ID)
	if res.Done {
		phone := "no phone number on record"
		if res.Phone != "" {
			phone = "phone " + res.Phone + " removed"
		}
		fmt.Fprintf(e.stdout, "turned two-step verification off for %s: %s, %d unused recovery codes deleted\n",
			u.Email, phone, res.RecoveryCodes)
		if err == nil {
			fmt.Fprintf(e.stdout, "revoked %d sessions of %s and all their refresh tokens\n", res.Sessions, u.Email)
		}
	}
	if err != nil {
		return fmt.Errorf("users reset-mfa: %w", err)
	}
	if !res.Done {
		return notOn() // turned off meanwhile
	}
	return nil
}
