package secrets

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const (
	keyA = "a-secret-key-with-at-least-32-characters"
	keyB = "another-secret-key-also-32-characters-long"
	keyC = "a-third-secret-key-with-32-characters-or-more"
)

func mustKeyring(t *testing.T, current string, previous ...string) *Keyring {
	t.Helper()
	k, err := NewKeyring(current, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSeal(t *testing.T, k *Keyring, purpose string, plaintext []byte) []byte {
	t.Helper()
	sealed, err := k.Seal(purpose, plaintext)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

func TestNewKeyringRejectsEmptyCurrent(t *testing.T) {
	if _, err := NewKeyring("", keyA); err == nil {
		t.Fatal("NewKeyring(\"\") succeeded")
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustKeyring(t, keyA)
	tests := []struct {
		name      string
		plaintext []byte
	}{
		{"empty", []byte{}},
		{"short", []byte("signing key PEM")},
		{"binary", []byte{0, 1, 2, 255, 254}},
		{"large", bytes.Repeat([]byte("x"), 1<<16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed := mustSeal(t, k, "signing-key", tt.plaintext)
			if want := header + len(tt.plaintext) + tagLen; len(sealed) != want {
				t.Fatalf("len(sealed) = %d, want %d", len(sealed), want)
			}
			if sealed[0] != 1 {
				t.Fatalf("version byte = %d, want 1", sealed[0])
			}
			if len(tt.plaintext) > 4 && bytes.Contains(sealed, tt.plaintext) {
				t.Fatal("sealed output contains the plaintext")
			}
			got, err := k.Open("signing-key", sealed)
			if err != nil || !bytes.Equal(got, tt.plaintext) {
				t.Fatalf("Open() = %q, %v; want %q", got, err, tt.plaintext)
			}
			if k.NeedsReseal(sealed) {
				t.Fatal("NeedsReseal() = true for data sealed with the current key")
			}
		})
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	k := mustKeyring(t, keyA)
	a := mustSeal(t, k, "p", []byte("same"))
	b := mustSeal(t, k, "p", []byte("same"))
	if bytes.Equal(a, b) {
		t.Fatal("sealing twice gave identical output")
	}
}

func TestKeyIDIdentifiesSecretNotPurpose(t *testing.T) {
	k := mustKeyring(t, keyA)
	a := mustSeal(t, k, "one", []byte("x"))
	b := mustSeal(t, k, "two", []byte("x"))
	if !bytes.Equal(a[1:9], b[1:9]) {
		t.Fatal("key id differs between purposes of one secret")
	}
	c := mustSeal(t, mustKeyring(t, keyB), "one", []byte("x"))
	if bytes.Equal(a[1:9], c[1:9]) {
		t.Fatal("two secrets share a key id")
	}
}

func TestOpenFailures(t *testing.T) {
	k := mustKeyring(t, keyA)
	sealed := mustSeal(t, k, "signing-key", []byte("top secret payload"))
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name    string
		k       *Keyring
		purpose string
		sealed  []byte
	}{
		{"wrong purpose", k, "session", sealed},
		{"purpose prefix", k, "signing", sealed},
		{"empty purpose", k, "", sealed},
		{"other secret", mustKeyring(t, keyB), "signing-key", sealed},
		{"other secret with ours as a different previous", mustKeyring(t, keyB, keyC), "signing-key", sealed},
		{"version byte changed", k, "signing-key", flip(0)},
		{"key id changed", k, "signing-key", flip(3)},
		{"nonce changed", k, "signing-key", flip(1 + keyIDLen + 2)},
		{"ciphertext changed", k, "signing-key", flip(header + 1)},
		{"tag changed", k, "signing-key", flip(len(sealed) - 1)},
		{"truncated", k, "signing-key", sealed[:len(sealed)-1]},
		{"extended", k, "signing-key", append(bytes.Clone(sealed), 0)},
		{"header only", k, "signing-key", sealed[:header]},
		{"empty", k, "signing-key", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.k.Open(tt.purpose, tt.sealed)
			if err != ErrOpen || got != nil {
				t.Fatalf("Open() = %q, %v; want nil, ErrOpen", got, err)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	old := mustKeyring(t, keyA)
	sealedOld := mustSeal(t, old, "signing-key", []byte("made before rotation"))

	// After rotation keyA is previous; keyC is an unrelated older key also still accepted.
	rotated := mustKeyring(t, keyB, keyA, keyC)
	got, err := rotated.Open("signing-key", sealedOld)
	if err != nil || string(got) != "made before rotation" {
		t.Fatalf("Open(previous) = %q, %v", got, err)
	}
	if !rotated.NeedsReseal(sealedOld) {
		t.Fatal("NeedsReseal() = false for data sealed with a previous key")
	}

	resealed := mustSeal(t, rotated, "signing-key", got)
	if rotated.NeedsReseal(resealed) {
		t.Fatal("NeedsReseal() = true after resealing")
	}
	// The old deployment (still only keyA) cannot read what the new key sealed …
	if _, err := old.Open("signing-key", resealed); !errors.Is(err, ErrOpen) {
		t.Fatalf("old keyring opened data sealed with the new key: %v", err)
	}
	// … and once keyA is dropped, data sealed under it is unreadable.
	if _, err := mustKeyring(t, keyB).Open("signing-key", sealedOld); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open() after dropping the previous key: %v", err)
	}
}

func TestNeedsReseal(t *testing.T) {
	k := mustKeyring(t, keyB, keyA)
	fromA := mustSeal(t, mustKeyring(t, keyA), "p", []byte("x"))
	fromB := mustSeal(t, k, "p", []byte("x"))
	fromC := mustSeal(t, mustKeyring(t, keyC), "p", []byte("x"))
	tests := []struct {
		name   string
		sealed []byte
		want   bool
	}{
		{"current", fromB, false},
		{"previous", fromA, true},
		{"unknown key", fromC, false},
		{"garbage", []byte("not sealed at all"), false},
		{"empty", nil, false},
		{"wrong version", append([]byte{2}, fromA[1:]...), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := k.NeedsReseal(tt.sealed); got != tt.want {
				t.Fatalf("NeedsReseal() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPreviousDuplicatesIgnored(t *testing.T) {
	k := mustKeyring(t, keyA, "", keyA, keyB, keyB)
	if n := len(k.r.previous); n != 1 {
		t.Fatalf("len(previous) = %d, want 1", n)
	}
	if k.NeedsReseal(mustSeal(t, k, "p", []byte("x"))) {
		t.Fatal("current key listed as previous too")
	}
}

func TestDeriveKey(t *testing.T) {
	a1, a2 := mustKeyring(t, keyA), mustKeyring(t, keyA, keyB)
	b := mustKeyring(t, keyB, keyA)
	zero := [32]byte{}
	tests := []struct {
		name  string
		x, y  [32]byte
		equal bool
	}{
		{"deterministic across keyrings", a1.DeriveKey("oidc-crypto"), a2.DeriveKey("oidc-crypto"), true},
		{"deterministic across calls", a1.DeriveKey("oidc-crypto"), a1.DeriveKey("oidc-crypto"), true},
		{"purposes differ", a1.DeriveKey("oidc-crypto"), a1.DeriveKey("signing-key"), false},
		{"secrets differ", a1.DeriveKey("oidc-crypto"), b.DeriveKey("oidc-crypto"), false},
		{"not zero", a1.DeriveKey("oidc-crypto"), zero, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.x == tt.y) != tt.equal {
				t.Fatalf("keys equal = %v, want %v", tt.x == tt.y, tt.equal)
			}
		})
	}

	// DeriveKey is plain HKDF-SHA256 with the documented salt and info, pinned so that an
	// accidental change (which would break every deployment's stored data) fails here.
	want, err := hkdf.Key(sha256.New, []byte(keyA), hkdfSalt, "idp/oidc-crypto", 32)
	if err != nil {
		t.Fatal(err)
	}
	if got := a1.DeriveKey("oidc-crypto"); !bytes.Equal(got[:], want) {
		t.Fatalf("DeriveKey() = %x, want HKDF-SHA256 %x", got, want)
	}
	if string(hkdfSalt) != "github.com/fintech-idp/idp secrets v1" {
		t.Fatal("hkdfSalt changed: every derived key would change")
	}
}

func TestDeriveKeyEmptyPurposePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("DeriveKey(\"\") did not panic")
		}
	}()
	mustKeyring(t, keyA).DeriveKey("")
}

func TestSealEmptyPurpose(t *testing.T) {
	if _, err := mustKeyring(t, keyA).Seal("", []byte("x")); err == nil {
		t.Fatal("Seal with an empty purpose succeeded")
	}
}

func TestNeverPrinted(t *testing.T) {
	k := mustKeyring(t, keyA, keyB)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("started", "keyring", k)
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", k),
		"%+v":  fmt.Sprintf("%+v", k),
		"%#v":  fmt.Sprintf("%#v", k),
		"%s":   fmt.Sprintf("%s", k),
		"*k":   fmt.Sprintf("%+v", *k),
		"slog": logs.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, keyA) || strings.Contains(out, keyB) || strings.Contains(out, "prk") {
			t.Errorf("%s output leaks key material: %s", name, out)
		}
	}
	if !strings.Contains(logs.String(), `"keyring":"[redacted]"`) {
		t.Errorf("slog output = %s, want keyring [redacted]", logs.String())
	}
}
