package idp

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
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
// instant (5), the rest are refused before any hashing.
func TestLoginThrottleConcurrent(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	var got tally
	fire(150, 60, func(i int) {
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
	})
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
