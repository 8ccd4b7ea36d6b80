-- Email codes and shared counters (PostgreSQL). sqlite/000002_email_codes_limits.up.sql has the
-- same tables, columns, constraints and indexes with SQLite types: keep them in step.

-- A 6-digit code sent by email, stored as a keyed hash computed by the caller. purpose 'verify' is
-- the signup code (pending_password_hash is the password that takes effect when this code is
-- entered, so that nobody can set up an account for an address they do not own); 'reset' is the
-- password reset code. created_at doubles as the time it was sent (resend cooldown). A code is
-- live while consumed_at is NULL, it has not expired and attempts is under the caller's maximum.
-- The codes of a user go with the user.
CREATE TABLE email_codes (
    id                    text        PRIMARY KEY,
    user_id               text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose               text        NOT NULL CHECK (purpose IN ('verify', 'reset')),
    code_hash             text        NOT NULL,
    pending_password_hash text        NOT NULL DEFAULT '',
    created_at            timestamptz NOT NULL,
    expires_at            timestamptz NOT NULL,
    attempts              integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    consumed_at           timestamptz
);
-- A resend voids the previous code: at most one unconsumed code per user and purpose, enforced
-- here as well as by CreateEmailCode.
CREATE UNIQUE INDEX email_codes_unconsumed_key ON email_codes (user_id, purpose) WHERE consumed_at IS NULL;
CREATE INDEX email_codes_user_id_purpose_idx ON email_codes (user_id, purpose, created_at);
CREATE INDEX email_codes_expires_at_idx ON email_codes (expires_at);

-- Fixed-window counters shared by every replica (send limits, login throttling). key is chosen by
-- the caller (e.g. "login:ip:192.0.2.1"); a row is one window: count hits since window_start.
-- expires_at is the latest of (hit + window) over its hits: by then whatever window a hit counted
-- in has ended, the row is worth nothing and DeleteExpired removes it.
CREATE TABLE counters (
    key          text        PRIMARY KEY,
    count        integer     NOT NULL CHECK (count >= 0),
    window_start timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX counters_expires_at_idx ON counters (expires_at);
