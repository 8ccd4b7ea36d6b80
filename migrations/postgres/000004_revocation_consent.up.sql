-- Epochs that make "revoked" final, and offline_access consent (PostgreSQL).
-- sqlite/000004_revocation_consent.up.sql has the same columns, tables and indexes with SQLite
-- types: keep them in step. docs/ARCHITECTURE.md ("Revocation and epochs") explains the model.

-- password_epoch counts password changes and resets (not a rehash at sign-in). A session records
-- the epoch of the password it was authenticated with; a code or token is issued only while the
-- two are equal, so whatever was authenticated before a change cannot mint anything after it.
ALTER TABLE users ADD COLUMN password_epoch bigint NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN password_epoch bigint NOT NULL DEFAULT 0;
CREATE INDEX auth_requests_session_id_idx ON auth_requests (session_id);

-- A person's remembered "Allow <app> to stay signed in" for a public client allowed the
-- offline_access scope.
-- Listed and revocable on /account; withdrawing it revokes that client's refresh tokens of the
-- person. It goes with the user and with the client.
CREATE TABLE offline_consents (
    user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX offline_consents_client_id_idx ON offline_consents (client_id);
