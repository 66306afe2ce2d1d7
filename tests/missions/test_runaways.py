"""Runaway detectors on scripted storms: each pauses the rule, pair or lane with an Override
whose reason names the evidence, and the pause holds where the work would come from."""

import random

import pytest

from missions.actions import submit_proposal
from missions.loop import evaluate_triggers, match_reactions, process_reactions
from missions.models import ProposalSource, Reaction, TriggerRule
from missions.runaways import detect_runaways
from opscore.actions import record_event, set_policy
from opscore.models import Event, Override
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db
FAR = 10**12


@pytest.fixture
def pair(agent):
    return agent, AgentFactory(slug="growth", daily_proposal_limit=100)


def caused(by, to, n, title="Follow up"):
    for i in range(n):
        event = record_event("x.done", f"{by.slug} did {i}", agent=by, tags=["x"])
        data = {"agent": to.slug, "title": f"{title} {by.slug} {i}", "steps": [{"kind": "noop"}]}
        submit_proposal(
            data, source=ProposalSource.REACTION, cause_event=event, cause_ref="reaction:0"
        )


def test_ping_pong_between_two_agents_pauses_the_pair_and_its_reactions_skip(pair):
    devops, growth = pair
    caused(devops, growth, 3)
    caused(growth, devops, 3)

    result = detect_runaways()

    row = Override.objects.get(kind="pause_pair")
    assert row.target == "devops+growth" and "ping-pong" in row.reason
    assert "devops→growth 3" in row.reason and row.expires_at is not None
    assert result["paused"] == [f"pause_pair devops+growth (override {row.id})"]
    assert Event.objects.filter(kind="override.applied", tags__contains=["alert"]).exists()
    pattern = {
        "source": "devops",
        "tags": ["x"],
        "target": "growth",
        "type": "analyze",
        "probability": 1.0,
        "cooldown": 0,
    }
    set_policy("reaction_matrix", {"patterns": [pattern]}, actor="t", reason="t")
    record_event("x.done", "once more", agent=devops, tags=["x"])
    match_reactions(random.Random(1))
    process_reactions(FAR)
    latest = Reaction.objects.order_by("-id").first()
    assert latest.status == "skipped" and f"override {row.id}" in latest.reason
    assert detect_runaways()["paused"] == []  # already in force: no second row


def test_an_agent_waking_itself_is_paused(pair):
    devops, _ = pair
    caused(devops, devops, 3)

    detect_runaways()

    assert Override.objects.get(kind="pause_pair").target == "devops+devops"


def test_a_reaction_storm_pauses_the_reactions_lane(pair):
    event = record_event("x.done", "boom", agent=pair[0], tags=["x"])
    Reaction.objects.bulk_create(
        Reaction(
            source_event=event,
            pattern_key=f"k{i}",
            pattern={},
            target_agent="growth",
            reaction_type="analyze",
            status="skipped",
        )
        for i in range(20)
    )

    detect_runaways()

    row = Override.objects.get(kind="pause_lane")
    assert row.target == "reactions" and "20 reactions in the last minute" in row.reason


def test_a_rule_repeating_one_title_is_paused_and_then_skipped(agent):
    rule = TriggerRule.objects.create(
        name="nag", trigger_event="proactive_research", action_config={"target_agent": "devops"}
    )
    for _ in range(5):
        submit_proposal(
            {"agent": "devops", "title": "Same again", "steps": [{"kind": "noop"}]},
            source=ProposalSource.TRIGGER,
            cause_ref=f"trigger_rule:{rule.id}",
        )

    detect_runaways()
    evaluated = evaluate_triggers(FAR, random.Random(1))

    row = Override.objects.get(kind="pause_rule")
    assert row.target == "nag" and "'Same again' by devops 5 times" in row.reason
    nag = next(r for r in evaluated["rules"] if r["rule"] == "nag")
    assert nag["outcome"] == "skipped" and f"override {row.id}" in nag["reason"]


def test_a_human_repeating_a_title_raises_one_alert_and_pauses_nothing(agent):
    for _ in range(5):
        submit_proposal(
            {"agent": "devops", "title": "Check disks", "steps": [{"kind": "noop"}]},
            source=ProposalSource.API,
        )

    detect_runaways()
    detect_runaways()

    assert not Override.objects.exists()
    assert Event.objects.filter(kind="runaway.detected").count() == 1


def test_quiet_work_trips_nothing(pair):
    devops, growth = pair
    caused(devops, growth, 2)
    caused(growth, devops, 1)
    set_policy("runaway_policy", {"enabled": True}, actor="t", reason="t")

    assert detect_runaways() == {"paused": []}
    assert not Override.objects.exists()


def test_reactions_to_system_events_repeating_a_title_are_paused_and_then_skipped(agent):
    """Events no agent wrote react as the pair `agent+system`: the detector's pause of it was
    refused (`system` is no agent) and dropped, so the storm went on unpaused and unreported."""
    for i in range(5):
        event = record_event("disk.full", f"disk full {i}", tags=["disk"])
        submit_proposal(
            {"agent": "devops", "title": "Clean disks", "steps": [{"kind": "noop"}]},
            source=ProposalSource.REACTION,
            cause_event=event,
            cause_ref="reaction:0",
        )

    result = detect_runaways()

    row = Override.objects.get(kind="pause_pair")
    assert row.target == "devops+system" and "'Clean disks' by devops 5 times" in row.reason
    assert result["paused"] == [f"pause_pair devops+system (override {row.id})"]
    pattern = {
        "source": "*",
        "tags": ["disk"],
        "target": "devops",
        "type": "analyze",
        "probability": 1.0,
        "cooldown": 0,
    }
    set_policy("reaction_matrix", {"patterns": [pattern]}, actor="t", reason="t")
    record_event("disk.full", "disk full again", tags=["disk"])
    match_reactions(random.Random(1))
    process_reactions(FAR)
    latest = Reaction.objects.order_by("-id").first()
    assert latest.status == "skipped" and f"override {row.id}" in latest.reason
