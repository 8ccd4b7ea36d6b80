package idp

import (
	"context"
	"errors"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/fintech-idp/idp/internal/store"
)

// tokenCrypto is the op.Crypto the provider uses for codes and access tokens.
//
// The library signs JWT access tokens with typ "JWT" and offers no way to change it, but RFC 9068
// §2.1 requires "at+jwt" (so an ID token can never pass as an access token). So towards the
// library every client uses Bearer tokens, which it builds as Encrypt("<token id>:<subject>"); for
// clients configured with JWT access tokens, Encrypt mints the RFC 9068 JWT instead, from the record
// CreateAccessToken just stored, and Decrypt verifies it back to "<jti>:<sub>". Opaque tokens and
// codes stay AES-256-GCM encrypted by the library's own crypto.
type tokenCrypto struct {
	aes     op.Crypto
	storage *opStorage
}

var _ op.Crypto = (*tokenCrypto)(nil)

func (c *tokenCrypto) Encrypt(s string) (string, error) {
	id, sub, ok := strings.Cut(s, ":")
	if ok {
		if v, found := c.storage.jwtPending.LoadAndDelete(id); found {
			at := v.(*store.AccessToken)
			if at.Subject == sub {
				return c.mint(at)
			}
		}
	}
	return c.aes.Encrypt(s)
}

func (c *tokenCrypto) Decrypt(s string) (string, error) {
	if strings.Count(s, ".") == 2 {
		return c.verify(s)
	}
	return c.aes.Decrypt(s)
}

// accessClaims are the RFC 9068 §2.2 claims.
type accessClaims struct {
	jwt.Claims
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	ACR      string   `json:"acr,omitempty"`
	AMR      []string `json:"amr,omitempty"`
}

const typeAccessTokenJWT = "at+jwt"

func (c *tokenCrypto) mint(at *store.AccessToken) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	key, err := c.storage.keys.Active(ctx)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key.Key(), KeyID: key.ID()}},
		(&jose.SignerOptions{}).WithType(typeAccessTokenJWT))
	if err != nil {
		return "", err
	}
	cl := accessClaims{
		Claims: jwt.Claims{
			Issuer:   c.storage.issuer,
			Subject:  at.Subject,
			Audience: jwt.Audience(at.Audience),
			Expiry:   jwt.NewNumericDate(at.ExpiresAt),
			IssuedAt: jwt.NewNumericDate(at.CreatedAt),
			ID:       at.ID,
		},
		ClientID: at.ClientID,
		Scope:    strings.Join(at.Scopes, " "),
		ACR:      at.ACR,
		AMR:      at.AMR,
	}
	if !at.AuthTime.IsZero() {
		cl.AuthTime = at.AuthTime.Unix()
	}
	return jwt.Signed(signer).Claims(cl).Serialize()
}

var errNotAccessToken = errors.New("not an access token")

// verify checks signature, type and issuer. Expiry and revocation are checked against the store
// by the storage methods that receive the token id.
func (c *tokenCrypto) verify(s string) (string, error) {
	tok, err := jwt.ParseSigned(s, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return "", errNotAccessToken
	}
	if typ, _ := tok.Headers[0].ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, typeAccessTokenJWT) && !strings.EqualFold(typ, "application/"+typeAccessTokenJWT) {
		return "", errNotAccessToken
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := c.storage.keys.Public(ctx)
	if err != nil {
		return "", err
	}
	for _, k := range keys {
		if k.ID() != tok.Headers[0].KeyID {
			continue
		}
		var cl accessClaims
		if err := tok.Claims(k.Key(), &cl); err != nil {
			return "", errNotAccessToken
		}
		if cl.Issuer != c.storage.issuer || cl.ID == "" || strings.Contains(cl.ID, ":") {
			return "", errNotAccessToken
		}
		return cl.ID + ":" + cl.Subject, nil
	}
	return "", errNotAccessToken
}
