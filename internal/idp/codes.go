package idp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/fintech-idp/idp/internal/i18n"
	"io"
	"math/big"
	"time"

	"github.com/google/uuid"

	"github.com/fintech-idp/idp/internal/mail"
	"github.com/fintech-idp/idp/internal/metrics"
	"github.com/fintech-idp/idp/internal/secrets"
	"github.com/fintech-idp/idp/internal/store"
)

// Limits are the abuse limits of the hosted pages (all settings, see README).
type Limits struct {
	EmailCodeTTL          time.Duration
	EmailCodeMaxAttempts  int
	EmailResendCooldown   time.Duration
	EmailSendLimitAccount int // per hour
	EmailSendLimitIP      int // per hour
	LoginDelayAfter       int
	LoginLockAfter        int
	LoginLockDuration     time.Duration
	// Failed client authentications per client id and per client IP in ClientAuthWindow before
	// the token, introspection and revocation endpoints answer 429 (zero: 20, 100 and 10m).
	ClientAuthFailures   int
	ClientAuthFailuresIP int
	ClientAuthWindow     time.Duration
}

// Errors of the code service; the pages turn each into a fixed sentence.
var (
	errSendFailed = errors.New("email could not be sent")
)

// limitedError says when the person may try again.
type limitedError struct {
	retryAfter time.Duration
	kind       string // metrics: email_cooldown or email_send
}

func (e *limitedError) Error() string { return fmt.Sprintf("limited for %s", e.retryAfter) }

// codes issues and checks the 6-digit email codes (docs/ARCHITECTURE.md, "Rules that hold everywhere"): crypto/rand, stored
// as a keyed hash, short TTL, counted tries, resend voids the previous code, cooldown and send
// limits per account and IP held in the store so they hold across replicas.
type codes struct {
	st      store.Store
	mail    mail.Sender
	tmpl    *mail.Templates
	key     []byte // HMAC key for code hashes, derived from SECRET_KEY
	limits  Limits
	now     func() time.Time
	rand    io.Reader
	audit   *auditor
	metrics *metrics.Metrics
}

// hash binds the code to its user, purpose and code id: a 6-digit code has little entropy, so
// without the key (derived from SECRET_KEY, not in the database) a stolen table cannot be
// brute-forced offline. The code id comes from the page's sealed handle, so a code only works on
// the page of the signup (or reset) it was sent for: when someone else's later signup for the same
// email replaced it, the code of that other signup does not match here, and its password can
// never be set through this page.
func (c *codes) hash(userID, purpose, codeID, code string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(userID + "\x00" + purpose + "\x00" + codeID + "\x00" + code))
	return hex.EncodeToString(m.Sum(nil))
}

func (c *codes) generate() (string, error) {
	r := c.rand
	if r == nil {
		r = rand.Reader
	}
	n, err := rand.Int(r, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// reserveSend applies the resend cooldown and the hourly send limits before anything else
// happens (a password hashed, a row written, an email sent), counting this send. Every counter
// is keyed by the address, never by an account, so that an address nobody signed up with goes
// through the same bookkeeping and gets the same answers as one that has an account. The
// cooldown is reserved in one statement (Store.ReserveAttempt); the hourly limits count and
// decide in one upsert (Store.HitCounter).
func (c *codes) reserveSend(ctx context.Context, email, purpose, ip string) error {
	now := c.now()
	err := c.reserve(ctx, email, purpose, ip, now)
	var lim *limitedError
	if errors.As(err, &lim) {
		c.metrics.CodeSent("email", "limited")
		c.metrics.RateLimited(lim.kind)
	}
	return err
}

// unreserve gives the cooldown back when nothing was sent after all (the server was busy).
func (c *codes) unreserve(ctx context.Context, email, purpose string) {
	if err := c.st.ResetCounter(context.WithoutCancel(ctx), cooldownKey(email, purpose)); err != nil {
		c.audit.logger.WarnContext(ctx, "give back send cooldown", "error", err)
	}
}

func cooldownKey(email, purpose string) string { return "mail:cool:" + purpose + ":" + emailKey(email) }

func (c *codes) reserve(ctx context.Context, email, purpose, ip string, now time.Time) error {
	cool := c.limits.EmailResendCooldown
	if cool > 0 {
		res, err := c.st.ReserveAttempt(ctx, cooldownKey(email, purpose), store.AttemptRule{Window: cool, LockAfter: 1, Lock: cool}, now)
		if err != nil {
			return err
		}
		if !res.Allowed {
			return &limitedError{retryAfter: res.RetryAt.Sub(now), kind: "email_cooldown"}
		}
	}
	for _, lim := range []struct {
		key   string
		limit int
	}{{"mail:addr:" + emailKey(email), c.limits.EmailSendLimitAccount}, {"mail:ip:" + ip, c.limits.EmailSendLimitIP}} {
		ctr, err := c.st.HitCounter(ctx, lim.key, time.Hour, now)
		if err != nil {
			return err
		}
		if ctr.Count > lim.limit {
			return &limitedError{retryAfter: ctr.WindowStart.Add(time.Hour).Sub(now), kind: "email_send"}
		}
	}
	return nil
}

// send reserves and emails a fresh code for (user, purpose), carrying pendingHash for a signup,
// and stores it (voiding the previous one).
func (c *codes) send(ctx context.Context, u *store.User, purpose, pendingHash, ip string) (codeID string, err error) {
	if err := c.reserveSend(ctx, u.Email, purpose, ip); err != nil {
		return "", err
	}
	id := uuid.NewString()
	return id, c.sendReserved(ctx, u, purpose, pendingHash, id)
}

// sendReserved sends a code whose send reserveSend has allowed, with the code id chosen by the
// caller (the reset page seals it into its handle before the email goes out in the background).
// The email goes first: when it fails nothing is stored and the cooldown is given back, so the
// person can ask again at once.
func (c *codes) sendReserved(ctx context.Context, u *store.User, purpose, pendingHash, id string) error {
	code, err := c.generate()
	if err != nil {
		return err
	}
	kind := mail.KindVerifyCode
	if purpose == store.PurposeReset {
		kind = mail.KindResetCode
	}
	minutes := int(c.limits.EmailCodeTTL / time.Minute)
	if err := c.deliver(ctx, u.Email, kind, id, map[string]any{"Code": code, "MinutesValid": minutes}); err != nil {
		c.metrics.CodeSent("email", "failed")
		if rerr := c.st.ResetCounter(context.WithoutCancel(ctx), cooldownKey(u.Email, purpose)); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	c.metrics.CodeSent("email", "sent")
	now := c.now()
	rec := &store.EmailCode{ID: id, UserID: u.ID, Purpose: purpose, CodeHash: c.hash(u.ID, purpose, id, code),
		PendingPasswordHash: pendingHash, CreatedAt: now, ExpiresAt: now.Add(c.limits.EmailCodeTTL)}
	if err := c.st.CreateEmailCode(ctx, rec); err != nil {
		return err
	}
	c.audit.log(ctx, "code.sent", u.ID, "", map[string]string{"purpose": purpose, "channel": "email"})
	return nil
}

// deliver renders and sends one message; idempotencyKey makes retries safe (Brevo).
func (c *codes) deliver(ctx context.Context, to string, kind mail.Kind, idempotencyKey string, data any) error {
	// In the language of the page the person is on (the request's; English without one).
	subject, text, html, err := c.tmpl.RenderLang(i18n.FromContext(ctx), kind, data)
	if err != nil {
		return err
	}
	err = c.mail.Send(ctx, mail.Message{To: to, Subject: subject, Text: text, HTML: html, Tags: []string{string(kind)}, IdempotencyKey: idempotencyKey})
	if err != nil {
		return fmt.Errorf("%w: %w", errSendFailed, err)
	}
	return nil
}

// notify sends a notice (no code) and only logs a failure: the action already happened.
func (c *codes) notify(ctx context.Context, to string, kind mail.Kind, data any) {
	if err := c.deliver(context.WithoutCancel(ctx), to, kind, uuid.NewString(), data); err != nil {
		c.audit.logger.WarnContext(ctx, "notification email failed", "kind", string(kind), "error", err)
	}
}

// handle is the opaque, sealed reference a code page carries between requests: which code of
// which user, for which sign-in. Sealing (not just signing) keeps user ids and the existence of
// an account out of the page; unknown emails get random ids of the same length.
type handle struct {
	UserID        string `json:"u"`
	Email         string `json:"m"`
	CodeID        string `json:"c"`
	Purpose       string `json:"p"`
	AuthRequestID string `json:"a"`
	Expires       int64  `json:"e"`
	// Second-factor pages only: what the factor is for (an mfaMode) and the hash of the browser
	// binding cookie, so that a handle copied out of one browser is useless in another.
	Mode    string `json:"o,omitempty"`
	Browser string `json:"b,omitempty"`
	// Second-factor pages only: a fingerprint of the password hash and the user's session epoch
	// when the handle was first issued. A password change or reset, or signing out everywhere,
	// moves one of them on, and the handle is dead (checked again before a factor counts).
	Password string `json:"w,omitempty"`
	Epoch    int64  `json:"s,omitempty"`
	// Enrolment handles only: the sign-in it belongs to proved the inbox with a fresh email code.
	EmailProved bool `json:"v,omitempty"`
}

type sealer struct {
	kr  *secrets.Keyring
	now func() time.Time
}

const sealPurposeHandle = "page-handle"

func (s sealer) seal(h handle) (string, error) {
	b, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	sealed, err := s.kr.Seal(sealPurposeHandle, b)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

var errBadHandle = errors.New("invalid or expired page handle")

func (s sealer) open(v string) (handle, error) {
	var h handle
	if v == "" || len(v) > 4096 {
		return h, errBadHandle
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return h, errBadHandle
	}
	plain, err := s.kr.Open(sealPurposeHandle, b)
	if err != nil || json.Unmarshal(plain, &h) != nil || s.now().Unix() > h.Expires {
		return handle{}, errBadHandle
	}
	return h, nil
}
