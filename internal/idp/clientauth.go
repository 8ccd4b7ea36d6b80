package idp

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/fintech-idp/idp/internal/metrics"
	"github.com/fintech-idp/idp/internal/password"
	"github.com/fintech-idp/idp/internal/store"
)

// Client authentication happens here, once per request, in front of the library's token,
// introspection and revocation endpoints (docs/ARCHITECTURE.md, "Client authentication"):
//
//   - the method the request uses must be the client's registered token_endpoint_auth_method
//     (RFC 7591 §2): a client_secret_basic client sending client_secret_post is refused;
//   - a secret or assertion check reserves an attempt per client id and per client IP in the store
//     first (ReserveAttempt, one atomic statement) and gives it back when the check passes, so that
//     any number of parallel wrong secrets gets at most the limit of argon2id checks, on every
//     replica together; beyond it the answer is 429 with Retry-After;
//   - private_key_jwt assertions (RFC 7523) are verified against the client's registered JWKS,
//     and their jti is recorded so that a replay is refused.
//
// The library then sees a request that carries HTTP Basic credentials made for this request
// only (the client id and a random nonce), which opStorage.AuthorizeClientIDSecret accepts by
// comparing with what this middleware put in the context: the library's own paths for the
// grants, introspection and revocation all end there, and none of them sees the client's real
// secret or assertion.

// Client authentication limits when Limits leaves them zero.
const (
	defaultClientAuthFailures   = 20
	defaultClientAuthFailuresIP = 100
	defaultClientAuthWindow     = 10 * time.Minute
)

// authedClient is what the middleware proved about the request's client.
type authedClient struct {
	client *store.Client
	method string
	nonce  string // the Basic password the library is given for this request
	// resources are the request's RFC 8707 resource parameters; scopeParam says whether it
	// named scopes itself (token requests).
	resources  []string
	scopeParam bool
}

type ctxClientKey struct{}

func authedClientFrom(ctx context.Context) *authedClient {
	a, _ := ctx.Value(ctxClientKey{}).(*authedClient)
	return a
}

// clientAuthError is a refusal with its status and fixed OAuth error.
type clientAuthError struct {
	status      int
	code        string
	description string
	retryAfter  time.Duration
}

func (e *clientAuthError) Error() string { return e.code + ": " + e.description }

func errClientAuth(description string) *clientAuthError {
	return &clientAuthError{status: http.StatusUnauthorized, code: "invalid_client", description: description}
}

const msgClientAuthFailed = "Client authentication failed."

// credentials are what a request presents to authenticate its client (RFC 6749 §2.3).
type credentials struct {
	method    string // one of the store.Auth constants
	clientID  string
	secret    string
	assertion string
}

// readCredentials finds the one authentication method the request uses. RFC 6749 §2.3: a client
// must not use more than one.
func readCredentials(r *http.Request) (credentials, *clientAuthError) {
	form := r.PostForm
	formID, formSecret := form.Get("client_id"), form.Get("client_secret")
	assertion, assertionType := form.Get("client_assertion"), form.Get("client_assertion_type")
	basicID, basicSecret, hasBasic := r.BasicAuth()
	used := 0
	for _, b := range []bool{hasBasic, formSecret != "", assertion != "" || assertionType != ""} {
		if b {
			used++
		}
	}
	if used > 1 {
		return credentials{}, &clientAuthError{status: http.StatusBadRequest, code: "invalid_request", description: "Use exactly one client authentication method."}
	}
	switch {
	case hasBasic:
		// RFC 6749 §2.3.1: id and secret are form-encoded before they go into the header.
		id, err1 := url.QueryUnescape(basicID)
		secret, err2 := url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil || id == "" || (formID != "" && formID != id) {
			return credentials{}, errClientAuth(msgClientAuthFailed)
		}
		return credentials{method: store.AuthSecretBasic, clientID: id, secret: secret}, nil
	case formSecret != "":
		if formID == "" {
			return credentials{}, errClientAuth(msgClientAuthFailed)
		}
		return credentials{method: store.AuthSecretPost, clientID: formID, secret: formSecret}, nil
	case assertion != "" || assertionType != "":
		if assertionType != jwtBearerAssertionType || assertion == "" {
			return credentials{}, errClientAuth("The client assertion must be a JWT (client_assertion_type " + jwtBearerAssertionType + ").")
		}
		id := formID
		if id == "" {
			id = unverifiedSubject(assertion)
		}
		if id == "" {
			return credentials{}, errClientAuth(msgClientAuthFailed)
		}
		return credentials{method: store.AuthPrivateKeyJWT, clientID: id, assertion: assertion}, nil
	default:
		if formID == "" {
			return credentials{}, errClientAuth("Client authentication is required.")
		}
		return credentials{method: store.AuthNone, clientID: formID}, nil
	}
}

// clientAuth is the middleware on the token, introspection and revocation endpoints.
func (s *Server) clientAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r) // CORS preflight (formOnly refused everything else)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request is malformed.")
			return
		}
		a, err := s.authenticateClient(r)
		if err != nil {
			var ce *clientAuthError
			if !errors.As(err, &ce) {
				s.log.ErrorContext(r.Context(), "client authentication", "error", err)
				writeOAuthError(w, http.StatusInternalServerError, "server_error", "The server could not complete the request. Please try again.")
				return
			}
			s.refuseClient(w, r, ce)
			return
		}
		a.resources, a.scopeParam = r.PostForm["resource"], r.PostForm.Has("scope")
		r = r.WithContext(context.WithValue(r.Context(), ctxClientKey{}, a))
		// What the library sees: the client id and, for a confidential client, the nonce as its
		// Basic password. Nothing else that could authenticate reaches it.
		for _, f := range []url.Values{r.Form, r.PostForm} {
			f.Del("client_secret")
			f.Del("client_assertion")
			f.Del("client_assertion_type")
			if a.nonce != "" {
				f.Del("client_id")
			}
		}
		r.Header.Del("Authorization")
		if a.nonce != "" {
			r.SetBasicAuth(a.client.ID, a.nonce)
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) refuseClient(w http.ResponseWriter, r *http.Request, ce *clientAuthError) {
	if ce.status == http.StatusTooManyRequests || ce.status == http.StatusServiceUnavailable {
		secs := int((ce.retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		s.metrics.RateLimited("client_auth")
	}
	if ce.status == http.StatusUnauthorized {
		// RFC 6749 §5.2: a 401 names the scheme the client may use.
		w.Header().Set("WWW-Authenticate", `Basic realm="idp"`)
	}
	s.log.InfoContext(r.Context(), "client authentication refused", "path", r.URL.Path, "status", ce.status, "error", ce.code,
		"reason", ce.description)
	writeOAuthError(w, ce.status, ce.code, ce.description)
}

// authenticateClient proves the request's client, or says why not.
func (s *Server) authenticateClient(r *http.Request) (*authedClient, error) {
	ctx := r.Context()
	cred, ce := readCredentials(r)
	if ce != nil {
		return nil, ce
	}
	c, err := s.st.GetClient(ctx, cred.clientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if c == nil {
		if cred.method == store.AuthNone {
			return nil, errClientAuth("The client is unknown.")
		}
		// Unknown ids are throttled and pay the same hash as known ones: neither the answer nor
		// its timing tells which ids exist.
		return nil, s.clientLimiter.check(ctx, cred.clientID, func() (bool, error) { return false, s.storage.secrets.burn(cred.secret) })
	}
	if c.AuthMethod != cred.method {
		s.log.InfoContext(ctx, "client used another authentication method than registered", "client_id", c.ID,
			"registered", c.AuthMethod, "used", cred.method)
		return nil, errClientAuth(fmt.Sprintf("This client authenticates with %s.", c.AuthMethod))
	}
	a := &authedClient{client: c, method: cred.method}
	switch cred.method {
	case store.AuthNone:
		return a, nil // a public client: PKCE and the redirect URI stand in for a secret
	case store.AuthSecretBasic, store.AuthSecretPost:
		// Concurrent requests with the same secret share one check (and one reservation).
		err := s.storage.secrets.authenticate(c, cred.secret, func(verify func() (bool, error)) error {
			return s.clientLimiter.check(context.WithoutCancel(ctx), c.ID, verify)
		})
		if err != nil {
			return nil, err
		}
	case store.AuthPrivateKeyJWT:
		err := s.clientLimiter.check(ctx, c.ID, func() (bool, error) {
			if err := s.verifyClientAssertion(ctx, c, cred.assertion); err != nil {
				s.log.InfoContext(ctx, "client assertion refused", "client_id", c.ID, "reason", err.Error())
				return false, nil
			}
			return true, nil
		})
		if err != nil {
			return nil, err
		}
	}
	if a.nonce, err = randomToken(s.rand, 24); err != nil {
		return nil, err
	}
	return a, nil
}

// clientAuthLimiter counts failed client authentications per client id and per client IP.
type clientAuthLimiter struct {
	st      store.Store
	limits  Limits
	now     func() time.Time
	metrics *metrics.Metrics
}

func (l *clientAuthLimiter) window() time.Duration {
	if l.limits.ClientAuthWindow > 0 {
		return l.limits.ClientAuthWindow
	}
	return defaultClientAuthWindow
}

func (l *clientAuthLimiter) keys(ctx context.Context, clientID string) []struct {
	key   string
	limit int
} {
	perClient, perIP := l.limits.ClientAuthFailures, l.limits.ClientAuthFailuresIP
	if perClient <= 0 {
		perClient = defaultClientAuthFailures
	}
	if perIP <= 0 {
		perIP = defaultClientAuthFailuresIP
	}
	// The id is hashed: it comes from the request and may be anything.
	sum := sha256.Sum256([]byte(clientID))
	return []struct {
		key   string
		limit int
	}{
		{"client-auth:client:" + hex.EncodeToString(sum[:16]), perClient},
		{"client-auth:ip:" + clientIPFrom(ctx), perIP},
	}
}

// check reserves one attempt on each key before it runs the expensive verify (ReserveAttempt:
// one atomic statement counts and decides); once a key has its limit of counted failures it is
// locked for the window and verify does not run: the answer is 429. A passing verify gives its
// attempts back (ReleaseAttempt), so that only failures count.
func (l *clientAuthLimiter) check(ctx context.Context, clientID string, verify func() (bool, error)) error {
	now, window := l.now(), l.window()
	var reserved []string
	for _, k := range l.keys(ctx, clientID) {
		res, err := l.st.ReserveAttempt(ctx, k.key, store.AttemptRule{Window: window, LockAfter: k.limit, Lock: window}, now)
		if err != nil {
			return err
		}
		if !res.Allowed {
			l.release(ctx, reserved)
			return &clientAuthError{status: http.StatusTooManyRequests, code: "temporarily_unavailable",
				description: "Too many failed client authentications. Try again later.",
				retryAfter:  res.RetryAt.Sub(now)}
		}
		reserved = append(reserved, k.key)
	}
	ok, err := verify()
	if errors.Is(err, password.ErrBusy) {
		// Not checked: the attempts are given back and the client asked to come back (the
		// argon2id work is bounded, see password.Gate).
		l.release(ctx, reserved)
		return &clientAuthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
			description: "The server is busy. Please try again in a moment.", retryAfter: time.Second}
	}
	if err != nil {
		return err
	}
	if !ok {
		return errClientAuth(msgClientAuthFailed)
	}
	l.release(ctx, reserved)
	return nil
}

// release gives reserved attempts back (the check passed, or did not run).
func (l *clientAuthLimiter) release(ctx context.Context, keys []string) {
	for _, k := range keys {
		if err := l.st.ReleaseAttempt(context.WithoutCancel(ctx), k); err != nil {
			slog.Default().ErrorContext(ctx, "client authentication: release attempt", "error", err)
		}
	}
}

// AuthorizeClientIDSecret is where every library path for client authentication ends. The
// clientAuth middleware has authenticated the client and handed the library a nonce for this
// request as its Basic password: only that client id with that nonce passes.
func (s *opStorage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	a := authedClientFrom(ctx)
	if a == nil || a.nonce == "" || a.client.ID != id || subtle.ConstantTimeCompare([]byte(a.nonce), []byte(secret)) != 1 {
		if a == nil {
			s.log.ErrorContext(ctx, "client authentication reached storage without the middleware")
		}
		return oidc.ErrInvalidClient().WithDescription(msgClientAuthFailed)
	}
	return nil
}
