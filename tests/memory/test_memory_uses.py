"""A memory's use count: what LLM calls carried it, each call counted once, at the fold."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from memory.models import Memory, MemoryStatus, PendingUse
from memory.upkeep import review_due_memories
from memory.uses import fold_memory_uses
from opscore.db import db_now
from opscore.heartbeat import run_heartbeat
from opscore.models import LLMCall
from opscore.overrides import apply_override
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent():
    return AgentFactory(slug="devops")


def remember(agent, content: str, **fields) -> Memory:
    return Memory.objects.create(
        agent=agent,
        type="lesson",
        content=content,
        confidence=Decimal("0.8"),
        source_trace_id=content,
        **fields,
    )


def record_call(agent, memory_ids) -> LLMCall:
    return LLMCall.objects.create(
        agent=agent,
        purpose="step.analyze",
        provider="offline",
        model="m",
        prompt_version="v",
        outcome="ok",
        injected={"memory_ids": memory_ids},
    )


def counts(*memories) -> list[tuple[int, bool]]:
    rows = Memory.objects.filter(pk__in=[m.pk for m in memories]).order_by("id")
    return [(m.use_count, m.last_used_at is not None) for m in rows]


def test_each_call_is_counted_once_at_the_fold(agent):
    disk, logs = remember(agent, "Check the disk."), remember(agent, "Then the logs.")
    record_call(agent, [disk.id])
    record_call(agent, [logs.id, disk.id])
    record_call(agent, [])  # carried nothing: nothing queued

    assert counts(disk, logs) == [(0, False), (0, False)]
    assert fold_memory_uses() == {"calls": 2, "memories": 2}
    assert counts(disk, logs) == [(2, True), (1, True)]
    assert fold_memory_uses() == {"calls": 0, "memories": 0}
    assert counts(disk, logs) == [(2, True), (1, True)]


def test_a_call_rolled_back_counts_nothing(agent):
    disk = remember(agent, "Check the disk.")
    with pytest.raises(RuntimeError), transaction.atomic():
        record_call(agent, [disk.id])
        raise RuntimeError("the step's transaction failed")

    assert not PendingUse.objects.exists()
    assert fold_memory_uses() == {"calls": 0, "memories": 0}


def test_the_heartbeat_counts_uses_while_the_memory_lane_is_paused(agent):
    disk = remember(agent, "Check the disk.")
    record_call(agent, [disk.id])
    apply_override("pause-lane", "memory", reason="quiet week", actor="operator:ana")

    beat = run_heartbeat("test")

    duty = next(d for d in beat.duties if d["name"] == "count_memory_uses")
    assert duty["status"] == "ok" and duty["counts"] == {"calls": 1, "memories": 1}
    assert counts(disk) == [(1, True)]


def test_a_retired_memory_keeps_its_history_of_uses(agent):
    disk = remember(agent, "Check the disk.")
    record_call(agent, [disk.id])
    Memory.objects.filter(pk=disk.pk).update(status=MemoryStatus.STALE)

    fold_memory_uses()

    assert counts(disk) == [(1, True)]


def test_a_use_still_queued_supports_a_memory_at_its_review(agent):
    due = remember(agent, "Check the disk.", next_review_at=db_now() - timedelta(minutes=1))
    record_call(agent, [due.id])

    assert review_due_memories()["refresh"] == 1
    due.refresh_from_db()
    assert due.status == MemoryStatus.ACTIVE and due.use_count == 1


def test_a_memorys_page_counts_the_uses_still_queued(admin_client, agent):
    disk = remember(agent, "Check the disk.")
    record_call(agent, [disk.id])
    fold_memory_uses()
    record_call(agent, [disk.id])

    page = admin_client.get(f"/admin/memory/memory/{disk.id}/change/").content.decode()

    assert "2 (1 queued, counted at the next heartbeat)" in page
    assert "used 2 times" in page  # the provenance chain


def test_only_ids_are_queued_whatever_else_the_row_names(agent):
    disk = remember(agent, "Check the disk.")
    record_call(agent, [disk.id, str(disk.id), "", "x1", -3, 1.5, "1" * 19, None, [2], {"a": 1}])

    assert list(PendingUse.objects.values_list("memory_ids", flat=True)) == [[disk.id, disk.id]]
