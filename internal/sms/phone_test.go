package sms

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		name       string
		raw        string
		region     string
		allowed    []string
		want       string
		wantRegion string
		wantErr    error
	}{
		{name: "UK mobile in national format", raw: "07400 123456", region: "GB", want: "+447400123456", wantRegion: "GB"},
		{name: "UK mobile, lower-case region and spaces", raw: " 07400-123-456 ", region: "gb", allowed: []string{"gb", "IE"}, want: "+447400123456", wantRegion: "GB"},
		{name: "US number with +1 (fixed line or mobile)", raw: "+1 202-555-0123", region: "GB", want: "+12025550123", wantRegion: "US"},
		{name: "international prefix 00", raw: "0049 1512 3456789", region: "GB", want: "+4915123456789", wantRegion: "DE"},
		{name: "German landline is not mobile", raw: "+49 30 12345678", region: "GB", wantErr: ErrPhoneNotMobile},
		{name: "UK landline is not mobile", raw: "020 7946 0958", region: "GB", wantErr: ErrPhoneNotMobile},
		{name: "invalid digits", raw: "+44 7400 12", region: "GB", wantErr: ErrPhoneInvalid},
		{name: "letters", raw: "call me", region: "GB", wantErr: ErrPhoneInvalid},
		{name: "empty", raw: "  ", region: "GB", wantErr: ErrPhoneInvalid},
		{name: "national format without region", raw: "07400 123456", region: "", wantErr: ErrPhoneInvalid},
		{name: "extension", raw: "+44 7400 123456 ext. 12", region: "GB", wantErr: ErrPhoneInvalid},
		{name: "too long", raw: "+44 7400 123456" + strings.Repeat("1", 60), region: "GB", wantErr: ErrPhoneInvalid},
		{name: "country not allowed", raw: "+33 6 12 34 56 78", region: "GB", allowed: []string{"GB", "IE"}, wantErr: ErrCountryNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, region, err := NormalizePhone(tt.raw, tt.region, tt.allowed)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || got != "" || region != "" {
					t.Fatalf("NormalizePhone(%q) = %q, %q, %v; want %v", tt.raw, got, region, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want || region != tt.wantRegion {
				t.Fatalf("NormalizePhone(%q) = %q, %q, %v; want %q, %q", tt.raw, got, region, err, tt.want, tt.wantRegion)
			}
		})
	}
}

func TestNormalizePhoneCountryError(t *testing.T) {
	_, _, err := NormalizePhone("+33612345678", "GB", []string{"GB"})
	if err == nil || !strings.HasSuffix(err.Error(), ": FR") || strings.Contains(err.Error(), "612345678") {
		t.Fatalf("err = %v, want ErrCountryNotAllowed naming FR and not the number", err)
	}
}

func TestMaskPhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+447700900123", "+44******0123"},
		{"+12025550123", "+12*****0123"},
		{"+4930123456", "+49****3456"},
		{"", ""},
		{"447700900123", "***"},
		{"+44 7700 900123", "***"},
		{"+1234", "***"},
	}
	for _, tt := range tests {
		if got := MaskPhone(tt.in); got != tt.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
