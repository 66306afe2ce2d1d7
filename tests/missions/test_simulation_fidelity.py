"""Simulating the value already in force changes nothing: every rule the intake applied to the
window's proposals is replayed (or taken as recorded), so the report's differences are the
edited value's and no one else's."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse

from missions.decisions import approve_proposal
from missions.goals import add_goal
from missions.models import Proposal, Step, WordsApproval
from missions.models.words import text_digest
from missions.simulation_report import simulate_policy
from opscore.actions import record_event, set_policy
from opscore.db import db_now
from opscore.models import Policy
from opscore.overrides import apply_override
from tests.factories import make_step, propose

pytestmark = pytest.mark.django_db


def simulate_as_it_is(key: str) -> dict:
    return simulate_policy(key, Policy.objects.value(key).model_dump(mode="json"))


def test_a_proposal_refused_by_a_lane_paused_in_drop_mode_stays_refused(agent):
    apply_override("pause-lane", "publishing:drop", reason="quiet week", actor="operator:ana")
    refused = propose(agent, "post_tweet", title="Hello")
    assert refused.rejection_code == "lane_paused"

    report = simulate_as_it_is("x_daily_quota")

    assert report["proposals"]["transitions"] == {}
    assert report["proposals"]["replayed"] == 1


def test_an_approval_refused_because_the_lane_was_paused_stays_refused(agent):
    waiting = propose(agent, "post_tweet", title="Hello")
    apply_override("pause-lane", "publishing:drop", reason="quiet week", actor="operator:ana")
    refused = approve_proposal(waiting, actor="operator:ana")
    assert refused.rejection_code == "lane_paused"

    report = simulate_as_it_is("x_daily_quota")

    assert report["proposals"]["transitions"] == {}


def test_the_slots_goal_preference_kept_stay_kept(agent):
    add_goal(
        {"title": "Ship", "metric": "missions_succeeded", "target": 5}
        | {"owner": agent.slug, "deadline": "30d"},
        actor="operator:test",
    )
    set_policy("content_policy", {"enabled": True, "max_drafts_per_day": 2}, actor="t")
    set_policy("goal_preference", {"enabled": True, "reserved_slots": 1}, actor="t")
    propose(agent, "write_content", title="Any draft")
    kept = propose(agent, "write_content", title="Another draft")
    assert "goal_preference" in kept.reason

    report = simulate_as_it_is("content_policy")

    assert report["proposals"]["transitions"] == {}
    looser = simulate_policy("content_policy", {"enabled": True, "max_drafts_per_day": 3})
    change = looser["proposals"]["transitions"]["rejected → auto_approved"]
    assert [e["title"] for e in change["examples"]] == ["Another draft"]


def refuse_these_words(agent, words: str) -> None:
    """A person refused these words on an earlier post, last month (the row refuse_words
    leaves)."""
    earlier = make_step("post_tweet", agent=agent, payload={"text": words}, status="failed")
    Proposal.objects.filter(pk=earlier.mission.proposal_id).update(
        created_at=db_now() - timedelta(days=30)
    )
    WordsApproval.objects.create(
        step=earlier, digest=text_digest(words), words=words, decision="refused",
        decided_by="operator:ana", reason="off brand",
    )  # fmt: skip


def test_a_post_of_words_a_person_refused_before_still_waits_for_a_person(agent):
    allowing = ["draft_tweet", "crawl", "analyze", "write_content", "noop", "post_tweet"]
    set_policy("auto_approve", {"enabled": True, "allowed_step_kinds": allowing}, actor="t")
    refuse_these_words(agent, "Hello from the tests")
    waiting = propose(agent, "post_tweet", title="The refused words again")
    assert waiting.status == "pending"

    assert simulate_as_it_is("auto_approve")["proposals"]["transitions"] == {}
    set_policy("auto_approve", {"enabled": True}, actor="t")
    loosened = simulate_policy("auto_approve", {"enabled": True, "allowed_step_kinds": allowing})
    assert loosened["proposals"]["transitions"] == {}


def test_a_policy_it_does_not_replay_is_not_said_to_change_nothing(
    agent, tmp_path, capsys, admin_client
):
    """Switching goal_preference on would have refused the second draft here, yet the report
    said "no recorded decision reads goal_preference: nothing would change"."""
    add_goal(
        {"title": "Ship", "metric": "missions_succeeded", "target": 5}
        | {"owner": agent.slug, "deadline": "30d"},
        actor="operator:test",
    )
    set_policy("content_policy", {"enabled": True, "max_drafts_per_day": 2}, actor="t")
    propose(agent, "write_content", title="Any draft")
    propose(agent, "write_content", title="Another draft")
    value = tmp_path / "on.json"
    value.write_text('{"enabled": true, "reserved_slots": 1}')

    call_command("simulate-policy", "goal_preference", "--value", str(value))

    set_policy("goal_preference", {"enabled": False}, actor="t")
    url = reverse("admin:opscore_policy_change", args=["goal_preference"])
    page = admin_client.post(url, {"value": value.read_text(), "_simulate": "1"})

    for said in (capsys.readouterr().out, page.content.decode()):
        assert "nothing would change" not in said
        assert "goal_preference is not simulated: every decision here is as recorded" in said


def test_a_step_that_failed_later_held_its_slot_until_it_failed(agent, clock):
    """The quota counts a step until it fails: simulating the value in force said the draft the
    full quota had refused would have been auto-approved, and the one admitted once the first
    had failed would have been refused (the failed step counted for no moment at all)."""
    noon = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    set_policy("content_policy", {"enabled": True, "max_drafts_per_day": 1}, actor="t")
    clock.freeze(noon)
    first = propose(agent, "write_content", title="First draft")
    clock.freeze(noon + timedelta(minutes=5))
    assert propose(agent, "write_content", title="Refused draft").status == "rejected"
    clock.freeze(noon + timedelta(minutes=10))
    Step.objects.filter(mission__proposal=first).fail_with("the writer gave up")
    clock.freeze(noon + timedelta(minutes=15))
    assert propose(agent, "write_content", title="Later draft").status == "accepted"
    clock.freeze(noon + timedelta(minutes=20))

    report = simulate_as_it_is("content_policy")

    assert report["proposals"]["replayed"] == 3
    assert report["proposals"]["transitions"] == {}


def test_new_reactions_are_listed_in_the_matrixs_order_whatever_the_hash_seed(agent):
    """The reactions an event would now set off were listed in the order of a set of pattern
    keys (the interpreter's hash seed): the first N shown changed from one run to the next."""
    record_event("tweet.posted", "posted once", tags=["tweet", "posted"], agent=agent)
    odds = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    patterns = [
        {"source": "*", "tags": ["posted"], "target": agent.slug, "type": "analyze"}
        | {"probability": p, "cooldown": 0}
        for p in odds
    ]

    found = simulate_policy("reaction_matrix", {"patterns": patterns}, examples=8)

    would_fire = found["reactions"]["would_fire"]
    assert [e["probability"] for e in would_fire["examples"]] == odds
