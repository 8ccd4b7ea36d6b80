package store

import (
	"context"
	"errors"
)

var errAuditType = errors.New("store: an audit event needs a type")

const auditCols = `id, at, type, user_id, client_id, ip, detail`

func scanAudit(sc scanner) (AuditEvent, error) {
	var e AuditEvent
	err := sc.Scan(&e.ID, timeCol{&e.At}, &e.Type, stringCol{&e.UserID}, stringCol{&e.ClientID}, &e.IP, mapCol{&e.Detail})
	return e, translate(err)
}

// AppendAudit lets the database number the event when e.ID is zero (e.ID is set on return). An
// explicit ID (a restore) is kept, ErrConflict when taken, and later numbers continue after it.
// A zero At becomes the store's clock.
func (s *sqlStore) AppendAudit(ctx context.Context, e *AuditEvent) error {
	if e.Type == "" {
		return errAuditType
	}
	if e.At.IsZero() {
		e.At = s.now().UTC()
	}
	if e.ID == 0 {
		return translate(s.wr.row(ctx, `INSERT INTO audit_events (at, type, user_id, client_id, ip, detail)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
			e.At, e.Type, optString(e.UserID), optString(e.ClientID), e.IP, e.Detail).Scan(&e.ID))
	}
	return s.withTx(ctx, func(tx runner) error {
		_, err := tx.exec(ctx, `INSERT INTO audit_events (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.At, e.Type, optString(e.UserID), optString(e.ClientID), e.IP, e.Detail)
		if err != nil || s.d.syncAuditID == "" {
			return err
		}
		_, err = tx.exec(ctx, s.d.syncAuditID, e.ID)
		return err
	})
}

// ListAudit orders by time, then id, newest first. A limit of zero or less means no limit.
func (s *sqlStore) ListAudit(ctx context.Context, userID string, limit int) ([]AuditEvent, error) {
	query := `SELECT ` + auditCols + ` FROM audit_events`
	var args []any
	if userID != "" {
		query += ` WHERE user_id = ?`
		args = append(args, userID)
	}
	query += ` ORDER BY at DESC, id DESC`
	if limit > 0 {
		query += ` LIMIT ?`
		args = append(args, limit)
	}
	return list(ctx, s.rd, scanAudit, query, args...)
}
