package idp

import (
	"github.com/fintech-idp/idp/internal/store"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestRecoveryCodesOfferSignOutOnlyWithOtherSessions: after enrolment the recovery codes page
// offers "Sign out all other sessions" only when there are other sessions to sign out.
func TestRecoveryCodesOfferSignOutOnlyWithOtherSessions(t *testing.T) {
	for _, others := range []bool{false, true} {
		t.Run(map[bool]string{false: "alone", true: "with another browser"}[others], func(t *testing.T) {
			h := newMFAHarness(t, nil)
			if others {
				h.accountBrowser(t) // a second, live session
			}
			b := h.accountBrowser(t)
			resp, body := postForm(t, b, h.ts.URL+"/account/two-step", url.Values{"phone": {"07400 123456"}, "consent": {"yes"}})
			if resp.Request.URL.Path != "/mfa" {
				t.Fatalf("enrol form ended at %s", resp.Request.URL.Path)
			}
			resp, body = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {mfaHandle(t, body)}, "code": {h.vonage.Code(flowPhone)}})
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="recovery-codes"`) {
				t.Fatalf("no recovery codes page: %d", resp.StatusCode)
			}
			if got := strings.Contains(body, `id="revoke-others"`); got != others {
				t.Errorf("offers to sign out other sessions: %v, want %v", got, others)
			}
		})
	}
}

// TestAccountBackToTheApp: the account page links back to the app the person came from — its
// registered home URI, else its first redirect URI's origin — and to nothing for an unknown app.
func TestAccountBackToTheApp(t *testing.T) {
	h := newMFAHarness(t, nil)
	ctx := t.Context()
	if _, _, err := h.admin.CreateClient(ctx, ClientSpec{ID: "budget", Name: "Budget Planner", Type: store.ClientSPA,
		RedirectURIs: []string{"https://budget.example/cb"}, HomeURI: "https://budget.example/home"}); err != nil {
		t.Fatal(err)
	}
	b := h.accountBrowser(t)
	tests := []struct{ query, want string }{
		{"?client_id=budget", `href="https://budget.example/home">← Back to Budget Planner</a>`},
		{"", `href="https://budget.example/home">← Back to Budget Planner</a>`}, // remembered
		{"?client_id=web", `href="https://rp.example/">← Back to`},              // no home URI: the redirect's origin
		{"?client_id=no-such-app", ""},
	}
	for _, tt := range tests {
		_, body := get(t, b, h.ts.URL+accountPath+tt.query)
		has := strings.Contains(body, `id="back-to-app"`)
		if tt.want == "" && has || tt.want != "" && !strings.Contains(body, tt.want) {
			t.Errorf("/account%s: back link %v, want %q: %.600s", tt.query, has, tt.want, body[strings.Index(body, "<main"):])
		}
	}
}

func TestClientHomeURIRules(t *testing.T) {
	base := ClientSpec{ID: "app", Type: store.ClientWeb, RedirectURIs: []string{"https://app.example/cb"}}
	for _, tt := range []struct {
		home       string
		production bool
		ok         bool
	}{
		{"https://app.example/", true, true},
		{"http://localhost:3000/", true, true},
		{"http://app.example/", true, false},
		{"http://app.example/", false, true},
		{"javascript:alert(1)", false, false},
		{"https://user:pw@app.example/", true, false},
		{"/relative", true, false},
	} {
		spec := base
		spec.HomeURI = tt.home
		if err := spec.Validate(tt.production); (err == nil) != tt.ok {
			t.Errorf("--home-uri %q (production %v): err = %v, want ok %v", tt.home, tt.production, err, tt.ok)
		}
	}
}
