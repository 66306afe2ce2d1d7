-- LLMSpend kept as LLMCall rows are written: every priced call adds its cost to its day's row for
-- its agent and lane; a changed call moves its cost, a deleted one takes it back. A call's day
-- (spend_day) is set here, however the row was written, in the zone opscore_spend_zone() names:
-- OPS_TIME_ZONE, written over this file's 'UTC' after every migrate (opscore.budgets
-- .sync_spend_zone); the budget check reads today by the same function. Rows older than the
-- ledger have no day: they were never counted, so deleting them (retention) takes nothing back.
-- A transaction that will be rolled back (a live replay) turns the ledger off for itself
-- (opscore.spend_ledger = off): it would hold a day's row locked for its whole length.
CREATE OR REPLACE FUNCTION opscore_spend_zone() RETURNS text
LANGUAGE sql STABLE
AS $$ SELECT 'UTC'::text $$;

CREATE OR REPLACE FUNCTION opscore_spend_today() RETURNS date
LANGUAGE sql STABLE
AS $$ SELECT (statement_timestamp() AT TIME ZONE opscore_spend_zone())::date $$;
CREATE OR REPLACE FUNCTION opscore_llm_spend_add(
    p_day date, p_agent text, p_lane text, p_usd numeric, p_calls integer)
RETURNS void
LANGUAGE sql
AS $$
    INSERT INTO opscore_llmspend (day, agent_slug, lane, usd, calls)
    VALUES (p_day, coalesce(p_agent, ''), p_lane, p_usd, p_calls)
    ON CONFLICT (day, agent_slug, lane) DO UPDATE
    SET usd = opscore_llmspend.usd + EXCLUDED.usd,
        calls = opscore_llmspend.calls + EXCLUDED.calls;
$$;

CREATE OR REPLACE FUNCTION opscore_llmcall_spend_day() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.spend_day := (NEW.created_at AT TIME ZONE opscore_spend_zone())::date;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION opscore_llmcall_spends() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF current_setting('opscore.spend_ledger', true) = 'off' THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.cost_usd <> 0 AND OLD.spend_day IS NOT NULL THEN
        PERFORM opscore_llm_spend_add(OLD.spend_day, OLD.agent_id, OLD.lane, -OLD.cost_usd, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.cost_usd <> 0 AND NEW.spend_day IS NOT NULL THEN
        PERFORM opscore_llm_spend_add(NEW.spend_day, NEW.agent_id, NEW.lane, NEW.cost_usd, 1);
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS opscore_llmcall_spend_day ON opscore_llmcall;
DROP TRIGGER IF EXISTS opscore_llmcall_spends ON opscore_llmcall;
DROP TRIGGER IF EXISTS opscore_llmcall_spends_deleted ON opscore_llmcall;
DROP TRIGGER IF EXISTS opscore_llmcall_spends_changed ON opscore_llmcall;
CREATE TRIGGER opscore_llmcall_spend_day
    BEFORE INSERT ON opscore_llmcall
    FOR EACH ROW WHEN (NEW.spend_day IS NULL) EXECUTE FUNCTION opscore_llmcall_spend_day();
CREATE TRIGGER opscore_llmcall_spends
    AFTER INSERT ON opscore_llmcall
    FOR EACH ROW WHEN (NEW.cost_usd <> 0) EXECUTE FUNCTION opscore_llmcall_spends();
CREATE TRIGGER opscore_llmcall_spends_deleted
    AFTER DELETE ON opscore_llmcall
    FOR EACH ROW WHEN (OLD.cost_usd <> 0) EXECUTE FUNCTION opscore_llmcall_spends();
CREATE TRIGGER opscore_llmcall_spends_changed
    AFTER UPDATE OF cost_usd, lane, agent_id, spend_day ON opscore_llmcall
    FOR EACH ROW
    WHEN ((OLD.cost_usd, OLD.lane, OLD.agent_id, OLD.spend_day)
          IS DISTINCT FROM (NEW.cost_usd, NEW.lane, NEW.agent_id, NEW.spend_day))
    EXECUTE FUNCTION opscore_llmcall_spends();
