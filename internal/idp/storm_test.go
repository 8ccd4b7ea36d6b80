package idp

import (
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/password"
)

// TestLoginStormMemory is a load run, not a check CI runs (IDP_LOAD_TEST=1 turns it on): 500
// sign-ins at once, each from its own client IP so that the throttle lets every one reach the
// password hash, against the default argon2id parameters (19 MiB each). It reports the peak
// resident memory of the test process (VmHWM) with the hash gate the server installs
// (IDP_LOAD_TEST_GATE=off runs without it, for comparison; run each in its own process, since
// the peak is per process).
func TestLoginStormMemory(t *testing.T) {
	if os.Getenv("IDP_LOAD_TEST") != "1" {
		t.Skip("a load run: set IDP_LOAD_TEST=1")
	}
	const logins = 500
	gated := os.Getenv("IDP_LOAD_TEST_GATE") != "off"
	h := newHarnessWith(t, func(o *Options) {
		hasher := *o.Hasher
		if gated {
			hasher.Gate = password.NewServerGate()
		}
		o.Hasher = &hasher
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	h.seed(t)
	before := peakRSS(t)
	var got tally
	start := time.Now()
	fire(logins, logins, func(i int) {
		form := url.Values{"email": {"storm" + strconv.Itoa(i) + "@example.com"}, "password": {"wrong password number x"}}
		req, _ := http.NewRequest(http.MethodPost, h.ts.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", "10.0."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250+1))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got.add("error")
			return
		}
		resp.Body.Close()
		got.add(strconv.Itoa(resp.StatusCode))
	})
	t.Logf("gate %v, GOMAXPROCS %d: %d concurrent sign-ins in %v, answers %v; peak RSS %d MiB before, %d MiB after",
		gated, runtime.GOMAXPROCS(0), logins, time.Since(start).Round(time.Millisecond), got.n, before>>20, peakRSS(t)>>20)
}

// peakRSS reads the process's peak resident set size (Linux /proc/self/status VmHWM), in bytes.
func peakRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmHWM")
	return 0
}
