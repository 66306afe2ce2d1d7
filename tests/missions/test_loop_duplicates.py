"""One failure, one diagnosis per agent: a trigger rule and a reaction pattern answering the
same event for the same agent propose the work once; the second is a recorded skip naming it."""

import random

import pytest

from missions import loop
from missions.models import Proposal, Reaction, TriggerRule
from opscore.actions import set_policy
from opscore.models import Event
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db
FAR = 10**9  # a deadline that never passes


def diagnose_failures(rule_agent="auditor", reaction_agent="auditor"):
    AgentFactory(slug="auditor")
    AgentFactory(slug="devops")
    TriggerRule.objects.create(
        name="diagnose",
        trigger_event="mission_failed",
        cooldown_minutes=0,
        action_config={"target_agent": rule_agent},
    )
    pattern = {"source": "*", "tags": ["mission_failed"], "target": reaction_agent}
    pattern |= {"type": "diagnose", "probability": 1.0, "cooldown": 0}
    set_policy("reaction_matrix", {"patterns": [pattern]}, actor="t")


def mission_failed(title="Mission M12 failed: Check disks") -> Event:
    return Event.objects.create(kind="mission.failed", title=title, tags=["mission_failed"])


def react() -> None:
    loop.match_reactions(random.Random(1))
    loop.process_reactions(FAR)


def test_a_trigger_and_a_reaction_on_one_failure_make_one_proposal():
    diagnose_failures()
    failed = mission_failed()

    fired = loop.evaluate_triggers(FAR)
    react()

    proposal = Proposal.objects.get(cause_event=failed)
    assert (proposal.agent_id, proposal.source) == ("auditor", "trigger")
    assert fired["fired"] == 1
    reaction = Reaction.objects.get()
    assert (reaction.status, reaction.proposal) == ("skipped", proposal)
    assert reaction.reason == loop.duplicate_of(proposal.id)


def test_a_trigger_after_the_reaction_is_a_skip_that_names_its_proposal():
    diagnose_failures()
    failed = mission_failed()

    react()
    result = loop.evaluate_triggers(FAR)

    proposal = Proposal.objects.get(cause_event=failed)
    assert proposal.source == "reaction"
    [outcome] = result["rules"]
    assert outcome == {
        "rule": "diagnose",
        "outcome": "skipped",
        "reason": loop.duplicate_of(proposal.id),
    }
    assert loop.evaluate_triggers(FAR)["skipped"] == 0  # its cursor moved past the event


def test_different_agents_each_get_their_diagnosis():
    diagnose_failures(rule_agent="auditor", reaction_agent="devops")
    failed = mission_failed()

    loop.evaluate_triggers(FAR)
    react()

    agents = Proposal.objects.filter(cause_event=failed).values_list("agent_id", flat=True)
    assert sorted(agents) == ["auditor", "devops"]
    assert Reaction.objects.get().status == "processed"


def test_different_failures_each_get_their_diagnosis():
    diagnose_failures()
    first, second = mission_failed("M1 failed"), mission_failed("M2 failed")

    react()

    assert Proposal.objects.filter(cause_event__in=[first, second]).count() == 2
    assert set(Reaction.objects.values_list("status", flat=True)) == {"processed"}
