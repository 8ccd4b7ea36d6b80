package password

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// ErrMalformedHash is returned (possibly wrapped, test with errors.Is) by Verify when the stored
// hash cannot be parsed, uses an unsupported algorithm, or carries parameters outside the limits
// below. The wrapping text names the reason but never repeats the hash.
var ErrMalformedHash = errors.New("password: malformed or unsupported password hash")

// Limits on the parameters read from a stored hash. They keep a corrupt or hostile hash from
// exhausting memory or CPU on the login path; they are far above anything sensible, so a real
// hash never hits them.
const (
	maxArgon2MemoryKiB  = 4 << 20 // 4 GiB
	maxArgon2Iterations = 100
	minSaltLen          = 8 // RFC 9106 §3.1 recommends 16; 8 is the PHC string format minimum
	maxSaltLen          = 64
	minKeyLen           = 16
	maxKeyLen           = 64

	maxPBKDF2Iterations = 10_000_000
	maxScryptN          = 1 << 22
	maxScryptR          = 32
	maxScryptP          = 16
	maxScryptMemory     = 4 << 30 // bytes: scrypt needs 128·N·r of them
	maxBcryptCost       = 16      // ~2^16 Blowfish key setups, a few seconds
)

// Params are the argon2id cost parameters and sizes used for new hashes.
type Params struct {
	MemoryKiB   uint32 // m, in KiB
	Iterations  uint32 // t, passes over the memory
	Parallelism uint8  // p, lanes
	SaltLen     uint32 // bytes of random salt
	KeyLen      uint32 // bytes of derived key
}

// DefaultParams returns the OWASP Password Storage Cheat Sheet minimum for argon2id:
// m=19 MiB, t=2, p=1, with a 16-byte salt (RFC 9106 §3.1) and a 32-byte key.
func DefaultParams() Params {
	return Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
}

// validate reports whether p can produce a hash that Verify accepts.
func (p Params) validate() error {
	switch {
	case p.Parallelism < 1:
		return errors.New("parallelism must be at least 1")
	case p.Iterations < 1 || p.Iterations > maxArgon2Iterations:
		return fmt.Errorf("iterations must be 1..%d", maxArgon2Iterations)
	case p.MemoryKiB < 8*uint32(p.Parallelism) || p.MemoryKiB > maxArgon2MemoryKiB:
		return fmt.Errorf("memory must be 8·parallelism..%d KiB", maxArgon2MemoryKiB)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length must be %d..%d bytes", minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key length must be %d..%d bytes", minKeyLen, maxKeyLen)
	}
	return nil
}

// weakerThan reports whether a hash made with p falls short of want in any dimension.
func (p Params) weakerThan(want Params) bool {
	return p.MemoryKiB < want.MemoryKiB ||
		p.Iterations < want.Iterations ||
		p.Parallelism < want.Parallelism ||
		p.SaltLen < want.SaltLen ||
		p.KeyLen < want.KeyLen
}

// Hasher hashes new passwords with Params and verifies stored hashes of any supported format.
// It is safe for concurrent use.
type Hasher struct {
	Params Params
	// Rand supplies salts; nil means crypto/rand.
	Rand io.Reader
}

// NewHasher returns a Hasher producing argon2id hashes with p and salts from crypto/rand.
func NewHasher(p Params) *Hasher {
	return &Hasher{Params: p}
}

// Normalize returns password in Unicode Normalization Form KC, so that equivalent spellings
// ("é" as one code point or as "e" plus a combining accent, a full-width "Ａ" and "A") hash the
// same whatever keyboard or device typed them. NIST SP 800-63B-4 §3.1.1.2 asks verifiers to apply
// NFKC or NFKD before hashing.
func Normalize(password string) string {
	return norm.NFKC.String(password)
}

// Hash returns the PHC string of the argon2id hash of Normalize(password) with a fresh salt.
func (h *Hasher) Hash(password string) (string, error) {
	p := h.Params
	if err := p.validate(); err != nil {
		return "", fmt.Errorf("password: invalid argon2id parameters: %w", err)
	}
	salt := make([]byte, p.SaltLen)
	r := h.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, salt); err != nil {
		return "", fmt.Errorf("password: reading salt: %w", err)
	}
	key := argon2.IDKey([]byte(Normalize(password)), salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLen)
	return encodeArgon2id(p, salt, key), nil
}

// Verify reports whether password matches the stored hash encoded.
//
// The algorithm and every parameter come from encoded itself. The comparison of derived keys is
// constant-time. A wrong password is (false, false, nil); an unparsable, unsupported or absurdly
// expensive hash is an error wrapping ErrMalformedHash. needsRehash is only ever true together
// with ok: it is set for every non-argon2id hash and for argon2id hashes made with parameters
// weaker than h.Params, and then the caller should store h.Hash(password).
//
// argon2id hashes are checked against Normalize(password). Imported hashes were made by the old
// application from the password exactly as submitted, so they are checked against password as
// given first and, if that fails and it differs, against its normalised form.
func (h *Hasher) Verify(encoded, password string) (ok, needsRehash bool, err error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		p, salt, key, err := parseArgon2id(encoded)
		if err != nil {
			return false, false, err
		}
		got := argon2.IDKey([]byte(Normalize(password)), salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLen)
		if subtle.ConstantTimeCompare(got, key) != 1 {
			return false, false, nil
		}
		return true, p.weakerThan(h.Params), nil
	case strings.HasPrefix(encoded, "pbkdf2:"), strings.HasPrefix(encoded, "scrypt:"):
		check, err := parseWerkzeug(encoded)
		if err != nil {
			return false, false, err
		}
		ok := verifyImported(check, password)
		return ok, ok, nil
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		check, err := parseBcrypt(encoded)
		if err != nil {
			return false, false, err
		}
		ok := verifyImported(check, password)
		return ok, ok, nil
	default:
		return false, false, fmt.Errorf("%w: unknown algorithm", ErrMalformedHash)
	}
}

// verifyImported runs check on the password as submitted and, when that differs from its
// normalised form, on the normalised form too (see Verify).
func verifyImported(check func(password []byte) bool, password string) bool {
	if check([]byte(password)) {
		return true
	}
	if n := Normalize(password); n != password {
		return check([]byte(n))
	}
	return false
}

// dummySalt and dummyKey stand in for a stored hash in VerifyDummy.
var (
	dummySalt = make([]byte, maxSaltLen)
	dummyKey  = make([]byte, maxKeyLen)
)

// VerifyDummy spends as long as Verify of a password against a current argon2id hash, and always
// fails. Call it when no account matches the submitted email, so that response time does not
// reveal whether an email is registered.
func (h *Hasher) VerifyDummy(password string) {
	p := h.Params
	if p.validate() != nil {
		p = DefaultParams()
	}
	got := argon2.IDKey([]byte(Normalize(password)), dummySalt[:p.SaltLen], p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLen)
	subtle.ConstantTimeCompare(got, dummyKey[:p.KeyLen])
}
