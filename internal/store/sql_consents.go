package store

import (
	"context"
	"time"
)

const consentCols = `user_id, client_id, created_at`

func scanConsent(sc scanner) (OfflineConsent, error) {
	var c OfflineConsent
	err := sc.Scan(&c.UserID, &c.ClientID, timeCol{&c.CreatedAt})
	return c, translate(err)
}

// GrantOfflineConsent keeps the first grant: a second one changes nothing. An unknown user or
// client fails on the foreign key (ErrNotFound).
func (s *sqlStore) GrantOfflineConsent(ctx context.Context, userID, clientID string, now time.Time) error {
	_, err := s.wr.exec(ctx, `INSERT INTO offline_consents (`+consentCols+`) VALUES (?, ?, ?)
		ON CONFLICT (user_id, client_id) DO NOTHING`, userID, clientID, now)
	return err
}

func (s *sqlStore) HasOfflineConsent(ctx context.Context, userID, clientID string) (bool, error) {
	var n int
	err := s.rd.row(ctx, `SELECT COUNT(*) FROM offline_consents WHERE user_id = ? AND client_id = ?`, userID, clientID).Scan(&n)
	return n > 0, translate(err)
}

func (s *sqlStore) ListOfflineConsents(ctx context.Context, userID string) ([]OfflineConsent, error) {
	return list(ctx, s.rd, scanConsent, `SELECT `+consentCols+` FROM offline_consents
		WHERE user_id = ? ORDER BY created_at DESC, client_id`, userID)
}

// RevokeOfflineConsent takes the user's row lock first, like every revocation (see IssueTokens),
// so that a refresh token minted concurrently is either revoked here or never minted.
func (s *sqlStore) RevokeOfflineConsent(ctx context.Context, userID, clientID string, now time.Time) error {
	return s.withTx(ctx, func(tx runner) error {
		if err := lockUser(ctx, tx, userID); err != nil {
			return err
		}
		n, err := tx.exec(ctx, `DELETE FROM offline_consents WHERE user_id = ? AND client_id = ?`, userID, clientID)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return revokeRefreshWhere(ctx, tx, now, `subject = ? AND client_id = ?`, userID, clientID)
	})
}
