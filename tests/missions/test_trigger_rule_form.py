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
