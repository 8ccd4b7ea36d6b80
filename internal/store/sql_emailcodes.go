package store

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"
)

var (
	errEmailCodeFields = errors.New("store: an email code needs an id, a user, a code hash and a known purpose")
	errCheckArgs       = errors.New("store: CheckEmailCode needs a code hash and maxAttempts of at least 1")
)

const emailCodeCols = `id, user_id, purpose, code_hash, pending_password_hash, created_at, expires_at, attempts, consumed_at`

func scanEmailCode(sc scanner) (EmailCode, error) {
	var c EmailCode
	err := sc.Scan(&c.ID, &c.UserID, &c.Purpose, &c.CodeHash, &c.PendingPasswordHash,
		timeCol{&c.CreatedAt}, timeCol{&c.ExpiresAt}, &c.Attempts, timePtrCol{&c.ConsumedAt})
	return c, translate(err)
}

func validPurpose(p string) bool { return p == PurposeVerify || p == PurposeReset }

// lockUser locks the user's row for the rest of the transaction; ErrNotFound when unknown.
//
// CreateEmailCode and CheckEmailCode both take it first. For CreateEmailCode it is what makes "a
// resend voids the previous code" hold under concurrency with PostgreSQL at READ COMMITTED: without
// it, two resends could each void the old code and then both insert, and the second insert would
// fail on email_codes_unconsumed_key. For CheckEmailCode it fixes the lock order (user, then code):
// a matching verify code updates the user, and taking the code first would deadlock with a
// concurrent resend.
func lockUser(ctx context.Context, tx runner, userID string) error {
	var id string
	return translate(tx.row(ctx, `SELECT id FROM users WHERE id = ?`+tx.d.lockRow, userID).Scan(&id))
}

// CreateEmailCode voids the user's unconsumed codes of the purpose at c.CreatedAt (the store has
// no other clock for it) and inserts c as given.
func (s *sqlStore) CreateEmailCode(ctx context.Context, c *EmailCode) error {
	if c.ID == "" || c.UserID == "" || c.CodeHash == "" || !validPurpose(c.Purpose) {
		return errEmailCodeFields
	}
	return s.withTx(ctx, func(tx runner) error {
		if err := lockUser(ctx, tx, c.UserID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE email_codes SET consumed_at = ?
			WHERE user_id = ? AND purpose = ? AND consumed_at IS NULL`, c.CreatedAt, c.UserID, c.Purpose); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO email_codes (`+emailCodeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.UserID, c.Purpose, c.CodeHash, c.PendingPasswordHash, c.CreatedAt, c.ExpiresAt,
			c.Attempts, c.ConsumedAt)
		return err
	})
}

func (s *sqlStore) GetEmailCode(ctx context.Context, id string) (*EmailCode, error) {
	c, err := scanEmailCode(s.rd.row(ctx, `SELECT `+emailCodeCols+` FROM email_codes WHERE id = ?`, id))
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// LatestEmailCode breaks a tie on created_at (a resend within the same microsecond) in favour of
// the unconsumed code: CreateEmailCode voids every other one, so it is the one inserted last.
func (s *sqlStore) LatestEmailCode(ctx context.Context, userID, purpose string) (*EmailCode, error) {
	c, err := scanEmailCode(s.rd.row(ctx, `SELECT `+emailCodeCols+` FROM email_codes
		WHERE user_id = ? AND purpose = ?
		ORDER BY created_at DESC, CASE WHEN consumed_at IS NULL THEN 0 ELSE 1 END, id DESC
		LIMIT 1`, userID, purpose))
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// CheckEmailCode counts the attempt with one conditional UPDATE: with PostgreSQL a concurrent
// check waits for the row lock and then re-evaluates attempts < maxAttempts on the committed row;
// with SQLite checks run one at a time. So no more than maxAttempts checks of a code ever reach the
// comparison, however many run at once. Only when the UPDATE matched nothing does a second read
// tell "too many attempts" from "no live code"; attempts never go down, so that answer cannot be
// stale in the direction that matters.
func (s *sqlStore) CheckEmailCode(ctx context.Context, userID, purpose, codeHash string, maxAttempts int, now time.Time) (*EmailCode, error) {
	if codeHash == "" || maxAttempts < 1 {
		return nil, errCheckArgs
	}
	var out *EmailCode
	err := s.withTx(ctx, func(tx runner) error {
		out = nil
		if err := lockUser(ctx, tx, userID); err != nil {
			return err
		}
		c, err := scanEmailCode(tx.row(ctx, `UPDATE email_codes SET attempts = attempts + 1
			WHERE user_id = ? AND purpose = ? AND consumed_at IS NULL AND expires_at > ? AND attempts < ?
			RETURNING `+emailCodeCols, userID, purpose, now, maxAttempts))
		if errors.Is(err, ErrNotFound) {
			dead, err := scanEmailCode(tx.row(ctx, `SELECT `+emailCodeCols+` FROM email_codes
				WHERE user_id = ? AND purpose = ? AND consumed_at IS NULL AND expires_at > ?`, userID, purpose, now))
			if err != nil {
				return err // ErrNotFound: no live code
			}
			out = &dead
			return ErrTooManyAttempts // nothing was written
		}
		if err != nil {
			return err
		}
		out = &c
		// The stored hash is a keyed hash of a 6-digit code; comparing in constant time costs
		// nothing and leaks nothing about it.
		if subtle.ConstantTimeCompare([]byte(c.CodeHash), []byte(codeHash)) != 1 {
			return afterCommit(ErrCodeMismatch) // the attempt must stay counted
		}
		if _, err := tx.exec(ctx, `UPDATE email_codes SET consumed_at = ? WHERE id = ?`, now, c.ID); err != nil {
			return err
		}
		c.ConsumedAt = &now
		if purpose != PurposeVerify {
			return nil
		}
		if c.PendingPasswordHash != "" {
			_, err = tx.exec(ctx, `UPDATE users SET email_verified = ?, password_hash = ?, updated_at = ? WHERE id = ?`,
				true, c.PendingPasswordHash, now, userID)
		} else {
			_, err = tx.exec(ctx, `UPDATE users SET email_verified = ?, updated_at = ? WHERE id = ?`, true, now, userID)
		}
		return err
	})
	if out != nil && out.ConsumedAt != nil {
		t := out.ConsumedAt.UTC().Truncate(time.Microsecond) // as stored
		out.ConsumedAt = &t
	}
	if err != nil && !errors.Is(err, ErrCodeMismatch) && !errors.Is(err, ErrTooManyAttempts) {
		return nil, err
	}
	return out, err
}
