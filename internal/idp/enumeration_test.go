package idp

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/mail"
)

// answer is what a person (or an attacker) can observe of one response, with the address masked
// and the sealed handle reduced to its length.
type answer struct {
	status int
	page   string
	handle int
}

var noncePattern = regexp.MustCompile(`nonce[-=]"?[A-Za-z0-9_-]+`)

func observe(resp *http.Response, body, email string) answer {
	a := answer{status: resp.StatusCode}
	if m := handlePattern.FindStringSubmatch(body); m != nil {
		a.handle = len(m[1])
	}
	body = handlePattern.ReplaceAllString(body, "")
	body = noncePattern.ReplaceAllString(body, "")
	body = strings.ReplaceAll(body, mail.Mask(email), "EMAIL")
	a.page = strings.ReplaceAll(body, email, "EMAIL")
	return a
}

func handleOf(t *testing.T, body string) string {
	t.Helper()
	m := handlePattern.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no handle in %.300s", body)
	}
	return unescape(m[1])
}

// sameAnswers fails when the two sequences of answers differ in anything but the masked address.
func sameAnswers(t *testing.T, what string, known, unknown []answer) {
	t.Helper()
	for i := range max(len(known), len(unknown)) {
		if i >= len(known) || i >= len(unknown) {
			t.Errorf("%s: %d answers for the known address, %d for the unknown one", what, len(known), len(unknown))
			return
		}
		k, u := known[i], unknown[i]
		if k.status != u.status || k.handle != u.handle {
			t.Errorf("%s, answer %d: status %d vs %d, handle length %d vs %d", what, i+1, k.status, u.status, k.handle, u.handle)
		}
		if k.page != u.page {
			t.Errorf("%s, answer %d: the pages differ:\n%s", what, i+1, firstDiff(k.page, u.page))
		}
	}
}

func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-80)
	return "known:   …" + a[from:min(len(a), i+80)] + "\nunknown: …" + b[from:min(len(b), i+80)]
}

// enumerationHarness has a verified account (known) and an address nobody signed up with.
func enumerationHarness(t *testing.T, change func(*Options)) *harness {
	h := newHarnessWith(t, change)
	if _, err := h.admin.CreateUser(context.Background(), "known@example.com", ownerPW, true); err != nil {
		t.Fatal(err)
	}
	return h
}

// unknownEmail is as long as the known address: the handle seals the address itself.
const unknownEmail = "other@example.com"

// TestEnumerationSignals: whether an address has an account must not show in the status, the
// page (the address masked), the sealed handle's length — for a resend right after asking,
// for six wrong codes, for the same signup twice — nor in the time a signup takes.
func TestEnumerationSignals(t *testing.T) {
	type journey struct {
		name, start, verify, resend string
		form                        func(email string) url.Values
	}
	journeys := []journey{
		{"reset", resetPath, resetVerifyPath, resetResendPath, func(e string) url.Values { return url.Values{"email": {e}} }},
		{"signup", signupPath, verifyPath, resendPath, func(e string) url.Values {
			return url.Values{"email": {e}, "password": {attackerPW}, "confirm": {attackerPW}}
		}},
	}
	for _, j := range journeys {
		t.Run(j.name+" then send a new code", func(t *testing.T) {
			h := enumerationHarness(t, nil)
			run := func(email string) []answer {
				b := newTestBrowser(t)
				resp, body := postForm(t, b, h.ts.URL+j.start, j.form(email))
				out := []answer{observe(resp, body, email)}
				resp, body = postForm(t, b, h.ts.URL+j.resend, url.Values{"h": {handleOf(t, body)}})
				return append(out, observe(resp, body, email))
			}
			sameAnswers(t, j.name, run("known@example.com"), run(unknownEmail))
		})
		t.Run(j.name+" then six wrong codes", func(t *testing.T) {
			h := enumerationHarness(t, nil)
			run := func(email string) []answer {
				b := newTestBrowser(t)
				resp, body := postForm(t, b, h.ts.URL+j.start, j.form(email))
				hv := handleOf(t, body)
				out := []answer{observe(resp, body, email)}
				for range 6 {
					resp, body := h.enterCode(t, b, j.verify, hv, "000000")
					out = append(out, observe(resp, body, email))
				}
				return out
			}
			known, unknown := run("known@example.com"), run(unknownEmail)
			sameAnswers(t, j.name, known, unknown)
			if last := known[len(known)-1].status; last != http.StatusTooManyRequests {
				t.Errorf("the sixth wrong code: %d, want 429", last)
			}
		})
	}
	t.Run("the same signup twice", func(t *testing.T) {
		h := enumerationHarness(t, nil)
		run := func(email string) []answer {
			var out []answer
			for range 2 {
				resp, body := postForm(t, newTestBrowser(t), h.ts.URL+signupPath, journeys[1].form(email))
				out = append(out, observe(resp, body, email))
			}
			return out
		}
		sameAnswers(t, "signup twice", run("known@example.com"), run(unknownEmail))
	})
	t.Run("signup timing", func(t *testing.T) {
		if raceDetector {
			t.Skip("timings under the race detector say nothing: SQL slows far more than hashing")
		}
		const tries = 30
		h := enumerationHarness(t, func(o *Options) { o.Limits.EmailSendLimitIP = 10 * tries })
		ctx := context.Background()
		for i := range tries {
			if _, err := h.admin.CreateUser(ctx, "known"+itoa(i)+"@example.com", ownerPW, true); err != nil {
				t.Fatal(err)
			}
		}
		signup := func(email string) time.Duration {
			b := newTestBrowser(t)
			start := time.Now()
			resp, _ := postForm(t, b, h.ts.URL+signupPath, journeys[1].form(email))
			d := time.Since(start)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("signup %s: %d", email, resp.StatusCode)
			}
			return d
		}
		// Interleaved in pairs (which goes first alternates), so that a load on the machine hits
		// both alike; the pairs' differences cancel what the load adds to both.
		var known, unknown, diffs []time.Duration
		for i := range tries {
			var k, u time.Duration
			if i%2 == 0 {
				k = signup("known" + itoa(i) + "@example.com")
				u = signup("new" + itoa(i) + "@example.com")
			} else {
				u = signup("new" + itoa(i) + "@example.com")
				k = signup("known" + itoa(i) + "@example.com")
			}
			known, unknown, diffs = append(known, k), append(unknown, u), append(diffs, u-k)
		}
		mk, mu, md := median(known), median(unknown), median(diffs)
		if md.Abs() > 15*time.Millisecond && float64(md.Abs()) > 0.3*float64(max(mk, mu)) {
			t.Errorf("signup medians: known %v, unknown %v, of the paired differences %v", mk, mu, md)
		}
		t.Logf("signup medians over %d tries: known %v, unknown %v, paired difference %v", tries, mk, mu, md)
	})
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestSignupPerIPLimitConcurrent: signups sent together from one IP are held to the hourly
// per-IP limit before any password is hashed or any row written.
func TestSignupPerIPLimitConcurrent(t *testing.T) {
	h := newHarness(t)
	var got tally
	fire(30, 30, func(i int) {
		resp, err := newTestBrowser(t).PostForm(h.ts.URL+signupPath, url.Values{"email": {"person" + itoa(i) + "@example.com"},
			"password": {attackerPW}, "confirm": {attackerPW}})
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		got.add(itoa(resp.StatusCode))
	})
	rows := 0
	for i := range 30 {
		if _, err := h.st.GetUserByEmail(context.Background(), "person"+itoa(i)+"@example.com"); err == nil {
			rows++
		}
	}
	if limit := testLimits().EmailSendLimitIP; rows > limit {
		t.Errorf("%d user rows after 30 signups from one IP, want at most %d (%v)", rows, limit, got.n)
	}
}
