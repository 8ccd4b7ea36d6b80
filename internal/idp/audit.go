package idp

import (
	"context"
	"log/slog"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

// auditor writes audit events to the append-only table and to the log. A failed audit write is
// logged, never shown to the person: the action itself already happened.
type auditor struct {
	st     store.Store
	logger *slog.Logger
	now    func() time.Time
}

type ctxIPKey struct{}

// withClientIP records the client address (as the trusted-proxy logic decided it) for audit.
func withClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, ctxIPKey{}, ip)
}

func clientIPFrom(ctx context.Context) string {
	ip, _ := ctx.Value(ctxIPKey{}).(string)
	return ip
}

func (a *auditor) log(ctx context.Context, typ, userID, clientID string, detail map[string]string) {
	e := &store.AuditEvent{At: a.now(), Type: typ, UserID: userID, ClientID: clientID, IP: clientIPFrom(ctx), Detail: detail}
	a.logger.InfoContext(ctx, "audit", "type", typ, "user_id", userID, "client_id", clientID)
	if err := a.st.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		a.logger.ErrorContext(ctx, "audit write failed", "type", typ, "error", err)
	}
}
