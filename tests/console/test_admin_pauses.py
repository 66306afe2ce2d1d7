"""What an override pauses stays paused whatever the admin's forms change: a pause names its
target, and the admin let that name be edited away from under it."""

import random

import pytest

from missions.loop import evaluate_triggers
from missions.models import TriggerRule
from opscore.overrides import apply_override

pytestmark = pytest.mark.django_db
FAR = 10**12


def test_renaming_a_paused_trigger_rule_in_the_admin_leaves_it_paused(admin_client, agent):
    rule = TriggerRule.objects.create(
        name="nag", trigger_event="proactive_research", action_config={"target_agent": "devops"}
    )
    pause = apply_override("pause-rule", "nag", reason="runaway", actor="operator:test")
    form = {"name": "nag-2", "trigger_event": rule.trigger_event, "conditions": "{}"}
    form |= {"action_config": '{"target_agent": "devops"}', "cooldown_minutes": "60"}
    form |= {"skip_probability": "0", "jitter_min_minutes": "0", "jitter_max_minutes": "0"}
    form |= {"topics": "[]", "enabled": "on"}

    admin_client.post(f"/admin/missions/triggerrule/{rule.pk}/change/", form)
    evaluated = evaluate_triggers(FAR, random.Random(1))

    [outcome] = evaluated["rules"]
    assert outcome["outcome"] == "skipped" and f"override {pause.id}" in outcome["reason"]
