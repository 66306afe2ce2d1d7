"""A trigger rule that refused work keeps its refusals: its TriggerSkip rows are the evidence
that what arrived was seen and dropped, not lost. Deleting the rule in the admin cascaded into
them; now a rule is disabled, never deleted, like a standing order or an agent."""

import pytest
from django.db.models import ProtectedError

from missions.models import TriggerRule, TriggerSkip
from opscore.actions import record_event

pytestmark = pytest.mark.django_db


def a_rule_that_skipped() -> TriggerRule:
    rule = TriggerRule.objects.create(
        name="diagnose", trigger_event="mission_failed", action_config={"target_agent": "devops"}
    )
    rule.drop_through(record_event("mission.failed", "M1", tags=["mission_failed"]), "dropped")
    return rule


def test_it_refuses_to_delete_a_rule_from_its_admin_page(admin_client, agent):
    rule = a_rule_that_skipped()
    page = f"/admin/missions/triggerrule/{rule.pk}/"

    shown = admin_client.get(f"{page}change/").content.decode()
    answer = admin_client.post(f"{page}delete/", {"post": "yes"})

    assert answer.status_code == 403 and f"{page}delete/" not in shown
    assert TriggerRule.objects.filter(pk=rule.pk).exists() and TriggerSkip.objects.count() == 1


def test_it_offers_no_bulk_delete_of_rules(admin_client, agent):
    rule = a_rule_that_skipped()
    chosen = {"action": "delete_selected", "_selected_action": [rule.pk], "post": "yes"}

    listed = admin_client.get("/admin/missions/triggerrule/").content.decode()
    admin_client.post("/admin/missions/triggerrule/", chosen)

    assert 'value="delete_selected"' not in listed
    assert TriggerRule.objects.filter(pk=rule.pk).exists() and TriggerSkip.objects.count() == 1


def test_the_database_keeps_the_skips_when_code_deletes_their_rule(agent):
    rule = a_rule_that_skipped()

    with pytest.raises(ProtectedError):
        rule.delete()

    assert TriggerSkip.objects.get().rule_id == rule.pk


def test_a_rule_is_disabled_from_its_admin_page_and_its_skips_stay(admin_client, agent):
    rule = a_rule_that_skipped()
    form = {"name": rule.name, "trigger_event": rule.trigger_event, "conditions": "{}"}
    form |= {"action_config": '{"target_agent": "devops"}', "cooldown_minutes": "60"}
    form |= {"skip_probability": "0", "jitter_min_minutes": "0", "jitter_max_minutes": "0"}
    form |= {"topics": "[]"}  # "enabled" left out: the checkbox unticked

    answer = admin_client.post(f"/admin/missions/triggerrule/{rule.pk}/change/", form)

    rule.refresh_from_db()
    assert answer.status_code == 302 and not rule.enabled
    assert TriggerSkip.objects.get().rule == rule
