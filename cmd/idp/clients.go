package main

import (
	"context"
	"errors"
	"flag"
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
  idp clients update ID [--name N] [--redirect-uri URI ...] [--post-logout-redirect-uri URI ...]
                     [--access-token opaque|jwt] [--pkce | --no-pkce]
  idp clients rotate-secret ID [--yes]    prints the new secret once; the old one stops working
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
	if len(args) > 0 && isHelp(args[0]) {
		fs.SetOutput(e.stdout)
		fs.Usage()
		return flag.ErrHelp
	}
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
		if _, err := findClient(ctx, st, "clients delete", id); err != nil {
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
	case "update":
		return cmdClientUpdate(ctx, e, fs, args[1:])
	case "rotate-secret":
		return cmdClientRotateSecret(ctx, e, fs, args[1:])
	default:
		fs.Usage()
		return usagef("clients: unknown subcommand %q (want create, list, update, rotate-secret or delete)", args[0])
	}
}

// cmdClientUpdate changes the given fields; redirect lists given replace the old lists whole.
func cmdClientUpdate(ctx context.Context, e env, fs *flag.FlagSet, args []string) error {
	var redirects, postLogout multiFlag
	name := fs.String("name", "", "new display name")
	fs.Var(&redirects, "redirect-uri", "replace the redirect URIs (repeatable)")
	fs.Var(&postLogout, "post-logout-redirect-uri", "replace the post-logout redirect URIs (repeatable)")
	atFormat := fs.String("access-token", "", "access token format: opaque or jwt")
	pkce := fs.Bool("pkce", false, "require PKCE again")
	noPKCE := fs.Bool("no-pkce", false, "exempt a web client from PKCE (not recommended)")
	id, rest := splitTarget(args)
	cfg, err := loadConfig(e, fs, rest)
	if err != nil {
		return err
	}
	if id == "" {
		return usagef("clients update: name the client: idp clients update ID [flags]")
	}
	if *pkce && *noPKCE {
		return usagef("clients update: give --pkce or --no-pkce, not both")
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := findClient(ctx, st, "clients update", id)
	if err != nil {
		return err
	}
	spec := idp.ClientSpec{ID: c.ID, Name: c.Name, Type: c.Type, RedirectURIs: c.RedirectURIs,
		PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, PKCEExempt: c.PKCEExempt}
	jwt := c.AccessTokenJWT
	spec.AccessTokenJWT = &jwt
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			spec.Name = *name
		case "redirect-uri":
			spec.RedirectURIs = redirects
		case "post-logout-redirect-uri":
			spec.PostLogoutRedirectURIs = postLogout
		case "pkce":
			spec.PKCEExempt = false
		case "no-pkce":
			spec.PKCEExempt = true
		}
	})
	switch *atFormat {
	case "":
	case "jwt", "opaque":
		v := *atFormat == "jwt"
		spec.AccessTokenJWT = &v
	default:
		return usagef("clients update: --access-token must be opaque or jwt")
	}
	if err := spec.Validate(cfg.Production()); err != nil {
		return usageError{"clients update:\n" + err.Error()}
	}
	c.Name, c.RedirectURIs, c.PostLogoutRedirectURIs, c.AccessTokenJWT, c.PKCEExempt =
		spec.Name, spec.RedirectURIs, spec.PostLogoutRedirectURIs, *spec.AccessTokenJWT, spec.PKCEExempt
	if err := st.UpdateClient(ctx, c); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "updated client %s\n", c.ID)
	return nil
}

// cmdClientRotateSecret replaces a confidential client's secret; the old one stops working at
// once (running servers forget cached verifications of it because the stored hash changed).
func cmdClientRotateSecret(ctx context.Context, e env, fs *flag.FlagSet, args []string) error {
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	id, rest := splitTarget(args)
	cfg, err := loadConfig(e, fs, rest)
	if err != nil {
		return err
	}
	if id == "" {
		return usagef("clients rotate-secret: name the client: idp clients rotate-secret ID")
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := findClient(ctx, st, "clients rotate-secret", id)
	if err != nil {
		return err
	}
	if !c.Type.Confidential() {
		return fmt.Errorf("clients rotate-secret: %s is a public (%s) client: it has no secret", c.ID, c.Type)
	}
	if !*yes && !confirm(e, fmt.Sprintf("Replace the secret of %q? The old one stops working at once.", c.ID)) {
		return errors.New("clients rotate-secret: not confirmed, nothing changed")
	}
	secret, hash, err := newAdmin(cfg, st).NewClientSecret()
	if err != nil {
		return err
	}
	if err := st.SetClientSecretHash(ctx, c.ID, hash); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "new client secret for %s (shown once, store it now): %s\n", c.ID, secret)
	return nil
}

// findClient loads a client, with a clear message naming the command when it does not exist.
func findClient(ctx context.Context, st store.Store, cmd, id string) (*store.Client, error) {
	c, err := st.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%s: no client with id %q", cmd, id)
	}
	return c, err
}
