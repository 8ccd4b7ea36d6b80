-- Drops everything 000001_init.up.sql created, children before parents.
DROP TABLE IF EXISTS audit_events;
DROP TABLE IF EXISTS sessions;
DROP TABLE IF EXISTS refresh_tokens;
DROP TABLE IF EXISTS access_tokens;
DROP TABLE IF EXISTS auth_codes;
DROP TABLE IF EXISTS auth_requests;
DROP TABLE IF EXISTS signing_keys;
DROP TABLE IF EXISTS clients;
DROP TABLE IF EXISTS users;
