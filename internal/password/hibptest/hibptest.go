// Package hibptest is a stand-in for the Pwned Passwords range API of Have I Been Pwned
// (https://haveibeenpwned.com/API/v3#PwnedPasswords), for tests that run the real password.HIBP
// client without reaching the Internet. It follows the documented contract: GET /range/{first 5
// hexadecimal characters of the SHA-1}, any case; 200 with text/plain lines "SUFFIX:COUNT" (35
// upper-case hexadecimal characters, CRLF line ends) of every known hash under that prefix; with
// the "Add-Padding: true" header, extra random suffixes with count 0; 400 with a plain-text reason
// for a prefix that is not 5 hexadecimal characters. Tests add breached passwords with Add, script
// failures with Fail, and read what was asked with Requests.
package hibptest

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
)

// Padding is how many count-0 lines a padded answer adds (the real API pads to 800–1,000 lines).
const Padding = 800

// Request is what the fake saw of one request.
type Request struct {
	Method, Path, Query string
	Header              http.Header
}

// Server is the fake API; create it with New.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	counts   map[string]int // full upper-case SHA-1 → times seen in breaches
	requests []Request
	fail     []Failure
	release  chan struct{}
	once     sync.Once
}

// Failure is one scripted answer instead of the real one.
type Failure struct {
	Status int    // HTTP status to answer; 0 with Hang
	Body   string // body to send (with Status 200: a malformed range answer)
	Hang   bool   // answer nothing until the client gives up or the server closes
}

// New starts the fake; it is closed when the test ends.
func New(t interface{ Cleanup(func()) }) *Server {
	s := &Server{counts: map[string]int{}, release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.once.Do(func() { close(s.release) })
		s.Server.Close()
	})
	return s
}

// Add records password (as the client hashes it: the normalised text) as seen count times.
func (s *Server) Add(password string, count int) {
	sum := sha1.Sum([]byte(password))
	s.mu.Lock()
	s.counts[strings.ToUpper(hex.EncodeToString(sum[:]))] = count
	s.mu.Unlock()
}

// Fail makes the next requests answer with fs, in order.
func (s *Server) Fail(fs ...Failure) {
	s.mu.Lock()
	s.fail = append(s.fail, fs...)
	s.mu.Unlock()
}

// Requests returns every request seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone()})
	var f *Failure
	if len(s.fail) > 0 {
		f, s.fail = &s.fail[0], s.fail[1:]
	}
	s.mu.Unlock()

	if f != nil {
		if f.Hang {
			select {
			case <-r.Context().Done():
			case <-s.release:
			}
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(f.Status)
		fmt.Fprint(w, f.Body)
		return
	}
	prefix, ok := strings.CutPrefix(r.URL.Path, "/range/")
	if r.Method != http.MethodGet || !ok {
		http.NotFound(w, r)
		return
	}
	prefix = strings.ToUpper(prefix)
	if len(prefix) != 5 || strings.Trim(prefix, "0123456789ABCDEF") != "" {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, "The hash prefix was not in a valid format")
		return
	}
	lines := s.rangeLines(prefix)
	if r.Header.Get("Add-Padding") == "true" {
		for range Padding {
			b := make([]byte, 18)
			_, _ = rand.Read(b)
			lines = append(lines, strings.ToUpper(hex.EncodeToString(b))[:35]+":0")
		}
		sort.Strings(lines)
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprint(w, strings.Join(lines, "\r\n"))
}

func (s *Server) rangeLines(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lines []string
	for h, n := range s.counts {
		if strings.HasPrefix(h, prefix) {
			lines = append(lines, fmt.Sprintf("%s:%d", h[5:], n))
		}
	}
	// A real range is never empty; a fixed unrelated suffix stands in for the others.
	lines = append(lines, "0000000000000000000000000000000000A:3")
	return lines
}
