"""Counting memory uses never makes a step wait, and never deadlocks a calibration.

A call's insert used to lock and count the memories it carried: in the prompt's order it
deadlocked with a step's calibration; in id order it still waited for any memory a calibration
or a review held. Now the insert only queues the use, and the fold locks in id order."""

import threading
from decimal import Decimal

import psycopg
import pytest
from django.db import connection

from memory.models import Memory, PendingUse
from memory.uses import fold_memory_uses
from tests.factories import AgentFactory
from tests.memory.test_memory_uses import record_call
from tests.processes import database_url, sessions_waiting_on_a_lock, wait_for

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


def fold_in_a_thread() -> None:
    try:
        fold_memory_uses()
    finally:
        connection.close()


def test_recording_a_call_never_waits_for_a_memory_someone_holds():
    agent = AgentFactory(slug="devops")
    held = memory_of(agent, "Check the disk.")
    with psycopg.connect(database_url()) as calibration:
        calibration.execute("SELECT 1 FROM memory_memory WHERE id = %s FOR UPDATE", [held.id])
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")  # a wait would fail the insert, not hang
        try:
            record_call(agent, [held.id])
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
        calibration.commit()

    assert list(PendingUse.objects.values_list("memory_ids", flat=True)) == [[held.id]]


def test_the_fold_takes_memories_in_id_order_whatever_the_prompts_order():
    agent = AgentFactory(slug="devops")
    first, second = memory_of(agent, "Check the disk."), memory_of(agent, "Then the logs.")
    # Any update (a use, a calibration) moves a row's live version: the table no longer lies
    # in id order, and neither did a count that took rows as it found them.
    Memory.objects.filter(pk=first.pk).update(confidence=Decimal("0.6"))
    with psycopg.connect(database_url()) as calibration:  # holds the lower id, as it would
        calibration.execute("SELECT 1 FROM memory_memory WHERE id = %s FOR UPDATE", [first.id])
        record_call(agent, [second.id, first.id])
        call = threading.Thread(target=fold_in_a_thread)
        call.start()
        wait_for(lambda: sessions_waiting_on_a_lock("memory_fold_uses") == 1)

        # The fold waits for the lower id holding nothing, so calibration's next lock is free:
        # in the prompt's order it would hold the higher id, and this was a deadlock.
        calibration.execute(
            "SELECT 1 FROM memory_memory WHERE id = %s FOR UPDATE NOWAIT", [second.id]
        )
        calibration.commit()
        call.join(timeout=30)

    assert not call.is_alive()
    counts = Memory.objects.filter(pk__in=[first.id, second.id]).values_list("use_count", flat=True)
    assert list(counts) == [1, 1]
