package idp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/password"
	"github.com/fintech-idp/idp/internal/store"
)

// fire runs n calls of call(i) on workers goroutines that all start together (a barrier, no
// sleeps): the way an attacker sends requests to defeat a read-then-count limit.
func fire(n, workers int, call func(i int)) {
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	start := make(chan struct{})
	var ready, done sync.WaitGroup
	for range workers {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			for i := range next {
				call(i)
			}
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
}

// tally counts answers by a label.
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *tally) add(label string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[label]++
}

func (c *tally) get(label string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[label]
}

// TestLoginThrottleConcurrent: 150 wrong passwords sent together from 60 connections, the right
// one 45th, must not sign in; only as many passwords are checked as the throttle allows at one
// instant (5), the rest are refused before any hashing. The first 44 are sent together and
// answered before the other 106 (the right one among them) are sent together: otherwise the
// scheduler may let the 45th overtake the first ones, and a right password among the first five
// checks rightly signs in.
func TestLoginThrottleConcurrent(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	var got tally
	try := func(i int) {
		pw := "wrong password number x"
		if i == 44 {
			pw = flowPassword
		}
		resp, err := newTestBrowser(t).PostForm(h.ts.URL+"/login", url.Values{"email": {flowEmail}, "password": {pw}})
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK && resp.Request.URL.Path == "/account":
			got.add("signed in")
		case resp.StatusCode == http.StatusUnauthorized:
			got.add("checked")
		case resp.StatusCode == http.StatusTooManyRequests:
			got.add("refused")
		default:
			got.add("other")
			t.Errorf("try %d: %d at %s", i, resp.StatusCode, resp.Request.URL.Path)
		}
	}
	fire(44, 60, try)
	fire(106, 60, func(i int) { try(44 + i) })
	if n := got.get("signed in"); n != 0 {
		t.Errorf("the right password signed in among 150 concurrent tries (%v)", got.n)
	}
	if n := got.get("checked"); n > testLimits().LoginDelayAfter {
		t.Errorf("%d passwords checked, want at most %d (%v)", n, testLimits().LoginDelayAfter, got.n)
	}
}

// TestLoginThrottlePerIP: failures spread over distinct addresses from one IP (password spraying)
// meet the per-IP throttle, five times the account thresholds: 25 failures, then 429 even for a
// new address and the right password.
func TestLoginThrottlePerIP(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	ipDelayAfter := testLimits().LoginDelayAfter * ipThresholdFactor
	for i := range ipDelayAfter {
		resp, _ := postForm(t, newTestBrowser(t), h.ts.URL+"/login", url.Values{"email": {"spray" + itoa(i) + "@example.com"}, "password": {"wrong password number x"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, resp.StatusCode)
		}
	}
	resp, body := postForm(t, newTestBrowser(t), h.ts.URL+"/login", url.Values{"email": {flowEmail}, "password": {flowPassword}})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Try again in") {
		t.Errorf("after %d failures from one IP: %d", ipDelayAfter, resp.StatusCode)
	}
	// Sent together, a spraying run is held to the same number of checks.
	h2 := newHarness(t)
	var got tally
	fire(60, 60, func(i int) {
		resp, err := newTestBrowser(t).PostForm(h2.ts.URL+"/login", url.Values{"email": {"spray" + itoa(i) + "@example.com"}, "password": {"wrong password number x"}})
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		got.add(itoa(resp.StatusCode))
	})
	if n := got.get("401"); n > ipDelayAfter {
		t.Errorf("%d passwords checked from one IP at once, want at most %d (%v)", n, ipDelayAfter, got.n)
	}
}

// TestPasswordAgainConcurrent: the password asked again before an account change shares the
// sign-in throttle, reserved before the check: 60 wrong passwords at once get at most 5 checks.
func TestPasswordAgainConcurrent(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	b := newTestBrowser(t)
	if resp, _ := postForm(t, b, h.ts.URL+"/login", url.Values{"email": {flowEmail}, "password": {flowPassword}}); resp.Request.URL.Path != "/account" {
		t.Fatalf("sign-in: %s", resp.Request.URL)
	}
	newPW := "the changed account passphrase"
	var got tally
	fire(60, 60, func(i int) {
		_, body := postForm(t, b, h.ts.URL+accountPasswordPath, url.Values{"current": {"wrong password number x"}, "password": {newPW}, "confirm": {newPW}})
		switch {
		case strings.Contains(body, "current password is not right"):
			got.add("checked")
		case strings.Contains(body, "Too many"):
			got.add("refused")
		default:
			got.add("other")
		}
	})
	if n := got.get("checked"); n > testLimits().LoginDelayAfter || got.get("other") > 0 {
		t.Errorf("%d wrong current passwords checked at once, want at most %d (%v)", n, testLimits().LoginDelayAfter, got.n)
	}
}

// TestRecoveryCodeConcurrent: 40 wrong recovery codes sent together get at most the hourly limit
// of checks (5); the rest are refused before any hashing.
func TestRecoveryCodeConcurrent(t *testing.T) {
	h := newMFAHarness(t, nil)
	h.enrol(t, h.accountBrowser(t))
	b := newTestBrowser(t)
	_, body, _ := h.passwordStep(t, b, nil)
	hv := mfaHandle(t, body)
	var got tally
	fire(40, 40, func(i int) {
		_, body := postForm(t, b, h.ts.URL+"/mfa/recovery", url.Values{"h": {hv}, "code": {"aaaaa-bbbbb"}})
		switch {
		case strings.Contains(body, msgRecoveryWrong):
			got.add("checked")
		case strings.Contains(body, "Too many wrong recovery codes"):
			got.add("refused")
		default:
			got.add("other")
		}
	})
	if n := got.get("checked"); n > 5 || got.get("other") > 0 {
		t.Errorf("%d wrong recovery codes checked at once, want at most 5 (%v)", n, got.n)
	}
}

// TestHashGateBusy: with every hash slot and the queue taken, a sign-in answers a 503 page with
// Retry-After (its try given back, not counted as a failure), a signup the same (its send
// cooldown given back), and the token endpoint 503 with OAuth JSON temporarily_unavailable.
func TestHashGateBusy(t *testing.T) {
	gate := password.NewGate(1, 0, time.Minute)
	h := newHarnessWith(t, func(o *Options) {
		hasher := *o.Hasher
		hasher.Gate = gate
		o.Hasher = &hasher
	})
	h.seed(t)
	ctx := context.Background()
	_, secret, err := h.admin.CreateClient(ctx, ClientSpec{ID: "svc", Type: store.ClientService})
	if err != nil {
		t.Fatal(err)
	}
	release, err := gate.Enter()
	if err != nil {
		t.Fatal(err)
	}
	resp, body := postForm(t, newTestBrowser(t), h.ts.URL+"/login", url.Values{"email": {flowEmail}, "password": {"wrong password number x"}})
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, msgBusy) {
		t.Errorf("sign-in while busy: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if c, err := h.st.GetCounter(ctx, keysFor(flowEmail, "").account, time.Hour, h.clock.Now()); err == nil && c.Count != 0 {
		t.Errorf("the busy try was counted: %d", c.Count)
	}
	resp, _ = postForm(t, newTestBrowser(t), h.ts.URL+signupPath, url.Values{"email": {"new@example.com"}, "password": {attackerPW}, "confirm": {attackerPW}})
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("signup while busy: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, h.ts.URL+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", secret)
	tr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := io.ReadAll(tr.Body)
	tr.Body.Close()
	if tr.StatusCode != http.StatusServiceUnavailable || tr.Header.Get("Retry-After") == "" || !strings.Contains(string(tb), `"error":"temporarily_unavailable"`) {
		t.Errorf("token endpoint while busy: %d %s", tr.StatusCode, tb)
	}
	release()
	// Free again: the same requests go through, the signup at once (no cooldown left behind).
	if !h.canLogin(t, flowEmail, flowPassword) {
		t.Error("no sign-in after the storm")
	}
	if resp, _ := postForm(t, newTestBrowser(t), h.ts.URL+signupPath, url.Values{"email": {"new@example.com"}, "password": {attackerPW}, "confirm": {attackerPW}}); resp.StatusCode != http.StatusOK {
		t.Errorf("signup after the storm: %d", resp.StatusCode)
	}
}

// resetPassword runs the reset journey for email and sets newPW.
func (h *harness) resetPassword(t *testing.T, email, newPW string) {
	t.Helper()
	before := 0
	for _, m := range h.outbox.Outbox() {
		if m.To == email && codePattern.MatchString(m.Text) {
			before++
		}
	}
	b := newTestBrowser(t)
	_, body := postForm(t, b, h.ts.URL+resetPath, url.Values{"email": {email}})
	hv := handleOf(t, body)
	// The code is sent in the background: wait for it, but never go on without it.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n := 0
		for _, m := range h.outbox.Outbox() {
			if m.To == email && codePattern.MatchString(m.Text) {
				n++
			}
		}
		if n > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no reset email within 60s")
		}
	}
	_, body = h.enterCode(t, b, resetVerifyPath, hv, h.codeFor(t, email))
	g := grantPattern.FindStringSubmatch(body)
	if g == nil {
		t.Fatalf("no new-password form: %.300s", body)
	}
	resp, body := postForm(t, b, h.ts.URL+resetPasswordPath, url.Values{"grant": {unescape(g[1])}, "password": {newPW}, "confirm": {newPW}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "signed out everywhere") {
		t.Fatalf("reset: %d %.300s", resp.StatusCode, body)
	}
}

// TestResetLiftsLockAndDisabledPassword: a successful reset lifts the sign-in lock at once; 100
// wrong passwords in a row, across lock windows, turn password sign-in off (the owner told by
// email) until the owner resets the password by email.
func TestResetLiftsLockAndDisabledPassword(t *testing.T) {
	h := newHarnessWith(t, func(o *Options) {
		// After the first reset the password is hashed with light parameters, so that the 100
		// wrong passwords below cost little (the limits do not depend on the hash).
		o.Hasher = password.NewHasher(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})
	})
	h.seed(t)
	wrong := func() int {
		resp, _ := postForm(t, newTestBrowser(t), h.ts.URL+"/login", url.Values{"email": {flowEmail}, "password": {"wrong password number x"}})
		return resp.StatusCode
	}
	lim := testLimits()
	for range lim.LoginLockAfter {
		h.clock.Advance(maxLoginDelay + time.Second)
		if st := wrong(); st != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", st)
		}
	}
	if h.canLogin(t, flowEmail, flowPassword) {
		t.Fatal("not locked after 20 failures")
	}
	pw2 := "a brand new passphrase for ada"
	h.resetPassword(t, flowEmail, pw2)
	if !h.canLogin(t, flowEmail, pw2) {
		t.Fatal("the reset did not lift the lock")
	}

	// 100 in a row, each after the lock of the one before has lifted.
	for i := range maxConsecutiveFailures {
		h.clock.Advance(lim.LoginLockDuration + time.Second)
		if st := wrong(); st != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i+1, st)
		}
	}
	h.clock.Advance(lim.LoginLockDuration + time.Second)
	resp, body := postForm(t, newTestBrowser(t), h.ts.URL+"/login", url.Values{"email": {flowEmail}, "password": {pw2}})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "turned off") {
		t.Errorf("after %d wrong passwords in a row: %d", maxConsecutiveFailures, resp.StatusCode)
	}
	if _, subjects := h.mailsTo(flowEmail); !strings.Contains(strings.Join(subjects, "|"), "password sign-in turned off") {
		t.Errorf("the owner was not told: %v", subjects)
	}
	pw3 := "yet another passphrase for ada"
	h.resetPassword(t, flowEmail, pw3)
	if !h.canLogin(t, flowEmail, pw3) {
		t.Error("the reset did not turn password sign-in back on")
	}
}

// TestMFAHandlesDieWithPasswordAndSessions: a second-factor page handle taken before a password
// reset, or before "sign out everywhere", no longer sends a code nor completes a sign-in after
// it; the same for a step-up handle.
func TestMFAHandlesDieWithPasswordAndSessions(t *testing.T) {
	h := newMFAHarness(t, nil)
	h.enrol(t, h.accountBrowser(t))
	ctx := context.Background()
	u := h.user(t)
	for _, tc := range []struct {
		name  string
		event func()
	}{
		{"password reset", func() {
			hash, err := h.srv.hasher.Hash("a brand new passphrase for ada")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.st.ChangePassword(ctx, u.ID, hash, "", h.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}},
		{"sign out everywhere", func() {
			if _, err := h.st.RevokeUserSessions(ctx, u.ID, "", h.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each case starts from the password the sign-in uses.
			hash, err := h.srv.hasher.Hash(flowPassword)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.st.ChangePassword(ctx, u.ID, hash, "", h.clock.Now()); err != nil {
				t.Fatal(err)
			}
			b := newTestBrowser(t)
			_, body, _ := h.passwordStep(t, b, nil)
			hv := mfaHandle(t, body)
			code := h.vonage.Code(flowPhone)
			tc.event()
			resp, _ := postForm(t, b, h.ts.URL+mfaResendPath, url.Values{"h": {hv}})
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("resend with a handle from before: %d", resp.StatusCode)
			}
			resp, _ = postForm(t, b, h.ts.URL+mfaPath, url.Values{"h": {hv}, "code": {code}})
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("the code with a handle from before: %d at %s", resp.StatusCode, resp.Request.URL)
			}
		})
	}
}

// TestRecoveryCodeStreak: 100 wrong recovery codes in a row, across the hourly windows, turn
// recovery codes off (a right one too) and tell the owner; recovering through email (what a
// password reset does) turns them back on.
func TestRecoveryCodeStreak(t *testing.T) {
	h := newMFAHarness(t, nil)
	h.srv.hasher = password.NewHasher(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})
	codes := h.enrol(t, h.accountBrowser(t))
	ctx := context.Background()
	u := h.user(t)
	perHour := h.srv.sms.cfg.RecoveryMaxFailures
	for i := range maxConsecutiveFailures {
		if i%perHour == 0 {
			h.clock.Advance(time.Hour + time.Second)
		}
		_, err := h.srv.useRecoveryCode(ctx, u.ID, "aaaaa-bbbbb")
		var ref *refusal
		if !errors.As(err, &ref) || ref.msg != msgRecoveryWrong {
			t.Fatalf("wrong code %d: %v", i+1, err)
		}
	}
	h.clock.Advance(time.Hour + time.Second)
	_, err := h.srv.useRecoveryCode(ctx, u.ID, codes[0])
	var ref *refusal
	if !errors.As(err, &ref) || ref.msg != msgRecoveryDisabled {
		t.Fatalf("a right code after %d wrong ones in a row: %v", maxConsecutiveFailures, err)
	}
	if _, subjects := h.mailsTo(flowEmail); !strings.Contains(strings.Join(subjects, "|"), "recovery codes turned off") {
		t.Errorf("the owner was not told: %v", subjects)
	}
	if err := h.srv.throttle.recovered(ctx, u); err != nil {
		t.Fatal(err)
	}
	if left, err := h.srv.useRecoveryCode(ctx, u.ID, codes[0]); err != nil || left != len(codes)-1 {
		t.Errorf("after recovering through email: %d left, %v", left, err)
	}
}

// TestResetCodeStreak: 100 wrong reset codes in a row for one address, across codes and send
// windows, turn reset codes for that address off (the owner told); the owner's next sign-in turns
// them back on.
func TestResetCodeStreak(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	lim := testLimits()
	var b *http.Client
	var hv string
	for i := range maxConsecutiveFailures + 1 {
		if i%lim.EmailCodeMaxAttempts == 0 {
			// A new code: past the cooldown, and past the hourly send limit every fifth time.
			h.clock.Advance(lim.EmailResendCooldown + time.Second)
			if (i/lim.EmailCodeMaxAttempts)%lim.EmailSendLimitAccount == 0 {
				h.clock.Advance(time.Hour)
			}
			b = newTestBrowser(t)
			_, body := postForm(t, b, h.ts.URL+resetPath, url.Values{"email": {flowEmail}})
			hv = handleOf(t, body)
		}
		resp, body := h.enterCode(t, b, resetVerifyPath, hv, "000000")
		switch {
		case i < maxConsecutiveFailures && resp.StatusCode != http.StatusBadRequest:
			t.Fatalf("wrong code %d: %d", i+1, resp.StatusCode)
		case i == maxConsecutiveFailures && (resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "turned off")):
			t.Fatalf("after %d wrong codes in a row: %d", i, resp.StatusCode)
		}
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, subjects := h.mailsTo(flowEmail); strings.Contains(strings.Join(subjects, "|"), "password reset by email code turned off") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the owner was not told")
		}
	}
	if !h.canLogin(t, flowEmail, flowPassword) {
		t.Fatal("sign-in")
	}
	h.clock.Advance(time.Hour)
	h.resetPassword(t, flowEmail, "a brand new passphrase for ada")
}

// TestSMSCodeStreak: 100 wrong SMS codes in a row, across challenges, turn codes by text
// message off for the account (the right code too; the owner told); recovering through email
// turns them back on.
func TestSMSCodeStreak(t *testing.T) {
	h := newMFAHarness(t, func(m *MFA) {
		m.SendLimitNumber10m, m.SendLimitNumberHour, m.SendLimitAccountDay, m.SendLimitIPHour = 1000, 1000, 1000, 1000
	})
	h.enrol(t, h.accountBrowser(t))
	wrongCode := func() string {
		if c := h.vonage.Code(flowPhone); c != "000000" {
			return "000000"
		}
		return "111111"
	}
	n := 0
	for n < maxConsecutiveFailures {
		b := newTestBrowser(t)
		_, body, _ := h.passwordStep(t, b, nil)
		hv := mfaHandle(t, body)
		for try := 0; try < 5 && n < maxConsecutiveFailures; try++ {
			resp, _ := postForm(t, b, h.ts.URL+mfaPath, url.Values{"h": {hv}, "code": {wrongCode()}})
			if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("wrong code %d: %d", n+1, resp.StatusCode)
			}
			n++
		}
	}
	b := newTestBrowser(t)
	_, body, _ := h.passwordStep(t, b, nil)
	resp, body := postForm(t, b, h.ts.URL+mfaPath, url.Values{"h": {mfaHandle(t, body)}, "code": {h.vonage.Code(flowPhone)}})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "turned off") {
		t.Fatalf("the right code after %d wrong ones in a row: %d", maxConsecutiveFailures, resp.StatusCode)
	}
	if _, subjects := h.mailsTo(flowEmail); !strings.Contains(strings.Join(subjects, "|"), "codes by text message turned off") {
		t.Errorf("the owner was not told: %v", subjects)
	}
	if err := h.srv.throttle.recovered(context.Background(), h.user(t)); err != nil {
		t.Fatal(err)
	}
	b = newTestBrowser(t)
	_, body, _ = h.passwordStep(t, b, nil)
	resp, _ = postForm(t, b, h.ts.URL+mfaPath, url.Values{"h": {mfaHandle(t, body)}, "code": {h.vonage.Code(flowPhone)}})
	if resp.StatusCode != http.StatusFound {
		t.Errorf("after recovering through email: %d", resp.StatusCode)
	}
}
