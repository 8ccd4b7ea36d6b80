-- Client authentication, allowed scopes and resource servers (PostgreSQL).
-- sqlite/000005_client_auth_resources.up.sql has the same tables, columns, constraints and indexes
-- with SQLite types: keep them in step. README.md ("Clients and resource servers") and
-- docs/ARCHITECTURE.md ("Audiences and client authentication") explain the model.

-- auth_method is the client's registered token_endpoint_auth_method; every other method is
-- refused for it. jwks is the public JSON Web Key Set of a private_key_jwt client (RFC 7523), ''
-- otherwise. scopes are the scopes the client may ask for, at every grant.
ALTER TABLE clients ADD COLUMN auth_method text NOT NULL DEFAULT 'none'
    CHECK (auth_method IN ('client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'));
ALTER TABLE clients ADD COLUMN jwks text NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN scopes jsonb NOT NULL DEFAULT '[]';

-- Clients registered before these columns keep what they could do: confidential ones
-- authenticate with HTTP Basic; web, spa and native clients may ask for openid, profile and
-- email, and web clients for offline_access too. Service clients get no scope until granted one.
UPDATE clients SET auth_method = 'client_secret_basic' WHERE type IN ('web', 'service');
UPDATE clients SET scopes = '["openid", "profile", "email", "offline_access"]' WHERE type = 'web';
UPDATE clients SET scopes = '["openid", "profile", "email"]' WHERE type IN ('spa', 'native');

-- A resource server (an API) that access tokens can be meant for (RFC 8707): audience is what
-- the token's aud says, scopes what may be granted for it. client_id is the client the resource
-- server authenticates as at the introspection endpoint (NULL: it introspects nothing).
CREATE TABLE resources (
    id         text        PRIMARY KEY,
    audience   text        NOT NULL,
    scopes     jsonb       NOT NULL DEFAULT '[]',
    client_id  text        REFERENCES clients (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX resources_audience_key ON resources (audience);
CREATE INDEX resources_client_id_idx ON resources (client_id);

-- Which client may get tokens for which resource. Goes with either side.
CREATE TABLE client_resources (
    client_id   text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    resource_id text NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    PRIMARY KEY (client_id, resource_id)
);
CREATE INDEX client_resources_resource_id_idx ON client_resources (resource_id);

-- The jti of every private_key_jwt client assertion seen, until the assertion expires, so that
-- a replayed assertion is refused (RFC 7523 §3 item 7).
CREATE TABLE client_assertions (
    client_id  text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    jti        text        NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertions_expires_at_idx ON client_assertions (expires_at);
