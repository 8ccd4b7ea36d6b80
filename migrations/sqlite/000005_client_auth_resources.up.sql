-- Client authentication, allowed scopes and resource servers (SQLite).
-- postgres/000005_client_auth_resources.up.sql has the same tables, columns, constraints and
-- indexes with PostgreSQL types: keep them in step. The comments on the tables are there. Types
-- follow 000001_init.up.sql.

ALTER TABLE clients ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'none'
    CHECK (auth_method IN ('client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'));
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]';

UPDATE clients SET auth_method = 'client_secret_basic' WHERE type IN ('web', 'service');
UPDATE clients SET scopes = '["openid","profile","email","offline_access"]' WHERE type = 'web';
UPDATE clients SET scopes = '["openid","profile","email"]' WHERE type IN ('spa', 'native');

CREATE TABLE resources (
    id         TEXT        PRIMARY KEY,
    audience   TEXT        NOT NULL,
    scopes     TEXT        NOT NULL DEFAULT '[]',
    client_id  TEXT        REFERENCES clients (id) ON DELETE SET NULL,
    created_at INTEGER     NOT NULL
) STRICT;
CREATE UNIQUE INDEX resources_audience_key ON resources (audience);
CREATE INDEX resources_client_id_idx ON resources (client_id);

CREATE TABLE client_resources (
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    resource_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    PRIMARY KEY (client_id, resource_id)
) STRICT;
CREATE INDEX client_resources_resource_id_idx ON client_resources (resource_id);

CREATE TABLE client_assertions (
    client_id  TEXT        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    jti        TEXT        NOT NULL,
    expires_at INTEGER     NOT NULL,
    PRIMARY KEY (client_id, jti)
) STRICT;
CREATE INDEX client_assertions_expires_at_idx ON client_assertions (expires_at);
