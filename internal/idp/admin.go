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
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/fintech-idp/idp/internal/password"
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
}

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// minProductionSecretLen: an operator-chosen secret must be as strong as a generated one.
const minProductionSecretLen = 32

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
	if c.Secret != "" && !c.Type.Confidential() && c.Type.Valid() {
		errs = append(errs, fmt.Errorf("a %s client is public: it cannot have a --secret", c.Type))
	}
	if c.Secret != "" && production && len(c.Secret) < minProductionSecretLen {
		errs = append(errs, fmt.Errorf("--secret must be at least %d characters in production (leave it out to generate one)", minProductionSecretLen))
	}
	if c.Secret == DevClientSecret && production {
		errs = append(errs, errors.New("--secret must not be the well-known development secret"))
	}
	if len(c.Secret) > 256 {
		errs = append(errs, errors.New("--secret must be at most 256 characters"))
	}
	if c.PKCEExempt && !c.Type.Confidential() {
		errs = append(errs, errors.New("only confidential (web) clients may be exempted from PKCE"))
	}
	return errors.Join(errs...)
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
	if spec.Type.Confidential() && secret == "" {
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

// ValidateEmail checks a normalised address: syntax, length and a domain with a dot.
func ValidateEmail(email string) error {
	if email == "" {
		return errors.New("email is required")
	}
	if len(email) > maxEmailLen {
		return fmt.Errorf("email must be at most %d characters", maxEmailLen)
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || len(local) > 64 || strings.ContainsAny(email, " \t\r\n<>()[],;:\"\\") ||
		strings.Count(email, "@") != 1 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") ||
		strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return errors.New("email is not a valid address (name@example.com)")
	}
	return nil
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
