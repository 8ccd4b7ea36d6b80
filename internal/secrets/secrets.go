package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"log/slog"
)

const (
	version  byte = 1
	keyIDLen      = 8
	nonceLen      = 12 // the GCM standard nonce size
	tagLen        = 16
	header        = 1 + keyIDLen + nonceLen

	// keyIDInfo is the HKDF info for the key-id key. It lacks the "idp/" prefix, so no purpose
	// can produce it.
	keyIDInfo = "idp-key-id"
	redacted  = "[redacted]"
)

// hkdfSalt is the fixed, public HKDF salt (RFC 5869 §3.1: a non-secret salt still strengthens
// extraction). Changing it changes every derived key.
var hkdfSalt = []byte("github.com/fintech-idp/idp secrets v1")

// ErrOpen is the only error Open returns for data it cannot open: unknown key, wrong purpose,
// tampering, truncation. It carries no detail on purpose.
var ErrOpen = errors.New("secrets: cannot open sealed data")

// secret is one SECRET_KEY reduced to its HKDF pseudorandom key.
type secret struct {
	prk []byte
	id  [keyIDLen]byte
}

func newSecret(s string) secret {
	prk, err := hkdf.Extract(sha256.New, []byte(s), hkdfSalt)
	if err != nil {
		panic("secrets: hkdf extract: " + err.Error()) // cannot happen with SHA-256
	}
	sec := secret{prk: prk}
	idKey := sec.expand(keyIDInfo)
	sum := sha256.Sum256(idKey[:])
	copy(sec.id[:], sum[:keyIDLen])
	return sec
}

func (s secret) expand(info string) [32]byte {
	k, err := hkdf.Expand(sha256.New, s.prk, info, 32)
	if err != nil {
		panic("secrets: hkdf expand: " + err.Error()) // cannot happen for 32 bytes of SHA-256
	}
	return [32]byte(k)
}

func (s secret) aead(purpose string) cipher.AEAD {
	key := s.expand("idp/" + purpose)
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic("secrets: " + err.Error()) // cannot happen with a 32-byte key
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic("secrets: " + err.Error())
	}
	return gcm
}

// ring holds the key material behind a pointer so that printing a Keyring value shows an address,
// not keys.
type ring struct {
	current  secret
	previous []secret
}

// Keyring derives keys from the current SECRET_KEY and still opens data sealed under previous
// ones. It is safe for concurrent use. Its String, GoString and LogValue methods print
// "[redacted]".
type Keyring struct {
	r *ring
}

// NewKeyring returns a keyring sealing with current and opening with current and previous.
// Empty previous values, and previous values equal to current or to each other, are ignored, so
// an unset SECRET_KEY_PREVIOUS can be passed as is. An empty current is an error.
func NewKeyring(current string, previous ...string) (*Keyring, error) {
	if current == "" {
		return nil, errors.New("secrets: the current secret key is empty")
	}
	r := &ring{current: newSecret(current)}
	seen := map[string]bool{current: true}
	for _, p := range previous {
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		r.previous = append(r.previous, newSecret(p))
	}
	return &Keyring{r: r}, nil
}

func additionalData(hdr []byte, purpose string) []byte {
	return append(bytes.Clone(hdr[:1+keyIDLen]), purpose...)
}

// Seal encrypts and authenticates plaintext for purpose with AES-256-GCM under the current
// secret's key for that purpose. The result starts with the version byte and key id (see the
// package documentation); the nonce is random, so sealing the same plaintext twice gives
// different outputs.
func (k *Keyring) Seal(purpose string, plaintext []byte) ([]byte, error) {
	if purpose == "" {
		return nil, errors.New("secrets: empty purpose")
	}
	s := k.r.current
	out := make([]byte, header, header+len(plaintext)+tagLen)
	out[0] = version
	copy(out[1:], s.id[:])
	rand.Read(out[1+keyIDLen : header]) // never fails (crypto/rand, Go ≥ 1.24)
	return s.aead(purpose).Seal(out, out[1+keyIDLen:header], plaintext, additionalData(out, purpose)), nil
}

// Open authenticates and decrypts data made by Seal with the same purpose under the current or a
// previous secret. Every failure is ErrOpen.
func (k *Keyring) Open(purpose string, sealed []byte) ([]byte, error) {
	if purpose == "" || len(sealed) < header+tagLen || sealed[0] != version {
		return nil, ErrOpen
	}
	id := [keyIDLen]byte(sealed[1 : 1+keyIDLen])
	nonce, ciphertext := sealed[1+keyIDLen:header], sealed[header:]
	for _, s := range k.secrets() {
		if s.id != id {
			continue
		}
		// An 8-byte id can collide, however unlikely: keep trying the remaining secrets.
		if pt, err := s.aead(purpose).Open(nil, nonce, ciphertext, additionalData(sealed, purpose)); err == nil {
			return pt, nil
		}
	}
	return nil, ErrOpen
}

// NeedsReseal reports whether sealed was made under a previous secret, so the caller should Open
// it and Seal it again under the current one. It does not authenticate sealed: use it after a
// successful Open.
func (k *Keyring) NeedsReseal(sealed []byte) bool {
	if len(sealed) < 1+keyIDLen || sealed[0] != version {
		return false
	}
	id := [keyIDLen]byte(sealed[1 : 1+keyIDLen])
	if id == k.r.current.id {
		return false
	}
	for _, s := range k.r.previous {
		if s.id == id {
			return true
		}
	}
	return false
}

// DeriveKey returns the current secret's 256-bit key for purpose: the same on every replica and
// across restarts while SECRET_KEY stays the same. It is the key Seal uses for that purpose, so
// do not use one purpose for both. It panics on an empty purpose, a programming error.
func (k *Keyring) DeriveKey(purpose string) [32]byte {
	if purpose == "" {
		panic("secrets: DeriveKey with an empty purpose")
	}
	return k.r.current.expand("idp/" + purpose)
}

func (k *Keyring) secrets() []secret {
	return append([]secret{k.r.current}, k.r.previous...)
}

// LogValue implements slog.LogValuer: a keyring is always logged as "[redacted]".
func (k *Keyring) LogValue() slog.Value { return slog.StringValue(redacted) }

// String implements fmt.Stringer: "[redacted]".
func (k *Keyring) String() string { return redacted }

// GoString implements fmt.GoStringer: "[redacted]".
func (k *Keyring) GoString() string { return redacted }
