-- The session epoch of a user (PostgreSQL). sqlite/000006_session_epoch.up.sql has the same
-- column. It counts the times every session of the user was ended at once (sign out everywhere,
-- a password change or reset, disabling): a second-factor, step-up or enrolment page handle
-- carries the epoch it was issued under and is dead once the epoch moved on.
ALTER TABLE users ADD COLUMN session_epoch bigint NOT NULL DEFAULT 0;
