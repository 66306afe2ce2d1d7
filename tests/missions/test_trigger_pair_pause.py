"""A pair paused by the runaway detector (or a person) holds for trigger rules too: the detector
counts their proposals as the loop's evidence, so a rule answering the paused pair's events
must not keep the loop going."""

import random

import pytest

from missions import loop
from missions.models import Proposal, TriggerRule, TriggerSkip
from opscore.actions import record_event
from opscore.overrides import apply_override
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db
FAR = 10**9  # a deadline that never passes


def diagnose_failures(name="diagnose"):
    return TriggerRule.objects.create(
        name=name,
        trigger_event="mission_failed",
        action_config={"target_agent": "devops"},
        cooldown_minutes=0,
    )


def failure_of(agent, title):
    return record_event("mission.failed", title, agent=agent, tags=["mission_failed"])


def outcome(result, name):
    return next(r for r in result["rules"] if r["rule"] == name)


def test_a_rule_answering_a_paused_pair_skips_for_good_with_the_pause(agent):
    rule = diagnose_failures()
    pause = apply_override("pause_pair", "devops+devops", reason="woke itself", actor="t")
    failed = failure_of(agent, "M1 failed")

    result = loop.evaluate_triggers(FAR, random.Random(0))

    assert outcome(result, "diagnose")["outcome"] == "skipped"
    assert f"override {pause.id}" in outcome(result, "diagnose")["reason"]
    assert not Proposal.objects.exists()
    skip = TriggerSkip.objects.get(rule=rule)
    assert skip.event == failed and f"override {pause.id}" in skip.reason
    again = loop.evaluate_triggers(FAR, random.Random(0))
    assert outcome(again, "diagnose")["outcome"] == "evaluated"  # not answered twice


def test_a_rule_still_answers_agents_outside_the_paused_pair(agent):
    growth = AgentFactory(slug="growth")
    diagnose_failures()
    apply_override("pause_pair", "devops+devops", reason="woke itself", actor="t")
    failed = failure_of(growth, "M2 failed")

    result = loop.evaluate_triggers(FAR, random.Random(0))

    assert outcome(result, "diagnose")["outcome"] == "fired"
    assert Proposal.objects.get().cause_event == failed
