// Package browsertest starts the real headless Chromium of the browser suites (cmd/idp and
// example-client), with one policy for finding it: CI sets IDP_TEST_CHROMIUM (and installs
// Debian's chromium), and a missing browser there is a failure; elsewhere /usr/bin/chromium (or
// chromium-browser, google-chrome) is used when present, and the suite is skipped with a visible
// "BROWSER TESTS SKIPPED" message when there is none. Only tests import it.
package browsertest

import (
	"context"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// Path finds the browser, or skips (fails under IDP_TEST_CHROMIUM) as the package says.
func Path(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("IDP_TEST_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("IDP_TEST_CHROMIUM=%s: %v", p, err)
		}
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("BROWSER TESTS SKIPPED: no Chromium found (apt-get install chromium, or set IDP_TEST_CHROMIUM)")
	return ""
}

// Start launches one headless Chromium with a fresh profile for the test (stopped at its end)
// and returns its browser context; chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
// opens a tab with cookies of its own.
func Start(t testing.TB) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Path(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	if err := chromedp.Do(browser); err != nil {
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	return browser
}
