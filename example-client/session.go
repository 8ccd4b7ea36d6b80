package main

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"
)

// session is one signed-in browser. The browser holds only its random id in a cookie; the tokens
// stay here. mu serializes refreshes (a rotated refresh token is single use, and reusing it
// revokes the whole family at the IdP) and guards every field below it.
type session struct {
	id string

	mu           sync.Mutex
	accessToken  string
	refreshToken string
	idToken      string // the latest ID token, for id_token_hint at sign-out
	expiry       time.Time
	claims       idClaims // email etc. from the latest ID token
	// acr and auth_time come from the ID token of the sign-in (or step-up) itself: refreshed
	// ID tokens carry no acr.
	acr      string
	amr      []string
	authTime time.Time
	lastSeen time.Time
	ended    bool // refresh failed or signed out: the session is gone
	recheck  bool // the person went to the IdP's security settings: refresh at the next page
}

// view is a copy of what pages show, taken under the lock.
type sessionView struct {
	claims      idClaims
	acr         string
	amr         []string
	authTime    time.Time
	expiry      time.Time
	idToken     string
	hasRefresh  bool
	accessToken string
}

func (s *session) view() sessionView {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sessionView{claims: s.claims, acr: s.acr, amr: s.amr, authTime: s.authTime, expiry: s.expiry,
		idToken: s.idToken, hasRefresh: s.refreshToken != "", accessToken: s.accessToken}
}

// pendingLogin is an authorization request on its way: kept server-side under its state.
type pendingLogin struct {
	verifier string
	nonce    string
	returnTo string
	stepUp   bool
	created  time.Time
}

const (
	pendingTTL     = 10 * time.Minute
	sessionIdleTTL = 12 * time.Hour
)

// sessionStore keeps sessions and pending logins in memory (one process; a restart signs
// everyone out).
type sessionStore struct {
	now func() time.Time

	mu       sync.Mutex
	sessions map[string]*session
	pending  map[string]pendingLogin
}

func newSessionStore(now func() time.Time) *sessionStore {
	return &sessionStore{now: now, sessions: map[string]*session{}, pending: map[string]pendingLogin{}}
}

// randomID is 256 bits from crypto/rand, base64url.
func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (st *sessionStore) sweepLocked() {
	now := st.now()
	for k, p := range st.pending {
		if now.Sub(p.created) > pendingTTL {
			delete(st.pending, k)
		}
	}
	for k, s := range st.sessions {
		if s.mu.TryLock() {
			if now.Sub(s.lastSeen) > sessionIdleTTL {
				s.ended = true
				delete(st.sessions, k)
			}
			s.mu.Unlock()
		}
	}
}

func (st *sessionStore) addPending(p pendingLogin) (state string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweepLocked()
	state = randomID()
	p.created = st.now()
	st.pending[state] = p
	return state
}

// takePending removes and returns the pending login for state (single use).
func (st *sessionStore) takePending(state string) (pendingLogin, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	p, ok := st.pending[state]
	delete(st.pending, state)
	if !ok || st.now().Sub(p.created) > pendingTTL {
		return pendingLogin{}, false
	}
	return p, true
}

// create stores a new session for a sign-in's tokens under a fresh id.
func (st *sessionStore) create(t tokenSet) *session {
	s := &session{id: randomID(), accessToken: t.accessToken, refreshToken: t.refreshToken, idToken: t.idToken,
		expiry: t.expiry, claims: *t.claims, acr: t.claims.acr, amr: t.claims.amr, authTime: t.claims.authTime,
		lastSeen: st.now()}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweepLocked()
	st.sessions[s.id] = s
	return s
}

// get returns the live session for id, or nil. (Lock order: never hold st.mu while waiting for
// a session's mu, since a refresh holds its mu and then takes st.mu to drop the session.)
func (st *sessionStore) get(id string) *session {
	st.mu.Lock()
	s := st.sessions[id]
	st.mu.Unlock()
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || st.now().Sub(s.lastSeen) > sessionIdleTTL {
		return nil
	}
	s.lastSeen = st.now()
	return s
}

// drop deletes a session from the map; the caller marks it ended (under its own mu).
func (st *sessionStore) drop(id string) {
	st.mu.Lock()
	delete(st.sessions, id)
	st.mu.Unlock()
}

// remove ends a session and deletes it.
func (st *sessionStore) remove(id string) {
	st.mu.Lock()
	s := st.sessions[id]
	delete(st.sessions, id)
	st.mu.Unlock()
	if s != nil {
		s.mu.Lock()
		s.ended = true
		s.mu.Unlock()
	}
}
