-- Gate decisions and human revisions are evidence: append-only.
DROP TRIGGER IF EXISTS memory_memoryreview_append_only ON memory_memoryreview;
DROP TRIGGER IF EXISTS memory_memoryrevision_append_only ON memory_memoryrevision;

CREATE TRIGGER memory_memoryreview_append_only
BEFORE UPDATE OR DELETE ON memory_memoryreview
FOR EACH ROW EXECUTE FUNCTION opscore_forbid_change();

CREATE TRIGGER memory_memoryrevision_append_only
BEFORE UPDATE OR DELETE ON memory_memoryrevision
FOR EACH ROW EXECUTE FUNCTION opscore_forbid_change();
