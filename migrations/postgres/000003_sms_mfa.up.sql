-- SMS second factor and recovery codes (PostgreSQL). sqlite/000003_sms_mfa.up.sql has the same
-- tables, columns, constraints and indexes with SQLite types: keep them in step.

-- A running (or ended) SMS verification through Vonage Verify v2: a sign-in's second factor, the
-- enrolment of a number (phone_e164 is then not yet the user's), a step-up, a password reset or
-- turning two-step off. Vonage generates and sends the code; request_id is its handle and is kept
-- ONLY while the challenge runs: every way a challenge ends (ended_at set) clears it, which the
-- CHECK below enforces. channel is 'voice' once the person chose "call me instead".
-- auth_request_id has no foreign key: auth requests expire and go on their own schedule, and the
-- challenge row must survive until its Vonage request was checked or cancelled.
-- At most one running challenge per user and purpose: a new one replaces (ends) the old one.
-- The challenges of a user go with the user.
CREATE TABLE sms_challenges (
    id              text        PRIMARY KEY,
    user_id         text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose         text        NOT NULL CHECK (purpose IN ('login', 'enrol', 'stepup', 'reset', 'disable')),
    phone_e164      text        NOT NULL,
    request_id      text,
    channel         text        NOT NULL DEFAULT 'sms' CHECK (channel IN ('sms', 'voice')),
    auth_request_id text,
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    end_reason      text        NOT NULL DEFAULT ''
                    CHECK (end_reason IN ('', 'success', 'cancelled', 'expired', 'too_many', 'replaced')),
    CHECK ((ended_at IS NULL) = (end_reason = '')),
    CHECK (ended_at IS NULL OR request_id IS NULL)
);
CREATE UNIQUE INDEX sms_challenges_running_key ON sms_challenges (user_id, purpose) WHERE ended_at IS NULL;
CREATE INDEX sms_challenges_user_id_idx ON sms_challenges (user_id);
CREATE INDEX sms_challenges_running_expires_at_idx ON sms_challenges (expires_at) WHERE ended_at IS NULL;
CREATE INDEX sms_challenges_ended_at_idx ON sms_challenges (ended_at) WHERE ended_at IS NOT NULL;

-- One-time recovery codes, each a salted slow hash computed by the caller. A code is unused while
-- used_at is NULL; using one is a conditional UPDATE, so the same code twice at once succeeds once.
-- The codes of a user go with the user.
CREATE TABLE recovery_codes (
    id         text        PRIMARY KEY,
    user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash       text        NOT NULL CHECK (hash <> ''),
    created_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX recovery_codes_user_id_idx ON recovery_codes (user_id);
