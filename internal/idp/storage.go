package idp

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/sync/singleflight"

	"github.com/fintech-idp/idp/internal/password"
	"github.com/fintech-idp/idp/internal/store"
)

// Lifetimes are the token and request lifetimes the provider enforces.
type Lifetimes struct {
	AuthRequest     time.Duration
	AuthCode        time.Duration
	AccessToken     time.Duration
	IDToken         time.Duration
	RefreshIdle     time.Duration
	RefreshAbsolute time.Duration
	SessionIdle     time.Duration
	SessionAbsolute time.Duration
}

// opStorage implements op.Storage (and the optional interfaces we rely on) over store.Store.
// Every error that can reach a client is an *oidc.Error with fixed text: the library turns any
// other error into a server_error whose description is err.Error().
type opStorage struct {
	st        store.Store
	keys      *Keys
	secrets   *clientSecrets
	life      Lifetimes
	issuer    string
	now       func() time.Time
	rand      io.Reader
	log       *slog.Logger
	audit     *auditor
	urlSigner signer
	devMode   bool // development: http redirect URIs that are registered exactly are allowed

	// jwtPending carries the claims of an access token from CreateAccessToken to
	// tokenCrypto.Encrypt, which the library calls right after (see tokencrypto.go).
	jwtPending sync.Map // token id → *store.AccessToken
}

var (
	_ op.Storage                        = (*opStorage)(nil)
	_ op.ClientCredentialsStorage       = (*opStorage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*opStorage)(nil)
	_ op.CanTerminateSessionFromRequest = (*opStorage)(nil)
)

// Fixed protocol errors. Descriptions are human sentences without internals.
func errInvalidGrant() *oidc.Error {
	return oidc.ErrInvalidGrant().WithDescription("The grant is invalid, expired or was already used.")
}

func errServer() *oidc.Error {
	return oidc.ErrServerError().WithDescription("The server could not complete the request. Please try again.")
}

// serverErr logs err with the context's request id and returns a fixed server_error.
func (s *opStorage) serverErr(ctx context.Context, msg string, err error) *oidc.Error {
	s.log.ErrorContext(ctx, msg, "error", err)
	return errServer()
}

type ctxKey int

const (
	ctxBrowserHash ctxKey = iota + 1
)

// withBrowserHash puts the hash of the browser binding cookie into ctx, for CreateAuthRequest.
func withBrowserHash(ctx context.Context, h string) context.Context {
	return context.WithValue(ctx, ctxBrowserHash, h)
}

func browserHashFrom(ctx context.Context) string {
	h, _ := ctx.Value(ctxBrowserHash).(string)
	return h
}

// ---- auth requests and codes ----

func (s *opStorage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, hintSubject string) (op.AuthRequest, error) {
	bh := browserHashFrom(ctx)
	if bh == "" {
		// The binding middleware runs in front of /authorize; reaching here without it is a bug.
		return nil, s.serverErr(ctx, "auth request without browser binding", errors.New("missing browser hash"))
	}
	c, err := s.st.GetClient(ctx, req.ClientID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, oidc.ErrInvalidClient().WithDescription("The client is unknown.")
		}
		return nil, s.serverErr(ctx, "load client", err)
	}
	// RFC 9700 §2.1.1: PKCE for every client, S256 only; a confidential client may be exempted
	// by its operator.
	switch {
	case req.CodeChallenge == "" && !(c.PKCEExempt && c.Type.Confidential()):
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE is required: send code_challenge with code_challenge_method=S256.")
	case req.CodeChallenge != "" && req.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		return nil, oidc.ErrInvalidRequest().WithDescription("Only the S256 code_challenge_method is supported.")
	case req.CodeChallenge != "" && (len(req.CodeChallenge) < 43 || len(req.CodeChallenge) > 128):
		return nil, oidc.ErrInvalidRequest().WithDescription("The code_challenge is malformed.")
	}
	if err := checkScopesAllowed(c, req.Scopes); err != nil {
		return nil, err
	}
	if req.ResponseType != oidc.ResponseTypeCode {
		return nil, &oidc.Error{ErrorType: "unsupported_response_type", Description: "Only the authorization code flow (response_type=code) is supported."}
	}
	if len(req.State) > 2048 || len(req.Nonce) > 2048 || len(req.LoginHint) > 512 {
		return nil, oidc.ErrInvalidRequest().WithDescription("A request parameter is too long.")
	}
	now := s.now()
	// The auth request id is a secret: it is bound to this browser and expires.
	id, err := randomToken(s.rand, 24)
	if err != nil {
		return nil, s.serverErr(ctx, "auth request id", err)
	}
	r := &store.AuthRequest{
		ID:                  id,
		ClientID:            req.ClientID,
		RedirectURI:         req.RedirectURI,
		Scopes:              req.Scopes,
		State:               req.State,
		Nonce:               req.Nonce,
		ResponseType:        string(req.ResponseType),
		ResponseMode:        string(req.ResponseMode),
		CodeChallenge:       req.CodeChallenge,
		CodeChallengeMethod: string(req.CodeChallengeMethod),
		Prompt:              req.Prompt,
		LoginHint:           req.LoginHint,
		HintSubject:         hintSubject,
		ACRValues:           req.ACRValues,
		BrowserHash:         bh,
		CreatedAt:           now,
		ExpiresAt:           now.Add(s.life.AuthRequest),
	}
	if req.MaxAge != nil {
		v := int64(*req.MaxAge)
		r.MaxAge = &v
	}
	for _, l := range req.UILocales {
		r.UILocales = append(r.UILocales, l.String())
	}
	if err := s.st.CreateAuthRequest(ctx, r); err != nil {
		return nil, s.serverErr(ctx, "store auth request", err)
	}
	return authRequest{r}, nil
}

func (s *opStorage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	r, err := s.st.GetAuthRequest(ctx, id, s.now())
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, oidc.ErrInvalidRequest().WithDescription("The sign-in request is unknown or has expired.")
		}
		return nil, s.serverErr(ctx, "load auth request", err)
	}
	return authRequest{r}, nil
}

func (s *opStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := s.st.GetAuthRequestByCode(ctx, hashToken(code), s.now())
	switch {
	case errors.Is(err, store.ErrCodeReplayed):
		s.audit.log(ctx, "code.replayed", "", "", nil)
		return nil, errInvalidGrant()
	case errors.Is(err, store.ErrNotFound):
		return nil, errInvalidGrant()
	case err != nil:
		return nil, s.serverErr(ctx, "load auth request by code", err)
	}
	if err := s.checkUserActive(ctx, r.Subject); err != nil {
		return nil, err
	}
	// A public client gets no refresh token unless the person allowed it (see consent.go),
	// whichever pages the browser went through.
	granted, err := s.offlineGranted(ctx, r)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, s.serverErr(ctx, "check offline consent", err)
	}
	if !granted {
		withoutOffline(r)
	}
	return authRequest{r}, nil
}

func (s *opStorage) SaveAuthCode(ctx context.Context, id, code string) error {
	r, err := s.st.GetAuthRequest(ctx, id, s.now())
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return oidc.ErrInvalidRequest().WithDescription("The sign-in request is unknown or has expired.")
		}
		return s.serverErr(ctx, "load auth request", err)
	}
	err = s.st.SaveAuthCode(ctx, &store.AuthCode{
		Hash:          hashToken(code),
		AuthRequestID: id,
		ClientID:      r.ClientID,
		Subject:       r.Subject,
		ExpiresAt:     s.now().Add(s.life.AuthCode),
	})
	if errors.Is(err, store.ErrConflict) {
		// A second callback for the same request must not mint a second code.
		return oidc.ErrInvalidRequest().WithDescription("The sign-in request was already completed.")
	}
	if errors.Is(err, store.ErrNotFound) {
		// What authenticated the request has ended since (the session was revoked or expired,
		// the person was disabled or changed the password): sign in again.
		return oidc.ErrLoginRequired().WithDescription(msgSignInEnded)
	}
	if err != nil {
		return s.serverErr(ctx, "save auth code", err)
	}
	return nil
}

// msgSignInEnded is the description of a callback whose sign-in was ended by a revocation.
const msgSignInEnded = "The sign-in has ended. Please sign in again."

func (s *opStorage) DeleteAuthRequest(ctx context.Context, id string) error {
	if err := s.st.DeleteAuthRequest(ctx, id); err != nil {
		return s.serverErr(ctx, "delete auth request", err)
	}
	return nil
}

// ---- tokens ----

func (s *opStorage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	p, err := s.issueParams(ctx, req, "", false)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := s.issue(ctx, p); err != nil {
		return "", time.Time{}, err
	}
	return p.Access.ID, p.Access.ExpiresAt, nil
}

func (s *opStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	refresh, err := randomToken(s.rand, 32)
	if err != nil {
		return "", "", time.Time{}, s.serverErr(ctx, "refresh token", err)
	}
	refresh = refreshTokenPrefix + refresh
	p, err := s.issueParams(ctx, req, current, true)
	if err != nil {
		return "", "", time.Time{}, err
	}
	p.Refresh.Hash = hashToken(refresh)
	if err := s.issue(ctx, p); err != nil {
		return "", "", time.Time{}, err
	}
	return p.Access.ID, refresh, p.Access.ExpiresAt, nil
}

// issueParams builds the records for one issuance from whichever request the library hands us.
func (s *opStorage) issueParams(ctx context.Context, req op.TokenRequest, currentRefresh string, withRefresh bool) (p store.IssueParams, err error) {
	now := s.now()
	p = store.IssueParams{Now: now}
	at := store.AccessToken{
		ID:        uuid.NewString(),
		Subject:   req.GetSubject(),
		Audience:  req.GetAudience(),
		Scopes:    req.GetScopes(),
		CreatedAt: now,
		ExpiresAt: now.Add(s.life.AccessToken),
	}
	var rt *store.RefreshToken
	if withRefresh {
		rt = &store.RefreshToken{
			ID:        uuid.NewString(),
			FamilyID:  uuid.NewString(),
			Subject:   req.GetSubject(),
			Audience:  req.GetAudience(),
			CreatedAt: now,
		}
	}
	switch req.(type) {
	case authRequest, *refreshRequest:
		// The access token's audience and scopes follow the resource asked for (audience.go).
		if at.Audience, at.Scopes, err = s.userTokenAudience(ctx, req); err != nil {
			return p, err
		}
	}
	switch r := req.(type) {
	case authRequest:
		at.ClientID, at.AuthTime, at.AMR, at.ACR = r.r.ClientID, r.r.AuthTime, r.r.AMR, r.r.ACR
		at.CodeHash, at.SessionID = r.r.CodeHash, r.r.SessionID
		p.CodeHash = r.r.CodeHash
		if p.CodeHash == "" {
			return p, s.serverErr(ctx, "token for auth request without code", errors.New("no code hash"))
		}
		if rt != nil {
			rt.ClientID, rt.Scopes, rt.AuthTime, rt.AMR, rt.ACR = r.r.ClientID, r.r.Scopes, r.r.AuthTime, r.r.AMR, r.r.ACR
			rt.CodeHash, rt.SessionID = r.r.CodeHash, r.r.SessionID
			// RFC 9700 §4.14.2: the family dies absolutely some time after the original login.
			rt.FamilyExpiresAt = r.r.AuthTime.Add(s.life.RefreshAbsolute)
		}
	case *refreshRequest:
		if rt == nil || currentRefresh == "" {
			return p, s.serverErr(ctx, "refresh without rotation", errors.New("missing current refresh token"))
		}
		at.ClientID, at.AuthTime, at.AMR, at.ACR, at.SessionID = r.t.ClientID, r.t.AuthTime, r.t.AMR, r.t.ACR, r.t.SessionID
		p.RotateRefreshHash = hashToken(currentRefresh)
		// RFC 6749 §6: the new refresh token keeps the original scope even when the access
		// token was narrowed.
		rt.ClientID, rt.Scopes, rt.AuthTime, rt.AMR, rt.ACR, rt.SessionID = r.t.ClientID, r.t.Scopes, r.t.AuthTime, r.t.AMR, r.t.ACR, r.t.SessionID
		rt.FamilyID, rt.FamilyExpiresAt = r.t.FamilyID, r.t.FamilyExpiresAt
	case serviceRequest:
		at.ClientID = r.clientID
		if rt != nil {
			return p, s.serverErr(ctx, "refresh token for client credentials", errors.New("unexpected refresh"))
		}
	default:
		return p, s.serverErr(ctx, "unsupported token request", fmt.Errorf("type %T", req))
	}
	if rt != nil {
		rt.ExpiresAt = now.Add(s.life.RefreshIdle)
		if rt.ExpiresAt.After(rt.FamilyExpiresAt) {
			rt.ExpiresAt = rt.FamilyExpiresAt
		}
		if !rt.ExpiresAt.After(now) {
			return p, errInvalidGrant()
		}
	}
	p.Access, p.Refresh = at, rt
	return p, nil
}

func (s *opStorage) issue(ctx context.Context, p store.IssueParams) error {
	err := s.st.IssueTokens(ctx, p)
	switch {
	case errors.Is(err, store.ErrCodeReplayed):
		s.audit.log(ctx, "code.replayed", p.Access.Subject, p.Access.ClientID, nil)
		return errInvalidGrant()
	case errors.Is(err, store.ErrRefreshReused):
		s.audit.log(ctx, "refresh.reused", p.Access.Subject, p.Access.ClientID, nil)
		return errInvalidGrant()
	case errors.Is(err, store.ErrNotFound):
		return errInvalidGrant()
	case err != nil:
		return s.serverErr(ctx, "issue tokens", err)
	}
	c, err := s.client(ctx, p.Access.ClientID)
	if err == nil && c.AccessTokenJWT {
		at := p.Access
		s.jwtPending.Store(at.ID, &at)
	}
	return nil
}

func (s *opStorage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	rt, err := s.st.GetRefreshToken(ctx, hashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errInvalidGrant()
	}
	if err != nil {
		return nil, s.serverErr(ctx, "load refresh token", err)
	}
	now := s.now()
	if rt.UsedAt != nil && rt.RevokedAt == nil {
		// A rotated token came back: someone holds a copy. Kill the family (RFC 9700 §4.14.2).
		if err := s.st.RevokeRefreshFamily(ctx, rt.FamilyID, now); err != nil {
			return nil, s.serverErr(ctx, "revoke refresh family", err)
		}
		s.audit.log(ctx, "refresh.reused", rt.Subject, rt.ClientID, nil)
		return nil, errInvalidGrant()
	}
	if rt.RevokedAt != nil || !now.Before(rt.ExpiresAt) || !now.Before(rt.FamilyExpiresAt) {
		return nil, errInvalidGrant()
	}
	if err := s.checkUserActive(ctx, rt.Subject); err != nil {
		return nil, err
	}
	return &refreshRequest{t: rt, scopes: rt.Scopes}, nil
}

// checkUserActive refuses tokens for a disabled or deleted user.
func (s *opStorage) checkUserActive(ctx context.Context, userID string) error {
	u, err := s.st.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return errInvalidGrant()
	}
	if err != nil {
		return s.serverErr(ctx, "load user", err)
	}
	if u.Disabled {
		return errInvalidGrant()
	}
	return nil
}

// refreshIDPrefix marks a refresh token hash handed from GetRefreshTokenInfo to RevokeToken.
const refreshIDPrefix = "rth_"

// refreshTokenPrefix starts every refresh token we issue, so that one sent where an access token
// was expected is recognised.
const refreshTokenPrefix = "rt_"

func (s *opStorage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	rt, err := s.st.GetRefreshToken(ctx, hashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return "", "", op.ErrInvalidRefreshToken
	}
	if err != nil {
		return "", "", s.serverErr(ctx, "load refresh token", err)
	}
	return rt.Subject, refreshIDPrefix + rt.Hash, nil
}

// RevokeToken gets the refresh token's hash (refreshIDPrefix) from GetRefreshTokenInfo, an access
// token's id, or, when the client sent a refresh token with token_type_hint=access_token, the
// raw refresh token: the library then skips the refresh lookup, and RFC 7009 §2.1 asks the server
// to widen its search when the hint is wrong.
func (s *opStorage) RevokeToken(ctx context.Context, tokenOrID, _ string, clientID string) *oidc.Error {
	now := s.now()
	hash, isRefresh := strings.CutPrefix(tokenOrID, refreshIDPrefix)
	if !isRefresh && strings.HasPrefix(tokenOrID, refreshTokenPrefix) {
		hash, isRefresh = hashToken(tokenOrID), true
	}
	if isRefresh && hash != "" {
		rt, err := s.st.GetRefreshToken(ctx, hash)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return s.serverErr(ctx, "load refresh token", err)
		}
		if rt.ClientID != clientID {
			return oidc.ErrInvalidRequest().WithDescription("The token was not issued to this client.")
		}
		// RFC 7009 §2.1: revoking a refresh token also invalidates the access tokens of the grant.
		if err := s.st.RevokeRefreshFamily(ctx, rt.FamilyID, now); err != nil {
			return s.serverErr(ctx, "revoke refresh family", err)
		}
		s.audit.log(ctx, "token.revoked", rt.Subject, clientID, map[string]string{"kind": "refresh"})
		return nil
	}
	at, err := s.st.GetAccessToken(ctx, tokenOrID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // RFC 7009 §2.2: unknown tokens are not an error
	}
	if err != nil {
		return s.serverErr(ctx, "load access token", err)
	}
	if at.ClientID != clientID {
		return oidc.ErrInvalidRequest().WithDescription("The token was not issued to this client.")
	}
	if err := s.st.RevokeAccessToken(ctx, at.ID, now); err != nil {
		return s.serverErr(ctx, "revoke access token", err)
	}
	s.audit.log(ctx, "token.revoked", at.Subject, clientID, map[string]string{"kind": "access"})
	return nil
}

// ---- sessions ----

// TerminateSession is required by op.AuthStorage but never called: the provider uses
// TerminateSessionFromRequest, which routes through our logout page.
func (s *opStorage) TerminateSession(context.Context, string, string) error { return nil }

// TerminateSessionFromRequest sends the browser to our logout page, which can clear the SSO
// cookie (the library gives storage no ResponseWriter) and asks for confirmation when the
// request carried no id_token_hint.
func (s *opStorage) TerminateSessionFromRequest(ctx context.Context, req *op.EndSessionRequest) (string, error) {
	lr := logoutRequest{
		RedirectURI: req.RedirectURI,
		Subject:     req.UserID,
		ClientID:    req.ClientID,
		Hinted:      req.IDTokenHintClaims != nil,
		Expires:     s.now().Add(10 * time.Minute).Unix(),
	}
	v, err := s.urlSigner.sign(&lr)
	if err != nil {
		return "", s.serverErr(ctx, "sign logout request", err)
	}
	return s.issuer + logoutPath + "?lr=" + v, nil
}

// ---- keys ----

func (s *opStorage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	k, err := s.keys.Active(ctx)
	if err != nil {
		return nil, s.serverErr(ctx, "signing key", err)
	}
	return k, nil
}

func (s *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *opStorage) KeySet(ctx context.Context) ([]op.Key, error) {
	k, err := s.keys.Public(ctx)
	if err != nil {
		return nil, s.serverErr(ctx, "key set", err)
	}
	return k, nil
}

// ---- clients ----

// client returns the client the request authenticated as (read by the clientAuth middleware a
// moment ago) when id is that client, and reads it from the store otherwise: a token request
// needs its client in several library callbacks, and one read is enough.
func (s *opStorage) client(ctx context.Context, id string) (*store.Client, error) {
	if a := authedClientFrom(ctx); a != nil && a.client.ID == id {
		return a.client, nil
	}
	return s.st.GetClient(ctx, id)
}

func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.client(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oidc.ErrInvalidClient().WithDescription("The client is unknown.")
	}
	if err != nil {
		return nil, s.serverErr(ctx, "load client", err)
	}
	return &client{c: c, idTokenTTL: s.life.IDToken, devMode: s.devMode}, nil
}

func (s *opStorage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	if err := s.AuthorizeClientIDSecret(ctx, id, secret); err != nil {
		return nil, err
	}
	c, err := s.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(c.GrantTypes(), oidc.GrantTypeClientCredentials) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("This client may not use the client_credentials grant.")
	}
	return c, nil
}

// ClientCredentialsTokenRequest decides what a service client gets: only scopes it may ask for
// (invalid_scope otherwise, RFC 6749 §5.2), never a user scope, and for a resource only that
// resource's scopes with its audience (RFC 8707, see audience.go).
func (s *opStorage) ClientCredentialsTokenRequest(ctx context.Context, clientID string, scopes []string) (op.TokenRequest, error) {
	for _, sc := range scopes {
		if userScopes[sc] {
			return nil, oidc.ErrInvalidScope().WithDescription("User scopes cannot be requested with client_credentials.")
		}
	}
	c, err := s.client(ctx, clientID)
	if err != nil {
		return nil, s.serverErr(ctx, "load client", err)
	}
	if err := checkScopesAllowed(c, scopes); err != nil {
		return nil, err
	}
	if len(scopes) == 0 {
		scopes = c.Scopes // RFC 6749 §3.3: no scope asked for, the registered default
	}
	scopes, aud, err := s.audienceFor(ctx, c, scopes, false)
	if err != nil {
		return nil, err
	}
	return serviceRequest{clientID: clientID, scopes: scopes, audience: aud}, nil
}

// ---- claims ----

// SetUserinfoFromScopes is deprecated in the library; SetUserinfoFromRequest does the work.
func (s *opStorage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	u, err := s.st.GetUser(ctx, req.GetSubject())
	if err != nil {
		return s.serverErr(ctx, "load user for id token", err)
	}
	setUserClaims(ui, u, scopes)
	return nil
}

func (s *opStorage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, _ string) error {
	at, err := s.liveAccessToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	if at.AuthTime.IsZero() || !slices.Contains(at.Scopes, oidc.ScopeOpenID) {
		return oidc.ErrAccessDenied().WithDescription("The access token does not allow userinfo.")
	}
	u, err := s.st.GetUser(ctx, at.Subject)
	if err != nil || u.Disabled {
		return oidc.ErrAccessDenied().WithDescription("The access token is not active.")
	}
	setUserClaims(ui, u, at.Scopes)
	return nil
}

func (s *opStorage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, callerID string) error {
	caller, err := s.client(ctx, callerID)
	if err != nil || !caller.Type.Confidential() {
		return oidc.ErrAccessDenied().WithDescription("This client may not introspect tokens.")
	}
	at, err := s.liveAccessToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	if ok, err := s.mayIntrospect(ctx, callerID, at); err != nil || !ok {
		if err != nil {
			return s.serverErr(ctx, "introspection policy", err)
		}
		// RFC 7662 §4: to anyone else the token is simply not active.
		return oidc.ErrAccessDenied().WithDescription("The access token is not active.")
	}
	if !at.AuthTime.IsZero() {
		u, err := s.st.GetUser(ctx, at.Subject)
		if err != nil || u.Disabled {
			return oidc.ErrAccessDenied().WithDescription("The access token is not active.")
		}
		ui := new(oidc.UserInfo)
		setUserClaims(ui, u, at.Scopes)
		resp.SetUserInfo(ui)
		resp.AuthTime = oidc.FromTime(at.AuthTime)
		resp.AuthenticationMethodsReferences = at.AMR
	}
	resp.Scope = at.Scopes
	resp.ClientID = at.ClientID
	resp.TokenType = oidc.BearerToken
	resp.Expiration = oidc.FromTime(at.ExpiresAt)
	resp.IssuedAt = oidc.FromTime(at.CreatedAt)
	resp.NotBefore = oidc.FromTime(at.CreatedAt)
	resp.Subject = at.Subject
	resp.Audience = at.Audience
	resp.Issuer = s.issuer
	resp.JWTID = at.ID
	return nil
}

// mayIntrospect is the introspection policy (README.md, "Resource servers"): the client the
// token was issued to, and the resource servers it is meant for (a resource whose audience is in
// the token's aud and that authenticates as callerID), may see it; nobody else.
func (s *opStorage) mayIntrospect(ctx context.Context, callerID string, at *store.AccessToken) (bool, error) {
	if at.ClientID == callerID {
		return true, nil
	}
	resources, err := s.st.ListResources(ctx)
	if err != nil {
		return false, err
	}
	for _, r := range resources {
		if r.ClientID == callerID && slices.Contains(at.Audience, r.Audience) {
			return true, nil
		}
	}
	return false, nil
}

// liveAccessToken returns the token when it exists, belongs to subject, is unrevoked and
// unexpired. The library decrypts opaque tokens without looking at expiry, and would accept any
// JWT we signed (an ID token too): this is the check that makes a token dead everywhere.
func (s *opStorage) liveAccessToken(ctx context.Context, tokenID, subject string) (*store.AccessToken, error) {
	inactive := oidc.ErrAccessDenied().WithDescription("The access token is not active.")
	if tokenID == "" {
		return nil, inactive
	}
	at, err := s.st.GetAccessToken(ctx, tokenID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, inactive
	}
	if err != nil {
		return nil, s.serverErr(ctx, "load access token", err)
	}
	if at.Subject != subject || at.RevokedAt != nil || !s.now().Before(at.ExpiresAt) {
		return nil, inactive
	}
	return at, nil
}

// setUserClaims fills the userinfo claims the scopes allow (docs/ARCHITECTURE.md, "Claims").
func setUserClaims(ui *oidc.UserInfo, u *store.User, scopes []string) {
	ui.Subject = u.ID
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeEmail:
			ui.Email = u.Email
			ui.EmailVerified = oidc.Bool(u.EmailVerified)
		case oidc.ScopeProfile:
			ui.AppendClaims("mfa_enabled", u.MFAEnabled)
		}
	}
}

func (s *opStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID serves the JWT profile grant, which we do not offer.
func (s *opStorage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, oidc.ErrUnauthorizedClient().WithDescription("JWT client authentication is not supported.")
}

func (s *opStorage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnauthorizedClient().WithDescription("The JWT profile grant is not supported.")
}

func (s *opStorage) Health(ctx context.Context) error { return s.st.Ping(ctx) }

// ---- client secrets ----

// clientSecrets verifies client secrets stored as argon2id hashes. A successful check is cached
// briefly (keyed by the stored hash and a digest of the presented secret) so the token endpoint
// does not pay a memory-hard hash on every call; a changed secret misses the cache. Concurrent
// checks of the same client and secret share one verification (singleflight): 32 cold token
// requests run argon2id once, not 32 times at 19 MiB each.
type clientSecrets struct {
	hasher *password.Hasher
	now    func() time.Time
	ttl    time.Duration
	// verifyHash checks a secret against its stored hash (the hasher; tests count the calls).
	// Its error is password.ErrBusy when the hash could not run.
	verifyHash func(hash, secret string) (bool, error)
	// joining, when set (tests), is called by every check that goes to the flight.
	joining func()

	flight singleflight.Group
	mu     sync.Mutex
	cache  map[[32]byte]time.Time
}

func newClientSecrets(h *password.Hasher, now func() time.Time) *clientSecrets {
	cs := &clientSecrets{hasher: h, now: now, ttl: 5 * time.Minute, cache: make(map[[32]byte]time.Time)}
	cs.verifyHash = func(hash, secret string) (bool, error) {
		ok, _, err := h.Verify(hash, secret)
		if errors.Is(err, password.ErrBusy) {
			return false, err
		}
		return err == nil && ok, nil
	}
	return cs
}

func secretCacheKey(c *store.Client, secret string) [32]byte {
	return sha256.Sum256([]byte(c.ID + "\x00" + c.SecretHash + "\x00" + secret))
}

// cached reports whether this secret of this client passed a check in the last ttl.
func (cs *clientSecrets) cached(c *store.Client, secret string) bool {
	key := secretCacheKey(c, secret)
	cs.mu.Lock()
	exp, ok := cs.cache[key]
	cs.mu.Unlock()
	return ok && cs.now().Before(exp)
}

// authenticate checks the secret: from the cache, or through guard (which reserves the attempt
// and calls verify) once for all concurrent callers with the same client and secret. It returns
// guard's error, or nil when the secret is right.
func (cs *clientSecrets) authenticate(c *store.Client, secret string, guard func(verify func() (bool, error)) error) error {
	if cs.cached(c, secret) {
		return nil
	}
	key := secretCacheKey(c, secret)
	if cs.joining != nil {
		cs.joining()
	}
	_, err, _ := cs.flight.Do(string(key[:]), func() (any, error) {
		if cs.cached(c, secret) {
			return nil, nil // a flight that just ended filled the cache
		}
		return nil, guard(func() (bool, error) { return cs.verify(c, secret) })
	})
	return err
}

// verify runs the hash check and caches a success; password.ErrBusy when it could not run.
func (cs *clientSecrets) verify(c *store.Client, secret string) (bool, error) {
	if c.SecretHash == "" || secret == "" {
		return false, cs.burn(secret)
	}
	if ok, err := cs.verifyHash(c.SecretHash, secret); !ok || err != nil {
		return false, err
	}
	key := secretCacheKey(c, secret)
	cs.mu.Lock()
	if len(cs.cache) > 10000 { // bounded: drop everything rather than grow without limit
		clear(cs.cache)
	}
	cs.cache[key] = cs.now().Add(cs.ttl)
	cs.mu.Unlock()
	return true, nil
}

// burn spends the work of a check (unknown ids, missing secrets); password.ErrBusy when it
// could not run.
func (cs *clientSecrets) burn(secret string) error { return cs.hasher.VerifyDummy(secret) }
