package idp

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/fintech-idp/idp/internal/sms"
	"github.com/fintech-idp/idp/internal/store"
)

// AuditMFAReset is the audit event of an operator turning a user's two-step off.
const AuditMFAReset = "mfa.reset"

// MFAReset says what Admin.ResetMFA did.
type MFAReset struct {
	// Done is false when the user had no two-step on: nothing was changed.
	Done bool
	// Phone is the number that was removed, masked for display (sms.MaskPhone).
	Phone string
	// RecoveryCodes is how many unused recovery codes were deleted.
	RecoveryCodes int
	// Sessions is how many live sessions were revoked (every refresh and access token of the
	// user was revoked too).
	Sessions int64
}

// ResetMFA turns off the second factor of the user with id userID for an operator, when the
// person lost their phone: the phone number and every recovery code go (store.SetUserMFA), every
// session and token of the user is revoked, so that whoever holds the old phone or a session
// loses it, and an "mfa.reset" audit event records it (detail by=operator). The person signs in
// with their password next and may turn two-step on again with a new number.
//
// A user without two-step on is left alone (MFAReset.Done false, nil error). Two-step is turned
// off before the sessions are revoked, so no session made with the old factor survives; should
// the revocation fail, the error says two-step is already off and the sessions still need
// revoking. SMS challenges still running are left to expire: housekeeping ends them and cancels
// them at Vonage. An unknown userID is an error wrapping store.ErrNotFound.
func (a *Admin) ResetMFA(ctx context.Context, userID string) (MFAReset, error) {
	u, err := a.Store.GetUser(ctx, userID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return MFAReset{}, fmt.Errorf("no user with id %q: %w", userID, err)
		}
		return MFAReset{}, err
	}
	if !u.MFAEnabled {
		return MFAReset{}, nil
	}
	codes, err := a.Store.CountUnusedRecoveryCodes(ctx, u.ID)
	if err != nil {
		return MFAReset{}, err
	}
	now := a.Now().UTC()
	if err := a.Store.SetUserMFA(ctx, u.ID, "", false, now); err != nil {
		return MFAReset{}, fmt.Errorf("turn two-step off: %w", err)
	}
	res := MFAReset{Done: true, Phone: sms.MaskPhone(u.PhoneE164), RecoveryCodes: codes}
	n, err := a.Store.RevokeUserSessions(ctx, u.ID, "", now)
	if err != nil {
		return res, fmt.Errorf("two-step is off, but the sessions were not revoked (run idp users revoke-sessions): %w", err)
	}
	res.Sessions = n
	if err := a.Store.AppendAudit(ctx, &store.AuditEvent{At: now, Type: AuditMFAReset, UserID: u.ID, Detail: map[string]string{
		"by":               "operator",
		"recovery_codes":   strconv.Itoa(codes),
		"sessions_revoked": strconv.FormatInt(n, 10),
	}}); err != nil {
		return res, fmt.Errorf("two-step is off and the sessions are revoked, but the audit event was not written: %w", err)
	}
	return res, nil
}
