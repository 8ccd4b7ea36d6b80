-- Drops what 000004_revocation_consent.up.sql created.
DROP TABLE IF EXISTS offline_consents;
DROP INDEX IF EXISTS auth_requests_session_id_idx;
ALTER TABLE sessions DROP COLUMN IF EXISTS password_epoch;
ALTER TABLE users DROP COLUMN IF EXISTS password_epoch;
