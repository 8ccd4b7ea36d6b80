package password

import (
	"errors"
	"strings"
	"testing"
)

// FuzzCheckHash: the stored-hash parser never panics, refuses with ErrMalformedHash and without
// repeating the hash, and accepts only the known formats with parameters inside the limits (so
// that Verify's work is bounded).
func FuzzCheckHash(f *testing.F) {
	h := NewHasher(Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})
	good, err := h.Hash("correct horse battery staple")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, good[:len(good)-2], strings.Replace(good, "m=64", "m=99999999999", 1),
		strings.Replace(good, "t=1", "t=0", 1), "$argon2id$v=19$m=,t=,p=$$", "$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5",
		"pbkdf2:sha256:600000$salt$" + strings.Repeat("ab", 32), "pbkdf2:sha256:99999999999$s$00", "pbkdf2:md5:1$s$00",
		"scrypt:32768:8:1$salt$" + strings.Repeat("ab", 64), "scrypt:3:8:1$s$00", "scrypt:1048576:32:16$s$" + strings.Repeat("00", 64),
		"$2b$10$" + strings.Repeat("a", 53), "$2b$31$" + strings.Repeat("a", 53), "$2y$04$\x00", "", "$", "$$$$$$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, encoded string) {
		err := Check(encoded)
		if err == nil {
			if !strings.HasPrefix(encoded, "$argon2id$") && !strings.HasPrefix(encoded, "pbkdf2:") &&
				!strings.HasPrefix(encoded, "scrypt:") && !strings.HasPrefix(encoded, "$2") {
				t.Fatalf("Check accepted %q", encoded)
			}
			return
		}
		if !errors.Is(err, ErrMalformedHash) {
			t.Fatalf("Check(%q) = %v, not ErrMalformedHash", encoded, err)
		}
		if len(encoded) > 12 && strings.Contains(err.Error(), encoded) {
			t.Fatalf("the error repeats the hash: %v", err)
		}
	})
}
