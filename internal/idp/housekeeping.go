package idp

import (
	"context"
	"time"
)

// Housekeeping is what the periodic loop does.
type Housekeeping struct {
	Interval          time.Duration // 0 = no loop
	AuditRetention    time.Duration // 0 = keep audit events forever
	KeyRotationPeriod time.Duration // 0 = rotate only by `idp keys rotate`
}

// housekeepingLock names the cluster-wide lock: with several replicas only one does the work at a
// time (a PostgreSQL advisory lock; see store.WithLock).
const housekeepingLock = "idp-housekeeping"

// RunHousekeeping runs HousekeepOnce every h.Interval until ctx ends.
func (s *Server) RunHousekeeping(ctx context.Context, h Housekeeping) {
	if h.Interval <= 0 {
		return
	}
	t := time.NewTicker(h.Interval)
	defer t.Stop()
	for {
		if err := s.HousekeepOnce(ctx, h); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "housekeeping failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// HousekeepOnce deletes expired auth requests, codes, tokens, sessions and counters, applies the
// audit retention, rotates the signing key when it is older than the rotation period and drops
// rotated keys no token can need any more. Another replica holding the lock means nothing to do.
func (s *Server) HousekeepOnce(ctx context.Context, h Housekeeping) error {
	ran, err := s.st.WithLock(ctx, housekeepingLock, func(ctx context.Context) error {
		// Every Vonage verification must be checked or cancelled: end the abandoned ones first
		// (DeleteExpired keeps running challenges until they are ended).
		cancelled, err := s.sms.expireChallenges(ctx)
		if err != nil {
			return err
		}
		now := s.now()
		n, err := s.st.DeleteExpired(ctx, now)
		if err != nil {
			return err
		}
		var audits int64
		if h.AuditRetention > 0 {
			if audits, err = s.st.DeleteAuditBefore(ctx, now.Add(-h.AuditRetention)); err != nil {
				return err
			}
		}
		rotated := ""
		if h.KeyRotationPeriod > 0 {
			keys, err := s.st.ListSigningKeys(ctx)
			if err != nil {
				return err
			}
			if len(keys) > 0 && keys[0].RotatedAt == nil && now.Sub(keys[0].CreatedAt) >= h.KeyRotationPeriod {
				if rotated, err = s.keys.Rotate(ctx); err != nil {
					return err
				}
				s.audit.log(ctx, "key.rotated", "", "", map[string]string{"kid": rotated, "by": "schedule"})
			}
		}
		if _, err := s.st.DeleteSigningKeysRotatedBefore(ctx, now.Add(-s.keys.retention)); err != nil {
			return err
		}
		s.log.InfoContext(ctx, "housekeeping", "expired_rows_deleted", n, "sms_challenges_cancelled", cancelled, "audit_events_deleted", audits, "key_rotated", rotated != "")
		return nil
	})
	if err == nil && !ran {
		s.log.DebugContext(ctx, "housekeeping skipped: another replica holds the lock")
	}
	return err
}
