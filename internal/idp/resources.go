package idp

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/fintech-idp/idp/internal/store"
)

// ResourceSpec is a resource server (an API) an operator registers (README.md, "Resource
// servers").
type ResourceSpec struct {
	ID       string
	Audience string   // the aud of its tokens: an absolute URI without fragment (RFC 8707 §2)
	Scopes   []string // the scopes it understands
	// ClientID names an existing web or service client that the resource server authenticates as
	// at the introspection endpoint. Empty with NewClient: a service client with the resource's
	// id is created (its secret is returned once). Empty without NewClient: it cannot introspect.
	ClientID  string
	NewClient bool
}

// Validate reports every problem with the spec at once.
func (r ResourceSpec) Validate() error {
	var errs []error
	if !clientIDPattern.MatchString(r.ID) {
		errs = append(errs, errors.New("--id must be 1-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"))
	}
	if err := checkAudience(r.Audience); err != nil {
		errs = append(errs, fmt.Errorf("--audience %q: %w", r.Audience, err))
	}
	for _, sc := range r.Scopes {
		switch {
		case !scopePattern.MatchString(sc):
			errs = append(errs, fmt.Errorf("--scope %q: a scope is 1-128 printable characters without spaces, quotes or backslashes", sc))
		case userScopes[sc]:
			errs = append(errs, fmt.Errorf("--scope %s is an OpenID Connect scope, not a resource's", sc))
		}
	}
	if r.ClientID != "" && r.NewClient {
		errs = append(errs, errors.New("give --client or let a client be created, not both"))
	}
	return errors.Join(errs...)
}

// checkAudience: RFC 8707 §2, an absolute URI without a fragment.
func checkAudience(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "" || err != nil || !u.IsAbs():
		return errors.New("must be an absolute URI such as https://api.example.com")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not contain a fragment")
	case len(raw) > 2000:
		return errors.New("is too long")
	}
	return nil
}

// CreateResource validates and stores a resource, with a new service client for it when asked.
// It returns the plaintext secret of that client (empty when none was created); nothing is left
// behind when a step fails.
func (a *Admin) CreateResource(ctx context.Context, spec ResourceSpec) (*store.Resource, string, error) {
	if err := spec.Validate(); err != nil {
		return nil, "", err
	}
	if _, err := a.Store.GetResource(ctx, spec.ID); err == nil {
		return nil, "", fmt.Errorf("a resource with id %q already exists", spec.ID)
	}
	r := &store.Resource{ID: spec.ID, Audience: spec.Audience, Scopes: spec.Scopes, ClientID: spec.ClientID, CreatedAt: a.Now().UTC()}
	if err := a.checkResourceClient(ctx, r.ClientID); err != nil {
		return nil, "", err
	}
	var secret string
	if spec.NewClient {
		c, s, err := a.CreateClient(ctx, ClientSpec{ID: spec.ID, Name: spec.ID + " (resource server)", Type: store.ClientService, Scopes: []string{}})
		if err != nil {
			return nil, "", fmt.Errorf("the resource server's client: %w (give --client ID to use an existing one)", err)
		}
		r.ClientID, secret = c.ID, s
	}
	if err := a.Store.CreateResource(ctx, r); err != nil {
		if spec.NewClient {
			_ = a.Store.DeleteClient(context.WithoutCancel(ctx), r.ClientID)
		}
		switch {
		case errors.Is(err, store.ErrConflict):
			return nil, "", fmt.Errorf("a resource with id %q or audience %q already exists", spec.ID, spec.Audience)
		case errors.Is(err, store.ErrNotFound):
			return nil, "", fmt.Errorf("no client %q", r.ClientID)
		}
		return nil, "", err
	}
	return r, secret, nil
}

// UpdateResource validates and writes the resource's audience, scopes and client.
func (a *Admin) UpdateResource(ctx context.Context, r *store.Resource) error {
	spec := ResourceSpec{ID: r.ID, Audience: r.Audience, Scopes: r.Scopes, ClientID: r.ClientID}
	if err := spec.Validate(); err != nil {
		return err
	}
	if err := a.checkResourceClient(ctx, r.ClientID); err != nil {
		return err
	}
	err := a.Store.UpdateResource(ctx, r)
	switch {
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("another resource has the audience %q", r.Audience)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("no resource %q (or no client %q)", r.ID, r.ClientID)
	}
	return err
}

// checkResourceClient: a resource server authenticates as a confidential client.
func (a *Admin) checkResourceClient(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	c, err := a.Store.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("--client: no client %q", id)
	}
	if err != nil {
		return err
	}
	if !c.Type.Confidential() {
		return fmt.Errorf("--client: %s is a public (%s) client; a resource server authenticates as a service or web client", id, c.Type)
	}
	return nil
}
