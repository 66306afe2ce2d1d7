"""An LLM step asks its switches again once the reply is back, and that answer must hold when
the result is written: a switch another transaction throws after the step asked and before
its result commits held nothing when the two were separate statements. Asked in the result's
own transaction, with the switch rows read FOR SHARE, a switch committed before the write is
seen, and one thrown during it waits for the write's commit."""

import psycopg
import pytest
from django.db import connection

from missions.models import Artifact, Step
from missions.worker import handle_one_step
from tests.factories import AgentFactory, make_step
from tests.scripted import Scripted

pytestmark = pytest.mark.django_db(transaction=True)


def other_connection() -> psycopg.Connection:
    """A second, real transaction on the same database (autocommit unless told)."""
    params = connection.get_connection_params()
    kept = {k: v for k, v in params.items() if k not in ("context", "cursor_factory")}
    return psycopg.connect(**kept, autocommit=True)


@pytest.fixture
def llm_step(monkeypatch):
    monkeypatch.setattr("opscore.llm.get_provider", lambda: Scripted("Disk usage is fine."))
    agent = AgentFactory(slug="devops")
    return make_step("analyze", agent=agent, payload={"topic": "disk"})


def test_a_switch_thrown_after_the_check_and_before_the_write_holds_the_reply(
    monkeypatch, llm_step
):
    """The agent is disabled by another transaction, committed after the post-call check
    passed and before the result was written: the old code wrote the result anyway."""
    import missions.work_executors as work

    checked = work.check_reply

    def disabled_meanwhile(kind, text):
        with other_connection() as other:
            other.execute("UPDATE opscore_agent SET enabled = false WHERE slug = 'devops'")
        return checked(kind, text)

    monkeypatch.setattr(work, "check_reply", disabled_meanwhile)

    handle_one_step("w1")

    step = Step.objects.get(pk=llm_step.pk)
    assert (step.status, step.last_error) == (
        "queued",
        "held: devops is disabled; the reply was not applied",
    )
    assert not Artifact.objects.filter(step=step).exists()


def test_a_switch_thrown_while_the_result_is_written_waits_for_its_commit(monkeypatch, llm_step):
    """While the result's transaction is open, the agent's row is read FOR SHARE: another
    transaction's update of it (what disabling the agent does) cannot go ahead until it ends."""
    import missions.execution as execution

    write = execution._write_products
    refused = []

    def switch_tried_meanwhile(step_id, outcome):
        with other_connection() as other:
            lock = "SELECT 1 FROM opscore_agent WHERE slug = 'devops' FOR NO KEY UPDATE NOWAIT"
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute(lock)
            refused.append(step_id)
        return write(step_id, outcome)

    monkeypatch.setattr(execution, "_write_products", switch_tried_meanwhile)

    handle_one_step("w1")

    assert refused == [llm_step.pk]
    assert Step.objects.get(pk=llm_step.pk).status == "succeeded"
