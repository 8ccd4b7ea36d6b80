package store

import (
	"context"
	"errors"
	"time"
)

var (
	errResourceID = errors.New("store: a resource needs an id and an audience")
	errJTI        = errors.New("store: a client assertion needs a client id and a jti")
)

const resourceCols = `id, audience, scopes, client_id, created_at`

func scanResource(sc scanner) (Resource, error) {
	var r Resource
	var clientID *string
	err := sc.Scan(&r.ID, &r.Audience, listCol{&r.Scopes}, &clientID, timeCol{&r.CreatedAt})
	if clientID != nil {
		r.ClientID = *clientID
	}
	return r, translate(err)
}

// nullable stores "" as NULL (an optional reference).
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *sqlStore) CreateResource(ctx context.Context, r *Resource) error {
	if r.ID == "" || r.Audience == "" {
		return errResourceID
	}
	_, err := s.wr.exec(ctx, `INSERT INTO resources (`+resourceCols+`) VALUES (?, ?, ?, ?, ?)`,
		r.ID, r.Audience, r.Scopes, nullable(r.ClientID), r.CreatedAt)
	return err
}

func (s *sqlStore) GetResource(ctx context.Context, id string) (*Resource, error) {
	r, err := scanResource(s.rd.row(ctx, `SELECT `+resourceCols+` FROM resources WHERE id = ?`, id))
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func (s *sqlStore) ListResources(ctx context.Context) ([]Resource, error) {
	return list(ctx, s.rd, scanResource, `SELECT `+resourceCols+` FROM resources ORDER BY id`)
}

func (s *sqlStore) UpdateResource(ctx context.Context, r *Resource) error {
	if r.ID == "" || r.Audience == "" {
		return errResourceID
	}
	n, err := s.wr.exec(ctx, `UPDATE resources SET audience = ?, scopes = ?, client_id = ? WHERE id = ?`,
		r.Audience, r.Scopes, nullable(r.ClientID), r.ID)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return err
}

// DeleteResource is one statement: the grants in client_resources cascade.
func (s *sqlStore) DeleteResource(ctx context.Context, id string) error {
	n, err := s.wr.exec(ctx, `DELETE FROM resources WHERE id = ?`, id)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return err
}

// SetClientResources checks the client inside the transaction (the foreign keys catch unknown
// resources and a client deleted meanwhile), so that nothing is half-replaced.
func (s *sqlStore) SetClientResources(ctx context.Context, clientID string, resourceIDs []string) error {
	return s.withTx(ctx, func(tx runner) error {
		var id string
		if err := tx.row(ctx, `SELECT id FROM clients WHERE id = ?`+s.d.lockRow, clientID).Scan(&id); err != nil {
			return translate(err)
		}
		if _, err := tx.exec(ctx, `DELETE FROM client_resources WHERE client_id = ?`, clientID); err != nil {
			return err
		}
		seen := make(map[string]bool, len(resourceIDs))
		for _, rid := range resourceIDs {
			if seen[rid] {
				continue
			}
			seen[rid] = true
			if _, err := tx.exec(ctx, `INSERT INTO client_resources (client_id, resource_id) VALUES (?, ?)`, clientID, rid); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *sqlStore) ClientResources(ctx context.Context, clientID string) ([]Resource, error) {
	return list(ctx, s.rd, scanResource, `SELECT r.id, r.audience, r.scopes, r.client_id, r.created_at
		FROM resources r JOIN client_resources g ON g.resource_id = r.id
		WHERE g.client_id = ? ORDER BY r.id`, clientID)
}

// UseClientAssertion relies on the primary key (client_id, jti): of concurrent inserts exactly
// one commits, the others fail on the unique constraint (ErrConflict). A record whose assertion
// has expired but that DeleteExpired has not removed yet still counts as seen, which is safe: an
// expired assertion is refused anyway.
func (s *sqlStore) UseClientAssertion(ctx context.Context, clientID, jti string, expiresAt time.Time) error {
	if clientID == "" || jti == "" {
		return errJTI
	}
	_, err := s.wr.exec(ctx, `INSERT INTO client_assertions (client_id, jti, expires_at) VALUES (?, ?, ?)`, clientID, jti, expiresAt)
	return err
}
