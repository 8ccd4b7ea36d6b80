package idp

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/fintech-idp/idp/internal/store"
)

// loginPath is where the OP sends the browser to authenticate (Client.LoginURL).
const loginPath = "/login"

// client adapts a stored client to op.Client. The grants follow the type: each type gets only
// what it needs, and no type ever gets the password grant.
type client struct {
	c          *store.Client
	idTokenTTL time.Duration
	devMode    bool
}

var _ op.Client = (*client)(nil)

func (c *client) GetID() string                    { return c.c.ID }
func (c *client) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }

func (c *client) ApplicationType() op.ApplicationType {
	switch c.c.Type {
	case store.ClientSPA:
		return op.ApplicationTypeUserAgent
	case store.ClientNative:
		return op.ApplicationTypeNative
	default:
		return op.ApplicationTypeWeb
	}
}

func (c *client) AuthMethod() oidc.AuthMethod {
	if c.c.Type.Confidential() {
		return oidc.AuthMethodBasic
	}
	return oidc.AuthMethodNone
}

func (c *client) ResponseTypes() []oidc.ResponseType {
	if c.c.Type == store.ClientService {
		return nil
	}
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c *client) GrantTypes() []oidc.GrantType { return grantTypes(c.c.Type) }

func grantTypes(t store.ClientType) []oidc.GrantType {
	if t == store.ClientService {
		return []oidc.GrantType{oidc.GrantTypeClientCredentials}
	}
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}

func (c *client) LoginURL(id string) string {
	return loginPath + "?authRequestID=" + url.QueryEscape(id)
}

// AccessTokenType is always Bearer towards the library: JWT access tokens are minted by
// tokenCrypto so that they carry the RFC 9068 "at+jwt" type the library cannot set.
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration      { return c.idTokenTTL }

// DevMode is true only with IDP_ENV=development. The library then accepts a registered http
// redirect URI for public clients too; the URI must still match exactly. In production client
// registration already refuses http redirect URIs (except loopback for native apps).
func (c *client) DevMode() bool { return c.devMode }

// RedirectURIGlobs lets the built-in development dashboard client come back to
// http://localhost:<any port>/callback, so the demo runs where port 5000 is taken (AirPlay on
// macOS). Only that client, only in development: every other client, and every client in
// production, matches its registered URIs exactly.
func (c *client) RedirectURIGlobs() []string {
	if c.devAnyPort() {
		return localhostPortGlobs("/callback")
	}
	return nil
}

// PostLogoutRedirectURIGlobs is RedirectURIGlobs for the page after logout.
func (c *client) PostLogoutRedirectURIGlobs() []string {
	if c.devAnyPort() {
		return localhostPortGlobs("/")
	}
	return nil
}

func (c *client) devAnyPort() bool { return c.devMode && c.c.ID == DevClientID }

// localhostPortGlobs matches http://localhost:PORT<path> for a port of 1 to 5 digits and nothing
// else. The library matches with path.Match, whose * would also take "5000@evil.example" (a
// userinfo trick that sends the browser elsewhere): digits only.
func localhostPortGlobs(path string) []string {
	globs := make([]string, 0, 5)
	for n := 1; n <= 5; n++ {
		globs = append(globs, "http://localhost:"+strings.Repeat("[0-9]", n)+path)
	}
	return globs
}

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed lets every requested scope through the library's filter (which would drop
// unknown ones silently): CreateAuthRequest refuses what the client may not ask for, with
// invalid_scope (RFC 6749 §4.1.2.1).
func (c *client) IsScopeAllowed(string) bool { return true }

// IDTokenUserinfoClaimsAssertion puts email and mfa_enabled into the ID token even when an access
// token is issued, so a relying party needs no userinfo call to show who signed in.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }

// originsOf returns the origins (scheme://host[:port]) of the given URIs.
func originsOf(uris []string) []string {
	var out []string
	for _, u := range uris {
		p, err := url.Parse(u)
		if err != nil || p.Scheme == "" || p.Host == "" {
			continue
		}
		o := p.Scheme + "://" + p.Host
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}
