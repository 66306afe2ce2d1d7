"""One scripted day of a company that grows, offline, by calling the duties and workers directly:
a standup → candidates → promoted memories → a metric lesson → a trigger whose topic memory
chose → an initiative through the intake → a mission that succeeds → a strategy candidate, and
a calibrated confidence on a memory its prompt carried."""

import random

import pytest

from memory.initiative import draft_next_initiatives
from memory.models import Memory, MemoryCandidate
from missions.models import Mission, Proposal, TriggerRule
from missions.worker import handle_one_step
from opscore.actions import set_policy
from opscore.heartbeat import run_heartbeat
from opscore.models import LLMCall
from roundtable.lifecycle import request_conversation
from roundtable.speaking import run_conversation
from tests.factories import AgentFactory, make_publication

pytestmark = pytest.mark.django_db
CREW = ("coordinator", "devops", "research", "security")


@pytest.fixture
def company(db):
    for slug in CREW:
        AgentFactory(slug=slug, max_concurrent_steps=5)
    set_policy("memory_influence_policy", {"probability": 1.0}, actor="test")
    set_policy(
        "initiative_policy",
        {"enabled": True, "min_confidence": 0.6, "min_memories": 2},
        actor="test",
    )
    TriggerRule.objects.create(
        name="proactive-research",
        trigger_event="proactive_research",
        proactive=True,
        action_config={"target_agent": "devops", "title": "Deep research"},
        topics=["evaluation of output", "durable queues"],
        cooldown_minutes=0,
    )


def work_everything():
    while handle_one_step("w1"):
        pass


def test_one_scripted_day(company):
    standup = request_conversation("standup", list(CREW), "the week ahead", source="schedule")
    run_conversation(standup, random.Random(1), pause=0)
    from_standup = MemoryCandidate.objects.filter(source_ref=f"conversation:{standup.id}")
    assert from_standup.count() == 4
    assert Memory.objects.filter(candidate__in=from_standup, agent="devops").exists()

    devops = AgentFactory(slug="devops")
    for n in range(3):
        make_publication(devops, f"Weekly changelog {n}", 1000, 20)
    make_publication(devops, "How durable queues survive a restart", 1000, 120)
    first = run_heartbeat("test")  # learns the lesson, then queues devops's initiative
    lesson = Memory.objects.get(agent="devops", tags__contains=["metric-lesson"])
    assert "How durable queues survive a restart" in lesson.content
    learned = next(d for d in first.duties if d["name"] == "enqueue_initiatives")
    assert learned["counts"]["devops"] == "queued"

    run_heartbeat("test")  # the proactive rule fires again, now steered by the lesson
    steered = Proposal.objects.filter(source="trigger").latest("id")
    assert steered.title == "Deep research: durable queues"
    assert steered.context == {"memory_influenced": True, "memory_ids": [lesson.id]}

    [request] = draft_next_initiatives("w1")
    initiative = Proposal.objects.get(source="initiative")
    assert request.status == "submitted" and initiative.status == "accepted"

    work_everything()
    mission = Mission.objects.get(proposal=initiative)
    assert mission.status == "succeeded"
    carried = LLMCall.objects.filter(step__mission=mission).values_list("injected", flat=True)
    carried_ids = {i for injected in carried for i in injected.get("memory_ids", [])}
    assert lesson.id in carried_ids
    confidence_before = Memory.objects.get(pk=lesson.pk).confidence

    run_heartbeat("test")

    strategy = MemoryCandidate.objects.get(
        kind="strategy",
        source_agent="devops",
        evidence__contains=[{"type": "mission", "id": mission.id}],
    )
    assert strategy.title == "What works: analyze"
    lesson.refresh_from_db()
    assert lesson.confidence > confidence_before
    assert any(
        e["step"] in set(mission.steps.values_list("id", flat=True)) for e in lesson.calibration_log
    )
