package idp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/fintech-idp/idp/internal/store"
)

// jwtBearerAssertionType is the client_assertion_type of private_key_jwt (RFC 7523 §2.2).
const jwtBearerAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionAlgorithms are the signature algorithms a client assertion may use (discovery's
// token_endpoint_auth_signing_alg_values_supported). No "none", no HMAC: the IdP holds only the
// client's public keys.
var assertionAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA}

// Limits of a client assertion: how far in the future it may expire (its jti is kept that long)
// and the clock skew allowed.
const (
	maxAssertionLifetime = time.Hour
	assertionLeeway      = 30 * time.Second
)

// unverifiedSubject reads the sub of an assertion before its signature is checked, only to know
// whose keys to check it with (RFC 7523 §3: sub is the client id).
func unverifiedSubject(assertion string) string {
	tok, err := jwt.ParseSigned(assertion, assertionAlgorithms)
	if err != nil {
		return ""
	}
	var cl jwt.Claims
	if tok.UnsafeClaimsWithoutVerification(&cl) != nil {
		return ""
	}
	return cl.Subject
}

// ParseJWKS checks a client's JSON Web Key Set for private_key_jwt: valid JSON, at least one
// key, public keys only, each usable for one of assertionAlgorithms.
func ParseJWKS(b []byte) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, errors.New("is not a JSON Web Key Set (RFC 7517 §5)")
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("holds no keys")
	}
	for i, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() {
			return nil, fmt.Errorf("key %d must be a valid public key (never the private part)", i+1)
		}
		if k.Use != "" && k.Use != "sig" {
			return nil, fmt.Errorf("key %d is not for signatures (use %q)", i+1, k.Use)
		}
	}
	return &set, nil
}

// verifyClientAssertion checks a private_key_jwt client assertion (RFC 7523 §3): signed with
// one of the client's registered keys, iss and sub the client id, aud the issuer or the token
// endpoint, unexpired and not too long-lived, and a jti not seen before (recorded in the store
// until the assertion expires, so a replay on any replica is refused).
func (s *Server) verifyClientAssertion(ctx context.Context, c *store.Client, assertion string) error {
	set, err := ParseJWKS([]byte(c.JWKS))
	if err != nil {
		return fmt.Errorf("registered JWKS %v", err)
	}
	tok, err := jwt.ParseSigned(assertion, assertionAlgorithms)
	if err != nil || len(tok.Headers) != 1 {
		return errors.New("not a signed JWT with an accepted algorithm")
	}
	keys := set.Keys
	if kid := tok.Headers[0].KeyID; kid != "" {
		keys = set.Key(kid)
	}
	var cl jwt.Claims
	verified := false
	for _, k := range keys {
		if tok.Claims(k.Key, &cl) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return errors.New("signature does not verify with the registered keys")
	}
	now := s.now()
	err = cl.ValidateWithLeeway(jwt.Expected{
		Issuer: c.ID, Subject: c.ID, AnyAudience: jwt.Audience{s.opts.Issuer, s.opts.Issuer + "/oauth/token"}, Time: now,
	}, assertionLeeway)
	switch {
	case err != nil:
		return fmt.Errorf("claims: %w", err)
	case cl.Expiry == nil:
		return errors.New("no exp")
	case cl.Expiry.Time().After(now.Add(maxAssertionLifetime)):
		return errors.New("exp too far in the future")
	case cl.ID == "" || len(cl.ID) > 256:
		return errors.New("no usable jti")
	}
	err = s.st.UseClientAssertion(ctx, c.ID, cl.ID, cl.Expiry.Time().Add(assertionLeeway))
	if errors.Is(err, store.ErrConflict) {
		s.audit.log(ctx, "client.assertion_replayed", "", c.ID, nil)
		return errors.New("jti replayed")
	}
	return err
}
