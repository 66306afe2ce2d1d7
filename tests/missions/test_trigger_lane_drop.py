"""Pausing the triggers lane: `queue` answers the pause's events after the lift; `drop` skips
them for good, one row per rule with the reason, and moves the rules' cursors past them. Rules
that answer a window (content published, high engagement) have it moved past the pause alike."""

from datetime import UTC, datetime, timedelta

import pytest

from missions.metrics import record_metric
from missions.models import Proposal, TriggerRule, TriggerSkip
from opscore.actions import record_event
from opscore.heartbeat import run_heartbeat
from opscore.overrides import apply_override, lift_override
from tests.factories import make_post, make_step

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def diagnose_failures() -> TriggerRule:
    return TriggerRule.objects.create(
        name="diagnose",
        trigger_event="mission_failed",
        action_config={"target_agent": "devops"},
        cooldown_minutes=0,
    )


def mission_failed(title: str):
    """A real ending names its mission (memory learns from it in the same beat)."""
    return record_event(
        "mission.failed", title, tags=["mission_failed"], mission=make_step().mission
    )


def pause(target: str):
    return apply_override("pause-lane", target, reason="quiet week", actor="operator:ana")


def lift(row) -> None:
    lift_override(row.id, actor="operator:ana", reason="back to work")


def triggers_duty() -> dict:
    beat = run_heartbeat("test")
    return next(d for d in beat.duties if d["name"] == "evaluate_triggers")


def test_it_skips_events_arriving_under_a_drop_pause_for_good_with_the_reason(agent):
    rule = diagnose_failures()
    row = pause("triggers:drop")
    failed = mission_failed("M1 failed")

    assert triggers_duty()["counts"]["dropped"] == 1

    skip = TriggerSkip.objects.get()
    assert (skip.rule, skip.event) == (rule, failed)
    assert f"dropped: lane triggers paused (drop) by override {row.id}" in skip.reason
    rule.refresh_from_db()
    assert rule.last_seen_event_id == failed.id
    lift(row)
    assert triggers_duty()["status"] == "ok"
    assert not Proposal.objects.filter(cause_event=failed).exists()


def test_it_answers_events_arriving_after_a_drop_pause_is_lifted(agent):
    diagnose_failures()
    row = pause("triggers:drop")
    mission_failed("M1 failed")
    triggers_duty()
    lift(row)
    later = mission_failed("M2 failed")

    triggers_duty()

    assert Proposal.objects.get(source="trigger").cause_event == later


def test_it_answers_the_events_of_a_queue_pause_after_the_lift(agent):
    diagnose_failures()
    row = pause("triggers")
    failed = mission_failed("M1 failed")

    assert triggers_duty()["status"] == "paused"
    lift(row)
    triggers_duty()

    assert Proposal.objects.get(source="trigger").cause_event == failed
    assert not TriggerSkip.objects.exists()


def test_the_operator_sees_what_a_drop_pause_skipped_on_the_rules_page(agent, admin_client):
    rule = diagnose_failures()
    pause("triggers:drop")
    failed = mission_failed("M1 failed")
    triggers_duty()

    rule_page = admin_client.get(f"/admin/missions/triggerrule/{rule.id}/change/")
    skips = admin_client.get("/admin/missions/triggerskip/")

    assert f"#{failed.id} dropped: lane triggers paused (drop)" in rule_page.content.decode()
    assert b"quiet week" in skips.content


def window_rule(checker: str, **conditions) -> TriggerRule:
    return TriggerRule.objects.create(
        name=checker.replace("_", "-"),
        trigger_event=checker,
        conditions=conditions,
        action_config={"target_agent": "devops"},
        cooldown_minutes=0,
    )


def at(clock, minutes: int) -> None:
    """Window checkers compare database timestamps: each step of a test gets its own minute."""
    clock.freeze(T0 + timedelta(minutes=minutes))


def trigger_proposals():
    return Proposal.objects.filter(source="trigger")


def test_it_skips_content_published_under_a_drop_pause_for_good_with_the_reason(agent, clock):
    at(clock, 0)
    rule = window_rule("content_published")
    row = pause("triggers:drop")
    at(clock, 1)
    post = make_post(agent, "Launch notes")
    at(clock, 2)
    dropping = triggers_duty()
    lift(row)
    at(clock, 3)
    triggers_duty()

    assert not trigger_proposals().exists()
    assert dropping["counts"]["dropped"] == 1
    skip = TriggerSkip.objects.get()
    assert (skip.rule, skip.publication, skip.event) == (rule, post, None)
    assert f"dropped: lane triggers paused (drop) by override {row.id}" in skip.reason


def test_it_answers_content_published_after_a_drop_pause_is_lifted(agent, clock):
    at(clock, 0)
    window_rule("content_published")
    row = pause("triggers:drop")
    at(clock, 1)
    make_post(agent, "During the pause")
    at(clock, 2)
    triggers_duty()
    lift(row)
    at(clock, 3)
    make_post(agent, "After the lift")
    at(clock, 4)
    triggers_duty()

    assert trigger_proposals().get().title == "Review what we published: After the lift"


def test_it_skips_high_engagement_measured_under_a_drop_pause_for_good(agent, clock):
    at(clock, 0)
    post = make_post(agent, "Launch notes")
    rule = window_rule("tweet_high_engagement", min_engagement_rate=0.05)
    row = pause("triggers:drop")
    at(clock, 1)
    metric = record_metric({"post_ref": post.external_id, "impressions": 100, "engagements": 10})
    at(clock, 2)
    triggers_duty()
    lift(row)
    at(clock, 3)
    triggers_duty()

    assert not trigger_proposals().exists()
    skip = TriggerSkip.objects.get()
    assert (skip.rule, skip.metric) == (rule, metric)
    assert "quiet week" in skip.reason


def test_the_operator_sees_which_post_a_drop_pause_skipped(agent, admin_client, clock):
    at(clock, 0)
    rule = window_rule("content_published")
    pause("triggers:drop")
    at(clock, 1)
    post = make_post(agent, "Launch notes")
    at(clock, 2)
    triggers_duty()

    rule_page = admin_client.get(f"/admin/missions/triggerrule/{rule.id}/change/")

    assert f"publication {post.id} dropped: lane triggers paused" in rule_page.content.decode()
