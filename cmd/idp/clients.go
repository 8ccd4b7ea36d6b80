package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/fintech-idp/idp/internal/idp"
	"github.com/fintech-idp/idp/internal/store"
)

const clientsUsage = `Usage:
  idp clients create --id ID --type web|spa|native|service --redirect-uri URI [--redirect-uri URI ...]
                     [--post-logout-redirect-uri URI ...] [--secret S] [--name N]
                     [--access-token opaque|jwt] [--no-pkce] [--scope S ...] [--resource R ...]
                     [--auth-method M] [--jwks-file FILE] [--home-uri URL]
  idp clients list
  idp clients update ID [--name N] [--redirect-uri URI ...] [--post-logout-redirect-uri URI ...]
                     [--access-token opaque|jwt] [--pkce | --no-pkce] [--scope S ...]
                     [--resource R ...] [--auth-method M] [--jwks-file FILE] [--home-uri URL]
  idp clients rotate-secret ID [--yes]    prints the new secret once; the old one stops working
  idp clients delete ID [--yes]

Types: web (server-side app), spa (browser app, public, PKCE), native (mobile/desktop app,
public, PKCE), service (machine-to-machine, client_credentials, no redirect URI).

Authentication (--auth-method, the token_endpoint_auth_method): web and service clients use
client_secret_basic (the default), client_secret_post, or private_key_jwt with their public keys
in --jwks-file (a JWKS file); spa and native clients use none. Every other method is refused.
A secret is generated (256 bits), printed once and stored hashed; --secret sets one of at least
32 characters that is not a word, a repetition or a sequence.

Scopes (--scope, repeatable): what the client may ask for; anything else is refused with
invalid_scope. Without --scope: openid profile email (web clients also offline_access; service
clients none). Resources (--resource, repeatable, see idp resources): the APIs the client may get
access tokens for. On update, --scope and --resource replace the whole list; --scope "" or
--resource "" empties it. A spa or native client with offline_access gets a refresh token only
after the person allows it once ("Allow <--name> to stay signed in?"); see README.

Home (--home-uri): the app's home page, linked as "Back to <--name>" from the account page a
person reaches from the app (default: the origin of the first redirect URI; --home-uri "" on
update goes back to that).

In production redirect URIs must be https (native apps may use http on a loopback address or a
private-use scheme).

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
		var scopes, resources multiFlag
		fs.Var(&scopes, "scope", "a scope the client may ask for (repeatable; default: the type's)")
		fs.Var(&resources, "resource", "the id of a resource (API) the client may get tokens for (repeatable)")
		authMethod := fs.String("auth-method", "", "client_secret_basic, client_secret_post or private_key_jwt (web/service; default client_secret_basic)")
		jwksFile := fs.String("jwks-file", "", "a JSON Web Key Set file with the public keys of a private_key_jwt client")
		homeURI := fs.String("home-uri", "", "the app's home page, linked from the account page (default: the first redirect URI's origin)")
		cfg, err := loadConfig(e, fs, args[1:])
		if err != nil {
			return err
		}
		spec := idp.ClientSpec{ID: *id, Name: *name, Type: store.ClientType(*typ), RedirectURIs: redirects,
			PostLogoutRedirectURIs: postLogout, Secret: *secret, PKCEExempt: *noPKCE, AuthMethod: *authMethod, HomeURI: *homeURI}
		if flagGiven(fs, "scope") {
			spec.Scopes = nonEmpty(scopes)
		}
		if spec.JWKS, err = readJWKS(*jwksFile); err != nil {
			return err
		}
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
		admin := newAdmin(cfg, st)
		c, plain, err := admin.CreateClient(ctx, spec)
		if err != nil {
			return err
		}
		if len(resources) > 0 {
			if err := admin.SetClientResources(ctx, c.ID, nonEmpty(resources)); err != nil {
				_ = st.DeleteClient(ctx, c.ID) // nothing half-written
				return fmt.Errorf("clients create: %w", err)
			}
		}
		fmt.Fprintf(e.stdout, "created %s client %s\n", c.Type, c.ID)
		if plain != "" && *secret == "" {
			fmt.Fprintf(e.stdout, "client secret (shown once, store it now): %s\n", plain)
		}
		return nil
	case "list":
		_, st, err := configuredStore(ctx, e, fs, args[1:])
		if err != nil {
			return err
		}
		defer st.Close()
		clients, err := st.ListClients(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTYPE\tNAME\tAUTH\tACCESS TOKEN\tSCOPES\tRESOURCES\tREDIRECT URIS")
		for _, c := range clients {
			at := "opaque"
			if c.AccessTokenJWT {
				at = "jwt"
			}
			granted, err := st.ClientResources(ctx, c.ID)
			if err != nil {
				return err
			}
			var rids []string
			for _, r := range granted {
				rids = append(rids, r.ID)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Type, c.Name, c.AuthMethod, at,
				dash(strings.Join(c.Scopes, " ")), dash(strings.Join(rids, " ")), strings.Join(c.RedirectURIs, " "))
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
	var scopes, resources multiFlag
	fs.Var(&scopes, "scope", "replace the scopes the client may ask for (repeatable; \"\" = none)")
	fs.Var(&resources, "resource", "replace the resources the client may get tokens for (repeatable; \"\" = none)")
	authMethod := fs.String("auth-method", "", "client_secret_basic, client_secret_post or private_key_jwt")
	jwksFile := fs.String("jwks-file", "", "replace the public keys of a private_key_jwt client (JWKS file)")
	homeURI := fs.String("home-uri", "", "the app's home page, linked from the account page (\"\" = the first redirect URI's origin)")
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
		PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, PKCEExempt: c.PKCEExempt,
		AuthMethod: c.AuthMethod, JWKS: c.JWKS, Scopes: c.Scopes, HomeURI: c.HomeURI}
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
		case "scope":
			spec.Scopes = nonEmpty(scopes)
		case "home-uri":
			spec.HomeURI = *homeURI
		case "auth-method":
			spec.AuthMethod = *authMethod
			if *authMethod != store.AuthPrivateKeyJWT {
				spec.JWKS = ""
			}
		}
	})
	if *jwksFile != "" {
		if spec.JWKS, err = readJWKS(*jwksFile); err != nil {
			return err
		}
	}
	if spec.Scopes == nil {
		spec.Scopes = []string{} // an emptied list stays empty (nil would mean the type's default)
	}
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
	wasSecret := c.AuthMethod == store.AuthSecretBasic || c.AuthMethod == store.AuthSecretPost
	c.Name, c.RedirectURIs, c.PostLogoutRedirectURIs, c.AccessTokenJWT, c.PKCEExempt =
		spec.Name, spec.RedirectURIs, spec.PostLogoutRedirectURIs, *spec.AccessTokenJWT, spec.PKCEExempt
	c.AuthMethod, c.JWKS, c.Scopes, c.HomeURI = spec.AuthMethod, spec.JWKS, spec.Scopes, spec.HomeURI
	if flagGiven(fs, "resource") {
		if err := newAdmin(cfg, st).SetClientResources(ctx, c.ID, nonEmpty(resources)); err != nil {
			return fmt.Errorf("clients update: %w", err)
		}
	}
	if err := st.UpdateClient(ctx, c); err != nil {
		return err
	}
	if !wasSecret && (c.AuthMethod == store.AuthSecretBasic || c.AuthMethod == store.AuthSecretPost) && c.SecretHash == "" {
		fmt.Fprintf(e.stdout, "client %s has no secret yet: run idp clients rotate-secret %s\n", c.ID, c.ID)
	}
	fmt.Fprintf(e.stdout, "updated client %s\n", c.ID)
	return nil
}

// cmdClientRotateSecret replaces a confidential client's secret; the old one stops working at
// once (running servers forget cached verifications of it because the stored hash changed).
func cmdClientRotateSecret(ctx context.Context, e env, fs *flag.FlagSet, args []string) error {
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	id, cfg, st, err := targetStore(ctx, e, fs, args, "clients rotate-secret: name the client: idp clients rotate-secret ID")
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
	if c.AuthMethod == store.AuthPrivateKeyJWT {
		return fmt.Errorf("clients rotate-secret: %s authenticates with private_key_jwt: give it new keys with idp clients update %s --jwks-file FILE", c.ID, c.ID)
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

// flagGiven reports whether the flag was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// nonEmpty drops empty values (--scope "" empties a list) and returns a non-nil slice.
func nonEmpty(vs []string) []string {
	out := []string{}
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// readJWKS reads a JWKS file (empty name: none). The content is checked by ClientSpec.Validate.
func readJWKS(name string) (string, error) {
	if name == "" {
		return "", nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return "", usagef("--jwks-file: %v", err)
	}
	if len(b) > 64<<10 {
		return "", usagef("--jwks-file: more than 64 KiB")
	}
	return string(b), nil
}
