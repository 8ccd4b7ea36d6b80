-- The initial schema of the identity provider (PostgreSQL). sqlite/000001_init.up.sql has the same
-- tables, columns, constraints and indexes with SQLite types: keep them in step.
--
-- Conventions shared by both dialects:
--   * ids, hashes and e-mails are text; ids are not the uuid type so that both databases store
--     and return exactly what they were given;
--   * an optional reference (session_id, family_id, code_hash, ...) is NULL when absent, never '',
--     so that a lookup by an empty value matches nothing;
--   * lists ([]string) are JSON arrays, '[]' when empty; maps are JSON objects;
--   * times are timestamptz (microseconds), NULL only where the Go field is a pointer or may be
--     zero (auth_time before a sign-in, client_credentials tokens).

CREATE TABLE users (
    id             text        PRIMARY KEY,
    email          text        NOT NULL, -- case-folded by the caller
    password_hash  text        NOT NULL DEFAULT '',
    email_verified boolean     NOT NULL DEFAULT false,
    phone_e164     text,
    mfa_enabled    boolean     NOT NULL DEFAULT false,
    disabled       boolean     NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE clients (
    id                        text        PRIMARY KEY,
    name                      text        NOT NULL DEFAULT '',
    type                      text        NOT NULL CHECK (type IN ('web', 'spa', 'native', 'service')),
    secret_hash               text        NOT NULL DEFAULT '',
    redirect_uris             jsonb       NOT NULL DEFAULT '[]',
    post_logout_redirect_uris jsonb       NOT NULL DEFAULT '[]',
    access_token_jwt          boolean     NOT NULL DEFAULT false,
    pkce_exempt               boolean     NOT NULL DEFAULT false,
    created_at                timestamptz NOT NULL
);

CREATE TABLE signing_keys (
    id          text        PRIMARY KEY, -- kid
    algorithm   text        NOT NULL,
    private_enc bytea       NOT NULL,    -- encrypted by the caller
    public_jwk  bytea       NOT NULL,    -- bytes, not jsonb: jsonb would reorder the JWK's members
    created_at  timestamptz NOT NULL,
    rotated_at  timestamptz
);

-- Rows that belong to a client go with it: ON DELETE CASCADE makes DeleteClient one statement, and
-- a token inserted concurrently for a client being deleted fails on the foreign key instead of
-- surviving it.
CREATE TABLE auth_requests (
    id                    text        PRIMARY KEY,
    client_id             text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    redirect_uri          text        NOT NULL DEFAULT '',
    scopes                jsonb       NOT NULL DEFAULT '[]',
    state                 text        NOT NULL DEFAULT '',
    nonce                 text        NOT NULL DEFAULT '',
    response_type         text        NOT NULL DEFAULT '',
    response_mode         text        NOT NULL DEFAULT '',
    code_challenge        text        NOT NULL DEFAULT '',
    code_challenge_method text        NOT NULL DEFAULT '',
    prompt                jsonb       NOT NULL DEFAULT '[]',
    max_age               bigint,
    login_hint            text        NOT NULL DEFAULT '',
    hint_subject          text        NOT NULL DEFAULT '',
    acr_values            jsonb       NOT NULL DEFAULT '[]',
    ui_locales            jsonb       NOT NULL DEFAULT '[]',
    browser_hash          text        NOT NULL DEFAULT '',
    created_at            timestamptz NOT NULL,
    expires_at            timestamptz NOT NULL,
    subject               text        NOT NULL DEFAULT '',
    auth_time             timestamptz,
    amr                   jsonb       NOT NULL DEFAULT '[]',
    acr                   text        NOT NULL DEFAULT '',
    session_id            text,
    done                  boolean     NOT NULL DEFAULT false
);
CREATE INDEX auth_requests_client_id_idx ON auth_requests (client_id);
CREATE INDEX auth_requests_expires_at_idx ON auth_requests (expires_at);

-- A redeemed code stays as a tombstone (used_at set) until it expires, so that a replay is
-- recognised (RFC 6749 §4.1.2). No foreign key to auth_requests: the request is deleted once the
-- tokens are minted while the tombstone must stay.
CREATE TABLE auth_codes (
    hash            text        PRIMARY KEY,
    auth_request_id text        NOT NULL,
    client_id       text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject         text        NOT NULL DEFAULT '',
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);
CREATE UNIQUE INDEX auth_codes_auth_request_id_key ON auth_codes (auth_request_id);
CREATE INDEX auth_codes_client_id_idx ON auth_codes (client_id);
CREATE INDEX auth_codes_expires_at_idx ON auth_codes (expires_at);

-- subject is a user id, or the client id for client_credentials: no foreign key to users.
CREATE TABLE access_tokens (
    id               text        PRIMARY KEY,
    client_id        text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject          text        NOT NULL,
    audience         jsonb       NOT NULL DEFAULT '[]',
    scopes           jsonb       NOT NULL DEFAULT '[]',
    auth_time        timestamptz,
    amr              jsonb       NOT NULL DEFAULT '[]',
    acr              text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    revoked_at       timestamptz,
    refresh_token_id text,
    family_id        text,
    code_hash        text,
    session_id       text
);
CREATE INDEX access_tokens_client_id_idx ON access_tokens (client_id);
CREATE INDEX access_tokens_subject_idx ON access_tokens (subject);
CREATE INDEX access_tokens_family_id_idx ON access_tokens (family_id);
CREATE INDEX access_tokens_code_hash_idx ON access_tokens (code_hash);
CREATE INDEX access_tokens_expires_at_idx ON access_tokens (expires_at);

-- Every member of a rotation family carries the family's id, subject, client, code_hash and
-- session_id, so revoking "every token of X" is one indexed predicate.
CREATE TABLE refresh_tokens (
    id                text        PRIMARY KEY,
    hash              text        NOT NULL,
    family_id         text        NOT NULL,
    client_id         text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject           text        NOT NULL,
    audience          jsonb       NOT NULL DEFAULT '[]',
    scopes            jsonb       NOT NULL DEFAULT '[]',
    auth_time         timestamptz,
    amr               jsonb       NOT NULL DEFAULT '[]',
    acr               text        NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    family_expires_at timestamptz NOT NULL,
    used_at           timestamptz,
    revoked_at        timestamptz,
    code_hash         text,
    session_id        text,
    CHECK (expires_at <= family_expires_at)
);
CREATE UNIQUE INDEX refresh_tokens_hash_key ON refresh_tokens (hash);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_client_id_idx ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_subject_idx ON refresh_tokens (subject);
CREATE INDEX refresh_tokens_code_hash_idx ON refresh_tokens (code_hash);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

CREATE TABLE sessions (
    id           text        PRIMARY KEY,
    token_hash   text        NOT NULL,
    user_id      text        NOT NULL REFERENCES users (id),
    auth_time    timestamptz NOT NULL,
    amr          jsonb       NOT NULL DEFAULT '[]',
    acr          text        NOT NULL DEFAULT '',
    ip           text        NOT NULL DEFAULT '',
    user_agent   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE UNIQUE INDEX sessions_token_hash_key ON sessions (token_hash);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Append-only. No foreign keys: the trail must outlive the users and clients it mentions.
CREATE TABLE audit_events (
    id        bigint      GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL,
    type      text        NOT NULL,
    user_id   text,
    client_id text,
    ip        text        NOT NULL DEFAULT '',
    detail    jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at_idx ON audit_events (at, id);
CREATE INDEX audit_events_user_id_at_idx ON audit_events (user_id, at, id);
