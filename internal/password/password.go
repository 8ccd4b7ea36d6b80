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

// Limits on the parameters of a hash, checked when a hash is imported (Check) and again every time
// one is verified (Verify), so that no stored hash, imported or corrupted, can make a sign-in burn
// CPU or memory. They sit well above what the source libraries produce by default (Werkzeug
// 3.x: pbkdf2 sha256 600,000 iterations, scrypt N=2^15 r=8 p=1; bcrypt cost 10–12; argon2-cffi
// m=64 MiB t=3 p=4) and admit both argon2id recommendations of RFC 9106 §4 (2 GiB t=1, 64 MiB
// t=3); docs/ARCHITECTURE.md ("Imported password hashes") lists them.
const (
	// MaxArgon2MemoryKiB (2 GiB), MaxArgon2Iterations and MaxArgon2Parallelism bound argon2id;
	// MaxArgon2Work bounds memory × passes (4 GiB·passes: 2 GiB twice, 1 GiB four times, or
	// 19 MiB a hundred times), which is what the work of a hash is.
	MaxArgon2MemoryKiB   = 2 << 20
	MaxArgon2Iterations  = 100
	MaxArgon2Parallelism = 255 // lanes share the memory and passes: they add threads, not work
	MaxArgon2Work        = 4 << 20

	minSaltLen = 8 // RFC 9106 §3.1 recommends 16; 8 is the PHC string format minimum
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64

	// MaxPBKDF2Iterations bounds Werkzeug pbkdf2 (10^7: about 15 times Werkzeug's current default).
	MaxPBKDF2Iterations = 10_000_000
	// MaxScryptN (2^20, 32 times Werkzeug's default), MaxScryptR and MaxScryptP bound Werkzeug
	// scrypt; its memory 128·N·r may not exceed MaxScryptMemory (1 GiB) and its work 128·N·r·p
	// not twice that.
	MaxScryptN      = 1 << 20
	MaxScryptR      = 32
	MaxScryptP      = 16
	MaxScryptMemory = 1 << 30
	// MinBcryptCost and MaxBcryptCost bound bcrypt: 4 is bcrypt's own minimum, 16 takes a few
	// seconds (2^16 key setups).
	MinBcryptCost = 4
	MaxBcryptCost = 16
)

// CheckParams reports whether argon2id with m KiB of memory, t passes and p lanes is within the
// limits above (and the 8·p KiB minimum of RFC 9106 §3.1); config checks the configured
// parameters with it, so that a hash made with them verifies.
func CheckParams(m, t uint32, p uint8) error {
	switch {
	case p < 1 || p > MaxArgon2Parallelism:
		return fmt.Errorf("parallelism must be 1..%d", MaxArgon2Parallelism)
	case t < 1 || t > MaxArgon2Iterations:
		return fmt.Errorf("iterations must be 1..%d", MaxArgon2Iterations)
	case m < 8*uint32(p) || m > MaxArgon2MemoryKiB:
		return fmt.Errorf("memory must be 8·parallelism..%d KiB", MaxArgon2MemoryKiB)
	case uint64(m)*uint64(t) > MaxArgon2Work:
		return fmt.Errorf("memory × iterations must not exceed %d KiB", MaxArgon2Work)
	}
	return nil
}

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
	if err := CheckParams(p.MemoryKiB, p.Iterations, p.Parallelism); err != nil {
		return err
	}
	switch {
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
	// Gate, when set, bounds how many Hash, Verify and VerifyDummy calls compute at once; the
	// others get ErrBusy.
	Gate *Gate
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
	release, err := h.Gate.Enter()
	if err != nil {
		return "", err
	}
	defer release()
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
	release, err := h.Gate.Enter()
	if err != nil {
		return false, false, err
	}
	defer release()
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

// Check reports whether encoded is a hash Verify accepts: argon2id (PHC string, version 19),
// Werkzeug pbkdf2:sha256/pbkdf2:sha512 or scrypt, or bcrypt $2a$/$2b$/$2y$, with every parameter
// within the limits above. It computes nothing (an import checks 100,000 hashes in moments). The
// error wraps ErrMalformedHash, names the reason and never repeats the hash.
func Check(encoded string) error {
	var err error
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		_, _, _, err = parseArgon2id(encoded)
	case strings.HasPrefix(encoded, "pbkdf2:"), strings.HasPrefix(encoded, "scrypt:"):
		_, err = parseWerkzeug(encoded)
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		_, err = parseBcrypt(encoded)
	default:
		err = fmt.Errorf("%w: unknown algorithm", ErrMalformedHash)
	}
	return err
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
// reveal whether an email is registered. It passes the Gate as Verify does (ErrBusy when full).
func (h *Hasher) VerifyDummy(password string) error {
	release, err := h.Gate.Enter()
	if err != nil {
		return err
	}
	defer release()
	p := h.Params
	if p.validate() != nil {
		p = DefaultParams()
	}
	got := argon2.IDKey([]byte(Normalize(password)), dummySalt[:p.SaltLen], p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLen)
	subtle.ConstantTimeCompare(got, dummyKey[:p.KeyLen])
	return nil
}
