-- The evidence tables are append-only.
DROP TRIGGER IF EXISTS opscore_event_append_only ON opscore_event;
DROP TRIGGER IF EXISTS opscore_policyversion_append_only ON opscore_policyversion;

CREATE TRIGGER opscore_event_append_only
BEFORE UPDATE OR DELETE ON opscore_event
FOR EACH ROW EXECUTE FUNCTION opscore_forbid_change();

CREATE TRIGGER opscore_policyversion_append_only
BEFORE UPDATE OR DELETE ON opscore_policyversion
FOR EACH ROW EXECUTE FUNCTION opscore_forbid_change();
