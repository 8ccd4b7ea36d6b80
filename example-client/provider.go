package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"
)

// scopes the dashboard asks for: offline_access for the refresh token, profile for mfa_enabled.
var scopes = []string{oidc.ScopeOpenID, oidc.ScopeEmail, oidc.ScopeProfile, oidc.ScopeOfflineAccess}

// identityProvider is what the dashboard needs from the IdP. zitadelProvider implements it over
// zitadel/oidc's rp package; handler tests use a fake.
type identityProvider interface {
	// AuthURL is the authorization request to send the browser to (code flow, S256 PKCE).
	AuthURL(state, nonce, codeChallenge string, extra url.Values) string
	// Exchange redeems a code with the PKCE verifier and verifies the ID token, including that
	// its nonce is the one sent (OIDC Core §3.1.3.7).
	Exchange(ctx context.Context, code, verifier, nonce string) (tokenSet, error)
	// Refresh uses a refresh token. The IdP rotates refresh tokens: the returned one replaces it.
	Refresh(ctx context.Context, refreshToken string) (tokenSet, error)
	// EndSessionURL is the RP-initiated logout URL (OIDC RP-Initiated Logout §2).
	EndSessionURL(idTokenHint, postLogoutRedirectURI string) (string, error)
}

// tokenSet is a token response; claims is nil when it carried no ID token.
type tokenSet struct {
	accessToken  string
	refreshToken string
	idToken      string
	expiry       time.Time
	claims       *idClaims
}

// idClaims are the ID-token claims the dashboard shows or decides on.
type idClaims struct {
	subject       string
	email         string
	emailVerified bool
	mfaEnabled    *bool // nil when the IdP did not say
	amr           []string
	acr           string
	authTime      time.Time
}

type zitadelProvider struct {
	rp rp.RelyingParty
}

type nonceKey struct{}

// dialZitadel returns a function that runs discovery and builds the relying party.
func dialZitadel(cfg config, hc *http.Client) func(context.Context) (identityProvider, error) {
	return func(ctx context.Context) (identityProvider, error) {
		r, err := rp.NewRelyingPartyOIDC(ctx, cfg.Issuer, cfg.ClientID, cfg.ClientSecret, cfg.RedirectURL, scopes,
			rp.WithHTTPClient(hc),
			// The IdP's web clients authenticate with client_secret_basic, refreshes included.
			rp.WithAuthStyle(oauth2.AuthStyleInHeader),
			// The expected nonce travels in the context of each Exchange; refreshed ID tokens
			// carry none, and an empty expectation matches that.
			rp.WithVerifierOpts(rp.WithNonce(func(ctx context.Context) string {
				n, _ := ctx.Value(nonceKey{}).(string)
				return n
			})),
		)
		if err != nil {
			return nil, err
		}
		return &zitadelProvider{rp: r}, nil
	}
}

func urlParams(v url.Values) rp.AuthURLOpt {
	return func() []oauth2.AuthCodeOption {
		var opts []oauth2.AuthCodeOption
		for k, vs := range v {
			for _, x := range vs {
				opts = append(opts, oauth2.SetAuthURLParam(k, x))
			}
		}
		return opts
	}
}

func (z *zitadelProvider) AuthURL(state, nonce, codeChallenge string, extra url.Values) string {
	p := url.Values{"nonce": {nonce}}
	for k, v := range extra {
		p[k] = v
	}
	return rp.AuthURL(state, z.rp, rp.WithCodeChallenge(codeChallenge), urlParams(p))
}

func (z *zitadelProvider) Exchange(ctx context.Context, code, verifier, nonce string) (tokenSet, error) {
	ctx = context.WithValue(ctx, nonceKey{}, nonce)
	t, err := rp.CodeExchange[*oidc.IDTokenClaims](ctx, code, z.rp, rp.WithCodeVerifier(verifier))
	if err != nil {
		return tokenSet{}, err
	}
	if t.IDTokenClaims == nil {
		return tokenSet{}, errors.New("token response without an id_token")
	}
	return toTokenSet(t), nil
}

func (z *zitadelProvider) Refresh(ctx context.Context, refreshToken string) (tokenSet, error) {
	t, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx, z.rp, refreshToken, "", "")
	if err != nil {
		return tokenSet{}, err
	}
	return toTokenSet(t), nil
}

func (z *zitadelProvider) EndSessionURL(idTokenHint, postLogout string) (string, error) {
	ep := z.rp.GetEndSessionEndpoint()
	if ep == "" {
		return "", errors.New("the IdP has no end_session_endpoint")
	}
	u, err := url.Parse(ep)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("id_token_hint", idTokenHint)
	q.Set("client_id", z.rp.OAuthConfig().ClientID)
	q.Set("post_logout_redirect_uri", postLogout)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func toTokenSet(t *oidc.Tokens[*oidc.IDTokenClaims]) tokenSet {
	ts := tokenSet{accessToken: t.AccessToken, refreshToken: t.RefreshToken, idToken: t.IDToken, expiry: t.Expiry}
	if c := t.IDTokenClaims; c != nil {
		ic := &idClaims{
			subject:       c.Subject,
			email:         c.Email,
			emailVerified: bool(c.EmailVerified),
			amr:           c.AuthenticationMethodsReferences,
			acr:           c.AuthenticationContextClassReference,
		}
		if !c.AuthTime.AsTime().IsZero() && c.AuthTime != 0 {
			ic.authTime = c.AuthTime.AsTime()
		}
		if b, ok := c.Claims["mfa_enabled"].(bool); ok {
			ic.mfaEnabled = &b
		}
		ts.claims = ic
	}
	return ts
}

// connector holds the provider once discovery has worked. Until then every call to get retries
// discovery (at most once a second), and a background loop keeps trying, so the dashboard
// starts and answers while the IdP is still down.
type connector struct {
	dial func(context.Context) (identityProvider, error)
	log  *slog.Logger

	mu      sync.Mutex // serializes dial attempts
	p       identityProvider
	lastTry time.Time
}

var errNotReachable = errors.New("the IdP is not reachable")

func (c *connector) get(ctx context.Context) (identityProvider, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.p != nil {
		return c.p, nil
	}
	if time.Since(c.lastTry) < time.Second {
		return nil, errNotReachable
	}
	c.lastTry = time.Now()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	p, err := c.dial(ctx)
	if err != nil {
		c.log.Warn("discovery failed; will retry", "err", err)
		return nil, errNotReachable
	}
	c.log.Info("discovery succeeded")
	c.p = p
	return p, nil
}

// retry keeps trying discovery in the background until it works or ctx ends.
func (c *connector) retry(ctx context.Context, every time.Duration) {
	for {
		if _, err := c.get(ctx); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
