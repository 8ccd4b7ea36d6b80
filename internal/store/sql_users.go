package store

import (
	"context"
	"errors"
	"time"
)

var errUserFields = errors.New("store: a user needs an id and an email")

const userCols = `id, email, password_hash, email_verified, phone_e164, mfa_enabled, disabled, created_at, updated_at`

func scanUser(sc scanner) (User, error) {
	var u User
	err := sc.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.EmailVerified, stringCol{&u.PhoneE164},
		&u.MFAEnabled, &u.Disabled, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt})
	return u, translate(err)
}

func (s *sqlStore) CreateUser(ctx context.Context, u *User) error {
	if u.ID == "" || u.Email == "" {
		return errUserFields
	}
	_, err := s.wr.exec(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.PasswordHash, u.EmailVerified, optString(u.PhoneE164), u.MFAEnabled,
		u.Disabled, u.CreatedAt, u.UpdatedAt)
	return err
}

func (s *sqlStore) GetUser(ctx context.Context, id string) (*User, error) {
	u, err := scanUser(s.rd.row(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if err != nil {
		return nil, err
	}
	return &u, nil
}

func (s *sqlStore) GetUserByEmail(ctx context.Context, email string) (*User, error) {
	u, err := scanUser(s.rd.row(ctx, `SELECT `+userCols+` FROM users WHERE email = ?`, email))
	if err != nil {
		return nil, err
	}
	return &u, nil
}

func (s *sqlStore) ListUsers(ctx context.Context) ([]User, error) {
	return list(ctx, s.rd, scanUser, `SELECT `+userCols+` FROM users ORDER BY created_at, id`)
}

func (s *sqlStore) UpdatePasswordHash(ctx context.Context, userID, hash string, now time.Time) error {
	n, err := s.wr.exec(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`, hash, now, userID)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return err
}

// SetUserDisabled revokes, when disabling, in the same transaction as the flag: the refresh tokens
// first (see revokeRefreshWhere for why that order closes the race with a concurrent rotation),
// then every access token and session of the user. Enabling again revokes nothing and restores
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
