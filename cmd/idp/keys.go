package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/fintech-idp/idp/internal/idp"
	"github.com/fintech-idp/idp/internal/secrets"
)

const keysUsage = `Usage:
  idp keys list       show the signing keys (the active one signs; published ones are in the JWKS)
  idp keys rotate     make a new key the active one; old keys stay published until their tokens expire
  idp keys reencrypt  after changing SECRET_KEY (old value in SECRET_KEY_PREVIOUS): re-seal every
                      private key with the new SECRET_KEY; then SECRET_KEY_PREVIOUS can be removed

Needs SECRET_KEY (the private keys are stored encrypted with a key derived from it).

Flags:
`

func cmdKeys(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "keys", keysUsage)
	if len(args) > 0 && isHelp(args[0]) {
		fs.SetOutput(e.stdout)
		fs.Usage()
		return flag.ErrHelp
	}
	if len(args) == 0 {
		fs.Usage()
		return usagef("keys: say list or rotate")
	}
	sub := args[0]
	if sub != "list" && sub != "rotate" && sub != "reencrypt" {
		fs.Usage()
		return usagef("keys: unknown subcommand %q (want list, rotate or reencrypt)", sub)
	}
	cfg, err := loadConfig(e, fs, args[1:])
	if err != nil {
		return err
	}
	log := newLogger(cfg, e.stderr)
	if err := cfg.EnsureSecretKey(log); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	var prev []string
	if cfg.SecretKeyPrevious != "" {
		prev = append(prev, cfg.SecretKeyPrevious)
	}
	kr, err := secrets.NewKeyring(cfg.SecretKey, prev...)
	if err != nil {
		return err
	}
	retention := max(cfg.IDTokenTTL, cfg.AccessTokenTTL) + time.Hour
	keys := idp.NewKeys(st, kr, nil, func() time.Time { return time.Now().UTC() }, retention)
	if sub == "reencrypt" {
		n, err := keys.Reencrypt(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "re-sealed %d signing keys with the current SECRET_KEY\n", n)
	}
	if sub == "rotate" {
		if err := keys.Ensure(ctx); err != nil {
			return err
		}
		id, err := keys.Rotate(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "new active signing key %s (running servers pick it up within a minute)\n", id)
	}
	list, err := keys.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tCREATED\tROTATED\tACTIVE\tPUBLISHED")
	for _, k := range list {
		rot := "-"
		if k.RotatedAt != nil {
			rot = k.RotatedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%t\n", k.ID, k.Algorithm, k.CreatedAt.Format(time.RFC3339), rot, k.Active, k.Published)
	}
	return tw.Flush()
}
