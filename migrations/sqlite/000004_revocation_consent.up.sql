-- Epochs that make "revoked" final, and offline_access consent (SQLite). postgres/000004 has the
-- same columns, tables and indexes with PostgreSQL types, and the comments: keep them in step.

ALTER TABLE users ADD COLUMN password_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN password_epoch INTEGER NOT NULL DEFAULT 0;
CREATE INDEX auth_requests_session_id_idx ON auth_requests (session_id);

CREATE TABLE offline_consents (
    user_id    TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    created_at INTEGER     NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT;
CREATE INDEX offline_consents_client_id_idx ON offline_consents (client_id);
