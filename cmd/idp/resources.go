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

const resourcesUsage = `Usage:
  idp resources create --id ID --audience URI [--scope S ...] [--client ID | --no-client]
  idp resources list
  idp resources update ID [--audience URI] [--scope S ...] [--client ID]
  idp resources delete ID [--yes]

A resource is a resource server (an API) that access tokens can be meant for. Its --audience
(an absolute URI, e.g. https://ledger.example) is the aud of those tokens and what clients name
in the token request's resource parameter (RFC 8707); --scope lists the scopes it understands.
Grant a client access with: idp clients update CLIENT --resource ID (and --scope for the scopes
it may ask for).

The resource server calls the introspection endpoint as a client: create makes a service client
with the resource's id and prints its secret once, unless --client names an existing web or
service client or --no-client says it will not introspect (it then validates JWT access tokens
itself). Deleting a resource removes the grants, not that client.

Flags:
`

func cmdResources(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "resources", resourcesUsage)
	if len(args) > 0 && isHelp(args[0]) {
		fs.SetOutput(e.stdout)
		fs.Usage()
		return flag.ErrHelp
	}
	if len(args) == 0 {
		fs.Usage()
		return usagef("resources: say create, list, update or delete")
	}
	switch args[0] {
	case "create":
		var scopes multiFlag
		id := fs.String("id", "", "resource id (required)")
		audience := fs.String("audience", "", "the aud of its access tokens, an absolute URI (required)")
		fs.Var(&scopes, "scope", "a scope of the resource (repeatable)")
		clientID := fs.String("client", "", "an existing client the resource server authenticates as (default: a new service client named ID)")
		noClient := fs.Bool("no-client", false, "create no client: the resource server does not introspect")
		cfg, err := loadConfig(e, fs, args[1:])
		if err != nil {
			return err
		}
		spec := idp.ResourceSpec{ID: *id, Audience: *audience, Scopes: nonEmpty(scopes), ClientID: *clientID, NewClient: *clientID == "" && !*noClient}
		if err := spec.Validate(); err != nil {
			return usageError{"resources create:\n" + err.Error()}
		}
		st, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		r, secret, err := newAdmin(cfg, st).CreateResource(ctx, spec)
		if err != nil {
			return fmt.Errorf("resources create: %w", err)
		}
		fmt.Fprintf(e.stdout, "created resource %s (audience %s)\n", r.ID, r.Audience)
		if secret != "" {
			fmt.Fprintf(e.stdout, "its resource server authenticates as client %s; client secret (shown once, store it now): %s\n", r.ClientID, secret)
		}
		return nil
	case "list":
		_, st, err := configuredStore(ctx, e, fs, args[1:])
		if err != nil {
			return err
		}
		defer st.Close()
		rs, err := st.ListResources(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tAUDIENCE\tSCOPES\tCLIENT")
		for _, r := range rs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.Audience, dash(strings.Join(r.Scopes, " ")), dash(r.ClientID))
		}
		return tw.Flush()
	case "update":
		var scopes multiFlag
		audience := fs.String("audience", "", "new audience URI")
		fs.Var(&scopes, "scope", "replace the scopes (repeatable; \"\" = none)")
		clientID := fs.String("client", "", "the client the resource server authenticates as (\"\" = none)")
		id, cfg, st, err := targetStore(ctx, e, fs, args[1:], "resources update: name the resource: idp resources update ID [flags]")
		if err != nil {
			return err
		}
		defer st.Close()
		r, err := findResource(ctx, st, "resources update", id)
		if err != nil {
			return err
		}
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "audience":
				r.Audience = *audience
			case "scope":
				r.Scopes = nonEmpty(scopes)
			case "client":
				r.ClientID = *clientID
			}
		})
		if err := newAdmin(cfg, st).UpdateResource(ctx, r); err != nil {
			return fmt.Errorf("resources update: %w", err)
		}
		fmt.Fprintf(e.stdout, "updated resource %s\n", r.ID)
		return nil
	case "delete":
		yes := fs.Bool("yes", false, "do not ask for confirmation")
		id, _, st, err := targetStore(ctx, e, fs, args[1:], "resources delete: name the resource: idp resources delete ID")
		if err != nil {
			return err
		}
		defer st.Close()
		r, err := findResource(ctx, st, "resources delete", id)
		if err != nil {
			return err
		}
		if !*yes && !confirm(e, fmt.Sprintf("Delete resource %q? Clients lose access to it.", id)) {
			return errors.New("resources delete: not confirmed, nothing deleted")
		}
		if err := st.DeleteResource(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "deleted resource %s\n", id)
		if r.ClientID != "" {
			fmt.Fprintf(e.stdout, "its client %s stays (idp clients delete %s removes it)\n", r.ClientID, r.ClientID)
		}
		return nil
	default:
		fs.Usage()
		return usagef("resources: unknown subcommand %q (want create, list, update or delete)", args[0])
	}
}

func findResource(ctx context.Context, st store.Store, cmd, id string) (*store.Resource, error) {
	r, err := st.GetResource(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%s: no resource with id %q", cmd, id)
	}
	return r, err
}
