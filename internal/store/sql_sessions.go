package store

import (
	"context"
	"errors"
	"time"
)

var errSessionFields = errors.New("store: a session needs an id and a token hash")

const sessionCols = `id, token_hash, user_id, auth_time, amr, acr, ip, user_agent, created_at, last_seen_at, expires_at, revoked_at, password_epoch`

func scanSession(sc scanner) (Session, error) {
	var s Session
	err := sc.Scan(&s.ID, &s.TokenHash, &s.UserID, timeCol{&s.AuthTime}, listCol{&s.AMR}, &s.ACR, &s.IP,
		&s.UserAgent, timeCol{&s.CreatedAt}, timeCol{&s.LastSeenAt}, timeCol{&s.ExpiresAt}, timePtrCol{&s.RevokedAt}, &s.PasswordEpoch)
	return s, translate(err)
}

// CreateSession returns ErrConflict when the id or token hash is taken and ErrNotFound when the
// user is unknown.
func (s *sqlStore) CreateSession(ctx context.Context, ss *Session) error {
	if ss.ID == "" || ss.TokenHash == "" {
		return errSessionFields
	}
	_, err := s.wr.exec(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ss.ID, ss.TokenHash, ss.UserID, ss.AuthTime, ss.AMR, ss.ACR, ss.IP, ss.UserAgent, ss.CreatedAt,
		ss.LastSeenAt, ss.ExpiresAt, ss.RevokedAt, ss.PasswordEpoch)
	return err
}

func (s *sqlStore) GetSessionByTokenHash(ctx context.Context, hash string, now, idleCutoff time.Time) (*Session, error) {
	ss, err := scanSession(s.rd.row(ctx, `SELECT `+sessionCols+` FROM sessions
		WHERE token_hash = ? AND revoked_at IS NULL AND expires_at > ? AND last_seen_at > ?`, hash, now, idleCutoff))
	if err != nil {
		return nil, err
	}
	return &ss, nil
}

// TouchSession returns ErrNotFound for an unknown id, so a caller learns that the session it
// holds is gone. It does not check revocation or expiry: GetSessionByTokenHash does.
func (s *sqlStore) TouchSession(ctx context.Context, id string, now time.Time, ip string) error {
	n, err := s.wr.exec(ctx, `UPDATE sessions SET last_seen_at = ?, ip = COALESCE(?, ip) WHERE id = ?`, now, optString(ip), id)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return err
}

// RevokeSession revokes the session (keeping an earlier revocation time), the auth requests
// authenticated in it with their unused codes, and the refresh families started under it for its
// user, with their access tokens. Access tokens issued under the session without a refresh token
// are left to expire, as the contract says. The user's row lock comes first (see IssueTokens).
func (s *sqlStore) RevokeSession(ctx context.Context, id string, now time.Time) error {
	return s.withTx(ctx, func(tx runner) error {
		var userID string
		err := translate(tx.row(ctx, `SELECT user_id FROM sessions WHERE id = ?`, id).Scan(&userID))
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := lockUser(ctx, tx, userID); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, now, id); err != nil {
			return err
		}
		if err := endAuthRequestsWhere(ctx, tx, `session_id = ?`, id); err != nil {
			return err
		}
		return revokeRefreshWhere(ctx, tx, now, `session_id = ? AND subject = ?`, id, userID)
	})
}

// endAuthRequestsWhere deletes the authenticated (done) auth requests matching cond (a constant
// of this package over auth_requests' columns, with ? for args) and the unused codes saved for
// them. Redeemed codes stay as tombstones, so that a replay is still recognised.
func endAuthRequestsWhere(ctx context.Context, tx runner, cond string, args ...any) error {
	if _, err := tx.exec(ctx, `DELETE FROM auth_codes WHERE used_at IS NULL AND auth_request_id IN
		(SELECT id FROM auth_requests WHERE done AND (`+cond+`))`, args...); err != nil {
		return err
	}
	_, err := tx.exec(ctx, `DELETE FROM auth_requests WHERE done AND (`+cond+`)`, args...)
	return err
}

func (s *sqlStore) RotateSession(ctx context.Context, oldID string, next *Session, now time.Time) error {
	if next.ID == "" || next.TokenHash == "" || next.ID == oldID {
		return errSessionFields
	}
	return s.withTx(ctx, func(tx runner) error {
		var userID string
		if err := translate(tx.row(ctx, `SELECT user_id FROM sessions WHERE id = ?`, oldID).Scan(&userID)); err != nil {
			return err
		}
		if userID != next.UserID {
			return ErrNotFound
		}
		if err := lockUser(ctx, tx, userID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			next.ID, next.TokenHash, next.UserID, next.AuthTime, next.AMR, next.ACR, next.IP, next.UserAgent, next.CreatedAt,
			next.LastSeenAt, next.ExpiresAt, next.RevokedAt, next.PasswordEpoch); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, now, oldID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE refresh_tokens SET session_id = ? WHERE session_id = ? AND subject = ?`, next.ID, oldID, userID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE auth_requests SET session_id = ? WHERE session_id = ? AND subject = ?`, next.ID, oldID, userID); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `UPDATE access_tokens SET session_id = ? WHERE session_id = ? AND subject = ?`, next.ID, oldID, userID)
		return err
	})
}

func (s *sqlStore) ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error) {
	return list(ctx, s.rd, scanSession, `SELECT `+sessionCols+` FROM sessions
		WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at DESC, id DESC`, userID, now)
}

func (s *sqlStore) GetSession(ctx context.Context, id string) (*Session, error) {
	ss, err := scanSession(s.rd.row(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ?`, id))
	if err != nil {
		return nil, err
	}
	return &ss, nil
}

// RevokeUserSessions revokes the refresh tokens first, as SetUserDisabled does (see
// revokeRefreshWhere for the race with a rotation in flight), then the access tokens and the
// sessions. The kept session's tokens are told apart by session_id, which every member of a
// refresh family carries; tokens issued without a session are revoked. Beyond RevokeSession, the
// access tokens issued without a refresh token are revoked too: after a password reset nothing a
// thief obtained before it should keep working for the rest of its lifetime.
//
// The user's row lock comes first, so that an issuance for the user running concurrently either
// committed before (its tokens are revoked here) or waits and then finds its session revoked (see
// IssueTokens).
func (s *sqlStore) RevokeUserSessions(ctx context.Context, userID, exceptSessionID string, now time.Time) (int64, error) {
	var n int64
	err := s.withTx(ctx, func(tx runner) error {
		if err := lockUser(ctx, tx, userID); err != nil {
			n = 0
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			return err
		}
		var err error
		n, err = revokeUserSessions(ctx, tx, userID, exceptSessionID, now)
		return err
	})
	return n, err
}

// revokeUserSessions is RevokeUserSessions inside tx, after the user's row was locked.
func revokeUserSessions(ctx context.Context, tx runner, userID, exceptSessionID string, now time.Time) (int64, error) {
	// Session ids are never empty (CreateSession), so "<> ''" keeps no session and no token.
	keep := exceptSessionID
	var n int64
	err := func() error {
		// Page handles issued under the old epoch (second factor, step-up, enrolment) die.
		if _, err := tx.exec(ctx, `UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?`, userID); err != nil {
			return err
		}
		if err := endAuthRequestsWhere(ctx, tx, `subject = ? AND (session_id IS NULL OR session_id <> ?)`, userID, keep); err != nil {
			return err
		}
		if err := revokeRefreshWhere(ctx, tx, now, `subject = ? AND (session_id IS NULL OR session_id <> ?)`, userID, keep); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE access_tokens SET revoked_at = ?
			WHERE revoked_at IS NULL AND subject = ? AND (session_id IS NULL OR session_id <> ?)`, now, userID, keep); err != nil {
			return err
		}
		var err error
		n, err = tx.exec(ctx, `UPDATE sessions SET revoked_at = ?
			WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND id <> ?`, now, userID, now, keep)
		return err
	}()
	return n, err
}
