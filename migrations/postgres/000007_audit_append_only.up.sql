-- Audit events are append-only (SECURITY.md, "The audit trail"). A row trigger refuses every
-- UPDATE, and every DELETE except retention: the store's DeleteAuditBefore sets the
-- transaction-local setting idp.audit_retention to 'on' (set_config(…, true)) in the same
-- transaction as its DELETE, and nothing else in the application sets it. A statement trigger
-- refuses TRUNCATE, which row triggers do not see. Dropping the table (a restore with
-- pg_restore --clean, a down migration) is not affected.
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('idp.audit_retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Old events are removed only by retention (IDP_AUDIT_RETENTION).';
END;
$$;

CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
