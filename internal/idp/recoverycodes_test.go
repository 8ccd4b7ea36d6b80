package idp

import (
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
