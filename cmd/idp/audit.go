package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

const auditUsage = `Usage:
  idp audit tail [-n N] [--follow]
  idp audit search [--user USER] [--type TYPE] [--since WHEN] [--until WHEN] [-n N] [--json]

The append-only audit log: sign-ups, codes sent and failed, verifications, sign-ins, resets,
password changes, session revocations, token reuse, operator actions. TYPE matches exactly or,
ending in ".*", as a prefix ("login.*"). WHEN is a duration ago ("24h") or an RFC 3339 time.
USER is an email address or a user id. Retention: IDP_AUDIT_RETENTION.

Flags:
`

func cmdAudit(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "audit", auditUsage)
	if len(args) > 0 && isHelp(args[0]) {
		fs.SetOutput(e.stdout)
		fs.Usage()
		return flag.ErrHelp
	}
	if len(args) == 0 {
		fs.Usage()
		return usagef("audit: say tail or search")
	}
	sub := args[0]
	if sub != "tail" && sub != "search" {
		fs.Usage()
		return usagef("audit: unknown subcommand %q (want tail or search)", sub)
	}
	n := fs.Int("n", 50, "at most this many events")
	follow := fs.Bool("follow", false, "tail: keep printing new events until interrupted")
	user := fs.String("user", "", "search: only this user (email or id)")
	typ := fs.String("type", "", `search: only this event type, or a prefix like "login.*"`)
	since := fs.String("since", "", `search: events at or after WHEN ("24h" ago, or RFC 3339)`)
	until := fs.String("until", "", "search: events before WHEN")
	asJSON := fs.Bool("json", false, "one JSON object per line")
	cfg, err := loadConfig(e, fs, args[1:])
	if err != nil {
		return err
	}
	if *n < 1 || *n > 100000 {
		return usagef("audit: -n must be from 1 to 100000")
	}
	f := store.AuditFilter{Type: *typ, Limit: *n}
	now := time.Now().UTC()
	if f.Since, err = parseWhen(*since, now); err != nil {
		return usagef("audit: --since: %v", err)
	}
	if f.Until, err = parseWhen(*until, now); err != nil {
		return usagef("audit: --until: %v", err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if *user != "" {
		u, err := findUser(ctx, st, *user)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		f.UserID = u.ID
	}
	events, err := st.SearchAudit(ctx, f)
	if err != nil {
		return err
	}
	// Oldest first on screen, like a log.
	sort.Slice(events, func(i, j int) bool { return events[i].ID < events[j].ID })
	last := int64(0)
	for _, ev := range events {
		printAudit(e, ev, *asJSON)
		last = max(last, ev.ID)
	}
	if sub != "tail" || !*follow {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		more, err := st.SearchAudit(ctx, store.AuditFilter{AfterID: last, Limit: 1000})
		if err != nil {
			return err
		}
		for _, ev := range more {
			printAudit(e, ev, *asJSON)
			last = max(last, ev.ID)
		}
	}
}

func parseWhen(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: give a positive duration", v)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (24h) nor an RFC 3339 time", v)
	}
	return t, nil
}

func printAudit(e env, ev store.AuditEvent, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(map[string]any{"id": ev.ID, "at": ev.At, "type": ev.Type, "user_id": ev.UserID,
			"client_id": ev.ClientID, "ip": ev.IP, "detail": ev.Detail})
		fmt.Fprintln(e.stdout, string(b))
		return
	}
	var detail []string
	for k, v := range ev.Detail {
		detail = append(detail, k+"="+v)
	}
	sort.Strings(detail)
	fmt.Fprintf(e.stdout, "%s  %-22s user=%s client=%s ip=%s %s\n", ev.At.Format(time.RFC3339), ev.Type,
		dash(ev.UserID), dash(ev.ClientID), dash(ev.IP), strings.Join(detail, " "))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
