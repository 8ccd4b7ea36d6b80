package idp

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fintech-idp/idp/internal/store"
)

// TestDevClientAnyLocalhostPort: in development the built-in dashboard client may come back to
// http://localhost:<any port>/callback (port 5000 is often taken); no other client may, and in
// production not even that one.
func TestDevClientAnyLocalhostPort(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.admin.EnsureDevClient(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.admin.CreateClient(ctx, ClientSpec{ID: "web", Type: store.ClientWeb,
		RedirectURIs: []string{"http://localhost:5000/callback"}}); err != nil {
		t.Fatal(err)
	}
	authorize := func(clientID, redirect string) (int, string) {
		t.Helper()
		q := url.Values{"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"},
			"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}, "state": {"s"}}
		c := &http.Client{CheckRedirect: noRedirect}
		resp, err := c.Get(h.ts.URL + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	tests := []struct {
		name        string
		development bool
		client      string
		redirect    string
		ok          bool
	}{
		{"dev client, registered port", true, DevClientID, "http://localhost:5000/callback", true},
		{"dev client, another port", true, DevClientID, "http://localhost:5050/callback", true},
		{"dev client, another path", true, DevClientID, "http://localhost:5050/evil", false},
		{"dev client, another host", true, DevClientID, "http://evil.example:5050/callback", false},
		{"dev client, userinfo trick", true, DevClientID, "http://localhost:5050@evil.example/callback", false},
		{"dev client, host suffix trick", true, DevClientID, "http://localhost:5050.evil.example/callback", false},
		{"dev client, https", true, DevClientID, "https://localhost:5050/callback", false},
		{"dev client, port with a path trick", true, DevClientID, "http://localhost:5050/x/callback", false},
		{"other client, another port", true, "web", "http://localhost:5050/callback", false},
		{"dev client in production, another port", false, DevClientID, "http://localhost:5050/callback", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The harness needs an http issuer, which only development allows: production's
			// client is the same client with devMode off.
			h.srv.storage.devMode = tt.development
			defer func() { h.srv.storage.devMode = true }()
			status, loc := authorize(tt.client, tt.redirect)
			accepted := status == http.StatusFound && strings.HasPrefix(loc, loginPath)
			if accepted != tt.ok {
				t.Fatalf("status %d, location %q: accepted %v, want %v", status, loc, accepted, tt.ok)
			}
		})
	}
}
