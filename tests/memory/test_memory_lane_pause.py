"""Pausing the memory lane stops promotions: `queue` keeps the candidates a conversation or an
outcome proposes, unreviewed, until the lift; `drop` refuses them with the reason recorded.
Confidence calibration (learned from step endings) waits for the lift too; under `drop`, the
endings that arrive once the pause took hold are never learned from, those from before wait."""

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from memory.models import Memory, MemoryCandidate, MemoryReview
from opscore.actions import record_event
from opscore.heartbeat import run_heartbeat
from opscore.models import Event, LLMCall
from opscore.overrides import apply_override, lift_override
from roundtable.lifecycle import request_conversation
from roundtable.speaking import run_conversation
from tests.factories import make_step

pytestmark = pytest.mark.django_db
CREW = ["coordinator", "devops", "research", "security"]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def pause(target: str):
    return apply_override("pause-lane", target, reason="quiet week", actor="operator:ana")


def lift(row) -> None:
    lift_override(row.id, actor="operator:ana", reason="back to work")


def standup():
    return run_conversation(
        request_conversation("standup", CREW, "the week", source="schedule"),
        random.Random(1),
        pause=0,
    )


def test_it_keeps_a_conversations_candidates_unreviewed_under_a_queue_pause(crew):
    row = pause("memory")

    standup()

    assert MemoryCandidate.objects.count() > 0
    assert set(MemoryCandidate.objects.values_list("status", flat=True)) == {"new"}
    assert not Memory.objects.exists()
    assert not MemoryReview.objects.exclude(decision="skipped").exists()
    held = MemoryReview.objects.filter(candidate__isnull=False)
    assert all(f"held: lane memory paused (queue) by override {row.id}" in r.reason for r in held)


def test_it_reviews_the_held_candidates_as_usual_once_the_pause_is_lifted(crew):
    row = pause("memory")
    standup()
    held = MemoryCandidate.objects.count()

    lift(row)
    run_heartbeat("test")

    assert not MemoryCandidate.objects.filter(status="new").exists()
    promoted = MemoryReview.objects.filter(decision="promote", reviewer="system:roundtable")
    assert promoted.count() == held == Memory.objects.count()


def test_it_refuses_a_conversations_candidates_with_the_reason_under_a_drop_pause(crew):
    row = pause("memory:drop")

    standup()

    assert MemoryCandidate.objects.count() > 0
    assert set(MemoryCandidate.objects.values_list("status", flat=True)) == {"rejected"}
    assert not Memory.objects.exists()
    for review in MemoryReview.objects.all():
        assert review.decision == "reject"
        assert f"dropped: lane memory paused (drop) by override {row.id}" in review.reason


def lesson_carried_by_a_step(agent):
    """A lesson at 0.50 that a step's prompt carried: its ending calibrates it."""
    memory = Memory.objects.create(
        agent=agent,
        type="lesson",
        content="Check the disk first.",
        confidence=Decimal("0.50"),
        evidence=[{"type": "event", "id": record_event("step.failed", "x", agent=agent).id}],
        source_trace_id="t",
    )
    return memory, step_carrying(memory, agent)


def step_carrying(memory, agent):
    step = make_step(agent=agent)
    LLMCall.objects.create(
        agent=agent,
        step=step,
        purpose="step.analyze",
        provider="offline",
        model="m",
        prompt_version="v",
        outcome="ok",
        injected={"memory_ids": [memory.id]},
    )
    return step


def test_it_calibrates_no_confidence_while_the_memory_lane_is_paused(agent):
    memory, step = lesson_carried_by_a_step(agent)
    row = pause("memory")
    record_event("step.succeeded", "S ok", agent=agent, step=step)

    run_heartbeat("test")
    memory.refresh_from_db()
    assert memory.confidence == Decimal("0.50") and memory.calibration_log == []

    lift(row)
    run_heartbeat("test")
    memory.refresh_from_db()
    assert memory.confidence == Decimal("0.52")


def at(clock, seconds: int) -> None:
    """Whether an ending came before the pause is told by the database clock: each step of a
    test gets its own instant."""
    clock.freeze(T0 + timedelta(seconds=seconds))


def test_a_drop_pause_learns_nothing_from_the_endings_of_its_window_even_after_the_lift(
    agent, clock
):
    at(clock, 0)
    memory, step = lesson_carried_by_a_step(agent)
    at(clock, 10)
    row = pause("memory:drop")
    at(clock, 20)
    ending = record_event("step.succeeded", "S ok", agent=agent, step=step)
    at(clock, 60)

    beat = run_heartbeat("test")
    lift(row)
    run_heartbeat("test")

    memory.refresh_from_db()
    duty = next(d for d in beat.duties if d["name"] == "learn_from_outcomes")
    assert memory.confidence == Decimal("0.50") and memory.calibration_log == []
    dropped = Event.objects.get(kind="memory.learning_dropped")
    assert duty["counts"]["dropped"] == dropped.payload["count"] == 1
    assert dropped.payload["first_event_id"] == dropped.payload["last_event_id"] == ending.id
    assert "quiet week" in dropped.summary


def test_a_drop_pause_leaves_the_endings_that_arrived_before_it_to_learn_after_the_lift(
    agent, clock
):
    at(clock, 0)
    memory, before = lesson_carried_by_a_step(agent)
    during = step_carrying(memory, agent)
    record_event("step.succeeded", "S1 ok", agent=agent, step=before)  # not yet read
    at(clock, 10)
    row = pause("memory:drop")
    at(clock, 20)
    record_event("step.succeeded", "S2 ok", agent=agent, step=during)
    at(clock, 60)
    run_heartbeat("test")
    memory.refresh_from_db()
    assert memory.confidence == Decimal("0.50")  # the lane is paused: the first one waits

    lift(row)
    at(clock, 120)
    run_heartbeat("test")

    memory.refresh_from_db()
    assert memory.confidence == Decimal("0.52")  # learned from the first; the second dropped
    assert Event.objects.get(kind="memory.learning_dropped").payload["count"] == 1


def test_each_beat_of_a_drop_pause_drops_only_the_endings_new_since_the_last(agent, clock):
    at(clock, 0)
    step = make_step(agent=agent)
    record_event("step.succeeded", "S0 ok", agent=agent, step=step)  # waits for the lift
    at(clock, 10)
    pause("memory:drop")
    at(clock, 20)
    first = record_event("step.succeeded", "S1 ok", agent=agent, step=step)
    at(clock, 60)
    beat = run_heartbeat("test")
    at(clock, 80)
    second = record_event("step.succeeded", "S2 ok", agent=agent, step=step)
    at(clock, 120)
    run_heartbeat("test")

    duty = next(d for d in beat.duties if d["name"] == "learn_from_outcomes")
    assert (duty["counts"]["dropped"], duty["counts"]["waiting"]) == (1, 1)
    drops = Event.objects.filter(kind="memory.learning_dropped").order_by("id")
    assert [(d.payload["first_event_id"], d.payload["last_event_id"]) for d in drops] == [
        (first.id, first.id),
        (second.id, second.id),
    ]


def test_an_outside_runtimes_promotion_waits_for_the_lift_and_changes_nothing(agent):
    from io import StringIO

    from django.core.management import call_command

    event = record_event("step.failed", "disk full", agent=agent)
    waiting = MemoryCandidate.objects.create(
        source_agent=agent, kind="lesson", title="Disks fill on Fridays", body="db-1 fills.",
        evidence=[{"type": "event", "id": event.id}], confidence=Decimal("0.80"),
    )  # fmt: skip
    row = pause("memory")
    out = StringIO()
    call_command(
        "agentbus", "promote-memory-candidate", "--candidate-id", str(waiting.id),
        "--promoted-by", "devops", "--title", "Disks fill every day", stdout=out,
    )  # fmt: skip

    answer = json.loads(out.getvalue())
    assert answer["decision"] == "skipped" and answer["memory_id"] is None
    assert f"held: lane memory paused (queue) by override {row.id}" in answer["reason"]
    waiting.refresh_from_db()
    assert (waiting.status, waiting.title) == ("new", "Disks fill on Fridays")
    assert not Memory.objects.exists()
