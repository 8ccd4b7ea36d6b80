-- Audit events are append-only (SECURITY.md, "The audit trail"): an UPDATE is refused. SQLite has
-- no session settings a trigger could read, so DELETE stays open for retention
-- (DeleteAuditBefore), the only DELETE of audit_events in the application.
CREATE TRIGGER audit_events_no_update
BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only: UPDATE refused');
END;
