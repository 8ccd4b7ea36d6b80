package idp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/fintech-idp/idp/internal/secrets"
	"github.com/fintech-idp/idp/internal/store"
)

// sealPurposeSigningKey binds sealed private keys to their use (secrets.Keyring derives one AES
// key per purpose from SECRET_KEY).
const sealPurposeSigningKey = "signing-key"

// rsaKeyBits: 2048-bit RSA is what RS256 verifiers universally accept and NIST SP 800-57 allows
// through 2030; keys rotate long before that.
const rsaKeyBits = 2048

// Keys manages the RS256 signing keys: generation on first start, rotation, and a short cache so
// every token does not decrypt a key. Private parts are sealed with SECRET_KEY before they reach
// the store.
type Keys struct {
	store   store.Store
	keyring *secrets.Keyring
	rand    io.Reader
	now     func() time.Time
	// retention is how long a rotated key stays published: the longest lifetime of a token it
	// may have signed.
	retention time.Duration

	mu       sync.Mutex
	loadedAt time.Time
	active   *signingKey
	public   []op.Key
}

// NewKeys returns a key manager. retention is how long rotated public keys stay in the JWKS.
func NewKeys(s store.Store, kr *secrets.Keyring, rnd io.Reader, now func() time.Time, retention time.Duration) *Keys {
	if rnd == nil {
		rnd = rand.Reader
	}
	return &Keys{store: s, keyring: kr, rand: rnd, now: now, retention: retention}
}

// signingKey implements op.SigningKey.
type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey implements op.Key.
type publicKey struct {
	id  string
	key any
}

func (k *publicKey) ID() string                         { return k.id }
func (k *publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *publicKey) Use() string                        { return "sig" }
func (k *publicKey) Key() any                           { return k.key }

// Ensure creates the first key when the store has none usable. Safe to call on every start; two
// replicas racing both create one, and the newer simply becomes the active key.
func (k *Keys) Ensure(ctx context.Context) error {
	keys, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	for _, sk := range keys {
		if sk.RotatedAt == nil {
			return nil
		}
	}
	nk, err := k.generate()
	if err != nil {
		return err
	}
	if err := k.store.CreateSigningKey(ctx, nk); err != nil {
		return fmt.Errorf("store signing key: %w", err)
	}
	k.invalidate()
	return nil
}

// Rotate makes a fresh key the active one; the previous keys stay published until retention has
// passed. Returns the new key id.
func (k *Keys) Rotate(ctx context.Context) (string, error) {
	nk, err := k.generate()
	if err != nil {
		return "", err
	}
	if err := k.store.RotateSigningKeys(ctx, nk, k.now()); err != nil {
		return "", fmt.Errorf("rotate signing keys: %w", err)
	}
	if _, err := k.store.DeleteSigningKeysRotatedBefore(ctx, k.now().Add(-k.retention)); err != nil {
		return "", fmt.Errorf("prune signing keys: %w", err)
	}
	k.invalidate()
	return nk.ID, nil
}

func (k *Keys) generate() (*store.SigningKey, error) {
	priv, err := rsa.GenerateKey(k.rand, rsaKeyBits)
	if err != nil {
		return nil, fmt.Errorf("generate RSA key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode RSA key: %w", err)
	}
	sealed, err := k.keyring.Seal(sealPurposeSigningKey, der)
	if err != nil {
		return nil, fmt.Errorf("seal signing key: %w", err)
	}
	id := uuid.NewString()
	pub, err := json.Marshal(jose.JSONWebKey{Key: &priv.PublicKey, KeyID: id, Algorithm: string(jose.RS256), Use: "sig"})
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	return &store.SigningKey{ID: id, Algorithm: string(jose.RS256), PrivateEnc: sealed, PublicJWK: pub, CreatedAt: k.now()}, nil
}

func (k *Keys) invalidate() {
	k.mu.Lock()
	k.loadedAt = time.Time{}
	k.mu.Unlock()
}

// keyCacheTTL bounds how long a replica keeps signing with a key another replica rotated away.
const keyCacheTTL = 30 * time.Second

func (k *Keys) load(ctx context.Context) (*signingKey, []op.Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.active != nil && k.now().Sub(k.loadedAt) < keyCacheTTL {
		return k.active, k.public, nil
	}
	rows, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list signing keys: %w", err)
	}
	var active *signingKey
	var public []op.Key
	cutoff := k.now().Add(-k.retention)
	for _, row := range rows { // newest first
		if row.RotatedAt != nil && row.RotatedAt.Before(cutoff) {
			continue
		}
		var jwk jose.JSONWebKey
		if err := json.Unmarshal(row.PublicJWK, &jwk); err != nil {
			return nil, nil, fmt.Errorf("decode public key %s: %w", row.ID, err)
		}
		public = append(public, &publicKey{id: row.ID, key: jwk.Key})
		if active == nil && row.RotatedAt == nil {
			der, err := k.keyring.Open(sealPurposeSigningKey, row.PrivateEnc)
			if err != nil {
				return nil, nil, fmt.Errorf("open signing key %s (was SECRET_KEY changed?): %w", row.ID, err)
			}
			parsed, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				return nil, nil, fmt.Errorf("parse signing key %s: %w", row.ID, err)
			}
			rsaKey, ok := parsed.(*rsa.PrivateKey)
			if !ok {
				return nil, nil, fmt.Errorf("signing key %s is not RSA", row.ID)
			}
			active = &signingKey{id: row.ID, key: rsaKey}
		}
	}
	if active == nil {
		return nil, nil, errNoSigningKey
	}
	k.active, k.public, k.loadedAt = active, public, k.now()
	return active, public, nil
}

var errNoSigningKey = errors.New("no active signing key")

// Active returns the key that signs new tokens.
func (k *Keys) Active(ctx context.Context) (op.SigningKey, error) {
	a, _, err := k.load(ctx)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Public returns every key published in the JWKS.
func (k *Keys) Public(ctx context.Context) ([]op.Key, error) {
	_, p, err := k.load(ctx)
	return p, err
}

// KeyInfo describes a key for `idp keys list`.
type KeyInfo struct {
	ID        string
	Algorithm string
	CreatedAt time.Time
	RotatedAt *time.Time
	Active    bool
	Published bool
}

// List describes every stored key, newest first.
func (k *Keys) List(ctx context.Context) ([]KeyInfo, error) {
	rows, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]KeyInfo, 0, len(rows))
	seenActive := false
	cutoff := k.now().Add(-k.retention)
	for _, r := range rows {
		active := !seenActive && r.RotatedAt == nil
		if active {
			seenActive = true
		}
		out = append(out, KeyInfo{ID: r.ID, Algorithm: r.Algorithm, CreatedAt: r.CreatedAt, RotatedAt: r.RotatedAt,
			Active: active, Published: r.RotatedAt == nil || !r.RotatedAt.Before(cutoff)})
	}
	return out, nil
}

// Reencrypt seals every private key with the current SECRET_KEY (after a rotation that put the
// old one in SECRET_KEY_PREVIOUS). Returns how many keys were re-sealed; keys already sealed with
// the current secret are left alone, so running it twice is harmless.
func (k *Keys) Reencrypt(ctx context.Context) (int, error) {
	rows, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, row := range rows {
		if !k.keyring.NeedsReseal(row.PrivateEnc) {
			continue
		}
		der, err := k.keyring.Open(sealPurposeSigningKey, row.PrivateEnc)
		if err != nil {
			return n, fmt.Errorf("open signing key %s: neither SECRET_KEY nor SECRET_KEY_PREVIOUS fits", row.ID)
		}
		sealed, err := k.keyring.Seal(sealPurposeSigningKey, der)
		if err != nil {
			return n, err
		}
		if err := k.store.SetSigningKeyPrivate(ctx, row.ID, sealed); err != nil {
			return n, err
		}
		n++
	}
	k.invalidate()
	return n, nil
}
