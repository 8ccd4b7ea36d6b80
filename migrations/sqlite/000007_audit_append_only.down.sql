-- Drops what 000007_audit_append_only.up.sql created.
DROP TRIGGER IF EXISTS audit_events_no_update;
