package store

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
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

// ListAudit is SearchAudit with a user and a limit.
func (s *sqlStore) ListAudit(ctx context.Context, userID string, limit int) ([]AuditEvent, error) {
	return s.SearchAudit(ctx, AuditFilter{UserID: userID, Limit: limit})
}

// SearchAudit builds one query from the filter's set fields. A type prefix is compared with substr
// rather than LIKE: SQLite's LIKE ignores ASCII case and both treat _ and % as wildcards, while
// substr compares exactly on both databases (it counts characters on both, hence the rune count).
// The time order uses audit_events_at_idx (or audit_events_user_id_at_idx with a user), the
// following order the primary key.
func (s *sqlStore) SearchAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	var (
		where []string
		args  []any
	)
	if f.UserID != "" {
		where = append(where, `user_id = ?`)
		args = append(args, f.UserID)
	}
	if prefix, ok := strings.CutSuffix(f.Type, "*"); ok && strings.HasSuffix(prefix, ".") {
		where = append(where, `substr(type, 1, ?) = ?`)
		args = append(args, utf8.RuneCountInString(prefix), prefix)
	} else if f.Type != "" {
		where = append(where, `type = ?`)
		args = append(args, f.Type)
	}
	if !f.Since.IsZero() {
		where = append(where, `at >= ?`)
		args = append(args, f.Since)
	}
	if !f.Until.IsZero() {
		where = append(where, `at < ?`)
		args = append(args, f.Until)
	}
	order := ` ORDER BY at DESC, id DESC`
	if f.AfterID > 0 {
		where = append(where, `id > ?`)
		args = append(args, f.AfterID)
		order = ` ORDER BY id`
	}
	query := `SELECT ` + auditCols + ` FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += order
	if f.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return list(ctx, s.rd, scanAudit, query, args...)
}

// auditDeleteBatch is how many events one statement of DeleteAuditBefore removes: small enough
// that SQLite's single writer is free again within milliseconds, large enough that a year of
// events goes in a few hundred statements. A variable so that a test can make it small.
var auditDeleteBatch = 10000

// DeleteAuditBefore deletes the oldest events first, a batch per transaction, until a batch
// finds nothing (not merely fewer than a batch: another process may have been deleting the same
// rows concurrently). It is the only DELETE of audit events: on PostgreSQL each batch first sets
// the transaction-local setting the append-only trigger lets through (dialect.auditRetention).
func (s *sqlStore) DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.withTx(ctx, func(tx runner) error {
			if s.d.auditRetention != "" {
				if _, err := tx.exec(ctx, s.d.auditRetention); err != nil {
					return err
				}
			}
			var err error
			n, err = tx.exec(ctx, `DELETE FROM audit_events WHERE id IN
				(SELECT id FROM audit_events WHERE at < ? ORDER BY at, id LIMIT ?)`, t, auditDeleteBatch)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n == 0 {
			return total, nil
		}
	}
}
