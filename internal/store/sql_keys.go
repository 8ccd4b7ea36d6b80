package store

import (
	"context"
	"errors"
	"time"
)

var errKeySealed = errors.New("store: a signing key's sealed private part must not be empty")

const keyCols = `id, algorithm, private_enc, public_jwk, created_at, rotated_at`

func scanKey(sc scanner) (SigningKey, error) {
	var k SigningKey
	err := sc.Scan(&k.ID, &k.Algorithm, &k.PrivateEnc, &k.PublicJWK, timeCol{&k.CreatedAt}, timePtrCol{&k.RotatedAt})
	return k, translate(err)
}

func insertKey(ctx context.Context, r runner, k *SigningKey) error {
	_, err := r.exec(ctx, `INSERT INTO signing_keys (`+keyCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.Algorithm, nonNilBytes(k.PrivateEnc), nonNilBytes(k.PublicJWK), k.CreatedAt, k.RotatedAt)
	return err
}

// nonNilBytes keeps a nil slice from becoming NULL in a NOT NULL column.
func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// CreateSigningKey returns ErrConflict when the kid is taken.
func (s *sqlStore) CreateSigningKey(ctx context.Context, k *SigningKey) error {
	return insertKey(ctx, s.wr, k)
}

func (s *sqlStore) ListSigningKeys(ctx context.Context) ([]SigningKey, error) {
	return list(ctx, s.rd, scanKey, `SELECT `+keyCols+` FROM signing_keys ORDER BY created_at DESC, id DESC`)
}

func (s *sqlStore) RotateSigningKeys(ctx context.Context, next *SigningKey, now time.Time) error {
	return s.withTx(ctx, func(tx runner) error {
		if _, err := tx.exec(ctx, `UPDATE signing_keys SET rotated_at = ? WHERE rotated_at IS NULL`, now); err != nil {
			return err
		}
		return insertKey(ctx, tx, next)
	})
}

// DeleteSigningKeysRotatedBefore keeps keys rotated exactly at t, and keys never rotated.
func (s *sqlStore) DeleteSigningKeysRotatedBefore(ctx context.Context, t time.Time) (int64, error) {
	return s.wr.exec(ctx, `DELETE FROM signing_keys WHERE rotated_at < ?`, t)
}

// SetSigningKeyPrivate refuses an empty sealed part: it would lose the key for good.
func (s *sqlStore) SetSigningKeyPrivate(ctx context.Context, id string, sealed []byte) error {
	if len(sealed) == 0 {
		return errKeySealed
	}
	n, err := s.wr.exec(ctx, `UPDATE signing_keys SET private_enc = ? WHERE id = ?`, sealed, id)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return err
}
