package store

import (
	"context"
	"errors"
	"time"
)

var (
	errAuthRequestID = errors.New("store: an auth request needs an id")
	errAuthCodeHash  = errors.New("store: an auth code needs a hash and an auth request id")
)

const authRequestCols = `id, client_id, redirect_uri, scopes, state, nonce, response_type, response_mode,
	code_challenge, code_challenge_method, prompt, max_age, login_hint, hint_subject, acr_values, ui_locales,
	browser_hash, created_at, expires_at, subject, auth_time, amr, acr, session_id, done`

func scanAuthRequest(sc scanner) (AuthRequest, error) {
	var r AuthRequest
	err := sc.Scan(&r.ID, &r.ClientID, &r.RedirectURI, listCol{&r.Scopes}, &r.State, &r.Nonce,
		&r.ResponseType, &r.ResponseMode, &r.CodeChallenge, &r.CodeChallengeMethod, listCol{&r.Prompt},
		&r.MaxAge, &r.LoginHint, &r.HintSubject, listCol{&r.ACRValues}, listCol{&r.UILocales}, &r.BrowserHash,
		timeCol{&r.CreatedAt}, timeCol{&r.ExpiresAt}, &r.Subject, timeCol{&r.AuthTime}, listCol{&r.AMR},
		&r.ACR, stringCol{&r.SessionID}, &r.Done)
	return r, translate(err)
}

// CreateAuthRequest returns ErrConflict when the id is taken and ErrNotFound when the client is
// unknown. CodeHash is not stored: it belongs to the code.
func (s *sqlStore) CreateAuthRequest(ctx context.Context, r *AuthRequest) error {
	if r.ID == "" {
		return errAuthRequestID
	}
	_, err := s.wr.exec(ctx, `INSERT INTO auth_requests (`+authRequestCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.ClientID, r.RedirectURI, r.Scopes, r.State, r.Nonce, r.ResponseType, r.ResponseMode,
		r.CodeChallenge, r.CodeChallengeMethod, r.Prompt, r.MaxAge, r.LoginHint, r.HintSubject, r.ACRValues,
		r.UILocales, r.BrowserHash, r.CreatedAt, r.ExpiresAt, r.Subject, optTime(r.AuthTime), r.AMR,
		r.ACR, optString(r.SessionID), r.Done)
	return err
}

func (s *sqlStore) GetAuthRequest(ctx context.Context, id string, now time.Time) (*AuthRequest, error) {
	r, err := scanAuthRequest(s.rd.row(ctx, `SELECT `+authRequestCols+` FROM auth_requests WHERE id = ? AND expires_at > ?`, id, now))
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// CompleteAuthRequest is one conditional UPDATE, so of two concurrent completions exactly one
// records its subject.
func (s *sqlStore) CompleteAuthRequest(ctx context.Context, id string, done *AuthRequest, now time.Time) error {
	n, err := s.wr.exec(ctx, `UPDATE auth_requests
		SET subject = ?, auth_time = ?, amr = ?, acr = ?, session_id = ?, done = ?
		WHERE id = ? AND expires_at > ? AND NOT done`,
		done.Subject, optTime(done.AuthTime), done.AMR, done.ACR, optString(done.SessionID), true, id, now)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return err
}

func (s *sqlStore) DeleteAuthRequest(ctx context.Context, id string) error {
	_, err := s.wr.exec(ctx, `DELETE FROM auth_requests WHERE id = ?`, id)
	return err
}

// SaveAuthCode takes the code's client and subject from the auth request (c.ClientID and
// c.Subject are set to them), so a code can only ever name what its request authenticated. The
// contract gives no now: the request's expiry and its session's are checked against the store's
// clock. ErrNotFound when the request is unknown, expired or not done, or what authenticated it no
// longer holds (see checkAuthenticated); ErrConflict for a second code.
func (s *sqlStore) SaveAuthCode(ctx context.Context, c *AuthCode) error {
	if c.Hash == "" || c.AuthRequestID == "" {
		return errAuthCodeHash
	}
	var clientID, subject string
	err := s.withTx(ctx, func(tx runner) error {
		now := s.now()
		err := tx.row(ctx, `SELECT client_id, subject FROM auth_requests WHERE id = ? AND done AND expires_at > ?`,
			c.AuthRequestID, now).Scan(&clientID, &subject)
		if err != nil {
			return translate(err)
		}
		if err := lockUser(ctx, tx, subject); err != nil {
			return err
		}
		if err := checkAuthenticated(ctx, tx, c.AuthRequestID, now); err != nil {
			return err
		}
		_, err = tx.exec(ctx, `INSERT INTO auth_codes (hash, auth_request_id, client_id, subject, expires_at, used_at)
			VALUES (?, ?, ?, ?, ?, ?)`, c.Hash, c.AuthRequestID, clientID, subject, c.ExpiresAt, c.UsedAt)
		return err
	})
	if err != nil {
		return err
	}
	c.ClientID, c.Subject = clientID, subject
	return nil
}

// checkAuthenticated returns ErrNotFound unless the auth request exists and is done, the session
// it was authenticated in is unrevoked and unexpired at now, the user is enabled, and the session
// was authenticated under the user's current password epoch. The caller holds the user's row
// lock (lockUser), which every revocation of the user's sessions takes first: what this reads
// cannot change before the caller commits.
func checkAuthenticated(ctx context.Context, tx runner, authRequestID string, now time.Time) error {
	var ok int
	err := tx.row(ctx, `SELECT COUNT(*) FROM auth_requests r
		JOIN sessions s ON s.id = r.session_id AND s.user_id = r.subject
		JOIN users u ON u.id = r.subject
		WHERE r.id = ? AND r.done AND s.revoked_at IS NULL AND s.expires_at > ?
			AND NOT u.disabled AND s.password_epoch = u.password_epoch`, authRequestID, now).Scan(&ok)
	if err != nil {
		return translate(err)
	}
	if ok == 0 {
		return ErrNotFound
	}
	return nil
}

// GetAuthRequestByCode only reads on the usual path; a replay takes a write transaction to revoke.
func (s *sqlStore) GetAuthRequestByCode(ctx context.Context, codeHash string, now time.Time) (*AuthRequest, error) {
	var (
		requestID string
		expiresAt time.Time
		usedAt    *time.Time
	)
	err := s.rd.row(ctx, `SELECT auth_request_id, expires_at, used_at FROM auth_codes WHERE hash = ?`, codeHash).
		Scan(&requestID, timeCol{&expiresAt}, timePtrCol{&usedAt})
	if err != nil {
		return nil, translate(err)
	}
	if usedAt != nil {
		err := s.withTx(ctx, func(tx runner) error { return revokeIssuedFromCode(ctx, tx, codeHash, now) })
		if err != nil {
			return nil, err
		}
		return nil, ErrCodeReplayed
	}
	if !expiresAt.After(now.UTC().Truncate(time.Microsecond)) {
		return nil, ErrNotFound
	}
	r, err := scanAuthRequest(s.rd.row(ctx, `SELECT `+authRequestCols+` FROM auth_requests WHERE id = ?`, requestID))
	if err != nil {
		return nil, err
	}
	r.CodeHash = codeHash
	return &r, nil
}
