package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

// env is one top-level test's store with the helpers that build fixtures in it. A sub-test works
// on its own view (env.run), so that a failing helper stops the sub-test that called it.
type env struct {
	t   *testing.T
	ctx context.Context
	s   store.Store
	// peer, when set, is a second store on the same database (another process): the race tests
	// send every other call to it.
	peer store.Store
	// now is the test's reference time: close to the wall clock (SaveAuthCode checks expiry
	// against the store's own clock), UTC and a whole number of milliseconds, so that what the
	// store returns must equal what it was given.
	now time.Time
	*fixtures
}

// fixtures is the state every view of an env shares.
type fixtures struct {
	n int
	// sessions remembers the session each code's sign-in ran under, as the IdP reads it from the
	// auth request when it mints tokens.
	sessions map[string]string
}

func newEnv(t *testing.T, s store.Store) *env {
	return &env{
		t: t, ctx: t.Context(), s: s, now: time.Now().UTC().Truncate(time.Millisecond),
		fixtures: &fixtures{sessions: map[string]string{}},
	}
}

// run runs fn as a sub-test with a view of e bound to it.
func (e *env) run(name string, fn func(t *testing.T, e *env)) {
	e.t.Helper()
	e.t.Run(name, func(t *testing.T) {
		sub := *e
		sub.t, sub.ctx = t, t.Context()
		fn(t, &sub)
	})
}

// racer returns the store the i-th concurrent call goes to.
func (e *env) racer(i int) store.Store {
	if e.peer != nil && i%2 == 1 {
		return e.peer
	}
	return e.s
}

// id returns an id unique within the env.
func (e *env) id(prefix string) string {
	e.n++
	return fmt.Sprintf("%s-%d", prefix, e.n)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wantErr checks that err is target (errors.Is); a nil target means success.
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Fatalf("got error %v, want success", err)
	case target != nil && !errors.Is(err, target):
		t.Fatalf("got error %v, want %v", err, target)
	}
}

// wantSomeErr checks that err is an error and none of the store's sentinels.
func wantSomeErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("got success, want an error")
	}
	for _, s := range []error{store.ErrNotFound, store.ErrConflict, store.ErrCodeReplayed, store.ErrRefreshReused, store.ErrCodeMismatch, store.ErrTooManyAttempts} {
		if errors.Is(err, s) {
			t.Fatalf("got %v, want a plain error", err)
		}
	}
}

// same fails unless got and want are equal field by field, where times compare with Equal and a
// nil slice or map equals an empty one (the store returns both as nil; see store.Store).
func same(t *testing.T, what string, got, want any) {
	t.Helper()
	var diffs []string
	compare(what, reflect.ValueOf(got), reflect.ValueOf(want), &diffs)
	if len(diffs) > 0 {
		t.Fatalf("%s differs:\n  %s", what, strings.Join(diffs, "\n  "))
	}
}

var timeType = reflect.TypeFor[time.Time]()

func compare(path string, got, want reflect.Value, diffs *[]string) {
	add := func() {
		*diffs = append(*diffs, fmt.Sprintf("%s: got %v, want %v", path, show(got), show(want)))
	}
	if got.Type() == timeType {
		if !got.Interface().(time.Time).Equal(want.Interface().(time.Time)) {
			add()
		}
		return
	}
	switch got.Kind() {
	case reflect.Pointer:
		if got.IsNil() || want.IsNil() {
			if got.IsNil() != want.IsNil() {
				add()
			}
			return
		}
		compare(path, got.Elem(), want.Elem(), diffs)
	case reflect.Struct:
		for i := range got.NumField() {
			compare(path+"."+got.Type().Field(i).Name, got.Field(i), want.Field(i), diffs)
		}
	case reflect.Slice:
		if got.Type().Elem().Kind() == reflect.Uint8 {
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				add()
			}
			return
		}
		if got.Len() != want.Len() {
			add()
			return
		}
		for i := range got.Len() {
			compare(fmt.Sprintf("%s[%d]", path, i), got.Index(i), want.Index(i), diffs)
		}
	case reflect.Map:
		if got.Len() != want.Len() {
			add()
			return
		}
		for _, k := range want.MapKeys() {
			g := got.MapIndex(k)
			if !g.IsValid() {
				add()
				return
			}
			compare(fmt.Sprintf("%s[%v]", path, k), g, want.MapIndex(k), diffs)
		}
	default:
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			add()
		}
	}
}

func show(v reflect.Value) any {
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		return v.Elem().Interface()
	}
	return v.Interface()
}

// sameTime fails unless got equals want.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// wantUTC fails unless every time in v (a struct or pointer to one) is in UTC, as the contract
// promises.
func wantUTC(t *testing.T, what string, v any) {
	t.Helper()
	rv := reflect.Indirect(reflect.ValueOf(v))
	for i := range rv.NumField() {
		f := rv.Field(i)
		if f.Kind() == reflect.Pointer && !f.IsNil() {
			f = f.Elem()
		}
		if f.Type() == timeType {
			if loc := f.Interface().(time.Time).Location(); loc != time.UTC {
				t.Fatalf("%s.%s is in %v, want UTC", what, rv.Type().Field(i).Name, loc)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// Fixtures. Each returns what it stored.

func (e *env) user() *store.User {
	e.t.Helper()
	id := e.id("user")
	u := &store.User{
		ID: id, Email: id + "@example.com", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		EmailVerified: true, CreatedAt: e.now, UpdatedAt: e.now,
	}
	must(e.t, e.s.CreateUser(e.ctx, u))
	return u
}

func (e *env) client() *store.Client {
	e.t.Helper()
	c := &store.Client{
		ID: e.id("client"), Name: "Dashboard", Type: store.ClientWeb, SecretHash: "$argon2id$secret",
		RedirectURIs: []string{"https://rp.example.com/callback"}, CreatedAt: e.now,
	}
	must(e.t, e.s.CreateClient(e.ctx, c))
	return c
}

// authRequest stores a pending auth request of the client, valid for ten minutes.
func (e *env) authRequest(clientID string) *store.AuthRequest {
	e.t.Helper()
	r := &store.AuthRequest{
		ID: e.id("ar"), ClientID: clientID, RedirectURI: "https://rp.example.com/callback",
		Scopes: []string{"openid", "email"}, State: "state", Nonce: "nonce", ResponseType: "code",
		CodeChallenge: "challenge", CodeChallengeMethod: "S256", BrowserHash: "browser",
		CreatedAt: e.now, ExpiresAt: e.now.Add(10 * time.Minute),
	}
	must(e.t, e.s.CreateAuthRequest(e.ctx, r))
	return r
}

// complete records that subject signed in for r in the session sessionID, stored as a live
// session of subject when there is none by that id (a new one when empty): codes are only issued
// and redeemed while the session they were authenticated in lives.
func (e *env) complete(r *store.AuthRequest, subject, sessionID string) {
	e.t.Helper()
	sessionID = e.liveSession(subject, sessionID)
	done := &store.AuthRequest{Subject: subject, AuthTime: e.now.Add(-time.Second), AMR: []string{"pwd", "sms", "mfa"}, ACR: "mfa", SessionID: sessionID}
	must(e.t, e.s.CompleteAuthRequest(e.ctx, r.ID, done, e.now))
	r.Subject, r.AuthTime, r.AMR, r.ACR, r.SessionID, r.Done = done.Subject, done.AuthTime, done.AMR, done.ACR, done.SessionID, true
}

// code runs a sign-in of subject at the client up to the issued code and returns its hash. The
// code is valid for a minute. The sign-in runs in the session sessionID (see complete); redeem
// names sessionID on the tokens, and none when it is empty.
func (e *env) code(clientID, subject, sessionID string) string {
	e.t.Helper()
	r := e.authRequest(clientID)
	e.complete(r, subject, sessionID)
	c := &store.AuthCode{Hash: e.id("code"), AuthRequestID: r.ID, ExpiresAt: e.now.Add(time.Minute)}
	must(e.t, e.s.SaveAuthCode(e.ctx, c))
	e.sessions[c.Hash] = sessionID
	return c.Hash
}

func (e *env) access(clientID, subject string) store.AccessToken {
	return store.AccessToken{
		ID: e.id("at"), ClientID: clientID, Subject: subject, Audience: []string{clientID},
		Scopes: []string{"openid", "email", "offline_access"}, AuthTime: e.now.Add(-time.Second),
		AMR: []string{"pwd"}, ACR: "pwd", CreatedAt: e.now, ExpiresAt: e.now.Add(time.Hour),
	}
}

func (e *env) refresh(clientID, subject string) *store.RefreshToken {
	id := e.id("rt")
	return &store.RefreshToken{
		ID: id, Hash: "hash-" + id, ClientID: clientID, Subject: subject, Audience: []string{clientID},
		Scopes: []string{"openid", "offline_access"}, AuthTime: e.now.Add(-time.Second),
		AMR: []string{"pwd"}, ACR: "pwd", CreatedAt: e.now,
		ExpiresAt: e.now.Add(30 * 24 * time.Hour), FamilyExpiresAt: e.now.Add(90 * 24 * time.Hour),
	}
}

// naming makes redeem put sessionID on the tokens of the code (none when empty), whatever
// session the sign-in ran in, and returns the code's hash.
func (e *env) naming(codeHash, sessionID string) string {
	e.sessions[codeHash] = sessionID
	return codeHash
}

// grant is one successful issuance: the access token and, when one was issued, the refresh token.
type grant struct {
	access  store.AccessToken
	refresh *store.RefreshToken
}

// redeem issues tokens (a refresh token too when withRefresh) for a code, under the session of
// its sign-in; it must succeed.
func (e *env) redeem(codeHash, clientID, subject string, withRefresh bool) grant {
	e.t.Helper()
	g := grant{access: e.access(clientID, subject)}
	g.access.SessionID = e.sessions[codeHash]
	if withRefresh {
		g.refresh = e.refresh(clientID, subject)
		g.refresh.SessionID = e.sessions[codeHash]
	}
	must(e.t, e.s.IssueTokens(e.ctx, store.IssueParams{Now: e.now, CodeHash: codeHash, Access: g.access, Refresh: g.refresh}))
	return g
}

// rotate presents the refresh token with hash at time at and asks for a new pair.
func (e *env) rotate(hash string, at time.Time, clientID, subject string) (grant, error) {
	g := grant{access: e.access(clientID, subject), refresh: e.refresh(clientID, subject)}
	g.access.CreatedAt, g.refresh.CreatedAt = at, at
	g.access.ExpiresAt, g.refresh.ExpiresAt = at.Add(time.Hour), at.Add(30*24*time.Hour)
	return g, e.s.IssueTokens(e.ctx, store.IssueParams{Now: at, RotateRefreshHash: hash, Access: g.access, Refresh: g.refresh})
}

// liveSession returns id when a session by that id exists, else stores a live session of the user
// under id (a new id when empty) and returns it. A sign-in needs one: codes are only issued and
// redeemed while the session they were authenticated in lives.
func (e *env) liveSession(userID, id string) string {
	e.t.Helper()
	if id != "" {
		if _, err := e.s.GetSession(e.ctx, id); err == nil {
			return id
		}
	}
	return e.sessionWithID(userID, id).ID
}

// session stores a live session of the user: signed in a minute ago, seen now, for a day.
func (e *env) session(userID string) *store.Session {
	e.t.Helper()
	return e.sessionWithID(userID, "")
}

// sessionWithID is session under the id given (a new one when empty). It takes the user's
// current password epoch, as the IdP does when the password was checked.
func (e *env) sessionWithID(userID, id string) *store.Session {
	e.t.Helper()
	if id == "" {
		id = e.id("sess")
	}
	var epoch int64
	if u, err := e.s.GetUser(e.ctx, userID); err == nil {
		epoch = u.PasswordEpoch
	}
	s := &store.Session{
		PasswordEpoch: epoch,
		ID:            id, TokenHash: "hash-" + id, UserID: userID, AuthTime: e.now.Add(-time.Minute),
		AMR: []string{"pwd"}, ACR: "pwd", IP: "192.0.2.1", UserAgent: "test", CreatedAt: e.now.Add(-time.Minute),
		LastSeenAt: e.now, ExpiresAt: e.now.Add(24 * time.Hour),
	}
	must(e.t, e.s.CreateSession(e.ctx, s))
	return s
}

func (e *env) getAccess(id string) *store.AccessToken {
	e.t.Helper()
	a, err := e.s.GetAccessToken(e.ctx, id)
	must(e.t, err)
	return a
}

func (e *env) getRefresh(hash string) *store.RefreshToken {
	e.t.Helper()
	r, err := e.s.GetRefreshToken(e.ctx, hash)
	must(e.t, err)
	return r
}

// wantRevoked checks that each access token of the grants and each refresh token is revoked
// (revoked true) or not (false).
func (e *env) wantRevoked(revoked bool, gs ...grant) {
	e.t.Helper()
	for _, g := range gs {
		if a := e.getAccess(g.access.ID); (a.RevokedAt != nil) != revoked {
			e.t.Fatalf("access token %s: revoked_at = %v, want revoked %v", a.ID, a.RevokedAt, revoked)
		}
		if g.refresh != nil {
			if r := e.getRefresh(g.refresh.Hash); (r.RevokedAt != nil) != revoked {
				e.t.Fatalf("refresh token %s: revoked_at = %v, want revoked %v", r.ID, r.RevokedAt, revoked)
			}
		}
	}
}
