package idp

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/mail"
	"github.com/fintech-idp/idp/internal/store"
)

var (
	handlePattern = regexp.MustCompile(`name="h" value="([^"]+)"`)
	codePattern   = regexp.MustCompile(`\b(\d{6})\b`)
	grantPattern  = regexp.MustCompile(`name="grant" value="([^"]+)"`)
)

func unescape(s string) string { return strings.ReplaceAll(s, "&#43;", "+") }

// codeFor returns the newest code emailed to addr.
func (h *harness) codeFor(t *testing.T, addr string) string {
	t.Helper()
	for _, m := range h.outbox.Outbox() {
		if m.To == addr {
			if c := codePattern.FindStringSubmatch(m.Text); c != nil {
				return c[1]
			}
		}
	}
	t.Fatalf("no code emailed to %s", addr)
	return ""
}

func (h *harness) mailsTo(addr string) (n int, subjects []string) {
	for _, m := range h.outbox.Outbox() {
		if m.To == addr {
			n++
			subjects = append(subjects, m.Subject)
		}
	}
	return n, subjects
}

// signup posts the signup form from browser b and returns the code page's handle.
func (h *harness) signup(t *testing.T, b *http.Client, email, pw string) (status int, handle, body string) {
	t.Helper()
	resp, body := postForm(t, b, h.ts.URL+"/signup", url.Values{"email": {email}, "password": {pw}, "confirm": {pw}})
	m := handlePattern.FindStringSubmatch(body)
	if m == nil {
		return resp.StatusCode, "", body
	}
	return resp.StatusCode, unescape(m[1]), body
}

func (h *harness) enterCode(t *testing.T, b *http.Client, path, handle, code string) (*http.Response, string) {
	t.Helper()
	return postForm(t, b, h.ts.URL+path, url.Values{"h": {handle}, "code": {code}})
}

// canLogin reports whether email/password signs in (account mode: to /account).
func (h *harness) canLogin(t *testing.T, email, pw string) bool {
	t.Helper()
	b := newTestBrowser(t)
	resp, _ := postForm(t, b, h.ts.URL+"/login", url.Values{"email": {email}, "password": {pw}})
	return resp.StatusCode == http.StatusOK && resp.Request.URL.Path == "/account"
}

const (
	ownerPW    = "owner passphrase that is long"
	attackerPW = "attacker passphrase that is long"
)

// TestSignupVerifiesEmailBeforeAnything: the account is usable only after the code, and the code
// page has the standard attributes.
func TestSignupVerifiesEmailBeforeAnything(t *testing.T) {
	h := newHarness(t)
	b := newTestBrowser(t)
	status, hv, body := h.signup(t, b, "Grace@Example.com ", ownerPW)
	if status != http.StatusOK || hv == "" {
		t.Fatalf("signup: %d %.300s", status, body)
	}
	for _, want := range []string{`autocomplete="one-time-code"`, `inputmode="numeric"`, "g***@example.com"} {
		if !strings.Contains(body, want) {
			t.Errorf("code page lacks %s", want)
		}
	}
	if h.canLogin(t, "grace@example.com", ownerPW) {
		t.Fatal("an unverified account signed in")
	}
	resp, _ := h.enterCode(t, b, verifyPath, hv, h.codeFor(t, "grace@example.com"))
	if resp.Request.URL.Path != "/account" {
		t.Fatalf("after the code: %s", resp.Request.URL)
	}
	u, _ := h.st.GetUserByEmail(context.Background(), "grace@example.com")
	if u == nil || !u.EmailVerified {
		t.Fatal("email not verified")
	}
	if !h.canLogin(t, "grace@example.com", ownerPW) {
		t.Error("verified account cannot sign in")
	}
}

// TestSignupBadInput: every field's problem is reported at once, and nothing is stored.
func TestSignupBadInput(t *testing.T) {
	h := newHarness(t)
	b := newTestBrowser(t)
	cases := []struct {
		name, email, pw, confirm string
		want                     []string
	}{
		{"everything wrong", "nope", "short", "other", []string{"Enter a valid email address", "Use at least 15 characters", msgPasswordsDif}},
		{"dotless domain", "a@localhost", ownerPW, ownerPW, []string{"Enter a valid email address"}},
		{"common password", "c@example.com", "1qaz2wsx3edc4rfv", "1qaz2wsx3edc4rfv", []string{"common"}},
		{"password contains email", "frederick@example.com", "frederick-is-my-name!", "frederick-is-my-name!", []string{"email"}},
		{"brand name", "d@example.com", "my fintech id password", "my fintech id password", []string{"FinTech ID"}},
		{"huge email", strings.Repeat("a", 300) + "@example.com", ownerPW, ownerPW, []string{"Enter a valid email address"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := postForm(t, b, h.ts.URL+"/signup", url.Values{"email": {tc.email}, "password": {tc.pw}, "confirm": {tc.confirm}})
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d", resp.StatusCode)
			}
			for _, w := range tc.want {
				if !strings.Contains(strings.ToLower(body), strings.ToLower(w)) {
					t.Errorf("page lacks %q", w)
				}
			}
			if strings.Contains(body, tc.pw) && len(tc.pw) > 5 {
				t.Error("the page echoes the password")
			}
		})
	}
	users, _ := h.st.ListUsers(context.Background())
	if len(users) != 0 || len(h.outbox.Outbox()) != 0 {
		t.Errorf("bad input left %d users and %d emails", len(users), len(h.outbox.Outbox()))
	}
}

// TestSignupExistingEmail: the same page as a new signup, the owner gets an email, nothing changes.
func TestSignupExistingEmail(t *testing.T) {
	h := newHarness(t)
	if _, err := h.admin.CreateUser(context.Background(), "ada@example.com", ownerPW, true); err != nil {
		t.Fatal(err)
	}
	// Addresses of one length: the handle seals the address itself.
	s1, h1, b1 := h.signup(t, newTestBrowser(t), "ada@example.com", attackerPW)
	s2, h2, b2 := h.signup(t, newTestBrowser(t), "new@example.com", attackerPW)
	if s1 != s2 {
		t.Errorf("status %d vs %d", s1, s2)
	}
	if h1 == "" || len(h1) != len(h2) {
		t.Errorf("sealed handle length %d vs %d", len(h1), len(h2))
	}
	strip := func(s string) string {
		s = handlePattern.ReplaceAllString(s, "")
		s = regexp.MustCompile(`nonce[-=]"?[A-Za-z0-9_-]+`).ReplaceAllString(s, "")
		return strings.NewReplacer("a***@example.com", "X", "n***@example.com", "X").Replace(s)
	}
	if strip(b1) != strip(b2) {
		t.Error("the page differs for an existing email")
	}
	n, subjects := h.mailsTo("ada@example.com")
	if n != 1 || codePattern.MatchString(strings.Join(subjects, " ")) {
		t.Errorf("owner mails: %v", subjects)
	}
	if !h.canLogin(t, "ada@example.com", ownerPW) || h.canLogin(t, "ada@example.com", attackerPW) {
		t.Error("the owner's password changed")
	}
}

// TestPreAccountHijacking: whichever order two signups for one email happen in, only the code of
// a signup sets that signup's password, and another signup's code never works on its page.
func TestPreAccountHijacking(t *testing.T) {
	t.Run("attacker first", func(t *testing.T) {
		h := newHarness(t)
		_, _, _ = h.signup(t, newTestBrowser(t), "victim@example.com", attackerPW)
		h.clock.Advance(2 * time.Minute) // past the resend cooldown
		owner := newTestBrowser(t)
		_, hv, _ := h.signup(t, owner, "victim@example.com", ownerPW)
		h.enterCode(t, owner, verifyPath, hv, h.codeFor(t, "victim@example.com"))
		if !h.canLogin(t, "victim@example.com", ownerPW) || h.canLogin(t, "victim@example.com", attackerPW) {
			t.Error("the wrong password won")
		}
	})
	t.Run("attacker later", func(t *testing.T) {
		h := newHarness(t)
		owner := newTestBrowser(t)
		_, hv, _ := h.signup(t, owner, "victim@example.com", ownerPW)
		ownerCode := h.codeFor(t, "victim@example.com")
		h.clock.Advance(2 * time.Minute)
		_, _, _ = h.signup(t, newTestBrowser(t), "victim@example.com", attackerPW)
		attackerCode := h.codeFor(t, "victim@example.com")
		// The owner's page refuses the attacker's code (it is another signup's), and the
		// owner's own code was replaced.
		for _, c := range []string{attackerCode, ownerCode} {
			if resp, _ := h.enterCode(t, owner, verifyPath, hv, c); resp.Request.URL.Path == "/account" {
				t.Fatalf("code %s was accepted on the owner's page", c)
			}
		}
		// The owner asks for a new code on their page: it carries the owner's password.
		h.clock.Advance(2 * time.Minute)
		_, body := postForm(t, owner, h.ts.URL+resendPath, url.Values{"h": {hv}})
		hv = unescape(handlePattern.FindStringSubmatch(body)[1])
		h.enterCode(t, owner, verifyPath, hv, h.codeFor(t, "victim@example.com"))
		if !h.canLogin(t, "victim@example.com", ownerPW) || h.canLogin(t, "victim@example.com", attackerPW) {
			t.Error("the wrong password won")
		}
	})
}

// TestCodeRules: five wrong tries, then a new code is needed; expiry; resend voids; cooldown and
// the hourly send limit.
func TestCodeRules(t *testing.T) {
	h := newHarness(t)
	b := newTestBrowser(t)
	_, hv, _ := h.signup(t, b, "tries@example.com", ownerPW)
	code := h.codeFor(t, "tries@example.com")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i := 0; i < 5; i++ {
		if resp, body := h.enterCode(t, b, verifyPath, hv, wrong); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, msgCodeWrong) {
			t.Fatalf("wrong try %d: %d", i+1, resp.StatusCode)
		}
	}
	if resp, body := h.enterCode(t, b, verifyPath, hv, code); resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, msgCodeTooMany) {
		t.Fatalf("the right code after 5 wrong tries: %d", resp.StatusCode)
	}
	// Resend: refused during the cooldown, with the wait shown.
	_, body := postForm(t, b, h.ts.URL+resendPath, url.Values{"h": {hv}})
	if !strings.Contains(body, "Try again in") {
		t.Errorf("resend during cooldown: %.300s", body)
	}
	h.clock.Advance(61 * time.Second)
	_, body = postForm(t, b, h.ts.URL+resendPath, url.Values{"h": {hv}})
	hv = unescape(handlePattern.FindStringSubmatch(body)[1])
	fresh := h.codeFor(t, "tries@example.com")
	// Expiry: 10 minutes.
	h.clock.Advance(10*time.Minute + time.Second)
	if resp, _ := h.enterCode(t, b, verifyPath, hv, fresh); resp.Request.URL.Path == "/account" {
		t.Fatal("an expired code was accepted")
	}
	// Hourly limit per account: 5 emails, the 6th refused.
	sent := 2 // the signup's and one resend
	for sent < 8 {
		h.clock.Advance(61 * time.Second)
		_, body = postForm(t, b, h.ts.URL+resendPath, url.Values{"h": {hv}})
		if strings.Contains(body, "too many emails") {
			break
		}
		sent++
		hv = unescape(handlePattern.FindStringSubmatch(body)[1])
	}
	if sent != 5 {
		t.Errorf("the send limit stopped after %d emails, want 5", sent)
	}
	if n, _ := h.mailsTo("tries@example.com"); n != 5 {
		t.Errorf("%d emails sent, want 5", n)
	}
}

// TestParallelGuessesCountedAtomically: 200 parallel guesses get only 5 checks.
func TestParallelGuessesCountedAtomically(t *testing.T) {
	h := newHarness(t)
	b := newTestBrowser(t)
	_, hv, _ := h.signup(t, b, "race@example.com", ownerPW)
	code := h.codeFor(t, "race@example.com")
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[int]int{}
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			guess := strings.Repeat(string(rune('0'+i%10)), 6)
			if guess == code {
				guess = "999998"
			}
			resp, _ := h.enterCode(t, newTestBrowser(t), verifyPath, hv, guess)
			mu.Lock()
			counts[resp.StatusCode]++
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	if counts[http.StatusBadRequest] != 5 || counts[http.StatusTooManyRequests] != 195 {
		t.Errorf("answers %v, want 5 × 400 and 195 × 429", counts)
	}
}

// TestResetSameAnswerAndRevokes: unknown and known emails look alike; a reset signs out every
// session and refresh token and notifies the owner.
func TestResetSameAnswerAndRevokes(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	ctx := context.Background()
	b := newTestBrowser(t)
	h.login(t, b, nil) // a live session to be revoked
	secret := h.rpClient(t)
	rt := h.offlineGrant(t, b, secret) // an app that stays signed in
	known, kb := postForm(t, newTestBrowser(t), h.ts.URL+"/reset", url.Values{"email": {flowEmail}})
	unknown, ub := postForm(t, newTestBrowser(t), h.ts.URL+"/reset", url.Values{"email": {"ghost@example.com"}})
	if known.StatusCode != unknown.StatusCode || known.Request.URL.Path != unknown.Request.URL.Path {
		t.Errorf("answers differ: %d %s vs %d %s", known.StatusCode, known.Request.URL.Path, unknown.StatusCode, unknown.Request.URL.Path)
	}
	if !strings.Contains(kb, "If an account exists") || !strings.Contains(ub, "If an account exists") {
		t.Error("the reset page does not say the neutral sentence")
	}
	// The code is sent in the background: wait for it, however loaded the machine, but never go
	// on without it.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if n, _ := h.mailsTo(flowEmail); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no reset email within 60s")
		}
	}
	code := h.codeFor(t, flowEmail)
	hv := unescape(handlePattern.FindStringSubmatch(kb)[1])
	rb := newTestBrowser(t)
	_, body := h.enterCode(t, rb, resetVerifyPath, hv, code)
	g := grantPattern.FindStringSubmatch(body)
	if g == nil {
		t.Fatalf("no new-password form: %.300s", body)
	}
	newPW := "a brand new reset passphrase"
	resp, _ := postForm(t, rb, h.ts.URL+resetPasswordPath, url.Values{"grant": {unescape(g[1])}, "password": {newPW}, "confirm": {newPW}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("set password: %d", resp.StatusCode)
	}
	if !h.canLogin(t, flowEmail, newPW) || h.canLogin(t, flowEmail, flowPassword) {
		t.Error("the password did not change")
	}
	u, _ := h.st.GetUserByEmail(ctx, flowEmail)
	if live, _ := h.st.ListSessions(ctx, u.ID, h.clock.Now()); len(live) != 1 { // only canLogin's new one
		t.Errorf("%d sessions survived the reset", len(live)-1)
	}
	status, tb := h.refresh(t, secret, rt)
	wantInvalidGrant(t, "the refresh token taken before the reset", status, tb)
	if _, subjects := h.mailsTo(flowEmail); !strings.Contains(strings.Join(subjects, "|"), "password") {
		t.Errorf("no notification: %v", subjects)
	}
	// The grant is single use.
	resp, _ = postForm(t, rb, h.ts.URL+resetPasswordPath, url.Values{"grant": {unescape(g[1])}, "password": {newPW + "x"}, "confirm": {newPW + "x"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("reused grant: %d", resp.StatusCode)
	}
}

// TestLoginThrottle: a growing delay after 5 failures, a lock after 20 that lifts by itself, the
// owner told; unknown emails behave alike.
func TestLoginThrottle(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	try := func(email, pw string) (int, string) {
		resp, body := postForm(t, newTestBrowser(t), h.ts.URL+"/login", url.Values{"email": {email}, "password": {pw}})
		return resp.StatusCode, body
	}
	for _, email := range []string{flowEmail, "ghost@example.com"} {
		for i := 1; i <= 5; i++ {
			if st, _ := try(email, "wrong password number x"); st != http.StatusUnauthorized {
				t.Fatalf("%s failure %d: %d", email, i, st)
			}
		}
		if st, body := try(email, flowPassword); st != http.StatusTooManyRequests || !strings.Contains(body, "Try again in") {
			t.Errorf("%s: 6th try without waiting: %d", email, st)
		}
	}
	// Up to the lock, waiting out each growing delay (1s, 2s, 4s … 60s).
	for n := 5; n < 20; n++ {
		h.clock.Advance(min(time.Second<<(n-5), time.Minute) + time.Second)
		if st, _ := try(flowEmail, "wrong password number x"); st != http.StatusUnauthorized {
			t.Fatalf("failure %d after waiting: %d", n+1, st)
		}
	}
	h.clock.Advance(2 * time.Minute)
	if st, body := try(flowEmail, flowPassword); st != http.StatusTooManyRequests || !strings.Contains(body, "paused") {
		t.Errorf("after 20 failures: %d", st)
	}
	if _, subjects := h.mailsTo(flowEmail); len(subjects) != 1 {
		t.Errorf("owner notices: %v", subjects)
	}
	h.clock.Advance(16 * time.Minute)
	if !h.canLogin(t, flowEmail, flowPassword) {
		t.Error("the lock did not lift")
	}
}

// TestAccountPage: change password needs the current one and signs out the other sessions; one
// cannot sign out someone else's session.
func TestAccountPage(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	ctx := context.Background()
	other := newTestBrowser(t)
	h.login(t, other, nil)
	b := newTestBrowser(t)
	resp, _ := postForm(t, b, h.ts.URL+"/login", url.Values{"email": {flowEmail}, "password": {flowPassword}})
	if resp.Request.URL.Path != "/account" {
		t.Fatalf("account sign-in: %s", resp.Request.URL)
	}
	_, body := get(t, b, h.ts.URL+"/account")
	if !strings.Contains(body, flowEmail) || strings.Count(body, `name="session"`) != 2 {
		t.Errorf("account page: %.500s", body)
	}
	resp, body = postForm(t, b, h.ts.URL+accountPasswordPath, url.Values{"current": {"wrong one"}, "password": {"x"}, "confirm": {"y"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "current password is not right") || !strings.Contains(body, msgPasswordsDif) {
		t.Errorf("bad change: %d", resp.StatusCode)
	}
	newPW := "the changed account passphrase"
	resp, _ = postForm(t, b, h.ts.URL+accountPasswordPath, url.Values{"current": {flowPassword}, "password": {newPW}, "confirm": {newPW}})
	if resp.Request.URL.Query().Get("done") != "password" {
		t.Fatalf("change: %s", resp.Request.URL)
	}
	u, _ := h.st.GetUserByEmail(ctx, flowEmail)
	if live, _ := h.st.ListSessions(ctx, u.ID, h.clock.Now()); len(live) != 1 {
		t.Errorf("%d sessions after the change, want only this one", len(live))
	}
	// Someone else's session id is refused.
	if _, err := h.admin.CreateUser(ctx, "eve@example.com", "eve has a long passphrase", true); err != nil {
		t.Fatal(err)
	}
	eve := newTestBrowser(t)
	postForm(t, eve, h.ts.URL+"/login", url.Values{"email": {"eve@example.com"}, "password": {"eve has a long passphrase"}})
	live, _ := h.st.ListSessions(ctx, u.ID, h.clock.Now())
	resp, _ = postForm(t, eve, h.ts.URL+accountRevokePath, url.Values{"session": {live[0].ID}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("revoking another person's session: %d", resp.StatusCode)
	}
	if still, _ := h.st.ListSessions(ctx, u.ID, h.clock.Now()); len(still) != 1 {
		t.Error("another person's session was revoked")
	}
	_ = store.PurposeVerify
}

// flakySender fails while down is set, then delivers to the outbox.
type flakySender struct {
	mu   sync.Mutex
	down bool
	next mail.Sender
}

func (f *flakySender) Send(ctx context.Context, m mail.Message) error {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return fmt.Errorf("provider unavailable: %w", mail.ErrTemporary)
	}
	return f.next.Send(ctx, m)
}

// TestSendFailureLosesNothing: when the email cannot be sent the person is told so, the account
// stays (unverified) and asking again works at once.
func TestSendFailureLosesNothing(t *testing.T) {
	var flaky *flakySender
	h := newHarnessWith(t, func(o *Options) {
		flaky = &flakySender{down: true, next: o.Mail}
		o.Mail = flaky
	})
	b := newTestBrowser(t)
	resp, body := postForm(t, b, h.ts.URL+"/signup", url.Values{"email": {"late@example.com"}, "password": {ownerPW}, "confirm": {ownerPW}})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "send the email. Please try again in a moment.") || !strings.Contains(body, "late@example.com") {
		t.Fatalf("send failure: %d %.300s", resp.StatusCode, body)
	}
	if u, err := h.st.GetUserByEmail(context.Background(), "late@example.com"); err != nil || u.EmailVerified {
		t.Fatalf("account after a failed send: %v %+v", err, u)
	}
	flaky.mu.Lock()
	flaky.down = false
	flaky.mu.Unlock()
	_, hv, _ := h.signup(t, b, "late@example.com", ownerPW) // no cooldown: nothing was sent
	if hv == "" {
		t.Fatal("retry after the failure did not reach the code page")
	}
	if resp, _ := h.enterCode(t, b, verifyPath, hv, h.codeFor(t, "late@example.com")); resp.Request.URL.Path != "/account" {
		t.Errorf("verification after the retry: %s", resp.Request.URL)
	}
}

// TestAuditTrail: the user actions of a signup and sign-in are in the audit table.
func TestAuditTrail(t *testing.T) {
	h := newHarness(t)
	b := newTestBrowser(t)
	_, hv, _ := h.signup(t, b, "audit@example.com", ownerPW)
	h.enterCode(t, b, verifyPath, hv, "000001")
	h.enterCode(t, b, verifyPath, hv, h.codeFor(t, "audit@example.com"))
	h.canLogin(t, "audit@example.com", "wrong password entirely")
	h.canLogin(t, "audit@example.com", ownerPW)
	events, err := h.st.ListAudit(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range events {
		seen[e.Type] = true
	}
	for _, want := range []string{"signup", "code.sent", "code.failed", "email.verified", "login.failed", "login.succeeded"} {
		if !seen[want] {
			t.Errorf("no %s audit event (have %v)", want, seen)
		}
	}
}

// quietSender delivers to an outbox without logging anything (a stand-in for Brevo or SMTP,
// whose clients never log bodies), so the server's own logs can be searched for secrets.
type quietSender struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (q *quietSender) Send(_ context.Context, m mail.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, m)
	return nil
}

// TestLogsHoldNoSecrets: a signup, code, sign-in and reset leave no password, code, session
// cookie or handle in the logs.
func TestLogsHoldNoSecrets(t *testing.T) {
	q := &quietSender{}
	h := newHarnessWith(t, func(o *Options) { o.Mail, o.Outbox = q, nil })
	b := newTestBrowser(t)
	_, hv, _ := h.signup(t, b, "quiet@example.com", ownerPW)
	q.mu.Lock()
	code := codePattern.FindStringSubmatch(q.msgs[0].Text)[1]
	q.mu.Unlock()
	h.enterCode(t, b, verifyPath, hv, code)
	h.canLogin(t, "quiet@example.com", "a wrong password for the log test")
	h.canLogin(t, "quiet@example.com", ownerPW)
	u, _ := h.st.GetUserByEmail(context.Background(), "quiet@example.com")
	if u == nil || !u.EmailVerified {
		t.Fatal("flow did not complete")
	}
	var cookies []string
	for _, c := range b.Jar.Cookies(mustURL(t, h.ts.URL)) {
		cookies = append(cookies, c.Value)
	}
	logs := h.logs.String()
	for _, secret := range append([]string{ownerPW, "a wrong password for the log test", code, hv}, cookies...) {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("the log contains a secret (%.6s…)", secret)
		}
	}
	if !strings.Contains(logs, `"request_id"`) {
		t.Error("log lines carry no request id")
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestOperatorCreatedUnverifiedUser: a user created without --verified signs in with their
// password, lands on the code page, and is verified by the code.
func TestOperatorCreatedUnverifiedUser(t *testing.T) {
	h := newHarness(t)
	if _, err := h.admin.CreateUser(context.Background(), "op@example.com", ownerPW, false); err != nil {
		t.Fatal(err)
	}
	b := newTestBrowser(t)
	resp, body := postForm(t, b, h.ts.URL+"/login", url.Values{"email": {"op@example.com"}, "password": {ownerPW}})
	m := handlePattern.FindStringSubmatch(body)
	if resp.Request.URL.Path != verifyPath || m == nil {
		t.Fatalf("not at the code page: %s", resp.Request.URL)
	}
	h.enterCode(t, b, verifyPath, unescape(m[1]), h.codeFor(t, "op@example.com"))
	if !h.canLogin(t, "op@example.com", ownerPW) {
		t.Error("not verified after the code")
	}
}
