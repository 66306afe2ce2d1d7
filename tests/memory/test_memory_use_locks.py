"""Counting a call's memories locks them in id order, as calibration does: counted in the
prompt's order, a call's insert and a step's calibration each held a memory the other waited
for, and Postgres broke the deadlock by failing the step."""

import threading
from decimal import Decimal

import psycopg
import pytest
from django.db import connection

from memory.models import Memory
from opscore.models import LLMCall
from tests.factories import AgentFactory
from tests.processes import database_url, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def memory_of(agent, content: str) -> Memory:
    return Memory.objects.create(
        agent=agent,
        type="lesson",
        content=content,
        confidence=Decimal("0.5"),
        evidence=[],
        source_trace_id=content,
    )


def record_call(agent, memory_ids: list[int]) -> None:
    """What a worker does after a prompt: the call's row, whose trigger counts the memories."""
    try:
        LLMCall.objects.create(
            agent=agent,
            purpose="step.analyze",
            provider="offline",
            model="m",
            prompt_version="v",
            outcome="ok",
            injected={"memory_ids": memory_ids},
        )
    finally:
        connection.close()


def waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO \"opscore_llmcall\"%%'"
        )
        return cursor.fetchone()[0] == 1


def test_a_call_counting_its_memories_takes_them_in_id_order_whatever_the_prompts_order():
    agent = AgentFactory(slug="devops")
    first, second = memory_of(agent, "Check the disk."), memory_of(agent, "Then the logs.")
    # Any update (a use, a calibration) moves a row's live version: the table no longer lies
    # in id order, and neither did a count that took rows as it found them.
    Memory.objects.filter(pk=first.pk).update(confidence=Decimal("0.6"))
    with psycopg.connect(database_url()) as calibration:  # holds the lower id, as it would
        calibration.execute("SELECT 1 FROM memory_memory WHERE id = %s FOR UPDATE", [first.id])
        call = threading.Thread(target=record_call, args=(agent, [second.id, first.id]))
        call.start()
        wait_for(waiting_on_a_lock)

        # The call waits for the lower id holding nothing, so calibration's next lock is free:
        # in the prompt's order the call held the higher id, and this was a deadlock.
        calibration.execute(
            "SELECT 1 FROM memory_memory WHERE id = %s FOR UPDATE NOWAIT", [second.id]
        )
        calibration.commit()
        call.join(timeout=30)

    assert not call.is_alive()
    counts = Memory.objects.filter(pk__in=[first.id, second.id]).values_list("use_count", flat=True)
    assert list(counts) == [1, 1]
