package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// errDryRun rolls back the transaction of a dry run.
var errDryRun = errors.New("store: dry run")

// ImportUsers reads the batch's existing users in one SELECT (locking them on PostgreSQL, so an
// update and a concurrent change queue), inserts the new ones in one multi-row INSERT … ON
// CONFLICT DO NOTHING RETURNING (a row that lost a race with a signup is simply not returned,
// and fails alone, without aborting the transaction), and updates changed ones one by one, each
// in its own savepoint. Fast for the common case (100,000 new users: a few hundred statements),
// and a bad line still rolls back only itself.
func (s *sqlStore) ImportUsers(ctx context.Context, batch []ImportUser, update, dryRun bool, now time.Time) ([]ImportResult, error) {
	var out []ImportResult
	err := s.withTx(ctx, func(tx runner) error {
		res, err := importBatch(ctx, tx, batch, update, now)
		if err != nil {
			return err
		}
		out = res
		if dryRun {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func importBatch(ctx context.Context, tx runner, batch []ImportUser, update bool, now time.Time) ([]ImportResult, error) {
	res := make([]ImportResult, len(batch))
	fail := func(i int, err error) { res[i] = ImportResult{Line: batch[i].Line, Outcome: ImportFailed, Err: err} }
	// Lines that can be written at all, the first of each email only.
	seen := make(map[string]bool, len(batch))
	var emails []any
	for i, u := range batch {
		res[i] = ImportResult{Line: u.Line}
		switch {
		case u.Email == "" || u.ID == "" || u.PasswordHash == "":
			fail(i, errors.New("store: an imported user needs an email, an id and a password hash"))
		case u.MFAEnabled && u.PhoneE164 == "":
			fail(i, errors.New("store: two-step on needs a phone number"))
		case seen[u.Email]:
			fail(i, fmt.Errorf("%w: the email appears earlier in the batch", ErrConflict))
		default:
			seen[u.Email] = true
			emails = append(emails, u.Email)
		}
	}
	existing := make(map[string]User, len(emails))
	if len(emails) > 0 {
		q := `SELECT ` + userReadCols + ` FROM users WHERE email IN (?` + strings.Repeat(", ?", len(emails)-1) + `)` + tx.d.lockRow
		users, err := list(ctx, tx, scanUser, q, emails...)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			existing[u.Email] = u
		}
	}
	var inserts []int
	for i, u := range batch {
		if res[i].Outcome == ImportFailed {
			continue
		}
		cur, ok := existing[u.Email]
		if !ok {
			inserts = append(inserts, i)
			continue
		}
		res[i].UserID = cur.ID
		want := importedState(cur, u)
		switch {
		case want == cur:
			res[i].Outcome = ImportUnchanged
		case !update:
			res[i].Outcome = ImportDiffers
		default:
			if err := updateImported(ctx, tx, cur, want, now); err != nil {
				if !isConstraint(err) {
					return nil, err
				}
				fail(i, err)
				continue
			}
			res[i].Outcome = ImportUpdated
		}
	}
	if err := insertImported(ctx, tx, batch, inserts, res, now); err != nil {
		return nil, err
	}
	return res, nil
}

// importedState is cur as the import line u would leave it: verified stays verified, the phone
// is kept only with two-step on.
func importedState(cur User, u ImportUser) User {
	want := cur
	want.PasswordHash = u.PasswordHash
	want.EmailVerified = cur.EmailVerified || u.EmailVerified
	want.MFAEnabled = u.MFAEnabled
	want.PhoneE164 = ""
	if u.MFAEnabled {
		want.PhoneE164 = u.PhoneE164
	}
	return want
}

// updateImported writes want over cur inside a savepoint, so that a failure undoes only it.
func updateImported(ctx context.Context, tx runner, cur, want User, now time.Time) (err error) {
	if _, err := tx.exec(ctx, `SAVEPOINT import_line`); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			if _, rerr := tx.exec(ctx, `ROLLBACK TO SAVEPOINT import_line`); rerr != nil {
				err = rerr // the transaction itself is broken: fail the batch
			}
			return
		}
		_, err = tx.exec(ctx, `RELEASE SAVEPOINT import_line`)
	}()
	if _, err := tx.exec(ctx, `UPDATE users SET password_hash = ?, email_verified = ?, phone_e164 = ?, mfa_enabled = ?, updated_at = ? WHERE id = ?`,
		want.PasswordHash, want.EmailVerified, optString(want.PhoneE164), want.MFAEnabled, now, cur.ID); err != nil {
		return err
	}
	if cur.MFAEnabled && !want.MFAEnabled {
		if _, err := tx.exec(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, cur.ID); err != nil {
			return err
		}
	}
	if cur.PasswordHash != want.PasswordHash {
		// A new password ends what the old one opened, as a password reset does: the epoch moves
		// on, and unredeemed sign-ins end with the sessions (see ChangePassword).
		if _, err := tx.exec(ctx, `UPDATE users SET password_epoch = password_epoch + 1 WHERE id = ?`, cur.ID); err != nil {
			return err
		}
		if err := endAuthRequestsWhere(ctx, tx, `subject = ?`, cur.ID); err != nil {
			return err
		}
		if err := revokeRefreshWhere(ctx, tx, now, `subject = ?`, cur.ID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE access_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND subject = ?`, now, cur.ID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE sessions SET revoked_at = ? WHERE revoked_at IS NULL AND user_id = ?`, now, cur.ID); err != nil {
			return err
		}
	}
	return nil
}

// importInsertRows bounds one INSERT: 10 parameters a row stays far below SQLite's 32,766 and
// PostgreSQL's 65,535.
const importInsertRows = 500

// insertImported inserts batch[idx...] with multi-row INSERT … ON CONFLICT DO NOTHING; the rows
// RETURNING does not name lost to a concurrent insert of the same email or id.
func insertImported(ctx context.Context, tx runner, batch []ImportUser, idx []int, res []ImportResult, now time.Time) error {
	for len(idx) > 0 {
		n := min(len(idx), importInsertRows)
		chunk := idx[:n]
		idx = idx[n:]
		args := make([]any, 0, 10*n)
		for _, i := range chunk {
			u := batch[i]
			created := u.CreatedAt
			if created.IsZero() {
				created = now
			}
			phone := ""
			if u.MFAEnabled {
				phone = u.PhoneE164
			}
			args = append(args, u.ID, u.Email, u.PasswordHash, u.EmailVerified, optString(phone), u.MFAEnabled, false, created, now, 0)
		}
		q := `INSERT INTO users (` + userCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)` +
			strings.Repeat(`, (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, n-1) + ` ON CONFLICT DO NOTHING RETURNING id`
		ids, err := list(ctx, tx, func(sc scanner) (string, error) {
			var id string
			return id, translate(sc.Scan(&id))
		}, q, args...)
		if err != nil {
			return err
		}
		inserted := make(map[string]bool, len(ids))
		for _, id := range ids {
			inserted[id] = true
		}
		for _, i := range chunk {
			if inserted[batch[i].ID] {
				res[i].Outcome, res[i].UserID = ImportCreated, batch[i].ID
				continue
			}
			res[i] = ImportResult{Line: batch[i].Line, Outcome: ImportFailed,
				Err: fmt.Errorf("%w: the email or id was taken meanwhile", ErrConflict)}
		}
	}
	return nil
}

// isConstraint reports a line's own fault (a unique or foreign-key violation), as opposed to a
// broken connection or transaction, which fails the batch.
func isConstraint(err error) bool {
	return errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound)
}
