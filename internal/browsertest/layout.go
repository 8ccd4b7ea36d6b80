package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Widths are the screens every page is looked at on: a phone (390 CSS px, an iPhone 12–15) and
// a laptop.
var Widths = []int64{390, 1280}

// overflowJS measures horizontal scrolling and names the widest elements sticking out to the
// right (tag#id.class and how far), so a failure says what to fix.
const overflowJS = `(() => {
  const vw = window.innerWidth, sw = document.documentElement.scrollWidth;
  const out = [];
  if (sw > vw) {
    for (const e of document.body.querySelectorAll("*")) {
      const r = e.getBoundingClientRect();
      if (r.right > vw + 0.5) {
        let n = e.tagName.toLowerCase();
        if (e.id) n += "#" + e.id;
        if (typeof e.className === "string" && e.className.trim()) n += "." + e.className.trim().split(/\s+/).join(".");
        out.push(n + " (right edge " + Math.round(r.right) + ")");
      }
    }
  }
  return {viewport: vw, scroll: sw, culprits: out.slice(0, 8)};
})()`

type overflow struct {
	Viewport int      `json:"viewport"`
	Scroll   int      `json:"scroll"`
	Culprits []string `json:"culprits"`
}

// CheckLayout looks at the tab's current page at every width of Widths: it saves a full-page
// screenshot as name-<width>.png in the test's artifact directory (kept with go test
// -artifacts) and fails the test when the page scrolls horizontally
// (document.documentElement.scrollWidth > window.innerWidth). The tab is left at the last width.
func CheckLayout(ctx context.Context, t testing.TB, name string) {
	t.Helper()
	for _, w := range Widths {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, 844)); err != nil {
			t.Fatalf("%s: set the width to %d: %v", name, w, err)
		}
		o, err := chromedp.Run(ctx, chromedp.Evaluate[overflow](overflowJS))
		if err != nil {
			t.Fatalf("%s at %d px: measure: %v", name, w, err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("%s at %d px: screenshot: %v", name, w, err)
		}
		file := filepath.Join(t.ArtifactDir(), fmt.Sprintf("%s-%d.png", name, w))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatal(err)
		}
		if o.Scroll > o.Viewport {
			t.Errorf("%s scrolls horizontally at %d px: %d px wide; sticking out: %s (screenshot %s)",
				name, w, o.Scroll, strings.Join(o.Culprits, ", "), file)
		}
	}
}
