"""A trigger rule's action_config is JSON an operator types in the admin: step_kinds that are not
a list of known kind names is a form error beside the field. A list holding a list or an object
(`[[1]]`, `[{}]`) was looked up in the kinds' registry as it was, and the page answered 500
(TypeError: unhashable type)."""

import pytest

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
