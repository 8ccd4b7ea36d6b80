package idp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/fintech-idp/idp/internal/tracing"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/fintech-idp/idp/internal/mail"
	"github.com/fintech-idp/idp/internal/metrics"
	"github.com/fintech-idp/idp/internal/password"
	"github.com/fintech-idp/idp/internal/secrets"
	"github.com/fintech-idp/idp/internal/store"
	"github.com/fintech-idp/idp/ui"
)

// Options configure a Server. Store, Keyring, Hasher and Issuer are required.
type Options struct {
	Issuer      string
	Development bool // IDP_ENV=development: http issuer allowed, unprefixed non-Secure cookies
	Lifetimes   Lifetimes
	BrandName   string
	BrandColor  string
	// BrandLogo is IDP_BRAND_LOGO: an https URL or an image file, shown on every page and email.
	BrandLogo string
	// TemplatesDir is IDP_TEMPLATES_DIR: page and email templates that replace the built-in ones
	// by name (checked at start).
	TemplatesDir string
	Limits       Limits
	// Metrics receives the counters /metrics exposes (nil = none).
	Metrics *metrics.Metrics
	// TrustedProxies: X-Forwarded-For is believed only from these (IDP_TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
	Policy         password.Policy
	Mail           mail.Sender     // where codes and notices go
	MailTmpl       *mail.Templates // nil = built from BrandName
	Outbox         *mail.Log       // development only: served at /dev/outbox when set
	MFA            MFA             // the SMS second factor (zero: not offered)
	Store          store.Store
	Keyring        *secrets.Keyring
	Hasher         *password.Hasher
	Logger         *slog.Logger
	Now            func() time.Time // nil = time.Now
	Rand           io.Reader        // nil = crypto/rand
}

// Server is the OpenID Provider with its hosted pages, as one http.Handler.
type Server struct {
	opts     Options
	st       store.Store
	keys     *Keys
	storage  *opStorage
	provider *op.Provider
	pages    *ui.Pages
	logo     *logo // IDP_BRAND_LOGO, or nil
	hasher   *password.Hasher
	log      *slog.Logger
	now      func() time.Time
	rand     io.Reader
	audit    *auditor
	codes    *codes
	metrics  *metrics.Metrics
	throttle *throttle
	// clientLimiter counts failed client authentications (clientauth.go).
	clientLimiter *clientAuthLimiter
	sms           *smsFactor
	sealer        sealer
	policy        password.Policy
	limits        Limits
	cookies       cookieNames
	handler       http.Handler
	router        http.Handler // the chi router inside handler (for the language switch's route lookup)

	draining atomic.Bool

	corsMu      sync.Mutex
	corsOrigins map[string]bool
	corsLoaded  time.Time
}

// New builds the provider. It creates the first signing key when the store has none.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.Store == nil || o.Keyring == nil || o.Hasher == nil || o.Issuer == "" || o.Mail == nil {
		return nil, errors.New("idp: Store, Keyring, Hasher, Mail and Issuer are required")
	}
	if o.Outbox != nil && !o.Development {
		return nil, errors.New("idp: the development outbox is never served in production")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	now := func() time.Time { return o.Now().UTC() }
	pages, err := ui.ParseWith(o.TemplatesDir)
	if err != nil {
		return nil, err
	}
	brandLogo, err := loadLogo(o.BrandLogo, o.Development)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts: o, st: o.Store, pages: pages, hasher: o.Hasher, log: o.Logger, now: now, rand: o.Rand,
		cookies: newCookieNames(o.Development), logo: brandLogo,
	}
	s.audit = &auditor{st: o.Store, logger: o.Logger, now: now}
	s.policy, s.limits = o.Policy, o.Limits
	if s.policy.Brand == "" {
		s.policy.Brand = o.BrandName
	}
	tmpl := o.MailTmpl
	if tmpl == nil {
		if tmpl, err = mail.NewBrandedTemplates(mail.Branding{Name: o.BrandName, LogoURL: LogoEmailURL(o.BrandLogo, o.Issuer),
			OverrideDir: o.TemplatesDir}); err != nil {
			return nil, err
		}
	}
	s.metrics = o.Metrics
	s.codes = &codes{st: o.Store, mail: o.Mail, tmpl: tmpl, key: derivedKey(o.Keyring, "email-code"), limits: o.Limits,
		now: now, rand: o.Rand, audit: s.audit, metrics: o.Metrics}
	s.throttle = &throttle{st: o.Store, limits: o.Limits, now: now}
	s.clientLimiter = &clientAuthLimiter{st: o.Store, limits: o.Limits, now: now, metrics: o.Metrics}
	mfa := o.MFA.withDefaults()
	if mfa.Brand == "" {
		mfa.Brand = o.BrandName
	}
	if mfa.SMSOutbox != nil && !o.Development {
		return nil, errors.New("idp: the development SMS outbox is never served in production")
	}
	s.sms = &smsFactor{s: s, cfg: mfa}
	s.sealer = sealer{kr: o.Keyring, now: now}
	// A rotated key stays published as long as a token it signed can live.
	retention := max(o.Lifetimes.IDToken, o.Lifetimes.AccessToken) + time.Hour
	s.keys = NewKeys(o.Store, o.Keyring, o.Rand, now, retention)
	if err := s.keys.Ensure(ctx); err != nil {
		return nil, err
	}
	// A server that cannot sign would start but never turn ready: refuse with the reason instead.
	if _, err := s.keys.Active(ctx); err != nil {
		return nil, fmt.Errorf("idp: the active signing key cannot be used: %w; if SECRET_KEY was changed, set the old value as SECRET_KEY_PREVIOUS (then run `idp keys reencrypt`), or, when it is lost, run `idp keys rotate` to make a new key", err)
	}
	s.storage = &opStorage{
		st: o.Store, keys: s.keys, secrets: newClientSecrets(o.Hasher, now), life: o.Lifetimes,
		issuer: o.Issuer, now: now, rand: o.Rand, log: o.Logger, audit: s.audit, devMode: o.Development,
		urlSigner: signer{key: derivedKey(o.Keyring, "url-signing"), now: now},
	}
	cryptoKey := o.Keyring.DeriveKey("op-crypto")
	provOpts := []op.Option{
		op.WithCrypto(&tokenCrypto{aes: op.NewAES256GCMCrypto(cryptoKey, "k1"), storage: s.storage}),
		op.WithCORSOptions(&cors.Options{
			// CORS only for the origins of registered spa redirect URIs, never every origin,
			// and never with credentials: public clients send no cookies to the token endpoint.
			AllowOriginFunc:  s.corsAllowed,
			AllowedMethods:   []string{http.MethodGet, http.MethodPost},
			AllowedHeaders:   []string{"Authorization", "Content-Type", "Accept"},
			AllowCredentials: false,
			MaxAge:           600,
		}),
	}
	if strings.HasPrefix(o.Issuer, "http://") {
		if !o.Development {
			return nil, errors.New("idp: an http issuer is only allowed in development")
		}
		provOpts = append(provOpts, op.WithAllowInsecure())
	}
	s.provider, err = op.NewProvider(&op.Config{
		CryptoKey:                cryptoKey,
		CryptoKeyId:              "k1",
		DefaultLogoutRedirectURI: o.Issuer + loggedOutPath,
		CodeMethodS256:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.English},
		SupportedClaims:          supportedClaims,
		SupportedScopes:          supportedScopes,
	}, s.storage, op.StaticIssuer(o.Issuer), provOpts...)
	if err != nil {
		return nil, fmt.Errorf("idp: create provider: %w", err)
	}
	s.handler = s.routes()
	return s, nil
}

// derivedKey turns the keyring's per-purpose key into a byte slice.
func derivedKey(kr *secrets.Keyring, purpose string) []byte {
	k := kr.DeriveKey(purpose)
	return k[:]
}

// Handler is the whole public HTTP surface.
func (s *Server) Handler() http.Handler { return s.handler }

// Keys exposes the signing key manager (for the CLI).
func (s *Server) Keys() *Keys { return s.keys }

const (
	loggedOutPath = "/logged-out"
	logoutPath    = "/logout"
)

func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	s.router = r
	r.Use(s.requestContext, s.securityHeaders, tracing.Middleware(metrics.RoutePattern), s.metrics.Middleware,
		s.limitBody, s.addIss, s.language)
	issuerCtx := op.NewIssuerInterceptor(s.provider.IssuerFromRequest)
	csrf := http.NewCrossOriginProtection()
	// A request without Sec-Fetch-Site is judged by Origin against Host. Behind a proxy that
	// rewrites Host, the public origin (the issuer's) would no longer match: it is ours whatever
	// Host says.
	if u, err := url.Parse(s.opts.Issuer); err == nil {
		if err := csrf.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			s.log.Error("cross-origin protection: the issuer's origin", "error", err)
		}
	}
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusForbidden, msgCrossOrigin)
	}))

	r.Get("/.well-known/openid-configuration", issuerCtx.HandlerFunc(s.handleDiscovery))
	r.Get("/healthz", s.handleHealthz)
	r.Get("/readyz", s.handleReadyz)
	r.Handle("/static/*", http.StripPrefix("/static/", staticHandler()))
	r.Get(brandLogoPath, s.handleBrandLogo)

	// Protocol endpoints a browser visits: errors become our page, never raw text.
	r.With(noCORS, s.singleParams, s.authorizeChecks, s.browserErrors, s.bindBrowser, s.rememberApp).Handle("/authorize", s.provider)
	r.With(noCORS, s.singleParams, s.checkBrowserBinding, s.offlineConsent, s.browserErrors).Handle("/authorize/callback", s.provider)
	r.With(noCORS, s.singleParams, s.browserErrors).Handle("/end_session", s.provider)
	// Back-channel endpoints: JSON errors with fixed text, never cached.
	r.With(noStore, formOnly, s.countGrants, tokenChecks, s.clientAuth, s.apiErrors).Handle("/oauth/token", s.provider)
	r.With(noStore, formOnly, s.clientAuth, s.apiErrors).Handle("/oauth/introspect", s.provider)
	r.With(noStore, formOnly, s.clientAuth, s.apiErrors).Handle("/revoke", s.provider)
	r.With(noStore, noQueryToken, s.userinfoErrors).Handle("/userinfo", s.provider)
	r.Handle("/keys", s.provider)

	// Hosted pages. Cross-origin form posts are refused here only (the protocol endpoints follow
	// the OIDC rules).
	r.Group(func(r chi.Router) {
		r.Use(csrf.Handler, s.pageQuery)
		r.Get(loginPath, s.handleLoginPage)
		r.Post(loginPath, s.handleLoginSubmit)
		r.Get(logoutPath, s.handleLogoutPage)
		r.Post(logoutPath, s.handleLogoutSubmit)
		r.Get(loggedOutPath, s.handleLoggedOut)

		r.Get(signupPath, s.handleSignupPage)
		r.Post(signupPath, s.handleSignupSubmit)
		r.Get(verifyPath, s.handleVerifyPage)
		r.Post(verifyPath, s.handleVerifySubmit)
		r.Post(resendPath, s.handleVerifyResend)
		r.Get(resetPath, s.handleResetPage)
		r.Post(resetPath, s.handleResetSubmit)
		r.Get(resetVerifyPath, s.handleResetVerifyPage)
		r.Post(resetVerifyPath, s.handleResetVerifySubmit)
		r.Post(resetResendPath, s.handleResetResend)
		r.Post(resetPasswordPath, s.handleResetPasswordSubmit)

		r.With(s.rememberApp).Get(accountPath, s.handleAccount)
		r.Post(accountPasswordPath, s.handleAccountPassword)
		r.Post(accountRevokePath, s.handleAccountRevoke)
		r.Post(accountRevokeAllPath, s.handleAccountRevokeAll)
		r.Post(accountAppsRevokePath, s.handleAccountAppsRevoke)
		r.Get(consentPath, s.handleConsentPage)
		r.Post(consentPath, s.handleConsentSubmit)
		r.Post(revokeOthersPath, s.handleRevokeOthers)

		r.Get(mfaPath, s.handleMFAPage)
		r.Post(mfaPath, s.handleMFASubmit)
		r.Post(mfaResendPath, s.handleMFAResend)
		r.Post(mfaCallPath, s.handleMFACall)
		r.Get(mfaRecoveryPath, s.handleRecoveryPage)
		r.Post(mfaRecoveryPath, s.handleRecoverySubmit)
		r.Get(enrolPath, s.handleEnrolPage)
		r.Post(enrolPath, s.handleEnrolSubmit)
		r.Post(enrolDeclinePath, s.handleEnrolDecline)
		r.Post(mfaOffPath, s.handleAccountFactor(modeOff))
		r.Post(mfaChangePath, s.handleAccountFactor(modeChange))
		r.Post(mfaCodesPath, s.handleAccountFactor(modeCodes))
		if s.opts.Outbox != nil || s.sms.cfg.SMSOutbox != nil {
			r.Get("/dev/outbox", s.handleOutbox)
		}
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusNotFound, msgNotFound)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusMethodNotAllowed, msgMethod)
	})
	return r
}

func staticHandler() http.Handler {
	fs := http.FileServerFS(ui.Static())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fs.ServeHTTP(w, r)
	})
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok\n")
}

// Drain makes /readyz answer 503 from now on: the process is shutting down, so load balancers
// should stop sending new requests while the ones already sent are served.
func (s *Server) Drain() { s.draining.Store(true) }

// handleReadyz: not draining, the database answers and a signing key can be loaded.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "shutting down\n")
		return
	}
	if err := s.st.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness: database", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "database unavailable\n")
		return
	}
	if _, err := s.keys.Active(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness: signing key", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "signing key unavailable\n")
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}

// corsAllowed answers whether origin is the origin of a registered spa redirect URI. The set is
// cached for a minute: preflights must not each query the database.
func (s *Server) corsAllowed(origin string) bool {
	s.corsMu.Lock()
	defer s.corsMu.Unlock()
	if s.corsOrigins == nil || s.now().Sub(s.corsLoaded) > time.Minute {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		clients, err := s.st.ListClients(ctx)
		if err != nil {
			s.log.Error("cors: list clients", "error", err)
			return false
		}
		set := make(map[string]bool)
		for _, c := range clients {
			if c.Type != store.ClientSPA {
				continue
			}
			for _, o := range originsOf(c.RedirectURIs) {
				set[o] = true
			}
		}
		s.corsOrigins, s.corsLoaded = set, s.now()
	}
	return s.corsOrigins[origin]
}

// callbackURL is where a completed auth request goes back into the library.
func (s *Server) callbackURL(id string) string {
	return s.opts.Issuer + "/authorize/callback?id=" + url.QueryEscape(id)
}
