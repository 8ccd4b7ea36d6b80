package breached

import (
	"runtime"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestLen(t *testing.T) {
	if n := Len(); n < 10_000 {
		t.Fatalf("Len() = %d, want at least 10,000", n)
	}
}

// TestListFormat checks what Contains relies on: every line is a distinct, non-empty,
// NFKC-normalised, lower-case password without surrounding or internal whitespace.
func TestListFormat(t *testing.T) {
	lines := strings.Split(strings.TrimSuffix(list, "\n"), "\n")
	if len(lines) != Len() {
		t.Errorf("list.txt has %d lines but %d distinct entries: duplicates or blank lines", len(lines), Len())
	}
	long := 0
	for i, w := range lines {
		switch {
		case w == "":
			t.Errorf("line %d is empty", i+1)
		case !utf8.ValidString(w):
			t.Errorf("line %d is not valid UTF-8", i+1)
		case !norm.NFKC.IsNormalString(w):
			t.Errorf("line %d (%q) is not NFKC-normalised", i+1, w)
		case strings.ToLower(w) != w:
			t.Errorf("line %d (%q) is not lower-case", i+1, w)
		case strings.IndexFunc(w, unicode.IsSpace) >= 0:
			t.Errorf("line %d (%q) contains whitespace", i+1, w)
		}
		if utf8.RuneCountInString(w) >= 15 {
			long++
		}
	}
	// Most entries are shorter than the policy's 15-character minimum; the long ones are what the
	// list adds on top of the length rule, so make sure they are there.
	if long < 20 {
		t.Errorf("%d entries of 15 or more characters, want at least 20", long)
	}
}

func TestContains(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"top entry", "123456", true},
		{"password", "password", true},
		{"qwerty", "qwerty", true},
		{"iloveyou", "iloveyou", true},
		{"long keyboard walk", "1qaz2wsx3edc4rfv", true},
		{"long digits and letters", "qwerty123456789", true},
		{"last line", lastLine(), true},
		{"not lower-cased by Contains", "Password", false},
		{"not trimmed by Contains", " password", false},
		{"empty", "", false},
		{"passphrase", "correct horse battery staple", false},
		{"prefix of a long entry", "1qaz2wsx3edc4rf", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Contains(tt.in); got != tt.want {
				t.Errorf("Contains(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func lastLine() string {
	s := strings.TrimSuffix(list, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// BenchmarkLoad measures the one-time cost of the first Contains or Len: parsing list.txt into
// the set. Besides time and allocations per load it reports retained-heap-bytes, the heap the set
// keeps alive afterwards.
func BenchmarkLoad(b *testing.B) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	keep := load()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if len(keep) != Len() {
		b.Fatalf("load() has %d entries, Len() = %d", len(keep), Len())
	}
	retained := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	runtime.KeepAlive(keep)

	b.ReportAllocs()
	for b.Loop() {
		keep = load()
	}
	runtime.KeepAlive(keep)
	// After the loop: b.Loop's first call resets the timer, which also clears reported metrics.
	b.ReportMetric(retained, "retained-heap-bytes")
}

func BenchmarkContains(b *testing.B) {
	Len()
	for b.Loop() {
		Contains("correct horse battery staple")
	}
}
