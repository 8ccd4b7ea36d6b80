-- SMS second factor and recovery codes (SQLite). postgres/000003_sms_mfa.up.sql has the same
-- tables, columns, constraints and indexes with PostgreSQL types: keep them in step. The comments
-- on the tables are there. Types follow 000001_init.up.sql: times are INTEGER microseconds since
-- 1970-01-01 UTC, NULL only where the Go field is a pointer (request_id and auth_request_id are
-- NULL when empty).

CREATE TABLE sms_challenges (
    id              TEXT        PRIMARY KEY,
    user_id         TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose         TEXT        NOT NULL CHECK (purpose IN ('login', 'enrol', 'stepup', 'reset', 'disable')),
    phone_e164      TEXT        NOT NULL,
    request_id      TEXT,
    channel         TEXT        NOT NULL DEFAULT 'sms' CHECK (channel IN ('sms', 'voice')),
    auth_request_id TEXT,
    attempts        INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at      INTEGER     NOT NULL,
    expires_at      INTEGER     NOT NULL,
    ended_at        INTEGER,
    end_reason      TEXT        NOT NULL DEFAULT ''
                    CHECK (end_reason IN ('', 'success', 'cancelled', 'expired', 'too_many', 'replaced')),
    CHECK ((ended_at IS NULL) = (end_reason = '')),
    CHECK (ended_at IS NULL OR request_id IS NULL)
) STRICT;
CREATE UNIQUE INDEX sms_challenges_running_key ON sms_challenges (user_id, purpose) WHERE ended_at IS NULL;
CREATE INDEX sms_challenges_user_id_idx ON sms_challenges (user_id);
CREATE INDEX sms_challenges_running_expires_at_idx ON sms_challenges (expires_at) WHERE ended_at IS NULL;
CREATE INDEX sms_challenges_ended_at_idx ON sms_challenges (ended_at) WHERE ended_at IS NOT NULL;

CREATE TABLE recovery_codes (
    id         TEXT        PRIMARY KEY,
    user_id    TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash       TEXT        NOT NULL CHECK (hash <> ''),
    created_at INTEGER     NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX recovery_codes_user_id_idx ON recovery_codes (user_id);
