"""One mission under control: pause and resume it, send it a note, give it a deadline."""

from datetime import UTC, datetime, timedelta

import pytest

from missions.actions import DecisionRefused
from missions.mission_control import (
    note_mission,
    pause_mission,
    resume_mission,
    set_mission_deadline,
    time_out_missions,
)
from missions.models import Mission, Step
from missions.prompts import build_request
from missions.worker import handle_one_step
from opscore.models import Event, LLMCall
from tests.factories import AgentFactory, make_step
from tests.scripted import Scripted

pytestmark = pytest.mark.django_db
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_a_paused_mission_is_not_claimed_while_another_runs_then_resumes(agent):
    paused = make_step("noop", agent=agent)
    other = make_step("noop", agent=agent)

    pause_mission(paused.mission_id, actor="operator:ann", reason="waiting for legal")
    assert handle_one_step("w1") is True
    assert handle_one_step("w1") is False  # nothing of the paused mission is claimed

    assert Step.objects.get(pk=other.pk).status == "succeeded"
    assert Step.objects.get(pk=paused.pk).status == "queued"
    resume_mission(paused.mission_id, actor="operator:ann", reason="legal said yes")
    assert handle_one_step("w1") is True
    assert Step.objects.get(pk=paused.pk).status == "succeeded"
    kinds = list(
        Event.objects.filter(
            mission_id=paused.mission_id, kind__in=["mission.paused", "mission.resumed"]
        )
        .order_by("id")
        .values_list("kind", "actor", "payload__reason")
    )
    assert kinds == [
        ("mission.paused", "operator:ann", "waiting for legal"),
        ("mission.resumed", "operator:ann", "legal said yes"),
    ]


def test_an_external_runtime_claims_nothing_of_a_paused_mission(agent):
    from django.db import connection

    external = AgentFactory(slug="outside", runtime="external")
    step = make_step("noop", agent=external)
    pause_mission(step.mission_id, actor="operator:ann", reason="hold")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM opscore_claim_step_for_agent('w', 60, 'outside', ARRAY[]::text[])"
        )
        assert cursor.fetchall() == []


def test_pause_needs_a_reason_and_an_open_mission(agent):
    step = make_step("noop", agent=agent)
    with pytest.raises(DecisionRefused, match="reason"):
        pause_mission(step.mission_id, actor="operator:ann", reason=" ")
    handle_one_step("w1")
    with pytest.raises(DecisionRefused, match="already succeeded"):
        pause_mission(step.mission_id, actor="operator:ann", reason="late")
    with pytest.raises(DecisionRefused, match="no mission"):
        resume_mission(999999, actor="operator:ann", reason="x")


def test_a_note_reaches_the_next_steps_prompt(agent, monkeypatch):
    model = Scripted("Noted.")
    monkeypatch.setattr("opscore.llm.get_provider", lambda: model)
    step = make_step("analyze", agent=agent, payload={"topic": "pricing"})
    assert "Notes from the operator" not in build_request(step)[0].messages[0]["content"]

    note_mission(step.mission_id, actor="operator:ann", text="Focus on the EU market only.")
    handle_one_step("w1")

    assert LLMCall.objects.get(step=step).outcome == "ok"
    prompt = model.requests[0].messages[0]["content"]
    assert "Notes from the operator on this mission:\n- operator:ann: Focus on the EU" in prompt
    note = Event.objects.get(kind="mission.note", mission_id=step.mission_id)
    assert (note.actor, note.payload["note"]) == ("operator:ann", "Focus on the EU market only.")


def test_past_its_deadline_a_mission_times_out_with_its_steps_failed(agent, clock):
    clock.freeze(NOON)
    first = make_step("noop", agent=agent)
    waiting = Step.objects.create(mission_id=first.mission_id, agent=agent, kind="noop", position=1)
    pause_mission(first.mission_id, actor="operator:ann", reason="hold")
    set_mission_deadline(first.mission_id, actor="operator:ann", deadline="2h", reason="launch")
    assert Mission.objects.get(pk=first.mission_id).deadline_at == NOON + timedelta(hours=2)

    clock.freeze(NOON + timedelta(hours=1, minutes=59))
    assert time_out_missions() == 0
    clock.freeze(NOON + timedelta(hours=2))
    assert time_out_missions() == 1

    mission = Mission.objects.get(pk=first.mission_id)
    assert (mission.status, mission.finished_at) == ("timed_out", NOON + timedelta(hours=2))
    for step in Step.objects.filter(pk__in=[first.pk, waiting.pk]):
        assert step.status == "failed"
        assert step.last_error == f"mission M{mission.id} passed its deadline 2026-03-02 14:00 UTC"
    assert Event.objects.get(kind="mission.timed_out", mission=mission).actor == "system:sweeper"
    mission.finalize()
    assert Mission.objects.get(pk=mission.pk).status == "timed_out"  # the ending is kept


@pytest.mark.parametrize(
    ("deadline", "problem"),
    [
        ("soon", "give a span"),
        ("2026-03-02T18:00", "zone"),
        ("2026-03-01T00:00+00:00", "passed"),
        ("9999-12-31T23:59:59-14:00", "at most a year ahead"),  # past Postgres' year 10000
        ("2027-03-04T12:00+00:00", "at most a year ahead"),
        ("400d", "at most a year ahead"),  # a span: "give a span" said it was not one
        ("99999999d", "at most a year ahead"),
        ("\uff12h", "give a span"),
    ],
)
def test_a_bad_deadline_is_refused_in_one_line(agent, clock, deadline, problem):
    clock.freeze(NOON)
    step = make_step("noop", agent=agent)

    with pytest.raises(DecisionRefused, match=problem):
        set_mission_deadline(step.mission_id, actor="operator:ann", deadline=deadline, reason="r")
    assert Mission.objects.get(pk=step.mission_id).deadline_at is None


@pytest.mark.parametrize(
    ("span", "ahead"), [("60d", timedelta(days=60)), ("366d", timedelta(days=366))]
)
def test_a_deadline_as_a_span_reaches_as_far_as_a_time_does(agent, clock, span, ahead):
    """A span was read as an override's expiry, at most 30 days: `60d` was refused with "give a
    span (90m, 2h, 3d) or an ISO time" while the same day typed as a time was taken."""
    clock.freeze(NOON)
    step = make_step("noop", agent=agent)

    set_mission_deadline(step.mission_id, actor="operator:ann", deadline=span, reason="launch")

    assert Mission.objects.get(pk=step.mission_id).deadline_at == NOON + ahead
