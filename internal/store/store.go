package store

import (
	"context"
	"errors"
	"time"
)

// Errors every implementation translates its driver errors into. Callers branch on these with
// errors.Is; driver types never leave this package.
var (
	// ErrNotFound: no row matched (or the row exists but has expired where the method says so).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a unique constraint was violated (duplicate email, client id, ...).
	ErrConflict = errors.New("store: conflict")
	// ErrCodeReplayed: an authorization code was presented after it had already been redeemed
	// (RFC 6749 §4.1.2). The tokens issued from it have been revoked by the time this is returned.
	ErrCodeReplayed = errors.New("store: authorization code already used")
	// ErrRefreshReused: a refresh token that was already rotated (or revoked, or expired) was
	// presented. When it was a rotated one the whole family has been revoked by the time this is
	// returned (RFC 9700 §4.14.2).
	ErrRefreshReused = errors.New("store: refresh token reused or invalid")
	// ErrCodeMismatch: CheckEmailCode was given the wrong code. The attempt was counted.
	ErrCodeMismatch = errors.New("store: wrong code")
	// ErrTooManyAttempts: the live email code has had its maximum of attempts. It is dead; only a
	// new code (CreateEmailCode) lets the person try again.
	ErrTooManyAttempts = errors.New("store: too many attempts")
)

// ClientType is the kind of relying party. It decides the authentication method and the grants.
type ClientType string

const (
	ClientWeb     ClientType = "web"     // confidential, code flow, client_secret_basic
	ClientSPA     ClientType = "spa"     // public, code flow + PKCE, CORS for its origins
	ClientNative  ClientType = "native"  // public, code flow + PKCE, loopback/custom schemes
	ClientService ClientType = "service" // confidential, client_credentials only
)

// Valid reports whether t is one of the four known types.
func (t ClientType) Valid() bool {
	switch t {
	case ClientWeb, ClientSPA, ClientNative, ClientService:
		return true
	}
	return false
}

// Confidential reports whether the client holds a secret.
func (t ClientType) Confidential() bool { return t == ClientWeb || t == ClientService }

// Token endpoint authentication methods (OAuth 2.0 Dynamic Client Registration, RFC 7591 §2): a
// client is registered with one, and every other method is refused for it.
const (
	AuthSecretBasic   = "client_secret_basic" // HTTP Basic with the client secret (RFC 6749 §2.3.1)
	AuthSecretPost    = "client_secret_post"  // client_id and client_secret in the form body
	AuthPrivateKeyJWT = "private_key_jwt"     // a JWT signed with the client's key (RFC 7523 §2.2)
	AuthNone          = "none"                // public clients: PKCE instead of a secret
)

// User is a person with an account.
type User struct {
	ID            string // uuid
	Email         string // case-folded, unique
	PasswordHash  string // PHC string (argon2id)
	EmailVerified bool
	PhoneE164     string // empty when none
	MFAEnabled    bool
	Disabled      bool
	// PasswordEpoch counts password changes and resets (ChangePassword), not rehashes. A session
	// records the epoch it was authenticated under; nothing is issued from a session of an
	// older epoch.
	PasswordEpoch int64
	// SessionEpoch counts the times every session of the user was ended at once
	// (RevokeUserSessions, ChangePassword, SetUserDisabled when disabling). Page handles carry the
	// epoch they were issued under; CreateUser ignores it (a new user starts at 0).
	SessionEpoch int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Client is a registered relying party.
type Client struct {
	ID                     string
	Name                   string
	Type                   ClientType
	SecretHash             string // PHC string; empty for public clients
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	AccessTokenJWT         bool // JWT (at+jwt) access tokens instead of opaque ones
	PKCEExempt             bool // a confidential client allowed to omit PKCE (off by default)
	CreatedAt              time.Time
	// AuthMethod is the registered token_endpoint_auth_method (one of the Auth constants).
	AuthMethod string
	// JWKS is the JSON Web Key Set (public keys) a private_key_jwt client signs its assertions
	// with; empty otherwise.
	JWKS string
	// Scopes are the scopes the client may ask for; anything else is refused (RFC 6749 §5.2).
	Scopes []string
	// HomeURI is the app's home page, where the account page sends a person back; empty for
	// none registered.
	HomeURI string
}

// Resource is a resource server (an API) that access tokens can be meant for (RFC 8707).
type Resource struct {
	ID       string
	Audience string   // the aud of tokens for it: an absolute URI, unique
	Scopes   []string // the scopes that may be granted for it
	// ClientID is the client the resource server authenticates as at the introspection
	// endpoint; "" when none (it then cannot introspect).
	ClientID  string
	CreatedAt time.Time
}

// SigningKey is an RS256 key pair. The private part is stored encrypted by the caller; the store
// never sees it in the clear.
type SigningKey struct {
	ID         string // kid
	Algorithm  string // "RS256"
	PrivateEnc []byte // encrypted PKCS#8 DER
	PublicJWK  []byte // JSON of the public JWK
	CreatedAt  time.Time
	// RotatedAt is set when a newer key took over signing; the key stays published in the JWKS
	// until tokens it signed have expired.
	RotatedAt *time.Time
}

// AuthRequest is an OpenID Connect authorization request while the person signs in.
type AuthRequest struct {
	ID                  string
	ClientID            string
	RedirectURI         string
	Scopes              []string
	State               string
	Nonce               string
	ResponseType        string
	ResponseMode        string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	MaxAge              *int64 // seconds; nil when not requested
	LoginHint           string
	HintSubject         string // subject of a verified id_token_hint, if one was sent
	ACRValues           []string
	UILocales           []string
	BrowserHash         string // hash of the per-browser binding cookie that started the request
	CreatedAt           time.Time
	ExpiresAt           time.Time

	// Set when the person has authenticated.
	Subject   string
	AuthTime  time.Time
	AMR       []string
	ACR       string
	SessionID string
	Done      bool

	// CodeHash is set by GetAuthRequestByCode: the hash of the code it was loaded by.
	CodeHash string
}

// AuthCode is the single-use authorization code issued for an auth request. After redemption the
// row stays as a tombstone until it expires, so that a replay is recognised.
type AuthCode struct {
	Hash          string
	AuthRequestID string
	ClientID      string
	Subject       string
	ExpiresAt     time.Time
	UsedAt        *time.Time
}

// AccessToken is the record behind an issued access token (opaque or JWT: the JWT's jti is ID).
type AccessToken struct {
	ID             string
	ClientID       string
	Subject        string // the user id; the client id for client_credentials
	Audience       []string
	Scopes         []string
	AuthTime       time.Time // zero for client_credentials
	AMR            []string
	ACR            string
	CreatedAt      time.Time
	ExpiresAt      time.Time
	RevokedAt      *time.Time
	RefreshTokenID string // the refresh token issued with it, if any
	FamilyID       string // refresh token family, if any
	CodeHash       string // the authorization code it came from, if any
	SessionID      string // the SSO session it was issued under, if any
}

// RefreshToken is one member of a rotation family. Only its hash is stored.
type RefreshToken struct {
	ID              string
	Hash            string
	FamilyID        string
	ClientID        string
	Subject         string
	Audience        []string
	Scopes          []string
	AuthTime        time.Time
	AMR             []string
	ACR             string
	CreatedAt       time.Time
	ExpiresAt       time.Time // idle expiry of this token (never after FamilyExpiresAt)
	FamilyExpiresAt time.Time // absolute expiry, from the original auth_time
	UsedAt          *time.Time
	RevokedAt       *time.Time
	CodeHash        string
	SessionID       string // the SSO session the family started in, if any
}

// Session is a browser's single sign-on session. Only the hash of its cookie value is stored.
type Session struct {
	ID         string
	TokenHash  string
	UserID     string
	AuthTime   time.Time
	AMR        []string
	ACR        string
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute expiry
	RevokedAt  *time.Time
	// PasswordEpoch is the user's PasswordEpoch when the session was authenticated (the caller
	// sets it from the user record it checked the password against).
	PasswordEpoch int64
}

// OfflineConsent is a person's remembered permission for a public client to stay signed in
// (be granted offline_access, when the client is allowed that scope).
type OfflineConsent struct {
	UserID    string
	ClientID  string
	CreatedAt time.Time
}

// Purposes of an email code.
const (
	PurposeVerify = "verify" // the signup code: proves the address and sets the pending password
	PurposeReset  = "reset"  // the password reset code
)

// EmailCode is a 6-digit code sent by email, stored as a keyed hash (the caller computes it). A
// code is live while it is unconsumed, unexpired and has had fewer attempts than the caller's
// maximum; at most one code per user and purpose is unconsumed.
type EmailCode struct {
	ID       string
	UserID   string
	Purpose  string // PurposeVerify or PurposeReset
	CodeHash string
	// PendingPasswordHash (signup only) is the password that takes effect when THIS code is
	// entered, so that a signup for an address its owner never confirmed sets no password.
	PendingPasswordHash string
	CreatedAt           time.Time // doubles as the time it was sent (resend cooldown)
	ExpiresAt           time.Time
	Attempts            int
	ConsumedAt          *time.Time // set when entered correctly or voided by a newer code
}

// Purposes of an SMS challenge.
const (
	SMSPurposeLogin   = "login"   // the second factor of a sign-in
	SMSPurposeEnrol   = "enrol"   // proving a number before two-step is turned on
	SMSPurposeStepUp  = "stepup"  // acr_values=mfa inside a password-only session
	SMSPurposeReset   = "reset"   // a password reset of a user with two-step on
	SMSPurposeDisable = "disable" // turning two-step off or changing the number
)

// Channels of an SMS challenge.
const (
	SMSChannelSMS   = "sms"
	SMSChannelVoice = "voice" // after "call me instead" (Vonage next_workflow)
)

// Reasons an SMS challenge ended.
const (
	SMSEndSuccess   = "success"
	SMSEndCancelled = "cancelled"
	SMSEndExpired   = "expired"
	SMSEndTooMany   = "too_many"
	SMSEndReplaced  = "replaced" // a newer challenge of the same user and purpose took over
)

// SMSChallenge is a running second-factor (or enrolment) verification through Vonage Verify. The
// Vonage request_id is kept ONLY while the challenge runs: every way a challenge ends clears it. A
// challenge runs while EndedAt is nil; at most one challenge per user and purpose runs.
type SMSChallenge struct {
	ID            string
	UserID        string
	Purpose       string // one of the SMSPurpose constants
	PhoneE164     string // the number being verified (enrolment: not yet the user's)
	RequestID     string // Vonage request_id; "" once ended
	Channel       string // SMSChannelSMS or SMSChannelVoice
	AuthRequestID string // the sign-in it belongs to, if any
	Attempts      int
	CreatedAt     time.Time
	ExpiresAt     time.Time
	EndedAt       *time.Time
	EndReason     string // one of the SMSEnd constants; "" while running
}

// RecoveryCode is one unused one-time recovery code of a user, stored as a salted slow hash that
// the caller computes (and compares: the store cannot look a code up by its hash).
type RecoveryCode struct {
	ID        string
	Hash      string
	CreatedAt time.Time
}

// SMSChallengeRetention is how long DeleteExpired keeps an ended SMS challenge (for support and
// the send limits' questions about recent challenges).
const SMSChallengeRetention = 24 * time.Hour

// Counter is a fixed-window counter shared by every replica (send limits, login throttling).
type Counter struct {
	Key         string
	Count       int // hits since WindowStart
	WindowStart time.Time
	UpdatedAt   time.Time // the last hit
}

// AttemptRule says when ReserveAttempt lets one more attempt go ahead. The waits are measured
// from the latest counted attempt.
type AttemptRule struct {
	// Window: the counted attempts are forgotten once the first of them is Window old, unless the
	// key is locked. Must be positive.
	Window time.Duration
	// Waits: while at least After attempts are counted, the next one must wait Wait; of the entries
	// whose After has been reached, the one with the largest After applies. Sorted by After.
	Waits []AttemptWait
	// LockAfter > 0: once that many attempts are counted the key is locked for Lock; the first
	// attempt after the lock starts the count over. 0: no lock.
	LockAfter int
	Lock      time.Duration
}

// AttemptWait is one step of an AttemptRule.
type AttemptWait struct {
	After int
	Wait  time.Duration
}

// Reservation is the answer of ReserveAttempt.
type Reservation struct {
	Counter
	// Allowed: this attempt was counted and may go ahead. Otherwise nothing changed and the
	// attempt may be made again at RetryAt.
	Allowed bool
	RetryAt time.Time
	// Locked: refused because the key is locked (rather than delayed).
	Locked bool
}

// AuditEvent is one append-only record of something a person, client or operator did.
type AuditEvent struct {
	ID       int64
	At       time.Time
	Type     string // e.g. "login.succeeded", "client.created"
	UserID   string
	ClientID string
	IP       string
	Detail   map[string]string // never a secret
}

// AuditFilter selects the events SearchAudit returns. A zero field does not filter; the fields
// that are set must all match.
type AuditFilter struct {
	UserID string // only the events of this user
	// Type matches the event type exactly or, when it ends with ".*", as a prefix that keeps the
	// dot: "login.*" matches "login.succeeded" and "login.failed", not "login" nor "loginx".
	Type  string
	Since time.Time // only events with At at or after Since
	Until time.Time // only events with At before Until
	// AfterID > 0 follows the log (`tail -f`): only events with ID > AfterID, in ascending ID
	// order instead of newest first.
	AfterID int64
	Limit   int // at most this many events; zero or less means no limit
}

// IssueParams describes one atomic token issuance (see Store.IssueTokens).
type IssueParams struct {
	Now time.Time
	// CodeHash, when set, is consumed: the issuance succeeds only if this code exists, is unused
	// and unexpired. A used code makes the call revoke everything issued from it and return
	// ErrCodeReplayed; an unknown or expired code returns ErrNotFound.
	CodeHash string
	// RotateRefreshHash, when set, is consumed: the issuance succeeds only if that refresh token
	// is unused, unrevoked and unexpired (idle and absolute). A token that was already used or
	// revoked makes the call revoke its whole family and return ErrRefreshReused; an expired or
	// unknown one returns ErrRefreshReused without revoking anything else.
	RotateRefreshHash string
	// Access is inserted (ID, fields as given; RefreshTokenID/FamilyID filled from Refresh).
	// When rotating, an empty CodeHash or SessionID comes from the consumed token, and so does
	// FamilyID when no Refresh is issued.
	Access AccessToken
	// Refresh, when non-nil, is inserted. When rotating, its FamilyID, FamilyExpiresAt, CodeHash
	// and SessionID are taken from the consumed token (so revoking by family, code or session
	// reaches every member). A new family without FamilyID is named after Refresh.ID; a zero
	// FamilyExpiresAt becomes ExpiresAt; ExpiresAt is cut to FamilyExpiresAt. On success *Refresh
	// holds what was stored. Tokens issued from a code get CodeHash when theirs is empty.
	Refresh *RefreshToken
}

// ImportUser is one user brought over from another system (ImportUsers): its password hash is
// stored as given, never computed here.
type ImportUser struct {
	Line          int    // where it came from (echoed in its ImportResult)
	ID            string // the id a created user gets; ignored when the email exists
	Email         string // case-folded, as GetUserByEmail expects
	PasswordHash  string // a hash the caller checked (password.Check); required
	EmailVerified bool
	PhoneE164     string // required with MFAEnabled, and stored only then
	MFAEnabled    bool
	CreatedAt     time.Time // zero means now
}

// ImportOutcome is what ImportUsers did with one ImportUser.
type ImportOutcome string

const (
	ImportCreated   ImportOutcome = "created"   // a new user
	ImportUpdated   ImportOutcome = "updated"   // an existing user, changed (update only)
	ImportUnchanged ImportOutcome = "unchanged" // an existing user that already matched
	ImportDiffers   ImportOutcome = "differs"   // an existing user that differs; left as is (no update)
	ImportFailed    ImportOutcome = "failed"    // nothing written for it; Err says why
)

// ImportResult is the outcome of one ImportUser, in the order they were given.
type ImportResult struct {
	Line    int
	Outcome ImportOutcome
	UserID  string // the created or existing user's id; empty when failed
	Err     error  // with ImportFailed: ErrConflict (the email or id is taken, or twice in the batch) or the reason
}

// Store is everything the IdP keeps. Implementations: Postgres (pgx) and SQLite (modernc); both
// pass storetest.Run. Every method is safe for concurrent use, across processes sharing one
// database. Times are stored with at least millisecond precision and returned in UTC. Empty and
// nil slices and maps are stored alike and come back nil. A row that refers to an unknown client
// or user (an auth request, code, token or session) is refused with ErrNotFound.
type Store interface {
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the connections.
	Close() error

	// CreateUser inserts u (ID, Email required). ErrConflict when the email is taken.
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns ErrNotFound for an unknown id.
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByEmail looks up an already case-folded email. ErrNotFound when unknown.
	GetUserByEmail(ctx context.Context, email string) (*User, error)
	// ListUsers returns all users ordered by creation time.
	ListUsers(ctx context.Context) ([]User, error)
	// UpdatePasswordHash replaces the hash without changing the password (a rehash on login):
	// PasswordEpoch stays. ErrNotFound when unknown.
	UpdatePasswordHash(ctx context.Context, userID, hash string, now time.Time) error
	// ChangePassword sets a new password (a change or a reset) in one transaction: it replaces
	// the hash, adds one to PasswordEpoch and revokes as RevokeUserSessions(userID,
	// keepSessionID) does, auth requests and unused codes included. The kept session (may be
	// empty) takes the new epoch: it is the one that proved the new password. Returns how many
	// sessions it revoked. ErrNotFound when the user is unknown; hash must not be empty.
	ChangePassword(ctx context.Context, userID, hash, keepSessionID string, now time.Time) (int64, error)
	// SetUserDisabled enables or disables a user. Disabling revokes, in the same transaction,
	// every session, access token and refresh token of the user, and ends their authenticated
	// auth requests with their unused codes. ErrNotFound when unknown.
	SetUserDisabled(ctx context.Context, userID string, disabled bool, now time.Time) error
	// DeleteUser removes the user and, in the same transaction, everything that is theirs: their
	// sessions, email codes, SMS challenges (running ones too: a caller that wants their Vonage
	// requests cancelled ends them first) and recovery codes, the access and refresh tokens
	// whose Subject is the user, the authorization codes (tombstones included) and auth requests
	// naming them (Subject, or HintSubject of a pending request). Audit events stay, their UserID
	// kept as text; counters are left to expire (their keys are the caller's). The email address
	// is free again afterwards. A session, email code, SMS challenge or recovery code created for
	// the user concurrently is either deleted too or refused with ErrNotFound, and a refresh
	// token rotated concurrently goes together with its successor. ErrNotFound when unknown.
	DeleteUser(ctx context.Context, id string) error

	// ImportUsers creates or updates the users of batch in one transaction (dryRun: the same
	// work, then rolled back, so the results say what would happen and nothing is written). An
	// email that is unknown is created with the given ID, hash, flags and CreatedAt (UpdatedAt =
	// now). An existing email is compared on PasswordHash, EmailVerified, MFAEnabled and (with
	// MFAEnabled) PhoneE164: equal is ImportUnchanged; different is ImportDiffers without update,
	// and with update it is written and ImportUpdated. An update never turns EmailVerified off
	// (an address proven here stays proven), never touches Disabled or CreatedAt, deletes the
	// user's recovery codes when MFAEnabled goes off, and, when the password hash changes,
	// revokes every session, refresh and access token of the user, ends their unredeemed
	// sign-ins and adds one to PasswordEpoch (as a password reset does).
	// One line's failure writes nothing of that line and nothing else fails with it: a line
	// whose email or id is taken by another user (a signup racing the import), or whose email
	// appears earlier in the batch, is ImportFailed with ErrConflict; an empty Email, ID or
	// PasswordHash, or MFAEnabled without PhoneE164, is ImportFailed too. The error return is
	// for the database only (then nothing of the batch is written).
	ImportUsers(ctx context.Context, batch []ImportUser, update, dryRun bool, now time.Time) ([]ImportResult, error)

	// CreateClient inserts c; an empty AuthMethod is stored (and set in c) as the type's default:
	// client_secret_basic for confidential types, none for public ones. ErrConflict when the id
	// is taken.
	CreateClient(ctx context.Context, c *Client) error
	// GetClient returns ErrNotFound for an unknown id.
	GetClient(ctx context.Context, id string) (*Client, error)
	// ListClients returns all clients ordered by id.
	ListClients(ctx context.Context) ([]Client, error)
	// DeleteClient removes the client together with its auth requests, codes, tokens and refresh
	// tokens, in one transaction. ErrNotFound when unknown.
	DeleteClient(ctx context.Context, id string) error
	// UpdateClient replaces the mutable fields of the client c.ID with c's: Name, RedirectURIs,
	// PostLogoutRedirectURIs, AccessTokenJWT, PKCEExempt, AuthMethod (empty: the stored type's
	// default), JWKS and Scopes. Type, SecretHash and CreatedAt stay as stored whatever c holds
	// (SetClientSecretHash replaces the secret). Tokens already issued are not touched.
	// ErrNotFound when unknown.
	UpdateClient(ctx context.Context, c *Client) error
	// SetClientSecretHash replaces the client's secret hash (rotate-secret): from then on only the
	// new secret authenticates it. hash must not be empty. ErrNotFound when unknown.
	SetClientSecretHash(ctx context.Context, id, hash string) error

	// CreateResource inserts r (ID and Audience required). ErrConflict when the id or the
	// audience is taken; ErrNotFound when r.ClientID is set and names no client.
	CreateResource(ctx context.Context, r *Resource) error
	// GetResource returns ErrNotFound for an unknown id.
	GetResource(ctx context.Context, id string) (*Resource, error)
	// ListResources returns all resources ordered by id.
	ListResources(ctx context.Context) ([]Resource, error)
	// UpdateResource replaces Audience, Scopes and ClientID of the resource r.ID. ErrNotFound when
	// the resource or r.ClientID (when set) is unknown, ErrConflict when the audience is another
	// resource's.
	UpdateResource(ctx context.Context, r *Resource) error
	// DeleteResource removes the resource and, in the same statement, every client's grant of
	// it. Tokens already issued for it are not touched. ErrNotFound when unknown.
	DeleteResource(ctx context.Context, id string) error
	// SetClientResources replaces the resources the client is granted with resourceIDs (empty:
	// none), in one transaction. ErrNotFound, with nothing changed, when the client or any of the
	// resources is unknown.
	SetClientResources(ctx context.Context, clientID string, resourceIDs []string) error
	// ClientResources returns the resources the client is granted, ordered by id (nil for an
	// unknown client).
	ClientResources(ctx context.Context, clientID string) ([]Resource, error)
	// UseClientAssertion records the jti of a client assertion (RFC 7523) until expiresAt, in one
	// statement: of any number of calls with the same client and jti, concurrent or not, exactly
	// one succeeds while the record lives and the others get ErrConflict (a replay). ErrNotFound
	// when the client is unknown. DeleteExpired removes the record at expiresAt.
	UseClientAssertion(ctx context.Context, clientID, jti string, expiresAt time.Time) error

	// CreateSigningKey inserts k.
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys returns all keys, newest first.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// RotateSigningKeys marks every key without RotatedAt as rotated at now and inserts next, in
	// one transaction.
	RotateSigningKeys(ctx context.Context, next *SigningKey, now time.Time) error
	// DeleteSigningKeysRotatedBefore removes keys rotated before t (no token they signed is still
	// valid). Returns how many.
	DeleteSigningKeysRotatedBefore(ctx context.Context, t time.Time) (int64, error)
	// SetSigningKeyPrivate replaces the sealed private part (PrivateEnc) of the key id and nothing
	// else: re-sealing every key under a new SECRET_KEY (`idp keys reencrypt`). sealed must not be
	// empty. ErrNotFound when unknown.
	SetSigningKeyPrivate(ctx context.Context, id string, sealed []byte) error

	// CreateAuthRequest inserts r.
	CreateAuthRequest(ctx context.Context, r *AuthRequest) error
	// GetAuthRequest returns the request when it exists and ExpiresAt is after now; otherwise
	// ErrNotFound.
	GetAuthRequest(ctx context.Context, id string, now time.Time) (*AuthRequest, error)
	// CompleteAuthRequest records who authenticated (Subject, AuthTime, AMR, ACR, SessionID) and
	// sets Done, only while the request is unexpired and not yet done; otherwise ErrNotFound.
	CompleteAuthRequest(ctx context.Context, id string, done *AuthRequest, now time.Time) error
	// DeleteAuthRequest removes the request (its code tombstone stays). Unknown ids are not an
	// error.
	DeleteAuthRequest(ctx context.Context, id string) error
	// SaveAuthCode stores the code's hash for a done, unexpired auth request (checked against the
	// store's clock) and sets c.ClientID and c.Subject from that request. A second code for the
	// same request is refused with ErrConflict; an unknown, undone or expired request is
	// ErrNotFound, and so is one whose session is revoked or expired, whose user is disabled or
	// gone, or whose session's PasswordEpoch is not the user's (a password change since). The
	// check and the insert are one transaction ordered against the revocations (see
	// IssueTokens), so a code saved concurrently with a revocation is ended by it.
	SaveAuthCode(ctx context.Context, c *AuthCode) error
	// GetAuthRequestByCode returns the auth request of an unused, unexpired code, with CodeHash
	// set. A code that was already redeemed makes it revoke every token issued from that code and
	// return ErrCodeReplayed. Unknown or expired: ErrNotFound.
	GetAuthRequestByCode(ctx context.Context, codeHash string, now time.Time) (*AuthRequest, error)

	// IssueTokens atomically consumes the code or the refresh token named in p (see IssueParams)
	// and inserts the new tokens. Of two concurrent calls consuming the same code or refresh
	// token exactly one succeeds. A code is redeemed only while what authenticated it holds: its
	// auth request still exists, the session it names is unrevoked and unexpired at p.Now, the
	// user is enabled and the session's PasswordEpoch is the user's; otherwise ErrNotFound and
	// nothing is written. A refresh token is rotated only for an existing, enabled user
	// (otherwise ErrRefreshReused, nothing written). Each call takes the user's row lock before
	// consuming, as every revocation of the user's sessions (RevokeSession, RevokeUserSessions,
	// SetUserDisabled, ChangePassword) does before revoking: of a revocation and an issuance
	// running together, either the issuance fails or its tokens are revoked.
	IssueTokens(ctx context.Context, p IssueParams) error
	// GetAccessToken returns the record by id (revoked and expired ones included: the caller
	// decides). ErrNotFound when unknown.
	GetAccessToken(ctx context.Context, id string) (*AccessToken, error)
	// RevokeAccessToken marks the token revoked. Unknown ids are not an error.
	RevokeAccessToken(ctx context.Context, id string, now time.Time) error
	// GetRefreshToken returns the record by hash (used, revoked and expired ones included).
	// ErrNotFound when unknown.
	GetRefreshToken(ctx context.Context, hash string) (*RefreshToken, error)
	// RevokeRefreshFamily revokes every refresh token of the family and every access token
	// issued with them.
	RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) error

	// CreateSession inserts s.
	CreateSession(ctx context.Context, s *Session) error
	// GetSessionByTokenHash returns the session when it is unrevoked, ExpiresAt is after now and
	// it was last seen after idleCutoff; otherwise ErrNotFound.
	GetSessionByTokenHash(ctx context.Context, hash string, now, idleCutoff time.Time) (*Session, error)
	// TouchSession sets LastSeenAt (and IP when not empty). ErrNotFound when unknown.
	TouchSession(ctx context.Context, id string, now time.Time, ip string) error
	// RevokeSession revokes one session and, in the same transaction, the refresh tokens (and
	// their access tokens) of the same user issued under it, the auth requests authenticated in it
	// and their unused codes. Unknown ids are not an error.
	RevokeSession(ctx context.Context, id string, now time.Time) error
	// RotateSession replaces the session oldID by next for the same person signing in again in
	// the same browser (a step-up, prompt=login): in one transaction it inserts next, revokes
	// oldID (when it is live) and moves the refresh and access tokens issued under oldID to
	// next.ID, so that apps signed in through the old session keep working and a later sign-out
	// of next ends them too; auth requests authenticated in oldID and not yet redeemed move to
	// next.ID as well. next.UserID must be the old session's user; otherwise, or when oldID
	// is unknown, it returns ErrNotFound and writes nothing. A refresh token rotated while this
	// runs may keep the old session id (it then ends with the person's other tokens at a password
	// reset or "sign out everywhere", not at this session's sign-out).
	RotateSession(ctx context.Context, oldID string, next *Session, now time.Time) error
	// ListSessions returns the user's live sessions (unrevoked, unexpired), newest first.
	ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
	// GetSession returns a session by id, revoked and expired ones included (the caller
	// decides). ErrNotFound when unknown.
	GetSession(ctx context.Context, id string) (*Session, error)
	// RevokeUserSessions revokes, in one transaction, every live session (unrevoked, unexpired at
	// now) of the user except exceptSessionID (may be empty), every refresh token of the user with
	// the access tokens issued with them, every other access token of the user, and the auth
	// requests authenticated in the revoked sessions with their unused codes. When
	// exceptSessionID is set, the tokens and auth requests of that session are kept. Earlier revocation
	// times stay. Returns how many sessions it revoked; an unknown user revokes nothing and is not
	// an error. It is what "sign out everywhere else" and a password reset use. It adds one to the
	// user's SessionEpoch in the same transaction (also when nothing was left to revoke).
	RevokeUserSessions(ctx context.Context, userID, exceptSessionID string, now time.Time) (int64, error)

	// GrantOfflineConsent records that the user lets the client stay signed in (offline_access).
	// Granting again keeps the first CreatedAt. ErrNotFound when the user or client is unknown.
	GrantOfflineConsent(ctx context.Context, userID, clientID string, now time.Time) error
	// HasOfflineConsent reports whether the user granted the client offline_access.
	HasOfflineConsent(ctx context.Context, userID, clientID string) (bool, error)
	// ListOfflineConsents returns the user's consents, newest first (nil when none).
	ListOfflineConsents(ctx context.Context, userID string) ([]OfflineConsent, error)
	// RevokeOfflineConsent withdraws the consent and, in the same transaction, revokes the
	// refresh tokens (with their access tokens) the client holds for the user: the app is signed
	// out. Returns ErrNotFound when there was no consent (nothing is revoked then).
	RevokeOfflineConsent(ctx context.Context, userID, clientID string, now time.Time) error

	// CreateEmailCode voids (consumes at c.CreatedAt) every unconsumed code of the same user and
	// purpose and inserts c, in one transaction: a resend voids the previous code. Two concurrent
	// calls for one user and purpose leave exactly one unconsumed code. ID, UserID, CodeHash and a
	// known Purpose are required. ErrNotFound when the user is unknown, ErrConflict when the id is
	// taken.
	CreateEmailCode(ctx context.Context, c *EmailCode) error
	// GetEmailCode returns a code by id, consumed and expired ones included (the caller decides).
	// ErrNotFound when unknown.
	GetEmailCode(ctx context.Context, id string) (*EmailCode, error)
	// LatestEmailCode returns the newest code (by CreatedAt; of codes created at the same instant
	// the unconsumed one) of the user and purpose, consumed or not, expired or not. ErrNotFound
	// when there is none.
	LatestEmailCode(ctx context.Context, userID, purpose string) (*EmailCode, error)
	// CheckEmailCode counts one attempt against the live code (unconsumed, unexpired at now) of
	// the user and purpose and compares codeHash with its hash, atomically: the attempt is counted
	// by a conditional UPDATE (attempts < maxAttempts), so that any number of concurrent guesses,
	// from any number of replicas, get at most maxAttempts comparisons per code. A correct code
	// counts as an attempt too. Outcomes:
	//   - match: the code is consumed at now and returned (PendingPasswordHash included). For
	//     PurposeVerify the same transaction sets the user's EmailVerified and, when
	//     PendingPasswordHash is not empty, PasswordHash to it (and UpdatedAt to now). For
	//     PurposeReset the user is not touched.
	//   - mismatch: ErrCodeMismatch, with the code as stored after counting (Attempts), so that
	//     the caller can show the remaining tries.
	//   - the live code already had maxAttempts attempts: ErrTooManyAttempts, with the code.
	//   - no live code (none, consumed, expired, or an unknown user): ErrNotFound, nil code.
	// maxAttempts must be at least 1 and codeHash not empty.
	CheckEmailCode(ctx context.Context, userID, purpose, codeHash string, maxAttempts int, now time.Time) (*EmailCode, error)

	// CreateSMSChallenge inserts c as a running challenge and, in the same transaction, ends
	// (reason SMSEndReplaced, at c.CreatedAt) every running challenge of the same user and
	// purpose, returning the request ids those had (empty ones left out) so that the caller can
	// cancel them at Vonage. Two concurrent calls for one user and purpose leave exactly one
	// running challenge, and each replaced request id is returned to exactly one caller. ID,
	// UserID, PhoneE164 and a known Purpose are required; an empty Channel is SMSChannelSMS;
	// EndedAt must be nil and EndReason empty. ErrNotFound when the user is unknown, ErrConflict
	// when the id is taken.
	CreateSMSChallenge(ctx context.Context, c *SMSChallenge) (replaced []string, err error)
	// GetSMSChallenge returns a challenge by id, ended and expired ones included (the caller
	// decides). ErrNotFound when unknown.
	GetSMSChallenge(ctx context.Context, id string) (*SMSChallenge, error)
	// RunningSMSChallengeByRequestID returns the running challenge whose Vonage request id is
	// requestID (only running challenges keep one), so that a 409 from Vonage naming a request can
	// be traced to its challenge. ErrNotFound when none runs with it (or requestID is empty).
	RunningSMSChallengeByRequestID(ctx context.Context, requestID string) (*SMSChallenge, error)
	// SetSMSChallengeChannel switches the channel ("call me instead") of a running challenge
	// (EndedAt nil; expiry is the caller's to check). ErrNotFound when unknown or ended; channel
	// must be SMSChannelSMS or SMSChannelVoice.
	SetSMSChallengeChannel(ctx context.Context, id, channel string) error
	// CountSMSAttempt counts one code attempt against the challenge when it runs and is unexpired
	// at now, by one conditional UPDATE (attempts < max), like CheckEmailCode: of any number of
	// concurrent calls, from any number of replicas, at most max succeed per challenge. It returns
	// the challenge after counting. Outcomes:
	//   - counted: the challenge (Attempts is this attempt's number), nil error;
	//   - the challenge already had max attempts: ErrTooManyAttempts, with the challenge (nothing
	//     written; it keeps running, so ending it and cancelling at Vonage is the caller's);
	//   - unknown, ended or expired at now: ErrNotFound, nil challenge.
	// max must be at least 1.
	CountSMSAttempt(ctx context.Context, id string, max int, now time.Time) (*SMSChallenge, error)
	// EndSMSChallenge ends a running challenge: sets EndedAt to now and EndReason to reason (one
	// of the SMSEnd constants), clears RequestID, and returns the request id it had (perhaps "")
	// so that the caller can cancel or confirm it at Vonage. Of concurrent calls exactly one
	// succeeds; unknown or already ended: ErrNotFound.
	EndSMSChallenge(ctx context.Context, id, reason string, now time.Time) (requestID string, err error)
	// ExpiredSMSChallenges returns running challenges whose ExpiresAt is at or before now, oldest
	// expiry first, at most limit (no limit when limit <= 0): housekeeping ends each
	// (SMSEndExpired) and cancels its request at Vonage. DeleteExpired never removes a running
	// challenge, so none is lost before it was ended.
	ExpiredSMSChallenges(ctx context.Context, now time.Time, limit int) ([]SMSChallenge, error)

	// ReplaceRecoveryCodes deletes every recovery code of the user (used or not) and inserts one
	// code per hash (created at now, ids chosen by the store), in one transaction. Hashes must not
	// be empty strings; an empty list leaves the user without codes. ErrNotFound when the user is
	// unknown.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string, now time.Time) error
	// IssueFirstRecoveryCodes stores one code per hash (as ReplaceRecoveryCodes) only when the
	// user has two-step on and has never had a recovery code (no row, used or unused): a user
	// imported with two-step on gets codes at the first sign-in. It reports whether it stored
	// them; the user row is locked first, so of concurrent calls exactly one stores. ErrNotFound
	// when the user is unknown.
	IssueFirstRecoveryCodes(ctx context.Context, userID string, hashes []string, now time.Time) (bool, error)
	// ListUnusedRecoveryCodes returns the user's unused codes, oldest first (nil for an unknown
	// user): the caller compares the entered code with each hash.
	ListUnusedRecoveryCodes(ctx context.Context, userID string) ([]RecoveryCode, error)
	// UseRecoveryCode marks the user's code id used at now with one conditional UPDATE (used_at
	// IS NULL): of concurrent uses of one code exactly one succeeds. The others, and a used,
	// unknown or another user's code, get ErrNotFound.
	UseRecoveryCode(ctx context.Context, userID, id string, now time.Time) error
	// CountUnusedRecoveryCodes returns how many unused codes the user has (0 for an unknown user).
	CountUnusedRecoveryCodes(ctx context.Context, userID string) (int, error)

	// SetUserMFA turns the user's second factor on (MFAEnabled, PhoneE164 = phoneE164, which must
	// not be empty) or off (enabled false: MFAEnabled false, PhoneE164 cleared whatever phoneE164
	// says, and every recovery code of the user deleted in the same transaction), and sets
	// UpdatedAt to now. Running SMS challenges are left alone (the caller ends and cancels them).
	// ErrNotFound when the user is unknown.
	SetUserMFA(ctx context.Context, userID, phoneE164 string, enabled bool, now time.Time) error

	// HitCounter adds one to the counter key in a fixed window of length window, in one atomic
	// statement (safe across replicas): when the stored window started at or before now-window (or
	// there is none), the window restarts at now with Count 1. Returns the counter after the hit.
	// window must be positive.
	HitCounter(ctx context.Context, key string, window time.Duration, now time.Time) (Counter, error)
	// GetCounter returns the counter as stored, except that a window that started at or before
	// now-window (it has run out) is reported with Count 0. ErrNotFound when never hit, reset, or
	// removed by DeleteExpired after its window ended: callers treat it as Count 0.
	GetCounter(ctx context.Context, key string, window time.Duration, now time.Time) (Counter, error)
	// ResetCounter deletes the counter (e.g. after a successful login). Unknown keys are not an
	// error.
	ResetCounter(ctx context.Context, key string) error

	// ReserveAttempt counts one attempt on key before the caller checks it, and decides in the same
	// atomic statement whether it may go ahead under rule (safe across replicas: of any number of
	// concurrent calls exactly as many are allowed as the rule admits one after the other). A
	// refused attempt changes nothing. The Counter returned is the row after the call (Count 1 for
	// the first attempt of a window; UpdatedAt the latest allowed attempt). A right answer gives
	// its reservation back with ReleaseAttempt or ResetCounter. HitCounter, GetCounter and
	// ResetCounter work on the same rows.
	ReserveAttempt(ctx context.Context, key string, rule AttemptRule, now time.Time) (Reservation, error)
	// ReleaseAttempt takes one counted attempt back (Count - 1, never below 0). Unknown keys are
	// not an error.
	ReleaseAttempt(ctx context.Context, key string) error

	// Audit events are append-only: the store offers no way to change or delete one, except
	// DeleteAuditBefore for retention, and the database refuses it too (migration 000007: a
	// trigger refuses UPDATE on both databases, and on PostgreSQL DELETE outside retention and
	// TRUNCATE).

	// AppendAudit appends an event (ID and At filled in when zero).
	AppendAudit(ctx context.Context, e *AuditEvent) error
	// ListAudit returns the newest events first, at most limit (no limit when limit <= 0),
	// optionally only those of one user (userID != ""). It is SearchAudit with only UserID and
	// Limit set.
	ListAudit(ctx context.Context, userID string, limit int) ([]AuditEvent, error)
	// SearchAudit returns the events that match f, newest first (by At, then ID), at most
	// f.Limit. When f.AfterID > 0 it returns the events with ID > f.AfterID oldest first (by ID),
	// for `tail -f` style following: pass the highest ID seen so far. IDs grow in insertion
	// order; with PostgreSQL an insert that commits after a later one (milliseconds apart, under
	// load) may carry the lower ID, so a follower can in rare cases skip an event that a search
	// finds.
	SearchAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
	// DeleteAuditBefore removes the events whose At is before t (retention); events at t stay.
	// Returns how many. It deletes in batches, each its own transaction, so that a large backlog
	// does not hold up other writers: when it fails half-way, the batches before stay deleted.
	DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error)

	// DeleteExpired removes auth requests, authorization codes, tokens, sessions, email codes and
	// client assertion records whose expiry is at or before now (code tombstones, consumed email
	// codes and revoked rows included), counters whose every hit is at least its window old (hit + window at or
	// before now: whatever window it counted in has ended), and SMS challenges that ended at or
	// before now minus SMSChallengeRetention (running ones stay, expired or not: see
	// ExpiredSMSChallenges). Returns how many rows in all.
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)

	// WithLock runs fn while holding the lock called name, which every process using the
	// database shares, and returns (true, fn's error). When another holder has the lock it
	// returns (false, nil) at once without running fn: it never waits. The lock is released when
	// fn returns or panics, also when ctx ends meanwhile (fn gets ctx and should stop then). A ctx
	// that has already ended returns (false, ctx.Err()) without running fn. It is not reentrant:
	// a nested call for the same name returns (false, nil). name must not be empty.
	//
	// It is meant for work that is safe but wasteful to run twice at once, such as housekeeping
	// with several replicas: should the database connection holding the lock break while fn
	// runs, the lock is gone and another process may start too.
	//
	// PostgreSQL: a session-level advisory lock (pg_try_advisory_lock) on a connection of the
	// pool held for the duration, keyed by a 64-bit hash of the current schema and name (so
	// deployments in separate schemas of one database do not exclude each other), unlocked after
	// fn; a connection whose unlock fails is closed, which releases it. SQLite: a mutex per
	// database file and name inside this process. That is the whole cluster, because one
	// embedded SQLite file serves one server process (replicas need PostgreSQL); a CLI command
	// run beside the server is another process and does not see the lock.
	WithLock(ctx context.Context, name string, fn func(ctx context.Context) error) (ran bool, err error)
}
