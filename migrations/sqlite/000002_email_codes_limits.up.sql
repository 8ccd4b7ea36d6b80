-- Email codes and shared counters (SQLite). postgres/000002_email_codes_limits.up.sql has the same
-- tables, columns, constraints and indexes with PostgreSQL types: keep them in step. The comments
-- on the tables are there. Types follow 000001_init.up.sql: times are INTEGER microseconds since
-- 1970-01-01 UTC, NULL only where the Go field is a pointer.

CREATE TABLE email_codes (
    id                    TEXT        PRIMARY KEY,
    user_id               TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose               TEXT        NOT NULL CHECK (purpose IN ('verify', 'reset')),
    code_hash             TEXT        NOT NULL,
    pending_password_hash TEXT        NOT NULL DEFAULT '',
    created_at            INTEGER     NOT NULL,
    expires_at            INTEGER     NOT NULL,
    attempts              INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    consumed_at           INTEGER
) STRICT;
CREATE UNIQUE INDEX email_codes_unconsumed_key ON email_codes (user_id, purpose) WHERE consumed_at IS NULL;
CREATE INDEX email_codes_user_id_purpose_idx ON email_codes (user_id, purpose, created_at);
CREATE INDEX email_codes_expires_at_idx ON email_codes (expires_at);

CREATE TABLE counters (
    key          TEXT        PRIMARY KEY,
    count        INTEGER     NOT NULL CHECK (count >= 0),
    window_start INTEGER     NOT NULL,
    updated_at   INTEGER     NOT NULL,
    expires_at   INTEGER     NOT NULL
) STRICT;
CREATE INDEX counters_expires_at_idx ON counters (expires_at);
