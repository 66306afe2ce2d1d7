-- Any process that writes events (web, worker, heartbeat, SQL functions) wakes the Stage.
DROP TRIGGER IF EXISTS opscore_event_notify ON opscore_event;
CREATE TRIGGER opscore_event_notify
AFTER INSERT ON opscore_event
FOR EACH STATEMENT EXECUTE FUNCTION opscore_event_notify();
