package store

import (
	"context"
	"crypto/rand"
	"errors"
	"time"
)

// The SMS second factor: Vonage Verify challenges, recovery codes and the user's MFA switch.

var (
	errSMSChallengeFields = errors.New("store: an SMS challenge needs an id, a user, a phone number, a known purpose and channel, and must be running")
	errSMSChannel         = errors.New("store: unknown SMS channel")
	errSMSEndReason       = errors.New("store: unknown SMS challenge end reason")
	errCountArgs          = errors.New("store: CountSMSAttempt needs max of at least 1")
	errRecoveryHash       = errors.New("store: a recovery code hash must not be empty")
	errMFAPhone           = errors.New("store: turning two-step on needs a phone number")
)

const smsChallengeCols = `id, user_id, purpose, phone_e164, request_id, channel, auth_request_id, attempts, created_at, expires_at, ended_at, end_reason`

func scanSMSChallenge(sc scanner) (SMSChallenge, error) {
	var c SMSChallenge
	err := sc.Scan(&c.ID, &c.UserID, &c.Purpose, &c.PhoneE164, stringCol{&c.RequestID}, &c.Channel,
		stringCol{&c.AuthRequestID}, &c.Attempts, timeCol{&c.CreatedAt}, timeCol{&c.ExpiresAt},
		timePtrCol{&c.EndedAt}, &c.EndReason)
	return c, translate(err)
}

func validSMSPurpose(p string) bool {
	switch p {
	case SMSPurposeLogin, SMSPurposeEnrol, SMSPurposeStepUp, SMSPurposeReset, SMSPurposeDisable:
		return true
	}
	return false
}

func validSMSChannel(ch string) bool { return ch == SMSChannelSMS || ch == SMSChannelVoice }

func validSMSEndReason(r string) bool {
	switch r {
	case SMSEndSuccess, SMSEndCancelled, SMSEndExpired, SMSEndTooMany, SMSEndReplaced:
		return true
	}
	return false
}

// CreateSMSChallenge takes the user's row lock first (lockUser), like CreateEmailCode: concurrent
// creates for one user queue, so the running challenge they replace is read, ended and its
// request id handed out by exactly one of them, and the second insert never trips
// sms_challenges_running_key. The running rows are read with lockRow too, so that a concurrent
// EndSMSChallenge (which does not lock the user) either ends a row first — and then it is not
// returned here — or waits and finds it ended.
func (s *sqlStore) CreateSMSChallenge(ctx context.Context, c *SMSChallenge) ([]string, error) {
	if c.Channel == "" {
		c.Channel = SMSChannelSMS
	}
	if c.ID == "" || c.UserID == "" || c.PhoneE164 == "" || !validSMSPurpose(c.Purpose) ||
		!validSMSChannel(c.Channel) || c.EndedAt != nil || c.EndReason != "" {
		return nil, errSMSChallengeFields
	}
	var replaced []string
	err := s.withTx(ctx, func(tx runner) error {
		replaced = nil
		if err := lockUser(ctx, tx, c.UserID); err != nil {
			return err
		}
		running, err := list(ctx, tx, scanSMSChallenge, `SELECT `+smsChallengeCols+` FROM sms_challenges
			WHERE user_id = ? AND purpose = ? AND ended_at IS NULL`+tx.d.lockRow, c.UserID, c.Purpose)
		if err != nil {
			return err
		}
		for _, old := range running {
			if _, err := tx.exec(ctx, `UPDATE sms_challenges SET ended_at = ?, end_reason = ?, request_id = NULL
				WHERE id = ?`, c.CreatedAt, SMSEndReplaced, old.ID); err != nil {
				return err
			}
			if old.RequestID != "" {
				replaced = append(replaced, old.RequestID)
			}
		}
		_, err = tx.exec(ctx, `INSERT INTO sms_challenges (`+smsChallengeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.UserID, c.Purpose, c.PhoneE164, optString(c.RequestID), c.Channel,
			optString(c.AuthRequestID), c.Attempts, c.CreatedAt, c.ExpiresAt, nil, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return replaced, nil
}

func (s *sqlStore) GetSMSChallenge(ctx context.Context, id string) (*SMSChallenge, error) {
	c, err := scanSMSChallenge(s.rd.row(ctx, `SELECT `+smsChallengeCols+` FROM sms_challenges WHERE id = ?`, id))
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func (s *sqlStore) RunningSMSChallengeByRequestID(ctx context.Context, requestID string) (*SMSChallenge, error) {
	if requestID == "" {
		return nil, ErrNotFound
	}
	c, err := scanSMSChallenge(s.rd.row(ctx, `SELECT `+smsChallengeCols+` FROM sms_challenges
		WHERE request_id = ? AND ended_at IS NULL ORDER BY created_at DESC LIMIT 1`, requestID))
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func (s *sqlStore) SetSMSChallengeChannel(ctx context.Context, id, channel string) error {
	if !validSMSChannel(channel) {
		return errSMSChannel
	}
	n, err := s.wr.exec(ctx, `UPDATE sms_challenges SET channel = ? WHERE id = ? AND ended_at IS NULL`, channel, id)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return err
}

// CountSMSAttempt is CheckEmailCode's counting without the comparison (Vonage compares): one
// conditional UPDATE that PostgreSQL re-evaluates on the committed row after waiting for its lock,
// and SQLite runs one writer at a time. Only when it matched nothing does a second read tell "too
// many attempts" from "not running"; attempts never go down and a challenge never runs again, so
// that answer cannot be stale in the direction that matters.
func (s *sqlStore) CountSMSAttempt(ctx context.Context, id string, max int, now time.Time) (*SMSChallenge, error) {
	if max < 1 {
		return nil, errCountArgs
	}
	var out *SMSChallenge
	err := s.withTx(ctx, func(tx runner) error {
		out = nil
		c, err := scanSMSChallenge(tx.row(ctx, `UPDATE sms_challenges SET attempts = attempts + 1
			WHERE id = ? AND ended_at IS NULL AND expires_at > ? AND attempts < ?
			RETURNING `+smsChallengeCols, id, now, max))
		if errors.Is(err, ErrNotFound) {
			dead, err := scanSMSChallenge(tx.row(ctx, `SELECT `+smsChallengeCols+` FROM sms_challenges
				WHERE id = ? AND ended_at IS NULL AND expires_at > ?`, id, now))
			if err != nil {
				return err // ErrNotFound: not running
			}
			out = &dead
			return ErrTooManyAttempts // nothing was written
		}
		if err != nil {
			return err
		}
		out = &c
		return nil
	})
	if err != nil && !errors.Is(err, ErrTooManyAttempts) {
		return nil, err
	}
	return out, err
}

// EndSMSChallenge reads the request id under the row lock (lockRow) so that, of two concurrent
// ends, the second waits and then finds the challenge ended.
func (s *sqlStore) EndSMSChallenge(ctx context.Context, id, reason string, now time.Time) (string, error) {
	if !validSMSEndReason(reason) {
		return "", errSMSEndReason
	}
	var requestID string
	err := s.withTx(ctx, func(tx runner) error {
		requestID = ""
		if err := translate(tx.row(ctx, `SELECT request_id FROM sms_challenges WHERE id = ? AND ended_at IS NULL`+tx.d.lockRow,
			id).Scan(stringCol{&requestID})); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `UPDATE sms_challenges SET ended_at = ?, end_reason = ?, request_id = NULL WHERE id = ?`,
			now, reason, id)
		return err
	})
	if err != nil {
		return "", err
	}
	return requestID, nil
}

func (s *sqlStore) ExpiredSMSChallenges(ctx context.Context, now time.Time, limit int) ([]SMSChallenge, error) {
	q := `SELECT ` + smsChallengeCols + ` FROM sms_challenges WHERE ended_at IS NULL AND expires_at <= ?
		ORDER BY expires_at, id`
	if limit > 0 {
		return list(ctx, s.rd, scanSMSChallenge, q+` LIMIT ?`, now, limit)
	}
	return list(ctx, s.rd, scanSMSChallenge, q, now)
}

const recoveryCodeCols = `id, hash, created_at`

func scanRecoveryCode(sc scanner) (RecoveryCode, error) {
	var c RecoveryCode
	err := sc.Scan(&c.ID, &c.Hash, timeCol{&c.CreatedAt})
	return c, translate(err)
}

// ReplaceRecoveryCodes locks the user first (lockUser): it makes an unknown user ErrNotFound
// rather than a foreign-key error half-way, and queues concurrent replacements and SetUserMFA so
// that one set of codes wins whole.
func (s *sqlStore) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string, now time.Time) error {
	for _, h := range hashes {
		if h == "" {
			return errRecoveryHash
		}
	}
	ids := make([]string, len(hashes))
	for i := range ids {
		ids[i] = rand.Text() // 26 base32 characters, 130 bits
	}
	return s.withTx(ctx, func(tx runner) error {
		if err := lockUser(ctx, tx, userID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
			return err
		}
		for i, h := range hashes {
			if _, err := tx.exec(ctx, `INSERT INTO recovery_codes (id, user_id, hash, created_at, used_at) VALUES (?, ?, ?, ?, ?)`,
				ids[i], userID, h, now, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// IssueFirstRecoveryCodes locks the user (lockUser), so concurrent first sign-ins queue and the
// later ones see the codes the first stored.
func (s *sqlStore) IssueFirstRecoveryCodes(ctx context.Context, userID string, hashes []string, now time.Time) (bool, error) {
	for _, h := range hashes {
		if h == "" {
			return false, errRecoveryHash
		}
	}
	issued := false
	err := s.withTx(ctx, func(tx runner) error {
		issued = false
		if err := lockUser(ctx, tx, userID); err != nil {
			return err
		}
		var mfa bool
		var codes int
		if err := translate(tx.row(ctx, `SELECT mfa_enabled, (SELECT COUNT(*) FROM recovery_codes WHERE user_id = ?) FROM users WHERE id = ?`,
			userID, userID).Scan(&mfa, &codes)); err != nil {
			return err
		}
		if !mfa || codes > 0 {
			return nil
		}
		for _, h := range hashes {
			if _, err := tx.exec(ctx, `INSERT INTO recovery_codes (id, user_id, hash, created_at, used_at) VALUES (?, ?, ?, ?, ?)`,
				rand.Text(), userID, h, now, nil); err != nil {
				return err
			}
		}
		issued = true
		return nil
	})
	return issued && err == nil, err
}

func (s *sqlStore) ListUnusedRecoveryCodes(ctx context.Context, userID string) ([]RecoveryCode, error) {
	return list(ctx, s.rd, scanRecoveryCode, `SELECT `+recoveryCodeCols+` FROM recovery_codes
		WHERE user_id = ? AND used_at IS NULL ORDER BY created_at, id`, userID)
}

// UseRecoveryCode is one conditional UPDATE: PostgreSQL makes a concurrent one wait for the row
// lock and re-evaluate used_at IS NULL on the committed row; SQLite runs writers one at a time.
func (s *sqlStore) UseRecoveryCode(ctx context.Context, userID, id string, now time.Time) error {
	n, err := s.wr.exec(ctx, `UPDATE recovery_codes SET used_at = ? WHERE id = ? AND user_id = ? AND used_at IS NULL`, now, id, userID)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return err
}

func (s *sqlStore) CountUnusedRecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	err := translate(s.rd.row(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`, userID).Scan(&n))
	return n, err
}

func (s *sqlStore) SetUserMFA(ctx context.Context, userID, phoneE164 string, enabled bool, now time.Time) error {
	if enabled && phoneE164 == "" {
		return errMFAPhone
	}
	if !enabled {
		phoneE164 = ""
	}
	return s.withTx(ctx, func(tx runner) error {
		n, err := tx.exec(ctx, `UPDATE users SET mfa_enabled = ?, phone_e164 = ?, updated_at = ? WHERE id = ?`,
			enabled, optString(phoneE164), now, userID)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if enabled {
			return nil
		}
		_, err = tx.exec(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID)
		return err
	})
}
