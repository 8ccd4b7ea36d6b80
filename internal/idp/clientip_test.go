package idp

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cases := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxies: header ignored", "203.0.113.9:5000", []string{"1.2.3.4"}, nil, "203.0.113.9"},
		{"untrusted peer: header ignored", "203.0.113.9:5000", []string{"1.2.3.4"}, proxies, "203.0.113.9"},
		{"trusted proxy", "10.1.2.3:5000", []string{"198.51.100.7"}, proxies, "198.51.100.7"},
		{"forged left entries ignored", "10.1.2.3:5000", []string{"6.6.6.6, 198.51.100.7"}, proxies, "198.51.100.7"},
		{"chain of trusted proxies", "10.1.2.3:5000", []string{"198.51.100.7, 10.9.9.9"}, proxies, "198.51.100.7"},
		{"several headers", "10.1.2.3:5000", []string{"6.6.6.6", "198.51.100.7"}, proxies, "198.51.100.7"},
		{"garbage hop", "10.1.2.3:5000", []string{"not-an-ip"}, proxies, "10.1.2.3"},
		{"only proxies", "10.1.2.3:5000", []string{"10.2.2.2"}, proxies, "10.1.2.3"},
		{"ipv6 loopback proxy", "[::1]:5000", []string{"2001:db8::5"}, proxies, "2001:db8::5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientIP(r, tc.trusted); got != tc.want {
				t.Errorf("clientIP = %q, want %q", got, tc.want)
			}
		})
	}
}
