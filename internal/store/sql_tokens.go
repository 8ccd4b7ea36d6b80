package store

import (
	"context"
	"errors"
	"time"
)

var (
	errIssueBoth   = errors.New("store: IssueTokens consumes a code or a refresh token, not both")
	errIssueNow    = errors.New("store: IssueTokens needs Now")
	errAccessID    = errors.New("store: an access token needs an id")
	errRefreshHash = errors.New("store: a refresh token needs an id and a hash")
)

const accessCols = `id, client_id, subject, audience, scopes, auth_time, amr, acr, created_at, expires_at,
	revoked_at, refresh_token_id, family_id, code_hash, session_id`

func scanAccess(sc scanner) (AccessToken, error) {
	var a AccessToken
	err := sc.Scan(&a.ID, &a.ClientID, &a.Subject, listCol{&a.Audience}, listCol{&a.Scopes},
		timeCol{&a.AuthTime}, listCol{&a.AMR}, &a.ACR, timeCol{&a.CreatedAt}, timeCol{&a.ExpiresAt},
		timePtrCol{&a.RevokedAt}, stringCol{&a.RefreshTokenID}, stringCol{&a.FamilyID},
		stringCol{&a.CodeHash}, stringCol{&a.SessionID})
	return a, translate(err)
}

const refreshCols = `id, hash, family_id, client_id, subject, audience, scopes, auth_time, amr, acr,
	created_at, expires_at, family_expires_at, used_at, revoked_at, code_hash, session_id`

func scanRefresh(sc scanner) (RefreshToken, error) {
	var r RefreshToken
	err := sc.Scan(&r.ID, &r.Hash, &r.FamilyID, &r.ClientID, &r.Subject, listCol{&r.Audience},
		listCol{&r.Scopes}, timeCol{&r.AuthTime}, listCol{&r.AMR}, &r.ACR, timeCol{&r.CreatedAt},
		timeCol{&r.ExpiresAt}, timeCol{&r.FamilyExpiresAt}, timePtrCol{&r.UsedAt},
		timePtrCol{&r.RevokedAt}, stringCol{&r.CodeHash}, stringCol{&r.SessionID})
	return r, translate(err)
}

// family is what a rotated refresh token hands down to its successor.
type family struct {
	id        string
	expiresAt time.Time
	codeHash  string
	sessionID string
}

// IssueTokens is the atomic core of the token endpoint. In one transaction it takes the user's row
// lock (the order every revocation of the user's sessions takes too: user row, then sessions, auth
// requests and tokens), consumes the code or the refresh token with a conditional UPDATE, checks
// that what authenticated a code still holds, and inserts the new tokens. With PostgreSQL the
// UPDATE's row lock makes a concurrent call wait and then find the row used (0 rows); with SQLite
// write transactions are serialised. The loser learns why from the row: a used code or a used or
// revoked refresh token is an attack or a double submission, and its revocation is committed even
// though the call fails.
//
// Beyond the contract, so that "every token of X" stays one predicate:
//   - tokens issued from a code get CodeHash = p.CodeHash when theirs is empty;
//   - a rotated refresh token inherits FamilyID, FamilyExpiresAt, CodeHash and SessionID from the
//     consumed one; the access token issued with it inherits CodeHash and SessionID when empty,
//     and the family when no new refresh token is issued;
//   - a new family (FamilyID empty) is named after its first token's ID, and a zero
//     FamilyExpiresAt becomes ExpiresAt;
//   - a refresh token's ExpiresAt is clamped to FamilyExpiresAt.
//
// On success *p.Refresh holds what was stored.
func (s *sqlStore) IssueTokens(ctx context.Context, p IssueParams) error {
	if p.CodeHash != "" && p.RotateRefreshHash != "" {
		return errIssueBoth
	}
	if p.Now.IsZero() {
		return errIssueNow // it would make every code and refresh token look unexpired
	}
	if p.Access.ID == "" {
		return errAccessID
	}
	if p.Refresh != nil && (p.Refresh.ID == "" || p.Refresh.Hash == "") {
		return errRefreshHash
	}
	var stored RefreshToken
	err := s.withTx(ctx, func(tx runner) error {
		// Work on copies: a retried transaction must start from the caller's values.
		a := p.Access
		var r *RefreshToken
		if p.Refresh != nil {
			cp := *p.Refresh
			r = &cp
		}
		switch {
		case p.CodeHash != "":
			var requestID, subject string
			err := tx.row(ctx, `SELECT auth_request_id, subject FROM auth_codes WHERE hash = ?`, p.CodeHash).Scan(&requestID, &subject)
			if err != nil {
				return translate(err)
			}
			if err := lockUser(ctx, tx, subject); err != nil {
				return err
			}
			if err := consumeCode(ctx, tx, p.CodeHash, p.Now); err != nil {
				return err
			}
			if err := checkAuthenticated(ctx, tx, requestID, p.Now); err != nil {
				return err // rolled back: the code stays unused, and dead with its session
			}
			a.CodeHash = cmpOr(a.CodeHash, p.CodeHash)
			if r != nil {
				r.CodeHash = cmpOr(r.CodeHash, p.CodeHash)
			}
		case p.RotateRefreshHash != "":
			var subject string
			err := tx.row(ctx, `SELECT subject FROM refresh_tokens WHERE hash = ?`, p.RotateRefreshHash).Scan(&subject)
			if err = translate(err); err != nil {
				if errors.Is(err, ErrNotFound) {
					return ErrRefreshReused
				}
				return err
			}
			var disabled bool
			err = tx.row(ctx, `SELECT disabled FROM users WHERE id = ?`+tx.d.lockRow, subject).Scan(&disabled)
			if err = translate(err); err != nil {
				if errors.Is(err, ErrNotFound) {
					return ErrRefreshReused
				}
				return err
			}
			if disabled {
				return ErrRefreshReused
			}
			f, err := consumeRefresh(ctx, tx, p.RotateRefreshHash, p.Now)
			if err != nil {
				return err
			}
			a.CodeHash = cmpOr(a.CodeHash, f.codeHash)
			a.SessionID = cmpOr(a.SessionID, f.sessionID)
			if r != nil {
				r.FamilyID, r.FamilyExpiresAt, r.CodeHash, r.SessionID = f.id, f.expiresAt, f.codeHash, f.sessionID
			} else {
				a.FamilyID = f.id
			}
		}
		if r != nil {
			r.FamilyID = cmpOr(r.FamilyID, r.ID)
			if r.FamilyExpiresAt.IsZero() {
				r.FamilyExpiresAt = r.ExpiresAt
			}
			if r.ExpiresAt.After(r.FamilyExpiresAt) {
				r.ExpiresAt = r.FamilyExpiresAt
			}
			r.UsedAt, r.RevokedAt = nil, nil
			if err := insertRefresh(ctx, tx, r); err != nil {
				return err
			}
			a.RefreshTokenID, a.FamilyID = r.ID, r.FamilyID
			stored = *r
		}
		return insertAccess(ctx, tx, &a)
	})
	if err == nil && p.Refresh != nil {
		*p.Refresh = stored
	}
	return err
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// consumeCode marks the code used. On a replay it revokes what the code issued and returns
// ErrCodeReplayed after commit; an unknown or expired code is ErrNotFound.
func consumeCode(ctx context.Context, tx runner, codeHash string, now time.Time) error {
	n, err := tx.exec(ctx, `UPDATE auth_codes SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?`,
		now, codeHash, now)
	if err != nil || n == 1 {
		return err
	}
	var usedAt *time.Time
	if err := tx.row(ctx, `SELECT used_at FROM auth_codes WHERE hash = ?`, codeHash).Scan(timePtrCol{&usedAt}); err != nil {
		return translate(err) // unknown: ErrNotFound
	}
	if usedAt == nil {
		return ErrNotFound // expired
	}
	if err := revokeIssuedFromCode(ctx, tx, codeHash, now); err != nil {
		return err
	}
	return afterCommit(ErrCodeReplayed)
}

// consumeRefresh marks the refresh token used and returns its family. A used or revoked token
// revokes its family and returns ErrRefreshReused after commit; an expired or unknown one returns
// ErrRefreshReused and changes nothing. A used token past its expiry counts as reused: it was
// rotated, so whoever presents it is not the legitimate holder.
func consumeRefresh(ctx context.Context, tx runner, hash string, now time.Time) (family, error) {
	var f family
	err := tx.row(ctx, `UPDATE refresh_tokens SET used_at = ?
		WHERE hash = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ? AND family_expires_at > ?
		RETURNING family_id, family_expires_at, code_hash, session_id`, now, hash, now, now).
		Scan(&f.id, timeCol{&f.expiresAt}, stringCol{&f.codeHash}, stringCol{&f.sessionID})
	if err == nil {
		return f, nil
	}
	if err = translate(err); !errors.Is(err, ErrNotFound) {
		return f, err
	}
	var (
		familyID          string
		usedAt, revokedAt *time.Time
	)
	err = tx.row(ctx, `SELECT family_id, used_at, revoked_at FROM refresh_tokens WHERE hash = ?`, hash).
		Scan(&familyID, timePtrCol{&usedAt}, timePtrCol{&revokedAt})
	if err = translate(err); err != nil {
		if errors.Is(err, ErrNotFound) {
			return f, ErrRefreshReused
		}
		return f, err
	}
	if usedAt == nil && revokedAt == nil {
		return f, ErrRefreshReused // expired
	}
	if err := revokeRefreshWhere(ctx, tx, now, `family_id = ?`, familyID); err != nil {
		return f, err
	}
	return f, afterCommit(ErrRefreshReused)
}

func insertAccess(ctx context.Context, tx runner, a *AccessToken) error {
	_, err := tx.exec(ctx, `INSERT INTO access_tokens (`+accessCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.ClientID, a.Subject, a.Audience, a.Scopes, optTime(a.AuthTime), a.AMR, a.ACR,
		a.CreatedAt, a.ExpiresAt, a.RevokedAt, optString(a.RefreshTokenID), optString(a.FamilyID),
		optString(a.CodeHash), optString(a.SessionID))
	return err
}

func insertRefresh(ctx context.Context, tx runner, r *RefreshToken) error {
	_, err := tx.exec(ctx, `INSERT INTO refresh_tokens (`+refreshCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Hash, r.FamilyID, r.ClientID, r.Subject, r.Audience, r.Scopes, optTime(r.AuthTime),
		r.AMR, r.ACR, r.CreatedAt, r.ExpiresAt, r.FamilyExpiresAt, r.UsedAt, r.RevokedAt,
		optString(r.CodeHash), optString(r.SessionID))
	return err
}

// maxRevokePasses bounds revokeRefreshWhere's loop; each pass after the first only exists because
// a rotation committed during the previous one, so two or three passes is already unusual.
const maxRevokePasses = 8

// revokeRefreshWhere revokes every unrevoked refresh token matching cond, then every access token
// issued with them (same family). cond is a constant of this package over columns every member of
// a family shares (family_id, subject, code_hash, session_id), with ? for args.
//
// Why a loop: with PostgreSQL at READ COMMITTED, a rotation that is in flight holds the row lock of
// the token it consumes. Our UPDATE waits for it and then revokes that token, but the successor
// the rotation inserted is not in our statement's snapshot. The next pass sees it (it committed
// before our wait ended). When a pass revokes nothing, no rotation of a matching family can be in
// flight: every matching token is revoked by us or already was, and a rotation needs an unrevoked
// one. With SQLite the second pass always finds nothing.
func revokeRefreshWhere(ctx context.Context, tx runner, now time.Time, cond string, args ...any) error {
	withNow := append([]any{now}, args...)
	for range maxRevokePasses {
		n, err := tx.exec(ctx, `UPDATE refresh_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND (`+cond+`)`, withNow...)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	_, err := tx.exec(ctx, `UPDATE access_tokens SET revoked_at = ?
		WHERE revoked_at IS NULL AND family_id IN (SELECT family_id FROM refresh_tokens WHERE `+cond+`)`, withNow...)
	return err
}

// revokeIssuedFromCode revokes every token issued from the code, the refresh families started by
// it included (their members inherit code_hash), as RFC 6749 §4.1.2 asks on a replay.
func revokeIssuedFromCode(ctx context.Context, tx runner, codeHash string, now time.Time) error {
	if err := revokeRefreshWhere(ctx, tx, now, `code_hash = ?`, codeHash); err != nil {
		return err
	}
	_, err := tx.exec(ctx, `UPDATE access_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND code_hash = ?`, now, codeHash)
	return err
}

func (s *sqlStore) GetAccessToken(ctx context.Context, id string) (*AccessToken, error) {
	a, err := scanAccess(s.rd.row(ctx, `SELECT `+accessCols+` FROM access_tokens WHERE id = ?`, id))
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// RevokeAccessToken keeps the first revocation time of a token revoked twice.
func (s *sqlStore) RevokeAccessToken(ctx context.Context, id string, now time.Time) error {
	_, err := s.wr.exec(ctx, `UPDATE access_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, now, id)
	return err
}

func (s *sqlStore) GetRefreshToken(ctx context.Context, hash string) (*RefreshToken, error) {
	r, err := scanRefresh(s.rd.row(ctx, `SELECT `+refreshCols+` FROM refresh_tokens WHERE hash = ?`, hash))
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// RevokeRefreshFamily with an unknown or empty family id is not an error.
func (s *sqlStore) RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) error {
	if familyID == "" {
		return nil
	}
	return s.withTx(ctx, func(tx runner) error {
		return revokeRefreshWhere(ctx, tx, now, `family_id = ?`, familyID)
	})
}

// DeleteExpired removes rows whose expiry is at or before now (they are no longer valid at now),
// whatever their state: used code tombstones, revoked tokens, revoked sessions, consumed email
// codes. A refresh token never outlives its family (ExpiresAt is clamped), so its own expiry
// covers both. A consumed email code that has not expired yet stays until it does: the newest
// code's CreatedAt is the resend cooldown, and codes live minutes. A counter's expires_at is its
// latest hit plus that hit's window (see HitCounter), so it goes once no window it counted in is
// open. Ended SMS challenges go SMSChallengeRetention after they ended. Signing keys and audit
// events have their own retention.
func (s *sqlStore) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	err := s.withTx(ctx, func(tx runner) error {
		total = 0
		for _, table := range []string{"auth_requests", "auth_codes", "access_tokens", "refresh_tokens", "sessions", "email_codes", "counters", "client_assertions"} {
			n, err := tx.exec(ctx, `DELETE FROM `+table+` WHERE expires_at <= ?`, now)
			if err != nil {
				return err
			}
			total += n
		}
		// Only ended challenges: a running one still holds a Vonage request that housekeeping must
		// cancel first (ExpiredSMSChallenges).
		n, err := tx.exec(ctx, `DELETE FROM sms_challenges WHERE ended_at IS NOT NULL AND ended_at <= ?`, now.Add(-SMSChallengeRetention))
		if err != nil {
			return err
		}
		total += n
		return nil
	})
	return total, err
}
