-- The initial schema of the identity provider (SQLite). postgres/000001_init.up.sql has the same
-- tables, columns, constraints and indexes with PostgreSQL types: keep them in step. The comments
-- on the tables are there.
--
-- SQLite has no time, boolean or JSON types, so STRICT tables keep exactly what package store
-- writes and nothing else:
--   * times are INTEGER microseconds since 1970-01-01 UTC: they compare correctly as numbers and
--     round-trip with the same precision as PostgreSQL's timestamptz;
--   * booleans are INTEGER 0/1; lists are JSON TEXT ('[]' when empty); bytes are BLOB;
--   * an optional reference (session_id, family_id, code_hash, ...) is NULL when absent, never ''.
-- Foreign keys (ON DELETE CASCADE for a client's rows) need PRAGMA foreign_keys=ON on every
-- connection; package store sets it.

CREATE TABLE users (
    id             TEXT        PRIMARY KEY,
    email          TEXT        NOT NULL, -- case-folded by the caller
    password_hash  TEXT        NOT NULL DEFAULT '',
    email_verified INTEGER     NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    phone_e164     TEXT,
    mfa_enabled    INTEGER     NOT NULL DEFAULT 0 CHECK (mfa_enabled IN (0, 1)),
    disabled       INTEGER     NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at     INTEGER     NOT NULL,
    updated_at     INTEGER     NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE clients (
    id                        TEXT        PRIMARY KEY,
    name                      TEXT        NOT NULL DEFAULT '',
    type                      TEXT        NOT NULL CHECK (type IN ('web', 'spa', 'native', 'service')),
    secret_hash               TEXT        NOT NULL DEFAULT '',
    redirect_uris             TEXT        NOT NULL DEFAULT '[]',
    post_logout_redirect_uris TEXT        NOT NULL DEFAULT '[]',
    access_token_jwt          INTEGER     NOT NULL DEFAULT 0 CHECK (access_token_jwt IN (0, 1)),
    pkce_exempt               INTEGER     NOT NULL DEFAULT 0 CHECK (pkce_exempt IN (0, 1)),
    created_at                INTEGER     NOT NULL
) STRICT;

CREATE TABLE signing_keys (
    id          TEXT        PRIMARY KEY, -- kid
    algorithm   TEXT        NOT NULL,
    private_enc BLOB        NOT NULL,    -- encrypted by the caller
    public_jwk  BLOB        NOT NULL,    -- the JWK exactly as given
    created_at  INTEGER     NOT NULL,
    rotated_at  INTEGER
) STRICT;

-- Rows that belong to a client go with it: ON DELETE CASCADE makes DeleteClient one statement, and
-- a token inserted concurrently for a client being deleted fails on the foreign key instead of
-- surviving it.
CREATE TABLE auth_requests (
    id                    TEXT        PRIMARY KEY,
    client_id             TEXT        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    redirect_uri          TEXT        NOT NULL DEFAULT '',
    scopes                TEXT        NOT NULL DEFAULT '[]',
    state                 TEXT        NOT NULL DEFAULT '',
    nonce                 TEXT        NOT NULL DEFAULT '',
    response_type         TEXT        NOT NULL DEFAULT '',
    response_mode         TEXT        NOT NULL DEFAULT '',
    code_challenge        TEXT        NOT NULL DEFAULT '',
    code_challenge_method TEXT        NOT NULL DEFAULT '',
    prompt                TEXT        NOT NULL DEFAULT '[]',
    max_age               INTEGER,
    login_hint            TEXT        NOT NULL DEFAULT '',
    hint_subject          TEXT        NOT NULL DEFAULT '',
    acr_values            TEXT        NOT NULL DEFAULT '[]',
    ui_locales            TEXT        NOT NULL DEFAULT '[]',
    browser_hash          TEXT        NOT NULL DEFAULT '',
    created_at            INTEGER     NOT NULL,
    expires_at            INTEGER     NOT NULL,
    subject               TEXT        NOT NULL DEFAULT '',
    auth_time             INTEGER,
    amr                   TEXT        NOT NULL DEFAULT '[]',
    acr                   TEXT        NOT NULL DEFAULT '',
    session_id            TEXT,
    done                  INTEGER     NOT NULL DEFAULT 0 CHECK (done IN (0, 1))
) STRICT;
CREATE INDEX auth_requests_client_id_idx ON auth_requests (client_id);
CREATE INDEX auth_requests_expires_at_idx ON auth_requests (expires_at);

-- A redeemed code stays as a tombstone (used_at set) until it expires, so that a replay is
-- recognised (RFC 6749 §4.1.2). No foreign key to auth_requests: the request is deleted once the
-- tokens are minted while the tombstone must stay.
CREATE TABLE auth_codes (
    hash            TEXT        PRIMARY KEY,
    auth_request_id TEXT        NOT NULL,
    client_id       TEXT        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject         TEXT        NOT NULL DEFAULT '',
    expires_at      INTEGER     NOT NULL,
    used_at         INTEGER
) STRICT;
CREATE UNIQUE INDEX auth_codes_auth_request_id_key ON auth_codes (auth_request_id);
CREATE INDEX auth_codes_client_id_idx ON auth_codes (client_id);
CREATE INDEX auth_codes_expires_at_idx ON auth_codes (expires_at);

-- subject is a user id, or the client id for client_credentials: no foreign key to users.
CREATE TABLE access_tokens (
    id               TEXT        PRIMARY KEY,
    client_id        TEXT        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject          TEXT        NOT NULL,
    audience         TEXT        NOT NULL DEFAULT '[]',
    scopes           TEXT        NOT NULL DEFAULT '[]',
    auth_time        INTEGER,
    amr              TEXT        NOT NULL DEFAULT '[]',
    acr              TEXT        NOT NULL DEFAULT '',
    created_at       INTEGER     NOT NULL,
    expires_at       INTEGER     NOT NULL,
    revoked_at       INTEGER,
    refresh_token_id TEXT,
    family_id        TEXT,
    code_hash        TEXT,
    session_id       TEXT
) STRICT;
CREATE INDEX access_tokens_client_id_idx ON access_tokens (client_id);
CREATE INDEX access_tokens_subject_idx ON access_tokens (subject);
CREATE INDEX access_tokens_family_id_idx ON access_tokens (family_id);
CREATE INDEX access_tokens_code_hash_idx ON access_tokens (code_hash);
CREATE INDEX access_tokens_expires_at_idx ON access_tokens (expires_at);

-- Every member of a rotation family carries the family's id, subject, client, code_hash and
-- session_id, so revoking "every token of X" is one indexed predicate.
CREATE TABLE refresh_tokens (
    id                TEXT        PRIMARY KEY,
    hash              TEXT        NOT NULL,
    family_id         TEXT        NOT NULL,
    client_id         TEXT        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject           TEXT        NOT NULL,
    audience          TEXT        NOT NULL DEFAULT '[]',
    scopes            TEXT        NOT NULL DEFAULT '[]',
    auth_time         INTEGER,
    amr               TEXT        NOT NULL DEFAULT '[]',
    acr               TEXT        NOT NULL DEFAULT '',
    created_at        INTEGER     NOT NULL,
    expires_at        INTEGER     NOT NULL,
    family_expires_at INTEGER     NOT NULL,
    used_at           INTEGER,
    revoked_at        INTEGER,
    code_hash         TEXT,
    session_id        TEXT,
    CHECK (expires_at <= family_expires_at)
) STRICT;
CREATE UNIQUE INDEX refresh_tokens_hash_key ON refresh_tokens (hash);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_client_id_idx ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_subject_idx ON refresh_tokens (subject);
CREATE INDEX refresh_tokens_code_hash_idx ON refresh_tokens (code_hash);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

CREATE TABLE sessions (
    id           TEXT        PRIMARY KEY,
    token_hash   TEXT        NOT NULL,
    user_id      TEXT        NOT NULL REFERENCES users (id),
    auth_time    INTEGER     NOT NULL,
    amr          TEXT        NOT NULL DEFAULT '[]',
    acr          TEXT        NOT NULL DEFAULT '',
    ip           TEXT        NOT NULL DEFAULT '',
    user_agent   TEXT        NOT NULL DEFAULT '',
    created_at   INTEGER     NOT NULL,
    last_seen_at INTEGER     NOT NULL,
    expires_at   INTEGER     NOT NULL,
    revoked_at   INTEGER
) STRICT;
CREATE UNIQUE INDEX sessions_token_hash_key ON sessions (token_hash);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Append-only. No foreign keys: the trail must outlive the users and clients it mentions.
CREATE TABLE audit_events (
    id        INTEGER     PRIMARY KEY AUTOINCREMENT,
    at        INTEGER     NOT NULL,
    type      TEXT        NOT NULL,
    user_id   TEXT,
    client_id TEXT,
    ip        TEXT        NOT NULL DEFAULT '',
    detail    TEXT        NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX audit_events_at_idx ON audit_events (at, id);
CREATE INDEX audit_events_user_id_at_idx ON audit_events (user_id, at, id);
