package idp

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/fintech-idp/idp/internal/store"
)

// TestClientSecretRules: an operator's --secret must be at least 32 characters and not a word,
// a repetition or a sequence, with a message that says which; generated secrets are 256 random
// bits; the development client keeps dev-secret, in development only.
func TestClientSecretRules(t *testing.T) {
	cases := []struct {
		secret string
		want   string // part of the message; "" = accepted
	}{
		{"abc", "at least 32 characters"},
		{"password", "at least 32 characters"},
		{strings.Repeat("a", 40), "repeats itself"},
		{strings.Repeat("abc", 12), "repeats itself"},
		{strings.Repeat("passwordpassword", 3), "repeats itself"},
		{"abcdefghijklmnopqrstuvwxyz0123456789", "sequence"},
		{"98765432109876543210987654321098x", "sequence"},
		{"password1234567890123456789012345", "sequence"},
		{"momsanaladventure!2024!2025#77%8", "word"},
		{"a1b2a1b2a1b2a1b2a1b2a1b2a1b2a1b2c", "too few different"},
		{"Xk9#mQ2$vL7!pR4@nT8&wZ3*bY6^cF1%", ""},
		{"9f86d081884c7d659a2feaa0c55ad015", ""}, // 128-bit hex, as `openssl rand -hex 16` prints
		{"correct-horse-battery-staple-orbit-lantern", ""},
	}
	for _, tc := range cases {
		err := (ClientSpec{ID: "svc", Type: store.ClientService, Secret: tc.secret}).Validate(false)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q refused: %v", tc.secret, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: got %v, want a message with %q", tc.secret, err, tc.want)
		}
	}

	dev := ClientSpec{ID: DevClientID, Type: store.ClientWeb, Secret: DevClientSecret, RedirectURIs: []string{"http://localhost:5000/callback"}}
	if err := dev.Validate(false); err != nil {
		t.Errorf("the development client in development: %v", err)
	}
	if err := dev.Validate(true); err == nil {
		t.Error("the development secret was accepted in production")
	}
	other := dev
	other.ID = "my-app"
	if err := other.Validate(false); err == nil {
		t.Error("another client was given the development secret")
	}

	h := newHarness(t)
	_, secret, err := h.admin.CreateClient(context.Background(), ClientSpec{ID: "gen", Type: store.ClientService})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(b) < 32 {
		t.Errorf("generated secret %d bytes (%v), want at least 32 (256 bits)", len(b), err)
	}
	if err := CheckClientSecret(secret); err != nil {
		t.Errorf("a generated secret fails the rules: %v", err)
	}
}
