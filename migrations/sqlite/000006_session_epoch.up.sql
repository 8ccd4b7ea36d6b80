-- The session epoch of a user (SQLite). postgres/000006_session_epoch.up.sql has the same column
-- and says what it is for.
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
