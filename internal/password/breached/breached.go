package breached

import (
	_ "embed"
	"strings"
	"sync"
)

// list is list.txt: one lower-case, NFKC-normalised password per line.
//
//go:embed list.txt
var list string

// set is built on first use. Its keys are substrings of list, so they share the embedded
// (read-only) bytes and only the map itself is allocated.
var set = sync.OnceValue(load)

func load() map[string]struct{} {
	m := make(map[string]struct{}, strings.Count(list, "\n")+1)
	for line := range strings.Lines(list) {
		if w := strings.TrimRight(line, "\r\n"); w != "" {
			m[w] = struct{}{}
		}
	}
	return m
}

// Contains reports whether normalisedLower is on the list. The argument must already be
// NFKC-normalised and lower-cased (strings.ToLower of password.Normalize); nothing else is done
// to it, so surrounding spaces or upper-case letters make it miss. The first call parses the list
// (a few milliseconds); later calls are a map lookup, safe for concurrent use.
func Contains(normalisedLower string) bool {
	_, ok := set()[normalisedLower]
	return ok
}

// Len returns the number of distinct passwords on the list. Calling it at start-up moves the
// one-time parsing cost out of the first signup.
func Len() int {
	return len(set())
}
