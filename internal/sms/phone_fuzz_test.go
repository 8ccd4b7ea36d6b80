package sms

import (
	"strings"
	"testing"
)

// FuzzNormalizePhone: whatever is typed, an accepted number is E.164 ("+" and at most 15
// digits), from an allowed country, and reads back as itself.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"+44 7400 123456", "07400 123456", "+1 (201) 555-0123", "+44 20 7946 0000", "+447400123456 ext. 12",
		"tel:+44-7400-123456", "+44\x007400123456", "٠٧٤٠٠١٢٣٤٥٦", "+999 1234", strings.Repeat("9", 70), "+44 7400 123456\r\n", "++44"} {
		f.Add(s)
	}
	allowed := []string{"GB", "IE"}
	f.Fuzz(func(t *testing.T, raw string) {
		e164, region, err := NormalizePhone(raw, "GB", allowed)
		if err != nil {
			return
		}
		if len(e164) < 8 || len(e164) > 16 || e164[0] != '+' || strings.Trim(e164[1:], "0123456789") != "" {
			t.Fatalf("NormalizePhone(%q) = %q: not E.164", raw, e164)
		}
		if region != "GB" && region != "IE" {
			t.Fatalf("NormalizePhone(%q) gave region %q outside the allowed list", raw, region)
		}
		again, region2, err := NormalizePhone(e164, "IE", allowed)
		if err != nil || again != e164 || region2 != region {
			t.Fatalf("%q normalised to %q, which reads back as %q, %q, %v", raw, e164, again, region2, err)
		}
	})
}
