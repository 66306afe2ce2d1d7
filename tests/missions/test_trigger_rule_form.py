"""A trigger rule's action_config is JSON an operator types in the admin: step_kinds that are not
a list of known kind names is a form error beside the field. A list holding a list or an object
(`[[1]]`, `[{}]`) was looked up in the kinds' registry as it was, and the page answered 500
(TypeError: unhashable type). A min_engagement_rate that is not a number was saved, and every
trigger pass then failed as a whole."""

import random

import pytest

from missions import loop
from missions.loop import CHECKERS
from missions.models import TriggerRule

pytestmark = pytest.mark.django_db


def rule_form(action_config: str) -> dict:
    return {
        "name": "r",
        "trigger_event": sorted(CHECKERS)[0],
        "conditions": "{}",
        "action_config": action_config,
        "cooldown_minutes": "5",
        "skip_probability": "0",
        "jitter_min_minutes": "0",
        "jitter_max_minutes": "0",
        "topics": "[]",
    }


@pytest.mark.parametrize("kinds", ["[[1]]", "[{}]", '"analyze"', '["analyze", 5]', '["nope"]'])
def test_step_kinds_that_are_not_known_names_are_a_form_error(admin_client, agent, kinds):
    config = f'{{"target_agent": "devops", "step_kinds": {kinds}}}'

    answer = admin_client.post("/admin/missions/triggerrule/add/", rule_form(config))

    assert answer.status_code == 200 and "step_kinds must be a list of" in answer.content.decode()
    assert not TriggerRule.objects.exists()


def test_known_step_kinds_are_saved(admin_client, agent):
    config = '{"target_agent": "devops", "step_kinds": ["analyze"]}'

    answer = admin_client.post("/admin/missions/triggerrule/add/", rule_form(config))

    assert answer.status_code == 302
    assert TriggerRule.objects.get().action_config["step_kinds"] == ["analyze"]


@pytest.mark.parametrize("rate", ['"high"', "null", "[1]", '"NaN"', "true", "-0.1"])
def test_a_threshold_that_is_not_a_number_is_a_form_error_not_a_stopped_trigger_pass(
    admin_client, agent, rate
):
    """Saved, it stopped every rule's pass on every beat (ValueError, TypeError, or NaN's
    KeyError: NaN is not equal to itself, so its rule's row was never found)."""
    form = rule_form('{"target_agent": "devops"}') | {"trigger_event": "tweet_high_engagement"}

    answer = admin_client.post(
        "/admin/missions/triggerrule/add/",
        form | {"conditions": f'{{"min_engagement_rate": {rate}}}'},
    )

    assert answer.status_code == 200 and "min_engagement_rate must be a number, 0 or more" in (
        answer.content.decode()
    )
    assert not TriggerRule.objects.exists()


def test_a_number_threshold_is_saved_and_the_pass_reads_it(admin_client, agent):
    form = rule_form('{"target_agent": "devops"}') | {"trigger_event": "tweet_high_engagement"}
    form |= {"conditions": '{"min_engagement_rate": 0.5}', "enabled": "on"}

    answer = admin_client.post("/admin/missions/triggerrule/add/", form)
    passed = loop.evaluate_triggers(10**9, random.Random(0))

    assert answer.status_code == 302
    assert passed["rules"] == [{"rule": "r", "outcome": "evaluated", "reason": "not now"}]


def test_a_jitter_past_the_longest_delay_a_step_takes_is_a_form_error(admin_client, agent):
    """Saved, a proactive rule fired or failed by its roll: a delay past 7 days is one the
    intake refuses, so 25-20000 minutes failed about one pass in two."""
    form = rule_form('{"target_agent": "devops"}') | {
        "trigger_event": "proactive_research",
        "proactive": "on",
        "jitter_min_minutes": "25",
        "jitter_max_minutes": "20000",
    }

    answer = admin_client.post("/admin/missions/triggerrule/add/", form)

    assert answer.status_code == 200 and "at most 10080 minutes (7 days)" in (
        answer.content.decode()
    )
    assert not TriggerRule.objects.exists()


def test_a_rule_saved_with_such_a_jitter_fails_every_pass_with_its_reason(agent):
    TriggerRule.objects.create(
        name="late",
        trigger_event="proactive_research",
        action_config={"target_agent": "devops"},
        proactive=True,
        jitter_min_minutes=0,
        jitter_max_minutes=20000,
    )

    for seed in range(5):  # whatever its roll
        passed = loop.evaluate_triggers(10**9, random.Random(seed))
        late = passed["rules"][0]
        assert late["outcome"] == "failed", late
        assert late["reason"] == (
            "broken rule: jitter_max_minutes must be at most 10080 minutes (7 days)"
        )
