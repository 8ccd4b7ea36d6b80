// Command testsummary reads `go test -json` on standard input and writes what a plain `go test`
// would show a CI reader (the package lines `ok`/`FAIL`, build errors, and the full output of
// every failed test), then a count of passed, failed and skipped tests with each skip and its
// reason. It exits 1 when a test failed or when a test skipped that the allowlist does not name:
// in CI every test is meant to run, so a skip there is a hole, not a pass.
//
//	go test -json ./... | go run ./internal/ci/testsummary -allow .ci/skip-allowed
//
// The allowlist has one test per line, "<import path> <test name>" (a subtest is allowed with
// its parent); text after # is a comment, and each entry should say why it may skip in CI.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

func main() {
	allowFile := flag.String("allow", "", "the allowlist of tests that may skip in CI (none when empty)")
	flag.Parse()
	var allowed []string
	if *allowFile != "" {
		b, err := os.ReadFile(*allowFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testsummary:", err)
			os.Exit(2)
		}
		allowed = parseAllowlist(string(b))
	}
	ok, err := summarize(os.Stdin, os.Stdout, allowed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output and build-fail
	Test       string
	Output     string
}

type skip struct {
	pkg, test, reason string
	allowed           bool
}

// parseAllowlist returns the "<import path> <test>" entries of an allowlist file.
func parseAllowlist(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		line, _, _ = strings.Cut(line, "#")
		if f := strings.Fields(line); len(f) == 2 {
			out = append(out, f[0]+" "+f[1])
		}
	}
	return out
}

func isAllowed(allowed []string, pkg, test string) bool {
	for _, a := range allowed {
		p, t, _ := strings.Cut(a, " ")
		if p == pkg && (test == t || strings.HasPrefix(test, t+"/")) {
			return true
		}
	}
	return false
}

// summarize copies the interesting output of the event stream r to w and reports whether the run
// passed: no failure and no skip outside allowed.
func summarize(r io.Reader, w io.Writer, allowed []string) (bool, error) {
	buf := map[string][]string{} // package + test → its output lines so far
	var skips []skip
	var passed, failed int
	packageFailed := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// Not an event (go vet output, a panic before test2json): show it as it is.
			fmt.Fprintln(w, sc.Text())
			continue
		}
		key := e.Package + " " + e.Test
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Action == "build-fail":
			packageFailed = true
		case e.Test == "":
			if e.Action == "output" {
				fmt.Fprint(w, e.Output)
			}
			if e.Action == "fail" {
				packageFailed = true
			}
		case e.Action == "output":
			buf[key] = append(buf[key], e.Output)
		case e.Action == "pass":
			passed++
			delete(buf, key)
		case e.Action == "fail":
			failed++
			for _, line := range buf[key] {
				if !strings.HasPrefix(strings.TrimSpace(line), "=== ") {
					fmt.Fprint(w, line)
				}
			}
			delete(buf, key)
		case e.Action == "skip":
			skips = append(skips, skip{pkg: e.Package, test: e.Test, reason: skipReason(buf[key]),
				allowed: isAllowed(allowed, e.Package, e.Test)})
			delete(buf, key)
		}
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	sort.Slice(skips, func(i, j int) bool {
		return skips[i].pkg+" "+skips[i].test < skips[j].pkg+" "+skips[j].test
	})
	var refused int
	fmt.Fprintf(w, "==> tests: %d passed, %d failed, %d skipped\n", passed, failed, len(skips))
	for _, s := range skips {
		mark := "SKIP (allowed)"
		if !s.allowed {
			mark, refused = "SKIP (NOT ALLOWED IN CI)", refused+1
		}
		fmt.Fprintf(w, "    %s %s %s: %s\n", mark, s.pkg, s.test, s.reason)
	}
	if refused > 0 {
		fmt.Fprintf(w, "==> FAIL: %d skipped tests are not on the allowlist: CI is meant to run them\n", refused)
	}
	return failed == 0 && !packageFailed && refused == 0, nil
}

// skipReason is the message the test gave t.Skip: its last output line that is not a
// "=== RUN"/"--- SKIP" marker.
func skipReason(lines []string) string {
	reason := "(no reason given)"
	for _, line := range lines {
		l := strings.TrimSpace(line)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- ") {
			continue
		}
		reason = l
	}
	return reason
}
