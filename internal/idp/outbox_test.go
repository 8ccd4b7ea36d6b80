package idp

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestDevOutboxShowsCodes: in development the code page points to the outbox, and the outbox shows
// the newest code large, newest first, and reloads itself.
func TestDevOutboxShowsCodes(t *testing.T) {
	h := newHarness(t)
	b := newTestBrowser(t)
	status, _, body := h.signup(t, b, "ada@example.com", ownerPW)
	if status != http.StatusOK {
		t.Fatalf("signup: %d", status)
	}
	if !strings.Contains(body, `href="/dev/outbox"`) {
		t.Errorf("the code page does not link to the development outbox: %.500s", body)
	}
	h.signup(t, newTestBrowser(t), "bob@example.com", ownerPW)
	resp, err := http.Get(h.ts.URL + "/dev/outbox")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	out := string(page)
	if !strings.Contains(out, `<meta http-equiv="refresh" content="5">`) {
		t.Error("the outbox does not refresh itself")
	}
	ada, bob := h.codeFor(t, "ada@example.com"), h.codeFor(t, "bob@example.com")
	iAda := strings.Index(out, `<p class="outbox-code">Code <code>`+ada+`</code>`)
	iBob := strings.Index(out, `<p class="outbox-code">Code <code>`+bob+`</code>`)
	if iAda < 0 || iBob < 0 {
		t.Fatalf("codes %s and %s are not shown large: %s", ada, bob, out)
	}
	if iBob > iAda {
		t.Error("the outbox is not newest first")
	}

	// Production never links to it.
	h.srv.opts.Development = false
	_, _, body = h.signup(t, newTestBrowser(t), "cy@example.com", ownerPW)
	if strings.Contains(body, "/dev/outbox") {
		t.Error("a production code page links to the development outbox")
	}
}

func TestOutboxCode(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"Your code is:\n\n    739104\n\nEnter it.", "739104"},
		{"Reference 1234567 and 12345 are not codes", ""},
		{"Order 123456789\n  042424  \n", "042424"},
	} {
		if got := outboxCode(tt.text); got != tt.want {
			t.Errorf("outboxCode(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}
