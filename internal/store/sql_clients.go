package store

import (
	"context"
	"errors"
)

var (
	errClientID     = errors.New("store: a client needs an id")
	errClientSecret = errors.New("store: a client secret hash must not be empty")
)

const clientCols = `id, name, type, secret_hash, redirect_uris, post_logout_redirect_uris, access_token_jwt, pkce_exempt, created_at, auth_method, jwks, scopes, home_uri`

func scanClient(sc scanner) (Client, error) {
	var c Client
	err := sc.Scan(&c.ID, &c.Name, &c.Type, &c.SecretHash, listCol{&c.RedirectURIs},
		listCol{&c.PostLogoutRedirectURIs}, &c.AccessTokenJWT, &c.PKCEExempt, timeCol{&c.CreatedAt},
		&c.AuthMethod, &c.JWKS, listCol{&c.Scopes}, &c.HomeURI)
	return c, translate(err)
}

// authMethodOf is what a client stores as its method: an empty one is its type's default.
func authMethodOf(c *Client) string {
	switch {
	case c.AuthMethod != "":
		return c.AuthMethod
	case c.Type.Confidential():
		return AuthSecretBasic
	default:
		return AuthNone
	}
}

func (s *sqlStore) CreateClient(ctx context.Context, c *Client) error {
	if c.ID == "" {
		return errClientID
	}
	c.AuthMethod = authMethodOf(c)
	_, err := s.wr.exec(ctx, `INSERT INTO clients (`+clientCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, string(c.Type), c.SecretHash, c.RedirectURIs, c.PostLogoutRedirectURIs,
		c.AccessTokenJWT, c.PKCEExempt, c.CreatedAt, c.AuthMethod, c.JWKS, c.Scopes, c.HomeURI)
	return err
}

func (s *sqlStore) GetClient(ctx context.Context, id string) (*Client, error) {
	c, err := scanClient(s.rd.row(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id))
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func (s *sqlStore) ListClients(ctx context.Context) ([]Client, error) {
	return list(ctx, s.rd, scanClient, `SELECT `+clientCols+` FROM clients ORDER BY id`)
}

// DeleteClient is one statement: the foreign keys of auth_requests, auth_codes, access_tokens and
// refresh_tokens cascade, inside the statement's transaction. A token that another transaction
// inserts for the client meanwhile either is deleted with it or fails on the foreign key (and that
// call gets ErrNotFound); none survives.
func (s *sqlStore) DeleteClient(ctx context.Context, id string) error {
	n, err := s.wr.exec(ctx, `DELETE FROM clients WHERE id = ?`, id)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return err
}

// UpdateClient writes the mutable columns only, so that a caller holding an older copy of the
// client cannot put back a secret that was rotated meanwhile.
func (s *sqlStore) UpdateClient(ctx context.Context, c *Client) error {
	n, err := s.wr.exec(ctx, `UPDATE clients
		SET name = ?, redirect_uris = ?, post_logout_redirect_uris = ?, access_token_jwt = ?, pkce_exempt = ?,
			auth_method = CASE WHEN ? = '' THEN CASE WHEN type IN ('web', 'service') THEN 'client_secret_basic' ELSE 'none' END ELSE ? END,
			jwks = ?, scopes = ?, home_uri = ?
		WHERE id = ?`,
		c.Name, c.RedirectURIs, c.PostLogoutRedirectURIs, c.AccessTokenJWT, c.PKCEExempt,
		c.AuthMethod, c.AuthMethod, c.JWKS, c.Scopes, c.HomeURI, c.ID)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return err
}

// SetClientSecretHash refuses an empty hash: for a confidential client it would not mean "no
// secret" but a client nobody can authenticate as, and a public client has no secret to rotate.
func (s *sqlStore) SetClientSecretHash(ctx context.Context, id, hash string) error {
	if hash == "" {
		return errClientSecret
	}
	n, err := s.wr.exec(ctx, `UPDATE clients SET secret_hash = ? WHERE id = ?`, hash, id)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return err
}
