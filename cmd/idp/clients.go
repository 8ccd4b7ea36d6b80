package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/fintech-idp/idp/internal/idp"
	"github.com/fintech-idp/idp/internal/store"
)

const clientsUsage = `Usage:
  idp clients create --id ID --type web|spa|native|service --redirect-uri URI [--redirect-uri URI ...]
                     [--post-logout-redirect-uri URI ...] [--secret S] [--name N]
                     [--access-token opaque|jwt] [--no-pkce]
  idp clients list
  idp clients delete ID [--yes]

Types: web (server-side app, client_secret_basic), spa (browser app, public, PKCE),
native (mobile/desktop app, public, PKCE), service (machine-to-machine, client_credentials,
no redirect URI). A confidential client's secret is printed once and stored hashed; without
--secret one is generated. In production redirect URIs must be https (native apps may use http
on a loopback address or a private-use scheme).

Flags:
`

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func cmdClients(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "clients", clientsUsage)
	if len(args) == 0 {
		fs.Usage()
		return usagef("clients: say create, list or delete")
	}
	switch args[0] {
	case "create":
		var redirects, postLogout multiFlag
		id := fs.String("id", "", "client id (required)")
		typ := fs.String("type", "", "web, spa, native or service (required)")
		fs.Var(&redirects, "redirect-uri", "an allowed redirect URI, exact match (repeatable)")
		fs.Var(&postLogout, "post-logout-redirect-uri", "an allowed post-logout redirect URI (repeatable)")
		secret := fs.String("secret", "", "the client secret for web/service clients (default: generated)")
		name := fs.String("name", "", "the name shown on the sign-in page")
		atFormat := fs.String("access-token", "", "access token format: opaque or jwt (default: jwt for service, opaque otherwise)")
		noPKCE := fs.Bool("no-pkce", false, "exempt a web client from PKCE (not recommended)")
		cfg, err := loadConfig(e, fs, args[1:])
		if err != nil {
			return err
		}
		spec := idp.ClientSpec{ID: *id, Name: *name, Type: store.ClientType(*typ), RedirectURIs: redirects,
			PostLogoutRedirectURIs: postLogout, Secret: *secret, PKCEExempt: *noPKCE}
		switch *atFormat {
		case "":
		case "jwt", "opaque":
			v := *atFormat == "jwt"
			spec.AccessTokenJWT = &v
		default:
			return usagef("clients create: --access-token must be opaque or jwt")
		}
		if err := spec.Validate(cfg.Production()); err != nil {
			return usageError{"clients create:\n" + err.Error()}
		}
		st, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		c, plain, err := newAdmin(cfg, st).CreateClient(ctx, spec)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "created %s client %s\n", c.Type, c.ID)
		if plain != "" && *secret == "" {
			fmt.Fprintf(e.stdout, "client secret (shown once, store it now): %s\n", plain)
		}
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
		clients, err := st.ListClients(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTYPE\tNAME\tACCESS TOKEN\tREDIRECT URIS")
		for _, c := range clients {
			at := "opaque"
			if c.AccessTokenJWT {
				at = "jwt"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Type, c.Name, at, strings.Join(c.RedirectURIs, " "))
		}
		return tw.Flush()
	case "delete":
		yes := fs.Bool("yes", false, "do not ask for confirmation")
		rest := args[1:]
		var id string
		if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			id, rest = rest[0], rest[1:]
		}
		cfg, err := loadConfig(e, fs, rest)
		if err != nil {
			return err
		}
		if id == "" && fs.NArg() > 0 {
			id = fs.Arg(0)
		}
		if id == "" {
			return usagef("clients delete: name the client: idp clients delete ID")
		}
		st, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		if _, err := st.GetClient(ctx, id); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("clients delete: no client with id %q", id)
			}
			return err
		}
		if !*yes && !confirm(e, fmt.Sprintf("Delete client %q and every token it holds?", id)) {
			return errors.New("clients delete: not confirmed, nothing deleted")
		}
		if err := st.DeleteClient(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "deleted client %s\n", id)
		return nil
	default:
		fs.Usage()
		return usagef("clients: unknown subcommand %q (want create, list or delete)", args[0])
	}
}
