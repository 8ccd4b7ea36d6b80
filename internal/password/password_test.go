package password

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"hash"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
)

// cheap are argon2id parameters fast enough to hash many times in a test.
var cheap = Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// Canonically equivalent spellings of the same password.
const (
	composed   = "Grüße-aus-Köln-2024"             // NFC: ü and ö are single code points
	decomposed = "Gru\u0308ße-aus-Ko\u0308ln-2024" // NFD: u and o followed by U+0308
)

func TestDefaultParams(t *testing.T) {
	want := Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	if got := DefaultParams(); got != want {
		t.Fatalf("DefaultParams() = %+v, want %+v", got, want)
	}
}

func TestHashFormat(t *testing.T) {
	h := &Hasher{Params: cheap, Rand: bytes.NewReader(bytes.Repeat([]byte{0xAB}, 16))}
	got, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	// Salt 0xAB×16 in unpadded standard base64 is "q6urq6urq6urq6urq6urqw".
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$q6urq6urq6urq6urq6urqw\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(got) {
		t.Fatalf("Hash() = %q, want match for %s", got, re)
	}

	d := NewHasher(DefaultParams())
	got, err = d.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("Hash() with DefaultParams = %q", got)
	}
}

func TestHashUsesFreshSalt(t *testing.T) {
	h := NewHasher(cheap)
	a, _ := h.Hash("same password twice")
	b, _ := h.Hash("same password twice")
	if a == b {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

func TestHashErrors(t *testing.T) {
	tests := []struct {
		name string
		h    *Hasher
	}{
		{"zero params", &Hasher{}},
		{"no parallelism", NewHasher(Params{MemoryKiB: 64, Iterations: 1, SaltLen: 16, KeyLen: 32})},
		{"memory below 8 per lane", NewHasher(Params{MemoryKiB: 8, Iterations: 1, Parallelism: 2, SaltLen: 16, KeyLen: 32})},
		{"memory above limit", NewHasher(Params{MemoryKiB: MaxArgon2MemoryKiB + 1, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})},
		{"too many iterations", NewHasher(Params{MemoryKiB: 64, Iterations: 101, Parallelism: 1, SaltLen: 16, KeyLen: 32})},
		{"short salt", NewHasher(Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 4, KeyLen: 32})},
		{"short key", NewHasher(Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 8})},
		{"failing rand", &Hasher{Params: cheap, Rand: iotest.ErrReader(errors.New("no entropy"))}},
		{"short rand", &Hasher{Params: cheap, Rand: bytes.NewReader([]byte{1, 2, 3})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := tt.h.Hash("whatever password"); err == nil {
				t.Fatalf("Hash() = %q, want error", got)
			}
		})
	}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	h := NewHasher(cheap)
	tests := []struct {
		name, stored, tried string
		want                bool
	}{
		{"same ascii", "correct horse battery staple", "correct horse battery staple", true},
		{"wrong", "correct horse battery staple", "correct horse battery stapler", false},
		{"case matters", "Correct Horse", "correct horse", false},
		{"empty matches empty", "", "", true},
		{"empty is not space", "", " ", false},
		{"long", strings.Repeat("long-", 200), strings.Repeat("long-", 200), true},
		{"unicode", "пароль-密码-كلمة", "пароль-密码-كلمة", true},
		{"stored NFC tried NFD", composed, decomposed, true},
		{"stored NFD tried NFC", decomposed, composed, true},
		{"compatibility chars fold (NFKC)", "x²-squared-pass", "x2-squared-pass", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := h.Hash(tt.stored)
			if err != nil {
				t.Fatal(err)
			}
			ok, rehash, err := h.Verify(enc, tt.tried)
			if err != nil || ok != tt.want || rehash {
				t.Fatalf("Verify() = %v, %v, %v; want %v, false, nil", ok, rehash, err, tt.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"ascii unchanged", "plain ascii", "plain ascii"},
		{"decomposed composes", decomposed, composed},
		{"composed unchanged", composed, composed},
		{"angstrom sign becomes A-ring", "\u212B", "\u00C5"},
		{"superscript two folds", "²", "2"},
		{"fullwidth folds", "ＡＢＣ", "ABC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Normalize(tt.in); got != tt.want {
				t.Fatalf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestVerifyNeedsRehash(t *testing.T) {
	const pw = "a password long enough to pass"
	stronger := cheap
	stronger.MemoryKiB = 128
	tests := []struct {
		name         string
		stored, want Params
		rehash       bool
	}{
		{"same params", cheap, cheap, false},
		{"stored stronger", stronger, cheap, false},
		{"less memory", cheap, stronger, true},
		{"fewer iterations", cheap, Params{MemoryKiB: 64, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}, true},
		{"fewer lanes", Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, Params{MemoryKiB: 64, Iterations: 1, Parallelism: 2, SaltLen: 16, KeyLen: 32}, true},
		{"shorter salt", Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 8, KeyLen: 32}, cheap, true},
		{"shorter key", Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 16}, cheap, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := NewHasher(tt.stored).Hash(pw)
			if err != nil {
				t.Fatal(err)
			}
			h := NewHasher(tt.want)
			ok, rehash, err := h.Verify(enc, pw)
			if err != nil || !ok || rehash != tt.rehash {
				t.Fatalf("Verify() = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.rehash)
			}
			// A wrong password never asks for a rehash.
			if ok, rehash, err := h.Verify(enc, pw+"!"); ok || rehash || err != nil {
				t.Fatalf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

// TestVerifyKnownVectors uses hashes made by other implementations: Werkzeug 3.1.8's
// generate_password_hash / _hash_internal (cross-checked with Python's hashlib.pbkdf2_hmac and
// hashlib.scrypt), the argon2-cffi documentation and the OpenBSD/Openwall bcrypt vectors.
func TestVerifyKnownVectors(t *testing.T) {
	h := NewHasher(DefaultParams())
	const horse = "correct horse battery staple"
	tests := []struct {
		name, encoded, password string
		ok, rehash              bool
	}{
		{"werkzeug pbkdf2 sha256",
			"pbkdf2:sha256:1000$Zt8bV3kQ9mLp2sXa$6c6e78a2e16cf33d36a6eaa1b657ab2924fc79ba1a31607b6cccb5837f135f62",
			horse, true, true},
		{"werkzeug pbkdf2 sha256 wrong password",
			"pbkdf2:sha256:1000$Zt8bV3kQ9mLp2sXa$6c6e78a2e16cf33d36a6eaa1b657ab2924fc79ba1a31607b6cccb5837f135f62",
			"correct horse battery stable", false, false},
		{"werkzeug pbkdf2 sha512",
			"pbkdf2:sha512:1000$Zt8bV3kQ9mLp2sXa$1665436d702c49ea18d6f810c6b57b87660cbae8bc4c39c9f2acfe2d1b33ab9ece172863e1d163b88123db8b6b250179e577b63cdbdbaa56475b416250ec097a",
			horse, true, true},
		{"werkzeug pbkdf2 uppercase hex",
			"pbkdf2:sha256:1000$Zt8bV3kQ9mLp2sXa$6C6E78A2E16CF33D36A6EAA1B657AB2924FC79BA1A31607B6CCCB5837F135F62",
			horse, true, true},
		{"werkzeug scrypt N=1024",
			"scrypt:1024:8:1$Zt8bV3kQ9mLp2sXa$dc93314555cffdb2dceb92133310278f617ce04fc8b087611baf8867a073e7559bac074fe016f3de55504025543c15af0ee2f26a7e3f9de7f9700f1a9f053005",
			horse, true, true},
		{"werkzeug scrypt default parameters",
			"scrypt:32768:8:1$8QSiuRdGfjdXisxz$c34188cb6d671ae8534d2ceebc10850b0aa3aebbd2c32eb0431350d622283b7510e8003a0b63b8b3b7975d52d117abda20922a18ed259aced4cabbce010a7979",
			"default-params-password", true, true},
		{"werkzeug scrypt wrong password",
			"scrypt:1024:8:1$Zt8bV3kQ9mLp2sXa$dc93314555cffdb2dceb92133310278f617ce04fc8b087611baf8867a073e7559bac074fe016f3de55504025543c15af0ee2f26a7e3f9de7f9700f1a9f053005",
			"Correct horse battery staple", false, false},
		// Flask hashed what the browser sent. Hashed as NFC, typed as NFD (and the reverse): both
		// still verify because Verify retries with the NFC form.
		{"werkzeug pbkdf2 of NFC, typed NFC",
			"pbkdf2:sha256:1000$k9Qw2Lr7Tn4Vb8Xz$818605b0adf35e2fe2f71a020247e40ec1ccc7f82814d0e42342882078f0dc7c",
			composed, true, true},
		{"werkzeug pbkdf2 of NFC, typed NFD",
			"pbkdf2:sha256:1000$k9Qw2Lr7Tn4Vb8Xz$818605b0adf35e2fe2f71a020247e40ec1ccc7f82814d0e42342882078f0dc7c",
			decomposed, true, true},
		{"werkzeug scrypt of NFD, typed NFD",
			"scrypt:1024:8:1$k9Qw2Lr7Tn4Vb8Xz$c86f40b01273d62fd7ecc0a97358e6cc3eb928f6de8fa8113c8f271303c7a6f87c2487e2ba1110bde3b86a3b474f9b81fade78a29d4e7b0999c13bd4fc519134",
			decomposed, true, true},
		{"argon2-cffi documentation hash",
			"$argon2id$v=19$m=65536,t=3,p=4$MIIRqgvgQbgj220jfp0MPA$YfwJSVjtjSU0zzV/P3S9nnQ/USre2wvJMjfCIjrTQbg",
			horse, true, false},
		{"argon2-cffi documentation hash wrong password",
			"$argon2id$v=19$m=65536,t=3,p=4$MIIRqgvgQbgj220jfp0MPA$YfwJSVjtjSU0zzV/P3S9nnQ/USre2wvJMjfCIjrTQbg",
			"secret", false, false},
		{"bcrypt openwall vector $2a$",
			"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
			"U*U", true, true},
		{"bcrypt openwall vector as $2b$",
			"$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
			"U*U", true, true},
		{"bcrypt openwall vector as $2y$",
			"$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
			"U*U", true, true},
		{"bcrypt wrong password",
			"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
			"U*V", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(tt.encoded, tt.password)
			if err != nil || ok != tt.ok || rehash != tt.rehash {
				t.Fatalf("Verify() = %v, %v, %v; want %v, %v, nil", ok, rehash, err, tt.ok, tt.rehash)
			}
		})
	}
}

// werkzeugHash builds a hash the way werkzeug.security._hash_internal does, from the primitives.
func werkzeugHash(t *testing.T, method, salt, password string) string {
	t.Helper()
	parts := strings.Split(method, ":")
	var key []byte
	var err error
	switch parts[0] {
	case "pbkdf2":
		h := map[string]func() hash.Hash{"sha256": sha256.New, "sha512": sha512.New}[parts[1]]
		iter, _ := strconv.Atoi(parts[2])
		key, err = pbkdf2.Key(h, password, []byte(salt), iter, h().Size())
	case "scrypt":
		n, _ := strconv.Atoi(parts[1])
		r, _ := strconv.Atoi(parts[2])
		p, _ := strconv.Atoi(parts[3])
		key, err = scrypt.Key([]byte(password), []byte(salt), n, r, p, 64)
	}
	if err != nil {
		t.Fatal(err)
	}
	return method + "$" + salt + "$" + hex.EncodeToString(key)
}

func TestVerifyGeneratedImports(t *testing.T) {
	h := NewHasher(cheap)
	const pw = "imported-from-flask"
	bcryptHash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, encoded string }{
		{"pbkdf2 sha256", werkzeugHash(t, "pbkdf2:sha256:2000", "abcdefghijklmnop", pw)},
		{"pbkdf2 sha512", werkzeugHash(t, "pbkdf2:sha512:2000", "abcdefghijklmnop", pw)},
		{"pbkdf2 one iteration", werkzeugHash(t, "pbkdf2:sha256:1", "s", pw)},
		{"pbkdf2 non-ascii salt is used as UTF-8", werkzeugHash(t, "pbkdf2:sha256:10", "sälz", pw)},
		{"pbkdf2 empty salt", werkzeugHash(t, "pbkdf2:sha256:10", "", pw)},
		{"scrypt", werkzeugHash(t, "scrypt:16:8:1", "abcdefghijklmnop", pw)},
		{"scrypt p=2", werkzeugHash(t, "scrypt:16:4:2", "abcdefghijklmnop", pw)},
		{"bcrypt", string(bcryptHash)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(tt.encoded, pw)
			if err != nil || !ok || !rehash {
				t.Fatalf("Verify(right) = %v, %v, %v; want true, true, nil", ok, rehash, err)
			}
			ok, rehash, err = h.Verify(tt.encoded, pw+"x")
			if err != nil || ok || rehash {
				t.Fatalf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	h := NewHasher(cheap)
	good := werkzeugHash(t, "pbkdf2:sha256:10", "salt", "pw")
	digest := good[strings.LastIndex(good, "$")+1:]
	scryptDigest := strings.Repeat("00", 64)
	key := "YfwJSVjtjSU0zzV/P3S9nnQ/USre2wvJMjfCIjrTQbg"
	salt := "MIIRqgvgQbgj220jfp0MPA"
	tests := []struct{ name, encoded string }{
		{"empty", ""},
		{"plain text", "hunter2hunter2hunter2"},
		{"md5 crypt", "$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"argon2id without version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"argon2id version 16", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"argon2id params out of order", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"argon2id extra param", "$argon2id$v=19$m=64,t=1,p=1,keyid=x$" + salt + "$" + key},
		{"argon2id missing key", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"argon2id trailing field", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$x"},
		{"argon2id padded base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"argon2id bad base64", "$argon2id$v=19$m=64,t=1,p=1$!!!!$" + key},
		{"argon2id negative memory", "$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key},
		{"argon2id memory above 4 GiB", "$argon2id$v=19$m=4194305,t=1,p=1$" + salt + "$" + key},
		{"argon2id huge memory", "$argon2id$v=19$m=99999999999999999999999,t=1,p=1$" + salt + "$" + key},
		{"argon2id 101 iterations", "$argon2id$v=19$m=64,t=101,p=1$" + salt + "$" + key},
		{"argon2id zero iterations", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"argon2id zero lanes", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"argon2id 256 lanes", "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key},
		{"argon2id memory below 8 per lane", "$argon2id$v=19$m=8,t=1,p=4$" + salt + "$" + key},
		{"argon2id short salt", "$argon2id$v=19$m=64,t=1,p=1$AAAA$" + key},
		{"argon2id short key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAA"},
		{"argon2id plus sign in number", "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key},
		{"pbkdf2 without iterations (old default)", "pbkdf2:sha256$salt$" + digest},
		{"pbkdf2 without hash (old default)", "pbkdf2$salt$" + digest},
		{"pbkdf2 sha1", "pbkdf2:sha1:10$salt$" + digest[:40]},
		{"pbkdf2 md5", "pbkdf2:md5:10$salt$" + digest[:32]},
		{"pbkdf2 zero iterations", "pbkdf2:sha256:0$salt$" + digest},
		{"pbkdf2 too many iterations", "pbkdf2:sha256:10000001$salt$" + digest},
		{"pbkdf2 underscore iterations", "pbkdf2:sha256:1_000$salt$" + digest},
		{"pbkdf2 extra field", "pbkdf2:sha256:10:5$salt$" + digest},
		{"pbkdf2 digest not hex", "pbkdf2:sha256:10$salt$" + strings.Repeat("zz", 32)},
		{"pbkdf2 digest too short", "pbkdf2:sha256:10$salt$" + digest[:62]},
		{"pbkdf2 sha512 with sha256 length", "pbkdf2:sha512:10$salt$" + digest},
		{"pbkdf2 missing salt separator", "pbkdf2:sha256:10$" + digest},
		{"pbkdf2 dollar in salt", "pbkdf2:sha256:10$sa$lt$" + digest},
		{"scrypt without parameters (old default)", "scrypt$salt$" + scryptDigest},
		{"scrypt two parameters", "scrypt:16:8$salt$" + scryptDigest},
		{"scrypt N not power of two", "scrypt:1000:8:1$salt$" + scryptDigest},
		{"scrypt N one", "scrypt:1:8:1$salt$" + scryptDigest},
		{"scrypt N above 2^22", "scrypt:8388608:8:1$salt$" + scryptDigest},
		{"scrypt 2^22 with r=32 needs 16 GiB", "scrypt:4194304:32:1$salt$" + scryptDigest},
		{"scrypt r zero", "scrypt:16:0:1$salt$" + scryptDigest},
		{"scrypt p above limit", "scrypt:16:8:17$salt$" + scryptDigest},
		{"scrypt 32-byte digest", "scrypt:16:8:1$salt$" + digest},
		{"bcrypt $2x$", "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
		{"bcrypt cost 3", "$2a$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
		{"bcrypt cost 17", "$2a$17$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
		{"bcrypt cost 31", "$2a$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
		{"bcrypt truncated", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe"},
		{"bcrypt outside alphabet", "$2a$05$CCCCCCCCCCCCCCCCCCCCC!E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(tt.encoded, "pw")
			if !errors.Is(err, ErrMalformedHash) || ok || rehash {
				t.Fatalf("Verify() = %v, %v, %v; want false, false, ErrMalformedHash", ok, rehash, err)
			}
			if tt.encoded != "" && strings.Contains(err.Error(), tt.encoded) {
				t.Fatalf("error %q repeats the hash", err)
			}
		})
	}
}

func TestVerifyDummy(t *testing.T) {
	tests := []struct {
		name string
		h    *Hasher
	}{
		{"cheap", NewHasher(cheap)},
		{"zero value falls back to defaults", &Hasher{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.h.VerifyDummy("no such user's password") // must neither panic nor hang
		})
	}
}

func BenchmarkHashDefault(b *testing.B) {
	h := NewHasher(DefaultParams())
	for b.Loop() {
		if _, err := h.Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyDefault(b *testing.B) {
	h := NewHasher(DefaultParams())
	enc, err := h.Hash("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		h.Verify(enc, "correct horse battery staple")
	}
}

func BenchmarkVerifyDummyDefault(b *testing.B) {
	h := NewHasher(DefaultParams())
	for b.Loop() {
		h.VerifyDummy("correct horse battery staple")
	}
}

// importVectors are hashes of importPassword made outside Go, one per format `idp users import`
// accepts, exactly as follows (password "Flask-imported pässword", UTF-8, "ä" precomposed):
//
//	pbkdf2: python3 (3.11.7) -c 'import hashlib; pw="Flask-imported pässword".encode();
//	        print(hashlib.pbkdf2_hmac("sha256", pw, b"q8Lr2Tn7Vb4Xz9Kw", 600000).hex())'
//	        (and "sha512", b"Hk3Pm8Qs1Wd5Ry0U", 210000), the calls werkzeug.security makes,
//	        written as Werkzeug writes them: "pbkdf2:HASH:ITERATIONS$salt$hex".
//	scrypt: python3 -c '... hashlib.scrypt(pw, salt=b"Jf6Nc1Vz8Bq3Lx5T", n=32768, r=8, p=1,
//	        maxmem=132*1024*1024, dklen=64).hex()' (Werkzeug's default parameters).
//	bcrypt: perl (5.36, Debian 12) -e 'print crypt("Flask-imported pässword",
//	        q($2b$06$) . "Zy9Ox3Kq1Lm5Nb7Vc2Xd4e")', i.e. glibc's libxcrypt bcrypt; the same with
//	        the $2a$ and $2y$ prefixes gives the same hash.
//	argon2id: the argon2-cffi documentation's example (its password is "correct horse battery
//	        staple", see TestVerifyKnownVectors).
const importPassword = "Flask-imported pässword"

var importVectors = map[string]string{
	"pbkdf2:sha256": "pbkdf2:sha256:600000$q8Lr2Tn7Vb4Xz9Kw$83129aa46183ac568c9f6e3c8b52f911e7c09ce96b24a9b00c0ca05ddea54efb",
	"pbkdf2:sha512": "pbkdf2:sha512:210000$Hk3Pm8Qs1Wd5Ry0U$8dce05bf1bbc50625b6b254414e4643691f4835c08220600468ae0fd4e1002eecf674ee734977d6daf60afc17332eb2bce8623513f4541f44b1f3bac170bbffe",
	"scrypt":        "scrypt:32768:8:1$Jf6Nc1Vz8Bq3Lx5T$32be64dab8aad3b8a4e71082cc3d628a4fa71b644db3a2a71bfded5f913a26cb31d0d713d82beb20e342c05dae144350cbdd580362ce69d7c0009368149f1fdc",
	"bcrypt $2a$":   "$2a$06$Zy9Ox3Kq1Lm5Nb7Vc2Xd4e4YxuU0gbkoBsSTqZIH2RH53zQ2sJGGq",
	"bcrypt $2b$":   "$2b$06$Zy9Ox3Kq1Lm5Nb7Vc2Xd4e4YxuU0gbkoBsSTqZIH2RH53zQ2sJGGq",
	"bcrypt $2y$":   "$2y$06$Zy9Ox3Kq1Lm5Nb7Vc2Xd4e4YxuU0gbkoBsSTqZIH2RH53zQ2sJGGq",
}

func TestVerifyIndependentImportVectors(t *testing.T) {
	h := NewHasher(cheap)
	for name, encoded := range importVectors {
		t.Run(name, func(t *testing.T) {
			if err := Check(encoded); err != nil {
				t.Fatalf("Check: %v", err)
			}
			ok, rehash, err := h.Verify(encoded, importPassword)
			if err != nil || !ok || !rehash {
				t.Fatalf("Verify(right) = %v, %v, %v; want true, true, nil", ok, rehash, err)
			}
			ok, _, err = h.Verify(encoded, "Flask-imported password")
			if err != nil || ok {
				t.Fatalf("Verify(wrong) = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

// TestLimitsRefusedAtImportAndVerify: a hash whose parameters would make a sign-in burn CPU or
// memory is refused by Check (import) and by Verify (a hash already stored), before any work.
func TestLimitsRefusedAtImportAndVerify(t *testing.T) {
	digest := strings.Repeat("ab", 32)
	scryptDigest := strings.Repeat("ab", 64)
	argon := func(params string) string {
		return "$argon2id$v=19$" + params + "$MIIRqgvgQbgj220jfp0MPA$YfwJSVjtjSU0zzV/P3S9nnQ/USre2wvJMjfCIjrTQbg"
	}
	tests := []struct {
		name, encoded string
		ok            bool
	}{
		{"pbkdf2 at 10^7 iterations", "pbkdf2:sha256:10000000$salt$" + digest, true},
		{"pbkdf2 above 10^7 iterations", "pbkdf2:sha256:10000001$salt$" + digest, false},
		{"scrypt N=2^20", "scrypt:1048576:8:1$salt$" + scryptDigest, true},
		{"scrypt N=2^21", "scrypt:2097152:8:1$salt$" + scryptDigest, false},
		{"scrypt 2^20 r=16 needs 2 GiB", "scrypt:1048576:16:1$salt$" + scryptDigest, false},
		{"scrypt 2^20 r=8 p=3 is too much work", "scrypt:1048576:8:3$salt$" + scryptDigest, false},
		{"bcrypt cost 4", "$2b$04$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", true},
		{"bcrypt cost 16", "$2b$16$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", true},
		{"bcrypt cost 17", "$2b$17$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", false},
		{"bcrypt cost 3", "$2b$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", false},
		{"argon2id RFC 9106 first choice (2 GiB, t=1, p=4)", argon("m=2097152,t=1,p=4"), true},
		{"argon2id 2 GiB, t=2", argon("m=2097152,t=2,p=4"), true},
		{"argon2id above 2 GiB", argon("m=2097153,t=1,p=4"), false},
		{"argon2id 2 GiB, t=3 (too much work)", argon("m=2097152,t=3,p=4"), false},
		{"argon2id t=100 at 19 MiB", argon("m=19456,t=100,p=1"), true},
		{"argon2id t=101", argon("m=19456,t=101,p=1"), false},
		{"argon2id 64 MiB t=65 (too much work)", argon("m=65536,t=65,p=4"), false},
		{"argon2id p=255", argon("m=65536,t=3,p=255"), true},
		{"argon2id p=256", argon("m=65536,t=3,p=256"), false},
		{"argon2id version 16", strings.Replace(argon("m=65536,t=3,p=4"), "v=19", "v=16", 1), false},
		{"unknown algorithm", "sha1$salt$" + digest[:40], false},
		{"plain text", "hunter2", false},
	}
	h := NewHasher(cheap)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.encoded)
			if tt.ok {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return // within the limits: Verify would do the (slow) work
			}
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("Check = %v, want ErrMalformedHash", err)
			}
			if strings.Contains(err.Error(), tt.encoded) {
				t.Errorf("error repeats the hash: %v", err)
			}
			if ok, _, err := h.Verify(tt.encoded, "anything"); ok || !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("Verify = %v, %v; want false, ErrMalformedHash", ok, err)
			}
		})
	}
}
