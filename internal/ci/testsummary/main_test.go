package main

import (
	"strings"
	"testing"
)

// A `go test -json` stream (abridged from a real run): one package passes with a skip, one
// fails.
const stream = `{"Action":"start","Package":"example.com/a"}
{"Action":"run","Package":"example.com/a","Test":"TestOK"}
{"Action":"output","Package":"example.com/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"example.com/a","Test":"TestOK","Output":"--- PASS: TestOK (0.00s)\n"}
{"Action":"pass","Package":"example.com/a","Test":"TestOK"}
{"Action":"run","Package":"example.com/a","Test":"TestDB"}
{"Action":"output","Package":"example.com/a","Test":"TestDB","Output":"=== RUN   TestDB\n"}
{"Action":"output","Package":"example.com/a","Test":"TestDB","Output":"    db_test.go:9: no database configured\n"}
{"Action":"output","Package":"example.com/a","Test":"TestDB","Output":"--- SKIP: TestDB (0.00s)\n"}
{"Action":"skip","Package":"example.com/a","Test":"TestDB"}
{"Action":"output","Package":"example.com/a","Output":"ok  \texample.com/a\t0.01s\n"}
{"Action":"pass","Package":"example.com/a"}
{"Action":"run","Package":"example.com/b","Test":"TestBroken"}
{"Action":"output","Package":"example.com/b","Test":"TestBroken","Output":"=== RUN   TestBroken\n"}
{"Action":"output","Package":"example.com/b","Test":"TestBroken","Output":"    b_test.go:5: got 1, want 2\n"}
{"Action":"output","Package":"example.com/b","Test":"TestBroken","Output":"--- FAIL: TestBroken (0.00s)\n"}
{"Action":"fail","Package":"example.com/b","Test":"TestBroken"}
{"Action":"output","Package":"example.com/b","Output":"FAIL\n"}
{"Action":"output","Package":"example.com/b","Output":"FAIL\texample.com/b\t0.01s\n"}
{"Action":"fail","Package":"example.com/b"}
`

func TestSummarize(t *testing.T) {
	passing := strings.Join(strings.Split(stream, "\n")[:12], "\n")
	tests := []struct {
		name, in string
		allowed  []string
		ok       bool
		want     []string
		never    []string
	}{
		{"a skip not allowed fails the run", passing, nil, false,
			[]string{"ok  \texample.com/a", "1 passed, 0 failed, 1 skipped", "SKIP (NOT ALLOWED IN CI) example.com/a TestDB: db_test.go:9: no database configured", "1 skipped tests are not on the allowlist"},
			[]string{"=== RUN", "--- PASS"}},
		{"an allowed skip passes", passing, []string{"example.com/a TestDB"}, true,
			[]string{"SKIP (allowed) example.com/a TestDB"}, []string{"NOT ALLOWED"}},
		{"an allowed parent allows its subtests", strings.ReplaceAll(passing, `"TestDB"`, `"TestDB/postgres"`), []string{"example.com/a TestDB"}, true,
			[]string{"SKIP (allowed) example.com/a TestDB/postgres"}, nil},
		{"another package's test of that name is not allowed", passing, []string{"example.com/other TestDB"}, false, nil, nil},
		{"a failure shows its output and fails", stream, []string{"example.com/a TestDB"}, false,
			[]string{"b_test.go:5: got 1, want 2", "--- FAIL: TestBroken", "FAIL\texample.com/b", "1 passed, 1 failed, 1 skipped"},
			[]string{"=== RUN"}},
		{"lines that are not events pass through", "# example.com/c\nc.go:3:1: syntax error\n", nil, true,
			[]string{"c.go:3:1: syntax error"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			ok, err := summarize(strings.NewReader(tt.in), &out, tt.allowed)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.ok {
				t.Errorf("ok = %v, want %v\n%s", ok, tt.ok, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, n := range tt.never {
				if strings.Contains(out.String(), n) {
					t.Errorf("output holds %q:\n%s", n, out.String())
				}
			}
		})
	}
}

func TestParseAllowlist(t *testing.T) {
	got := parseAllowlist("# header\nexample.com/a TestX # why\n\n  example.com/b   TestY\nmalformed line here\n")
	if strings.Join(got, "|") != "example.com/a TestX|example.com/b TestY" {
		t.Errorf("parseAllowlist = %q", got)
	}
}
