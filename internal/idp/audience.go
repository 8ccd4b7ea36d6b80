package idp

import (
	"context"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/fintech-idp/idp/internal/store"
)

// The audience model (docs/ARCHITECTURE.md, "Audiences"): a resource server (an API) is
// registered with an audience URI and the scopes it understands; a client is granted
// resources one by one and has its own list of scopes it may ask for. A token request may name
// one resource with the RFC 8707 resource parameter (its audience URI); without it, a client
// granted exactly one resource gets that one, and a client granted several must name one. The
// access token's aud is then that resource's audience and it carries only that resource's
// scopes (plus, in a person's token, the OpenID Connect scopes userinfo needs). A client granted
// no resource gets tokens for itself (aud = its client id), as before resources existed.

// userScopes are the OpenID Connect scopes about a person.
var userScopes = map[string]bool{oidc.ScopeOpenID: true, oidc.ScopeProfile: true, oidc.ScopeEmail: true, oidc.ScopeOfflineAccess: true}

func errScopeNotAllowed() *oidc.Error {
	return oidc.ErrInvalidScope().WithDescription("A requested scope is not allowed for this client.")
}

// checkScopesAllowed refuses any scope the client is not registered for (RFC 6749 §5.2 and
// §4.1.2.1: invalid_scope), at every grant.
func checkScopesAllowed(c *store.Client, scopes []string) error {
	for _, sc := range scopes {
		if !slices.Contains(c.Scopes, sc) {
			return errScopeNotAllowed()
		}
	}
	return nil
}

// targetResource picks the resource a token request is for (RFC 8707 §2): the one named by the
// resource parameter, which must be granted to the client; without one, the client's only
// granted resource. nil when the client is granted none and named none.
func (s *opStorage) targetResource(ctx context.Context, c *store.Client) (*store.Resource, error) {
	var named []string
	if a := authedClientFrom(ctx); a != nil {
		named = a.resources
	}
	if len(named) > 1 {
		return nil, oidc.ErrInvalidTarget().WithDescription("Name one resource per token request.")
	}
	granted, err := s.st.ClientResources(ctx, c.ID)
	if err != nil {
		return nil, s.serverErr(ctx, "load client resources", err)
	}
	if len(named) == 1 {
		for i := range granted {
			if granted[i].Audience == named[0] {
				return &granted[i], nil
			}
		}
		return nil, oidc.ErrInvalidTarget().WithDescription("The resource is unknown or not granted to this client.")
	}
	switch len(granted) {
	case 0:
		return nil, nil
	case 1:
		return &granted[0], nil
	default:
		return nil, oidc.ErrInvalidTarget().WithDescription("This client may call several resources: name one with the resource parameter.")
	}
}

// audienceFor returns the scopes and audience of an access token for c asking for scopes. With
// a target resource, scopes that are not the resource's are refused when the token request named
// them itself (its scope parameter) and left out when they are a default (the client's allowed
// scopes, the scopes of the sign-in or of the refresh token); OpenID Connect scopes stay in a person's token
// (forPerson) so that it still works at userinfo.
func (s *opStorage) audienceFor(ctx context.Context, c *store.Client, scopes []string, forPerson bool) ([]string, []string, error) {
	r, err := s.targetResource(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	if r == nil {
		return scopes, []string{c.ID}, nil
	}
	a := authedClientFrom(ctx)
	strict := a != nil && a.scopeParam
	var kept []string
	for _, sc := range scopes {
		switch {
		case slices.Contains(r.Scopes, sc), forPerson && userScopes[sc]:
			kept = append(kept, sc)
		case strict:
			return nil, nil, oidc.ErrInvalidScope().WithDescription("A requested scope is not a scope of the resource.")
		}
	}
	return kept, []string{r.Audience}, nil
}

// userTokenAudience is audienceFor for the access token of a code or refresh grant. The scopes
// must still be allowed for the client (an operator may have narrowed them since the sign-in).
func (s *opStorage) userTokenAudience(ctx context.Context, req op.TokenRequest) (aud, scopes []string, err error) {
	var clientID string
	switch r := req.(type) {
	case authRequest:
		clientID = r.r.ClientID
	case *refreshRequest:
		clientID = r.t.ClientID
	}
	c, err := s.client(ctx, clientID)
	if err != nil {
		return nil, nil, s.serverErr(ctx, "load client", err)
	}
	if err := checkScopesAllowed(c, req.GetScopes()); err != nil {
		return nil, nil, err
	}
	scopes, aud, err = s.audienceFor(ctx, c, req.GetScopes(), true)
	return aud, scopes, err
}
