"""Closing the loop: events and conditions create work by themselves, through the intake."""

import random
import time
from datetime import timedelta

import pytest
from django.db.models.functions import Now

from console.bootstrap import bootstrap
from missions import loop
from missions.checkers import Beat
from missions.models import ContentMetric, Mission, Proposal, Reaction, Step, TriggerRule
from missions.worker import handle_one_step
from opscore.actions import set_policy
from opscore.heartbeat import run_heartbeat
from opscore.models import Event
from opscore.standing_orders import db_now
from tests.factories import AgentFactory, make_post, make_step

pytestmark = pytest.mark.django_db
FAR = 10**9  # a deadline that never passes


def react_to_failures(target="devops", probability=1.0, cooldown=60):
    pattern = {
        "source": "*",
        "tags": ["mission_failed"],
        "target": target,
        "type": "diagnose",
        "probability": probability,
        "cooldown": cooldown,
    }
    set_policy("reaction_matrix", {"patterns": [pattern]}, actor="t")


def rule(name="r", **fields):
    fields.setdefault("action_config", {"target_agent": "devops"})
    fields.setdefault("trigger_event", "proactive_research")
    return TriggerRule.objects.create(name=name, **fields)


def test_a_failed_mission_leads_through_a_reaction_to_new_work_that_runs(agent):
    react_to_failures()
    broken = make_step("test_fail", agent=agent, payload={"retryable": False})
    handle_one_step("w1")
    failed = Event.objects.get(kind="mission.failed")

    run_heartbeat("test")

    reaction = Reaction.objects.get()
    assert (reaction.source_event, reaction.status) == (failed, "processed")
    proposal = reaction.proposal
    assert (proposal.source, proposal.cause_event, proposal.status) == (
        "reaction",
        failed,
        "accepted",
    )
    step = Step.objects.get(mission__proposal=proposal)
    handle_one_step("w1")
    step.refresh_from_db()
    assert step.status == "succeeded"
    assert Event.objects.filter(kind="step.succeeded", step=step).exists()
    assert broken.mission.status != "running"


def test_a_reaction_into_a_full_quota_is_a_logged_rejection():
    AgentFactory(slug="devops", daily_proposal_limit=0)
    react_to_failures()
    make_step("test_fail", payload={"retryable": False}, agent=AgentFactory(slug="devops"))
    handle_one_step("w1")

    run_heartbeat("test")

    reaction = Reaction.objects.get()
    assert reaction.proposal.status == "rejected"
    assert reaction.reason.startswith("Daily proposal limit reached")
    assert not Mission.objects.filter(proposal=reaction.proposal).exists()


def test_probability_and_cooldown_skips_are_rows_with_reasons(agent):
    react_to_failures(probability=0.0)
    failed = Event.objects.create(kind="mission.failed", title="x", tags=["mission_failed"])

    loop.match_reactions(random.Random(1))

    skipped = Reaction.objects.get(source_event=failed)
    assert skipped.status == "skipped" and skipped.reason.startswith("probability roll")
    react_to_failures(probability=1.0, cooldown=60)
    Event.objects.create(kind="mission.failed", title="y", tags=["mission_failed"])
    Event.objects.create(kind="mission.failed", title="z", tags=["mission_failed"])
    loop.match_reactions(random.Random(1))
    assert list(Reaction.objects.order_by("id").values_list("status", "reason"))[1:] == [
        ("queued", ""),
        ("skipped", "cooldown 60 min"),
    ]


def test_a_rule_in_cooldown_is_skipped_before_any_checker_runs(agent):
    rule(proactive=True, cooldown_minutes=60, last_fired_at=db_now() - timedelta(minutes=5))

    result = loop.evaluate_triggers(FAR, random.Random(0))

    assert result["rules"] == [{"rule": "r", "outcome": "skipped", "reason": "cooldown"}]
    assert not Proposal.objects.exists()


def test_proactive_rules_skip_about_as_often_as_they_should(agent):
    r = rule(proactive=True, skip_probability=0.12)
    beat = Beat(random.Random(42))
    outcomes = [loop._evaluate(r, beat)["outcome"] for _ in range(400)]

    assert 0.07 < outcomes.count("skipped") / 400 < 0.17
    again = [loop._evaluate(r, Beat(random.Random(42)))["outcome"] for _ in range(3)]
    assert len(set(again)) == 1  # the same seed decides the same way


def test_proactive_work_is_spread_by_jitter_and_rotates_topics(agent):
    r = rule(
        proactive=True,
        jitter_min_minutes=25,
        jitter_max_minutes=45,
        topics=["alpha", "beta"],
        action_config={"target_agent": "devops", "title": "Dig"},
    )
    beat = Beat(random.Random(7))

    first = loop._evaluate(r, beat)
    loop.record_fires(beat)  # what the pass writes back at its end
    r.refresh_from_db()
    second = loop._evaluate(r, beat)

    titles = list(Proposal.objects.order_by("id").values_list("title", flat=True))
    assert titles == ["Dig: alpha", "Dig: beta"]
    for fired in (first, second):
        assert 25 * 60 <= fired["delay_seconds"] <= 45 * 60
    step = Step.objects.order_by("id").first()
    assert Step.objects.filter(pk=step.pk, run_after__gt=Now() + timedelta(minutes=24)).exists()


def test_rules_that_do_not_fit_the_budget_wait_for_the_next_beat(agent):
    rule("a")
    rule("b")

    result = loop.evaluate_triggers(time.monotonic() - 1, random.Random(0))

    assert result["deferred"] == 2 and result["fired"] == 0


def test_the_heartbeat_records_per_rule_outcomes_and_paused_lanes(agent):
    rule("a", proactive=True)
    beat = run_heartbeat("test")
    triggers = next(d for d in beat.duties if d["name"] == "evaluate_triggers")
    assert triggers["counts"]["fired"] == 1
    assert triggers["counts"]["rules"][0]["rule"] == "a"

    set_policy(
        "lane_switches",
        {"lanes": {"triggers": False, "reactions": True, "roundtable": True}},
        actor="operator:ann",
    )
    paused = next(d for d in run_heartbeat("test").duties if d["name"] == "evaluate_triggers")
    assert (paused["name"], paused["status"]) == ("evaluate_triggers", "paused")
    assert paused["detail"].startswith("lane triggers paused (queue)")


def test_reactive_checkers_fire_once_per_new_event(agent):
    rule("diag", trigger_event="mission_failed", cooldown_minutes=0)
    Event.objects.create(kind="mission.failed", title="M1 failed", tags=["mission_failed"])

    assert loop.evaluate_triggers(FAR)["fired"] == 1
    assert loop.evaluate_triggers(FAR)["fired"] == 0
    assert Proposal.objects.get().cause_event.title == "M1 failed"


def test_seeding_the_rules_is_idempotent_and_follows_the_enabled_agents():
    bootstrap(1, actor="t")
    first = TriggerRule.objects.count()
    bootstrap(1, actor="t")

    assert first == TriggerRule.objects.count() == 7  # phase 1's four agents' rules
    assert TriggerRule.objects.filter(proactive=True).count() == 4
    bootstrap(2, actor="t", force=True)
    assert TriggerRule.objects.count() == 11
    assert TriggerRule.objects.filter(proactive=True).count() == 7


def test_metrics_from_the_cli_and_api_feed_the_engagement_trigger(agent, client, settings):
    from io import StringIO

    from django.core.management import CommandError, call_command

    settings.OPS_API_TOKEN = "tok-123456789" * 3
    post = make_post(agent)
    measure = ["record-metrics", "--impressions", "1000", "--engagements", "80"]
    call_command(*measure, "--post", post.external_id, stdout=StringIO())
    with pytest.raises(CommandError, match="no published post has the id '99999'"):
        call_command(*measure, "--post", "99999")
    for body in (
        {"post_ref": post.external_id, "impressions": 1, "engagements": 5},
        {"post_ref": "local-x-1", "impressions": 10, "engagements": 5},
    ):
        bad = client.post(
            "/api/ops/metrics",
            body,
            content_type="application/json",
            headers={"Authorization": "Bearer " + "tok-123456789" * 3},
        )
        assert bad.status_code == 400 and list(bad.json()["errors"]) in (["body"], ["post_ref"])
    assert ContentMetric.objects.count() == 1
    rule("hot", trigger_event="tweet_high_engagement", conditions={"min_engagement_rate": 0.05})

    assert loop.evaluate_triggers(FAR)["fired"] == 1
    assert "8.0%" in Proposal.objects.exclude(pk=post.step.mission.proposal_id).get().title
