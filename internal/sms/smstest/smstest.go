// Package smstest is a stateful stand-in for the Vonage Verify v2 API, for tests that run the
// real sms.Vonage client (and the real idp binary) without reaching Vonage. It follows the
// contract in docs/VENDORS.md: HTTP Basic credentials, 202 {request_id} on start with a 6-digit code it
// makes up itself, 409 with the running request's id when a verification to the number runs,
// 200 {status:"completed"} / 400 / 404 / 410 on check, 204 on cancel, 200 / 409 on next_workflow,
// RFC 7807 bodies on errors. Tests read the codes it "sent" with Code, script failures with
// FailNext, and ask which verifications were never checked or cancelled with Unconcluded.
package smstest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxWrong is how many wrong codes end a verification (Vonage answers 410 from then on).
const MaxWrong = 5

// Server is the fake API. Its zero value is not usable; call New.
type Server struct {
	*httptest.Server
	Key, Secret string

	mu      sync.Mutex
	byID    map[string]*verification
	running map[string]string // number (E.164 without +) → request id
	order   []string          // request ids in start order
	fail    map[string][]int  // op → statuses to answer next, in order (0 = hang until the client gives up)
	starts  []Start
	closed  chan struct{}
	once    sync.Once
}

// Close ends hanging answers and stops the server.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closed) })
	s.Server.Close()
}

// Start is one start request as received.
type Start struct {
	To        string   // E.164 with "+"
	Channels  []string // the workflow
	Brand     string
	Locale    string
	ClientRef string
	CodeLen   int
}

type verification struct {
	id       string
	to       string
	code     string
	channels []string
	step     int
	wrong    int
	ended    string // "" running; completed, cancelled, failed
}

// Operation names for FailNext.
const (
	OpStart  = "start"
	OpCheck  = "check"
	OpNext   = "next_workflow"
	OpCancel = "cancel"
)

// New starts the fake with its credentials; it is closed by Close.
// Vonage's limits on a start request, in characters: beyond them it answers 422.
const (
	MaxBrand     = 16
	MaxClientRef = 16
)

func New() *Server {
	s := &Server{Key: "test-key", Secret: "test-secret-never-logged", byID: map[string]*verification{},
		running: map[string]string{}, fail: map[string][]int{}, closed: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// FailNext makes the next calls of op answer these statuses (with an RFC 7807 body) instead of
// the real behaviour; 0 answers nothing until the client gives up.
func (s *Server) FailNext(op string, statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[op] = append(s.fail[op], statuses...)
}

// Code returns the code of the newest verification to e164 ("+44…"), "" when none.
func (s *Server) Code(e164 string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.newest(e164); v != nil {
		return v.code
	}
	return ""
}

// Channel returns the running step's channel of the newest verification to e164.
func (s *Server) Channel(e164 string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.newest(e164); v != nil {
		return v.channels[v.step]
	}
	return ""
}

// newest returns the newest verification to e164, or nil; s.mu must be held.
func (s *Server) newest(e164 string) *verification {
	to := strings.TrimPrefix(e164, "+")
	for i := len(s.order) - 1; i >= 0; i-- {
		if v := s.byID[s.order[i]]; v.to == to {
			return v
		}
	}
	return nil
}

// Starts returns every start request received, oldest first.
func (s *Server) Starts() []Start {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Start(nil), s.starts...)
}

// Unconcluded returns the ids of verifications that were neither checked correctly, nor
// cancelled, nor ended by too many wrong codes.
func (s *Server) Unconcluded() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, id := range s.order {
		if s.byID[id].ended == "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// Expire ends every running verification as Vonage does when its steps have timed out: checks
// then get 404.
func (s *Server) Expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.byID {
		if v.ended == "" {
			v.ended = "expired"
		}
	}
	s.running = map[string]string{}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != s.Key || p != s.Secret {
		problem(w, http.StatusUnauthorized, "Invalid credentials")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v2/verify")
	var op, id string
	switch {
	case r.Method == http.MethodPost && path == "":
		op = OpStart
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/next_workflow"):
		op, id = OpNext, strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/next_workflow")
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/"):
		op, id = OpCheck, strings.TrimPrefix(path, "/")
	case r.Method == http.MethodDelete && strings.HasPrefix(path, "/"):
		op, id = OpCancel, strings.TrimPrefix(path, "/")
	default:
		problem(w, http.StatusNotFound, "Not found")
		return
	}
	s.mu.Lock()
	if q := s.fail[op]; len(q) > 0 {
		status := q[0]
		s.fail[op] = q[1:]
		s.mu.Unlock()
		if status == 0 {
			// Reading the body lets the server notice when the client hangs up.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-s.closed:
			case <-time.After(time.Minute):
			}
			return
		}
		problem(w, status, "Scripted failure")
		return
	}
	defer s.mu.Unlock()
	switch op {
	case OpStart:
		s.start(w, r)
	case OpCheck:
		s.check(w, r, id)
	case OpNext:
		v := s.byID[id]
		switch {
		case v == nil || v.ended != "":
			problem(w, http.StatusNotFound, "Request not found")
		case v.step+1 >= len(v.channels):
			problem(w, http.StatusConflict, "No more workflows")
		default:
			v.step++
			writeJSON(w, http.StatusOK, map[string]any{})
		}
	case OpCancel:
		v := s.byID[id]
		if v == nil || v.ended != "" {
			problem(w, http.StatusNotFound, "Request not found")
			return
		}
		s.end(v, "cancelled")
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) start(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Brand      string `json:"brand"`
		CodeLength int    `json:"code_length"`
		Locale     string `json:"locale"`
		ClientRef  string `json:"client_ref"`
		Workflow   []struct {
			Channel string `json:"channel"`
			To      string `json:"to"`
		} `json:"workflow"`
	}
	if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&body) != nil ||
		body.Brand == "" || len(body.Workflow) == 0 || body.CodeLength != 6 {
		problem(w, http.StatusUnprocessableEntity, "Invalid params")
		return
	}
	// Vonage Verify v2 caps brand and client_ref at 16 characters and answers 422 beyond.
	if utf8.RuneCountInString(body.Brand) > MaxBrand || utf8.RuneCountInString(body.ClientRef) > MaxClientRef {
		problem(w, http.StatusUnprocessableEntity, "Invalid params")
		return
	}
	to := body.Workflow[0].To
	st := Start{To: "+" + to, Brand: body.Brand, Locale: body.Locale, ClientRef: body.ClientRef, CodeLen: body.CodeLength}
	for _, step := range body.Workflow {
		if step.To != to || strings.HasPrefix(step.To, "+") || (step.Channel != "sms" && step.Channel != "voice") {
			problem(w, http.StatusUnprocessableEntity, "Invalid params")
			return
		}
		st.Channels = append(st.Channels, step.Channel)
	}
	s.starts = append(s.starts, st)
	if id, ok := s.running[to]; ok {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusConflict)
		_ = json.NewEncoder(w).Encode(map[string]any{"type": "https://developer.vonage.com/api-errors#conflict",
			"title": "Conflict", "detail": "Concurrent verifications to the same number are not allowed.", "request_id": id})
		return
	}
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	id := newID()
	v := &verification{id: id, to: to, code: fmt.Sprintf("%06d", n.Int64()), channels: st.Channels}
	s.byID[id] = v
	s.running[to] = id
	s.order = append(s.order, id)
	writeJSON(w, http.StatusAccepted, map[string]any{"request_id": id, "check_url": "https://api.nexmo.com/v2/verify/" + id})
}

func (s *Server) check(w http.ResponseWriter, r *http.Request, id string) {
	var body struct {
		Code string `json:"code"`
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil {
		problem(w, http.StatusUnprocessableEntity, "Invalid params")
		return
	}
	v := s.byID[id]
	switch {
	case v == nil || (v.ended != "" && v.ended != "failed"):
		problem(w, http.StatusNotFound, "Request not found")
	case v.ended == "failed":
		problem(w, http.StatusGone, "Invalid code")
	case body.Code == v.code:
		s.end(v, "completed")
		writeJSON(w, http.StatusOK, map[string]any{"request_id": id, "status": "completed"})
	default:
		v.wrong++
		if v.wrong >= MaxWrong {
			s.end(v, "failed")
			problem(w, http.StatusGone, "Invalid code")
			return
		}
		problem(w, http.StatusBadRequest, "Invalid code")
	}
}

func (s *Server) end(v *verification, how string) {
	v.ended = how
	if s.running[v.to] == v.id {
		delete(s.running, v.to)
	}
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func problem(w http.ResponseWriter, status int, title string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": fmt.Sprintf("https://developer.vonage.com/api-errors#%d", status),
		"title": title, "instance": newID()})
}
