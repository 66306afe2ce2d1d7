"""A trigger rule saved broken — another way than the admin's form (a roster, a shell), or gone
stale since (its agent or its step kind no longer there) — stopped every rule's pass on every
beat: its proposal raised inside the pass's one transaction (unknown agent, unknown kind, a
KeyError for a missing target_agent), and a threshold that is not a number raised while its
checker read for all its rules at once. Such a rule now fails alone, with its reason in the
heartbeat's record; the others fire."""

import random

import pytest

from missions import loop
from missions.models import ContentMetric, Proposal, TriggerRule
from opscore.heartbeat import run_heartbeat
from tests.factories import make_post

pytestmark = pytest.mark.django_db
FAR = 10**9  # a deadline that never passes


def rule(name, **fields) -> TriggerRule:
    fields.setdefault("trigger_event", "proactive_research")
    fields.setdefault("action_config", {"target_agent": "devops"})
    return TriggerRule.objects.create(name=name, **fields)


def outcomes(passed: dict) -> dict:
    return {r["rule"]: r for r in passed["rules"]}


@pytest.mark.parametrize(
    "config, why",
    [
        ({"target_agent": "ghost"}, "unknown agent 'ghost'"),
        ({}, 'must be an object with a "target_agent" slug'),
        ({"target_agent": ["devops"]}, 'must be an object with a "target_agent" slug'),
        ({"target_agent": "devops", "step_kinds": ["retired_kind"]}, "step_kinds must be a list"),
        ({"target_agent": "devops", "step_kinds": "analyze"}, "step_kinds must be a list"),
        ([], 'must be an object with a "target_agent" slug'),
    ],
)
def test_a_rule_whose_action_config_is_broken_fails_alone_with_its_reason(agent, config, why):
    rule("a-broken", action_config=config)
    rule("b-sound")

    passed = loop.evaluate_triggers(FAR, random.Random(0))

    assert outcomes(passed)["b-sound"]["outcome"] == "fired"
    broken = outcomes(passed)["a-broken"]
    assert broken["outcome"] == "failed" and why in broken["reason"]
    assert passed["failed"] == 1
    assert Proposal.objects.get().title.startswith("b-sound")


@pytest.mark.parametrize("rate", ["high", None, [1], -1])
def test_a_threshold_that_is_not_a_number_fails_its_rule_not_its_checker_peers(agent, rate):
    post = make_post(agent)
    ContentMetric.objects.create(
        post_ref=post.external_id, impressions=100, engagements=10, engagement_rate=0.1
    )
    rule(
        "a-broken", trigger_event="tweet_high_engagement", conditions={"min_engagement_rate": rate}
    )
    rule("b-sound", trigger_event="tweet_high_engagement", conditions={"min_engagement_rate": 0.05})

    passed = loop.evaluate_triggers(FAR, random.Random(0))

    assert outcomes(passed)["b-sound"]["outcome"] == "fired"
    broken = outcomes(passed)["a-broken"]
    assert (
        broken["outcome"] == "failed"
        and "min_engagement_rate must be a number" in (broken["reason"])
    )


def test_conditions_that_are_not_an_object_fail_their_rule(agent):
    rule("a-broken", trigger_event="tweet_high_engagement", conditions=[0.5])

    passed = loop.evaluate_triggers(FAR, random.Random(0))

    assert outcomes(passed)["a-broken"]["reason"] == (
        "broken rule: conditions must be a JSON object"
    )


def test_the_heartbeat_records_the_failed_rule_and_the_duty_stays_ok(agent):
    rule("a-broken", action_config={"target_agent": "ghost"})
    rule("b-sound")

    beat = run_heartbeat("test")

    duty = next(d for d in beat.duties if d["name"] == "evaluate_triggers")
    assert duty["status"] == "ok"
    assert duty["counts"]["fired"] == 1 and duty["counts"]["failed"] == 1


def test_a_topic_longer_than_a_payload_takes_fails_its_rule_not_the_pass(admin_client, agent):
    """The admin's form takes any list of strings as topics; a 600-character one made a
    payload the intake refuses (a topic is at most 500), raised in the pass, every beat."""
    form = {
        "name": "a-long-topic",
        "trigger_event": "proactive_research",
        "conditions": "{}",
        "action_config": '{"target_agent": "devops"}',
        "cooldown_minutes": "5",
        "skip_probability": "0",
        "jitter_min_minutes": "0",
        "jitter_max_minutes": "0",
        "topics": f'["{"x" * 600}"]',
        "enabled": "on",
    }
    assert admin_client.post("/admin/missions/triggerrule/add/", form).status_code == 302
    rule("b-sound")

    passed = loop.evaluate_triggers(FAR, random.Random(0))

    assert outcomes(passed)["b-sound"]["outcome"] == "fired"
    broken = outcomes(passed)["a-long-topic"]
    assert broken["outcome"] == "failed"
    assert "steps.0.payload.topic: a string of at most 500 characters" in broken["reason"]


@pytest.mark.parametrize("topics", [{"ops": "disks"}, 7, "disks, queues", [["disks"]]])
def test_topics_that_are_not_a_list_of_strings_fail_their_rule_not_the_pass(agent, topics):
    """An object raised a KeyError inside the pass (every rule, every beat); a string rotated
    through its letters one topic at a time."""
    rule("a-broken", proactive=True, topics=topics)
    rule("b-sound", proactive=True, topics=["disks"])

    passed = loop.evaluate_triggers(FAR, random.Random(0))

    assert outcomes(passed)["a-broken"]["outcome"] == "failed"
    assert outcomes(passed)["a-broken"]["reason"] == (
        "broken rule: topics must be a JSON list of strings"
    )
    assert outcomes(passed)["b-sound"]["outcome"] == "fired"
