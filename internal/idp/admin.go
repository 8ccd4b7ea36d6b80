package idp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/fintech-idp/idp/internal/password"
	"github.com/fintech-idp/idp/internal/password/breached"
	"github.com/fintech-idp/idp/internal/store"
)

// The development client: the example dashboard. Registered only with IDP_ENV=development; in
// production a client holding this well-known secret stops the IdP from starting.
const (
	DevClientID     = "fintech-dashboard"
	DevClientSecret = "dev-secret"
	devClientName   = "FinTech Dashboard (development)"
)

// ClientSpec is what an operator registers.
type ClientSpec struct {
	ID                     string
	Name                   string
	Type                   store.ClientType
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Secret                 string // confidential clients: empty = generate one
	AccessTokenJWT         *bool  // nil = the type's default (JWT for service clients)
	PKCEExempt             bool
	// AuthMethod is the token_endpoint_auth_method; empty = the type's default
	// (client_secret_basic for web and service, none for spa and native).
	AuthMethod string
	// JWKS is the public key set of a private_key_jwt client (JSON).
	JWKS string
	// Scopes the client may ask for; nil = the type's default (DefaultScopes).
	Scopes []string
	// HomeURI is the app's home page (--home-uri): the account page's "Back to <app>" link.
	// Empty: the origin of the first redirect URI.
	HomeURI string
}

// checkHomeURI accepts an absolute https URL (http in development, or on a loopback address) with
// no credentials and no fragment: it becomes a link on our account page.
func checkHomeURI(raw string, production bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || len(raw) > 512:
		return errors.New("must be an absolute URL")
	case u.User != nil || u.Fragment != "":
		return errors.New("must not carry credentials or a fragment")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && (!production || isLoopbackHost(u.Hostname())):
		return nil
	}
	return errors.New("must use https")
}

// DefaultScopes are the scopes of a client registered without --scope: what every client of its
// type could ask for before scopes were registered per client, so old registrations and
// commands keep working. A service client gets none: its scopes are those of its resources,
// granted one by one.
func DefaultScopes(t store.ClientType) []string {
	switch t {
	case store.ClientWeb:
		return []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess}
	case store.ClientSPA, store.ClientNative:
		return []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail}
	}
	return nil
}

// authMethod is the spec's method with the type's default filled in.
func (c ClientSpec) authMethod() string {
	switch {
	case c.AuthMethod != "":
		return c.AuthMethod
	case c.Type.Confidential():
		return store.AuthSecretBasic
	default:
		return store.AuthNone
	}
}

// scopePattern: RFC 6749 §3.3 scope-token characters, without the quote and backslash.
var scopePattern = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,128}$`)

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// minSecretLen: an operator-chosen client secret must come close to a generated one (256 bits).
const minSecretLen = 32

// CheckClientSecret refuses an operator-chosen client secret that is short or guessable: fewer
// than 32 characters, a repetition (abcabc…, aaaa…), a sequence (abcd…, 1234…), a word or known
// password, or too few different characters. Generated secrets (the default) are 256 random bits.
func CheckClientSecret(secret string) error {
	const advice = "; leave --secret out and a random one (256 bits) is generated and printed once"
	r := []rune(secret)
	switch {
	case len(r) < minSecretLen:
		return fmt.Errorf("--secret must be at least %d characters%s", minSecretLen, advice)
	case len(r) > 256:
		return errors.New("--secret must be at most 256 characters")
	case repeats(r):
		return errors.New("--secret repeats itself (like abcabc… or aaaa…)" + advice)
	case isWord(secret):
		return errors.New("--secret is a word or a known password" + advice)
	case sequential(r):
		return errors.New("--secret runs in sequence (like abcd… or 1234…)" + advice)
	case distinct(r) < 10:
		return errors.New("--secret uses too few different characters" + advice)
	}
	return nil
}

// repeats reports whether r is a shorter unit repeated (a period of at most half its length).
func repeats(r []rune) bool {
	for p := 1; p <= len(r)/2; p++ {
		same := true
		for i := p; i < len(r) && same; i++ {
			same = r[i] == r[i-p]
		}
		if same {
			return true
		}
	}
	return false
}

// sequential reports whether most neighbouring characters are equal or one apart (abcd, 4321,
// aabbcc).
func sequential(r []rune) bool {
	steps := 0
	for i := 1; i < len(r); i++ {
		if d := r[i] - r[i-1]; d >= -1 && d <= 1 {
			steps++
		}
	}
	return steps*2 >= len(r)-1
}

// isWord reports whether the secret, or what is left of it without digits and punctuation at
// its ends, is a known password or word of the bundled breached list.
func isWord(secret string) bool {
	lower := strings.ToLower(password.Normalize(secret))
	if breached.Contains(lower) {
		return true
	}
	core := strings.TrimFunc(lower, func(c rune) bool { return !unicode.IsLetter(c) })
	return len(core) >= 4 && len(core)*2 >= len(lower) && breached.Contains(core)
}

func distinct(r []rune) int {
	seen := make(map[rune]bool, len(r))
	for _, c := range r {
		seen[c] = true
	}
	return len(seen)
}

// Validate reports every problem with the spec at once.
func (c ClientSpec) Validate(production bool) error {
	var errs []error
	if !clientIDPattern.MatchString(c.ID) {
		errs = append(errs, errors.New("--id must be 1-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"))
	}
	if utf8.RuneCountInString(c.Name) > 100 {
		errs = append(errs, errors.New("--name must be at most 100 characters"))
	}
	if !c.Type.Valid() {
		errs = append(errs, fmt.Errorf("--type must be one of web, spa, native, service (got %q)", string(c.Type)))
	}
	if c.Type != store.ClientService && len(c.RedirectURIs) == 0 && c.Type.Valid() {
		errs = append(errs, fmt.Errorf("a %s client needs at least one --redirect-uri", c.Type))
	}
	if c.Type == store.ClientService && (len(c.RedirectURIs) > 0 || len(c.PostLogoutRedirectURIs) > 0) {
		errs = append(errs, errors.New("a service client uses client_credentials only: it takes no redirect URIs"))
	}
	for _, u := range c.RedirectURIs {
		if err := checkRedirectURI(u, c.Type, production); err != nil {
			errs = append(errs, fmt.Errorf("--redirect-uri %q: %w", u, err))
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := checkRedirectURI(u, c.Type, production); err != nil {
			errs = append(errs, fmt.Errorf("--post-logout-redirect-uri %q: %w", u, err))
		}
	}
	if c.HomeURI != "" {
		if c.Type == store.ClientService {
			errs = append(errs, errors.New("a service client has no pages: it takes no --home-uri"))
		} else if err := checkHomeURI(c.HomeURI, production); err != nil {
			errs = append(errs, fmt.Errorf("--home-uri %q: %w", c.HomeURI, err))
		}
	}
	if c.Secret != "" && !c.Type.Confidential() && c.Type.Valid() {
		errs = append(errs, fmt.Errorf("a %s client is public: it cannot have a --secret", c.Type))
	}
	switch {
	case c.Secret == "":
	case c.Secret == DevClientSecret && c.ID == DevClientID && !production:
		// The built-in development client keeps its well-known secret, in development only.
	case c.Secret == DevClientSecret:
		errs = append(errs, errors.New("--secret must not be the well-known development secret"))
	default:
		if err := CheckClientSecret(c.Secret); err != nil {
			errs = append(errs, err)
		}
	}
	if c.PKCEExempt && !c.Type.Confidential() {
		errs = append(errs, errors.New("only confidential (web) clients may be exempted from PKCE"))
	}
	errs = append(errs, c.validateAuth()...)
	for _, sc := range c.Scopes {
		if !scopePattern.MatchString(sc) {
			errs = append(errs, fmt.Errorf("--scope %q: a scope is 1-128 printable characters without spaces, quotes or backslashes", sc))
		}
	}
	if c.Type == store.ClientService {
		for _, sc := range c.Scopes {
			if userScopes[sc] {
				errs = append(errs, fmt.Errorf("--scope %s: a service client acts for itself, it cannot have user scopes", sc))
			}
		}
	}
	return errors.Join(errs...)
}

// validateAuth checks the authentication method against the type, and the JWKS against it.
func (c ClientSpec) validateAuth() []error {
	var errs []error
	m := c.authMethod()
	switch {
	case !c.Type.Valid():
	case c.Type.Confidential() && m != store.AuthSecretBasic && m != store.AuthSecretPost && m != store.AuthPrivateKeyJWT:
		errs = append(errs, fmt.Errorf("--auth-method must be client_secret_basic, client_secret_post or private_key_jwt for a %s client (got %q)", c.Type, m))
	case !c.Type.Confidential() && m != store.AuthNone:
		errs = append(errs, fmt.Errorf("a %s client is public: its --auth-method is none (got %q)", c.Type, m))
	}
	if m == store.AuthPrivateKeyJWT {
		if c.JWKS == "" {
			errs = append(errs, errors.New("a private_key_jwt client needs its public keys: --jwks-file FILE"))
		} else if _, err := ParseJWKS([]byte(c.JWKS)); err != nil {
			errs = append(errs, fmt.Errorf("--jwks-file %w", err))
		}
		if c.Secret != "" {
			errs = append(errs, errors.New("a private_key_jwt client has no secret: leave out --secret"))
		}
	} else if c.JWKS != "" {
		errs = append(errs, errors.New("--jwks-file is for private_key_jwt clients only (--auth-method private_key_jwt)"))
	}
	return errs
}

// checkRedirectURI: absolute, no fragment (RFC 6749 §3.1.2); in production https, except
// loopback http and private-use schemes for native apps (RFC 8252 §7).
func checkRedirectURI(raw string, t store.ClientType, production bool) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return errors.New("must be an absolute URI")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("must not contain a fragment")
	}
	if len(raw) > 2000 {
		return errors.New("is too long")
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return errors.New("must have a host")
		}
		return nil
	case "http":
		if u.Host == "" {
			return errors.New("must have a host")
		}
		if !production {
			return nil
		}
		if t == store.ClientNative && isLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("must use https in production (http is allowed only for native apps on a loopback address)")
	default:
		if t == store.ClientNative && strings.Contains(u.Scheme, ".") {
			return nil // private-use scheme such as com.example.app:/callback
		}
		if t == store.ClientNative {
			return errors.New("a native app's custom scheme must be a reverse domain name such as com.example.app")
		}
		return errors.New("must use https (or http in development)")
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Admin performs the operator's actions (CLI, development bootstrap) over the store.
type Admin struct {
	Store      store.Store
	Hasher     *password.Hasher
	Production bool
	MinPassLen int
	Brand      string                 // refused inside passwords
	Breaches   password.BreachChecker // nil: offline password rules only (IDP_BREACH_CHECK)
	Now        func() time.Time
	Rand       io.Reader
}

// CreateClient validates and stores the client. It returns the plaintext secret of a
// confidential client (generated when the spec had none); only its hash is stored.
func (a *Admin) CreateClient(ctx context.Context, spec ClientSpec) (*store.Client, string, error) {
	if err := spec.Validate(a.Production); err != nil {
		return nil, "", err
	}
	secret := spec.Secret
	method := spec.authMethod()
	if (method == store.AuthSecretBasic || method == store.AuthSecretPost) && secret == "" {
		s, err := randomToken(a.Rand, 32)
		if err != nil {
			return nil, "", err
		}
		secret = s
	}
	c := &store.Client{
		ID: spec.ID, Name: spec.Name, Type: spec.Type,
		RedirectURIs: spec.RedirectURIs, PostLogoutRedirectURIs: spec.PostLogoutRedirectURIs,
		AccessTokenJWT: spec.Type == store.ClientService, PKCEExempt: spec.PKCEExempt, CreatedAt: a.Now().UTC(),
		AuthMethod: method, JWKS: spec.JWKS, Scopes: spec.Scopes, HomeURI: spec.HomeURI,
	}
	if spec.Scopes == nil {
		c.Scopes = DefaultScopes(spec.Type)
	}
	if spec.AccessTokenJWT != nil {
		c.AccessTokenJWT = *spec.AccessTokenJWT
	}
	if secret != "" {
		h, err := a.Hasher.Hash(secret)
		if err != nil {
			return nil, "", err
		}
		c.SecretHash = h
	}
	if err := a.Store.CreateClient(ctx, c); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, "", fmt.Errorf("a client with id %q already exists", spec.ID)
		}
		return nil, "", err
	}
	return c, secret, nil
}

// SetClientResources replaces the resources (APIs) the client may get access tokens for, by
// resource id. Unknown ids are named in the error and nothing changes.
func (a *Admin) SetClientResources(ctx context.Context, clientID string, resourceIDs []string) error {
	var unknown []string
	for _, id := range resourceIDs {
		if _, err := a.Store.GetResource(ctx, id); errors.Is(err, store.ErrNotFound) {
			unknown = append(unknown, id)
		} else if err != nil {
			return err
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("no resource with id %s (idp resources list shows them)", strings.Join(unknown, ", "))
	}
	err := a.Store.SetClientResources(ctx, clientID, resourceIDs)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no client %q, or a resource was deleted meanwhile", clientID)
	}
	return err
}

// NewClientSecret generates a secret (256 bits) and its stored hash.
func (a *Admin) NewClientSecret() (secret, hash string, err error) {
	if secret, err = randomToken(a.Rand, 32); err != nil {
		return "", "", err
	}
	if hash, err = a.Hasher.Hash(secret); err != nil {
		return "", "", err
	}
	return secret, hash, nil
}

// EnsureDevClient registers the example dashboard in development, once.
func (a *Admin) EnsureDevClient(ctx context.Context) (created bool, err error) {
	if a.Production {
		return false, errors.New("the development client is never created in production")
	}
	if _, err := a.Store.GetClient(ctx, DevClientID); err == nil {
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	_, _, err = a.CreateClient(ctx, ClientSpec{
		ID: DevClientID, Name: devClientName, Type: store.ClientWeb, Secret: DevClientSecret,
		RedirectURIs:           []string{"http://localhost:5000/callback"},
		PostLogoutRedirectURIs: []string{"http://localhost:5000/"},
	})
	if err != nil && strings.Contains(err.Error(), "already exists") {
		return false, nil // another replica won the race
	}
	return err == nil, err
}

// CheckNoKnownSecrets refuses production while any client holds the development secret.
func (a *Admin) CheckNoKnownSecrets(ctx context.Context) error {
	clients, err := a.Store.ListClients(ctx)
	if err != nil {
		return err
	}
	var bad []string
	for _, c := range clients {
		if c.SecretHash == "" {
			continue
		}
		if ok, _, _ := a.Hasher.Verify(c.SecretHash, DevClientSecret); ok {
			bad = append(bad, c.ID)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fmt.Errorf("refusing to start in production: client(s) %s use the well-known development secret; delete them (idp clients delete ID) or register them again", strings.Join(bad, ", "))
	}
	return nil
}

// CreateUser validates and stores a person's account.
func (a *Admin) CreateUser(ctx context.Context, email, pw string, verified bool) (*store.User, error) {
	email = NormalizeEmail(email)
	var errs []error
	if err := ValidateEmail(email); err != nil {
		errs = append(errs, err)
	}
	if err := a.ValidatePassword(ctx, pw, email); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	h, err := a.Hasher.Hash(pw)
	if err != nil {
		return nil, err
	}
	now := a.Now().UTC()
	u := &store.User{ID: uuid.NewString(), Email: email, PasswordHash: h, EmailVerified: verified, CreatedAt: now, UpdatedAt: now}
	if err := a.Store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("a user with email %s already exists", email)
		}
		return nil, err
	}
	return u, nil
}

// ValidateEmail checks a normalised address: syntax, length and a domain with a dot. Letters of
// any script are allowed (RFC 6531 addresses), but not invalid UTF-8 nor characters that are
// invisible or change how the rest is shown or read: controls (NUL, CR, LF…), format characters
// (zero-width spaces and joiners, bidirectional overrides such as U+202E, the byte-order mark),
// spaces and line or paragraph separators. Such an address could split a mail header, or look
// like another person's in the audit trail and on the operator's screen.
func ValidateEmail(email string) error {
	if email == "" {
		return errors.New("email is required")
	}
	if len(email) > maxEmailLen {
		return fmt.Errorf("email must be at most %d characters", maxEmailLen)
	}
	if !utf8.ValidString(email) || strings.IndexFunc(email, invisibleRune) >= 0 {
		return errors.New("email is not a valid address (name@example.com)")
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || len(local) > 64 || strings.ContainsAny(email, " \t\r\n<>()[],;:\"\\") ||
		strings.Count(email, "@") != 1 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") ||
		strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return errors.New("email is not a valid address (name@example.com)")
	}
	return nil
}

// invisibleRune reports whether r is a control, format, space or separator character, or the
// replacement character that stands for invalid UTF-8.
func invisibleRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) ||
		unicode.In(r, unicode.Zl, unicode.Zp, unicode.Zs) || r == utf8.RuneError
}

// ValidatePassword applies the same policy as the signup page (password.Policy), breach check
// included when Breaches is set.
func (a *Admin) ValidatePassword(ctx context.Context, pw, email string) error {
	p := password.Policy{MinLength: a.MinPassLen, MaxLength: maxPasswordLen, Brand: a.Brand, Breaches: a.Breaches}
	vs, err := p.Check(ctx, pw, email)
	errs := []error{err}
	for _, v := range vs {
		errs = append(errs, errors.New("password: "+v.Message))
	}
	return errors.Join(errs...)
}
