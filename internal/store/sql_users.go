package store

import (
	"context"
	"errors"
	"time"
)

var (
	errUserFields   = errors.New("store: a user needs an id and an email")
	errPasswordHash = errors.New("store: a password hash must not be empty")
)

const userCols = `id, email, password_hash, email_verified, phone_e164, mfa_enabled, disabled, created_at, updated_at, password_epoch`

// userReadCols are what a read returns: userCols (what an insert writes) and the session epoch,
// which only the store moves.
const userReadCols = userCols + `, session_epoch`

func scanUser(sc scanner) (User, error) {
	var u User
	err := sc.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.EmailVerified, stringCol{&u.PhoneE164},
		&u.MFAEnabled, &u.Disabled, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt}, &u.PasswordEpoch, &u.SessionEpoch)
	return u, translate(err)
}

func (s *sqlStore) CreateUser(ctx context.Context, u *User) error {
	if u.ID == "" || u.Email == "" {
		return errUserFields
	}
	_, err := s.wr.exec(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.PasswordHash, u.EmailVerified, optString(u.PhoneE164), u.MFAEnabled,
		u.Disabled, u.CreatedAt, u.UpdatedAt, u.PasswordEpoch)
	return err
}

func (s *sqlStore) GetUser(ctx context.Context, id string) (*User, error) {
	u, err := scanUser(s.rd.row(ctx, `SELECT `+userReadCols+` FROM users WHERE id = ?`, id))
	if err != nil {
		return nil, err
	}
	return &u, nil
}

func (s *sqlStore) GetUserByEmail(ctx context.Context, email string) (*User, error) {
	u, err := scanUser(s.rd.row(ctx, `SELECT `+userReadCols+` FROM users WHERE email = ?`, email))
	if err != nil {
		return nil, err
	}
	return &u, nil
}

func (s *sqlStore) ListUsers(ctx context.Context) ([]User, error) {
	return list(ctx, s.rd, scanUser, `SELECT `+userReadCols+` FROM users ORDER BY created_at, id`)
}

func (s *sqlStore) UpdatePasswordHash(ctx context.Context, userID, hash string, now time.Time) error {
	n, err := s.wr.exec(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`, hash, now, userID)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return err
}

// ChangePassword updates the user's row first, which takes its row lock: an issuance for the user
// (IssueTokens, SaveAuthCode) either committed before, and its tokens are revoked below, or waits
// and then finds the new epoch.
func (s *sqlStore) ChangePassword(ctx context.Context, userID, hash, keepSessionID string, now time.Time) (int64, error) {
	if hash == "" {
		return 0, errPasswordHash
	}
	var revoked int64
	err := s.withTx(ctx, func(tx runner) error {
		var epoch int64
		err := tx.row(ctx, `UPDATE users SET password_hash = ?, password_epoch = password_epoch + 1, updated_at = ?
			WHERE id = ? RETURNING password_epoch`, hash, now, userID).Scan(&epoch)
		if err != nil {
			return translate(err)
		}
		if keepSessionID != "" {
			if _, err := tx.exec(ctx, `UPDATE sessions SET password_epoch = ? WHERE id = ? AND user_id = ?`, epoch, keepSessionID, userID); err != nil {
				return err
			}
		}
		revoked, err = revokeUserSessions(ctx, tx, userID, keepSessionID, now)
		return err
	})
	return revoked, err
}

// SetUserDisabled revokes, when disabling, in the same transaction as the flag: the refresh tokens
// first (see revokeRefreshWhere for why that order closes the race with a concurrent rotation),
// then every access token and session of the user, then the auth requests authenticated for the
// user and their unused codes. The UPDATE of the user's row comes first: it takes the row lock
// that IssueTokens and SaveAuthCode take too. Enabling again revokes nothing and restores
// nothing.
func (s *sqlStore) SetUserDisabled(ctx context.Context, userID string, disabled bool, now time.Time) error {
	return s.withTx(ctx, func(tx runner) error {
		n, err := tx.exec(ctx, `UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?`, disabled, now, userID)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if !disabled {
			return nil
		}
		if _, err := tx.exec(ctx, `UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?`, userID); err != nil {
			return err
		}
		if err := endAuthRequestsWhere(ctx, tx, `subject = ?`, userID); err != nil {
			return err
		}
		if err := revokeRefreshWhere(ctx, tx, now, `subject = ?`, userID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE access_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND subject = ?`, now, userID); err != nil {
			return err
		}
		_, err = tx.exec(ctx, `UPDATE sessions SET revoked_at = ? WHERE revoked_at IS NULL AND user_id = ?`, now, userID)
		return err
	})
}

// DeleteUser first locks the user's row against every other lock (PostgreSQL FOR UPDATE): a
// session or email code being inserted for the user holds a key-share lock on it, so it either
// committed before (and is deleted below) or waits and then fails on its foreign key
// (ErrNotFound). Codes, auth requests and tokens name the user without a foreign key (a token's
// subject may be a client id), so they go by subject, in this order:
//   - authorization codes first: a code redemption in flight holds its code's row lock, so the
//     DELETE waits for it and the later statements see the tokens it minted;
//   - refresh tokens in passes, for the reason revokeRefreshWhere loops: a rotation in flight
//     inserts a successor the first DELETE's snapshot does not hold; a rotation that starts later
//     finds its token gone (ErrRefreshReused);
//   - then access tokens, sessions, email codes, SMS challenges and recovery codes (their foreign
//     keys would cascade; deleting them here does not depend on it) and the user.
//
// Audit events have no foreign key and stay.
func (s *sqlStore) DeleteUser(ctx context.Context, id string) error {
	return s.withTx(ctx, func(tx runner) error {
		var got string
		if err := translate(tx.row(ctx, `SELECT id FROM users WHERE id = ?`+tx.d.lockRowForDelete, id).Scan(&got)); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM auth_codes WHERE subject = ?`, id); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM auth_requests WHERE subject = ? OR hint_subject = ?`, id, id); err != nil {
			return err
		}
		for range maxRevokePasses {
			n, err := tx.exec(ctx, `DELETE FROM refresh_tokens WHERE subject = ?`, id)
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
		}
		for _, q := range []string{
			`DELETE FROM access_tokens WHERE subject = ?`,
			`DELETE FROM sessions WHERE user_id = ?`,
			`DELETE FROM email_codes WHERE user_id = ?`,
			`DELETE FROM sms_challenges WHERE user_id = ?`,
			`DELETE FROM recovery_codes WHERE user_id = ?`,
			`DELETE FROM users WHERE id = ?`,
		} {
			if _, err := tx.exec(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
}
