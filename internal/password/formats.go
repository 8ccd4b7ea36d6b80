package password

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
)

// bcryptAlphabet is bcrypt's own base64 alphabet.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// b64 is the PHC string format's encoding: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

func encodeArgon2id(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func malformed(reason string) error {
	return fmt.Errorf("%w: %s", ErrMalformedHash, reason)
}

// parseUint parses a plain decimal number (digits only: no sign, space or underscore, which
// strconv and Python's int would accept) no larger than limit.
func parseUint(s string, limit uint64) (uint64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > limit {
		return 0, false
	}
	return n, true
}

// parseArgon2id parses "$argon2id$v=19$m=M,t=T,p=P$salt$key". Only version 19 (0x13, the
// current one and the only one x/crypto computes) is accepted.
func parseArgon2id(encoded string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, malformed("argon2id: not a PHC string")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, malformed("argon2id: unsupported version")
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 || !strings.HasPrefix(kv[0], "m=") || !strings.HasPrefix(kv[1], "t=") || !strings.HasPrefix(kv[2], "p=") {
		return p, nil, nil, malformed("argon2id: parameters must be m=,t=,p=")
	}
	m, okM := parseUint(kv[0][2:], MaxArgon2MemoryKiB)
	t, okT := parseUint(kv[1][2:], MaxArgon2Iterations)
	par, okP := parseUint(kv[2][2:], MaxArgon2Parallelism)
	if !okM || !okT || !okP {
		return p, nil, nil, malformed("argon2id: parameter not a number or above the limit")
	}
	if salt, err = b64.Strict().DecodeString(parts[4]); err != nil {
		return p, nil, nil, malformed("argon2id: salt is not unpadded base64")
	}
	if key, err = b64.Strict().DecodeString(parts[5]); err != nil {
		return p, nil, nil, malformed("argon2id: key is not unpadded base64")
	}
	p = Params{
		MemoryKiB:   uint32(m),
		Iterations:  uint32(t),
		Parallelism: uint8(par),
		SaltLen:     uint32(len(salt)),
		KeyLen:      uint32(len(key)),
	}
	if err := p.validate(); err != nil {
		return p, nil, nil, malformed("argon2id: " + err.Error())
	}
	return p, salt, key, nil
}

// parseWerkzeug parses the hashes of werkzeug.security.generate_password_hash:
//
//	pbkdf2:HASH:ITERATIONS$salt$hexdigest   HASH sha256 or sha512, key = digest size
//	scrypt:N:r:p$salt$hexdigest             64-byte key
//
// The salt is used as its UTF-8 bytes, exactly as Werkzeug does (salt.encode()). Werkzeug fills in
// default parameters when they are missing ("pbkdf2:sha256$…", "scrypt$…"); those defaults changed
// between releases, so such hashes are refused rather than guessed.
func parseWerkzeug(encoded string) (check func([]byte) bool, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 3 {
		return nil, malformed("werkzeug: want method$salt$hexdigest")
	}
	method, salt := strings.Split(parts[0], ":"), []byte(parts[1])
	want, err := hex.DecodeString(parts[2])
	if err != nil {
		return nil, malformed("werkzeug: digest is not hex")
	}
	switch method[0] {
	case "pbkdf2":
		if len(method) != 3 {
			return nil, malformed("werkzeug: pbkdf2 needs pbkdf2:HASH:ITERATIONS")
		}
		var h func() hash.Hash
		switch method[1] {
		case "sha256":
			h = sha256.New
		case "sha512":
			h = sha512.New
		default:
			return nil, malformed("werkzeug: pbkdf2 hash must be sha256 or sha512")
		}
		iter, ok := parseUint(method[2], MaxPBKDF2Iterations)
		if !ok || iter < 1 {
			return nil, malformed("werkzeug: pbkdf2 iterations not a number or out of range")
		}
		if len(want) != h().Size() {
			return nil, malformed("werkzeug: pbkdf2 digest has the wrong length")
		}
		return func(password []byte) bool {
			got, err := pbkdf2.Key(h, string(password), salt, int(iter), len(want))
			return err == nil && subtle.ConstantTimeCompare(got, want) == 1
		}, nil
	case "scrypt":
		if len(method) != 4 {
			return nil, malformed("werkzeug: scrypt needs scrypt:N:r:p")
		}
		n, okN := parseUint(method[1], MaxScryptN)
		r, okR := parseUint(method[2], MaxScryptR)
		p, okP := parseUint(method[3], MaxScryptP)
		switch {
		case !okN || !okR || !okP || r < 1 || p < 1:
			return nil, malformed("werkzeug: scrypt parameter not a number or above the limit")
		case n < 2 || n&(n-1) != 0:
			return nil, malformed("werkzeug: scrypt N must be a power of two")
		case 128*n*r > MaxScryptMemory:
			return nil, malformed("werkzeug: scrypt parameters need too much memory")
		case 128*n*r*p > 2*MaxScryptMemory:
			return nil, malformed("werkzeug: scrypt parameters need too much work")
		case len(want) != 64:
			return nil, malformed("werkzeug: scrypt digest must be 64 bytes")
		}
		return func(password []byte) bool {
			got, err := scrypt.Key(password, salt, int(n), int(r), int(p), len(want))
			return err == nil && subtle.ConstantTimeCompare(got, want) == 1
		}, nil
	default:
		return nil, malformed("werkzeug: unknown method")
	}
}

// parseBcrypt checks the shape and cost of a "$2a$"/"$2b$"/"$2y$" hash (all three are computed
// identically for valid UTF-8 input). bcrypt reads only the first 72 bytes of a password, as the
// old application's library did.
func parseBcrypt(encoded string) (check func([]byte) bool, err error) {
	const bcryptLen = 60 // "$2b$" + 2-digit cost + "$" + 22 salt + 31 hash characters
	if len(encoded) != bcryptLen {
		return nil, malformed("bcrypt: wrong length")
	}
	for _, c := range encoded[7:] {
		if !strings.ContainsRune(bcryptAlphabet, c) {
			return nil, malformed("bcrypt: salt or hash outside the bcrypt alphabet")
		}
	}
	cost, err := bcrypt.Cost([]byte(encoded))
	if err != nil {
		return nil, malformed("bcrypt: unparsable")
	}
	if cost < MinBcryptCost || cost > MaxBcryptCost {
		return nil, malformed("bcrypt: cost outside the limits")
	}
	return func(password []byte) bool {
		return bcrypt.CompareHashAndPassword([]byte(encoded), password) == nil
	}, nil
}
