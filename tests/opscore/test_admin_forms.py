"""The admin's policy and override forms: typed inputs from each policy's schema (the JSON view
kept beside them), and override targets offered as a list for the chosen kind."""

import json
import re

import pytest
from django.urls import reverse

from opscore.actions import set_policy
from opscore.models import Override, Policy, PolicyVersion

pytestmark = pytest.mark.django_db

APPLY = "/admin/opscore/override/apply/"


def policy_url(key):
    return reverse("admin:opscore_policy_change", args=[key])


def test_a_policy_page_shows_typed_inputs_and_keeps_the_json_view(admin_client):
    set_policy("auto_approve", {"enabled": True, "allowed_step_kinds": ["noop"]}, actor="a")
    set_policy("x_daily_quota", {"limit": 5}, actor="a")

    quota = admin_client.get(policy_url("x_daily_quota")).content.decode()
    approve = admin_client.get(policy_url("auto_approve")).content.decode()

    assert 'type="number" name="p_limit" value="5" min="0" max="10000"' in quota
    assert '<textarea name="value"' in quota  # the JSON view is still there
    assert 'type="checkbox" name="p_enabled" id="id_p_enabled" checked' in approve
    assert re.search(r'name="p_allowed_step_kinds" value="noop" id="\w+" checked>', approve)
    assert re.search(r'name="p_allowed_step_kinds" value="analyze" id="\w+">', approve)


def test_posting_the_typed_form_saves_a_validated_value_with_the_reason(admin_client):
    set_policy("content_policy", {"enabled": True, "max_drafts_per_day": 8}, actor="a")
    form = {"editor": "form", "p_max_drafts_per_day": "3", "value": "{}", "reason": "calmer"}

    response = admin_client.post(policy_url("content_policy"), form)  # enabled left unticked

    assert response.status_code == 302
    assert Policy.objects.get(key="content_policy").value == {
        "enabled": False,
        "max_drafts_per_day": 3,
    }
    version = PolicyVersion.objects.get(policy__key="content_policy", version=2)
    assert (version.reason, version.changed_by) == ("calmer", "operator:operator")


def test_the_typed_form_still_requires_a_reason(admin_client):
    set_policy("x_daily_quota", {"limit": 5}, actor="a")

    page = admin_client.post(policy_url("x_daily_quota"), {"editor": "form", "p_limit": "7"})

    assert page.status_code == 200 and b"This field is required" in page.content
    assert Policy.objects.value("x_daily_quota").limit == 5


@pytest.mark.parametrize(
    "key, field, typed, message",
    [
        ("x_daily_quota", "p_limit", "-1", "greater than or equal to 0"),
        ("outcome_learning_policy", "p_low_ratio", "1.5", "low_ratio: Input should be less than 1"),
    ],
)
def test_an_invalid_typed_value_is_shown_beside_its_field(admin_client, key, field, typed, message):
    set_policy(key, {}, actor="a")
    form = {"editor": "form", field: typed, "reason": "try"}
    form |= {f"p_{name}": value for name, value in Policy.objects.get(key=key).value.items()}
    form[field] = typed

    page = admin_client.post(policy_url(key), form)

    assert page.status_code == 200
    html = page.content.decode()
    assert message in html
    errors_at = html.index(message)
    assert html.index(f'name="{field}"', errors_at) - errors_at < 600  # in place, by the input
    assert PolicyVersion.objects.filter(policy__key=key).count() == 1


def test_fields_owned_by_overrides_are_shown_but_not_editable(admin_client):
    set_policy("memory_policy", {}, actor="a")
    url = policy_url("memory_policy")
    form = {"editor": "form", "reason": "stricter", "p_frozen": "on", "p_min_confidence": "0.6"}
    form |= {"p_min_evidence_shared": 2, "p_merge_similarity": 0.8, "p_max_active_per_agent": 200}
    form |= {"p_max_active_shared_per_scope": 100, "p_retrieval_char_budget": 2000}
    form |= {"p_max_active_from_runtime_per_agent": 50}
    form |= {"p_insight_fast_path_confidence": 0.8, "p_auto_promote_private": "on"}

    page = admin_client.get(url).content.decode()
    saved = admin_client.post(url, form)

    assert re.search(r'type="checkbox" name="p_frozen"[^>]* disabled', page)
    assert saved.status_code == 302
    value = Policy.objects.value("memory_policy")
    assert (value.frozen, value.min_confidence) == (False, 0.6)


def test_the_typed_form_can_be_simulated_before_it_is_saved(admin_client):
    set_policy("x_daily_quota", {"limit": 5}, actor="a")
    url = policy_url("x_daily_quota")

    good = admin_client.post(url, {"editor": "form", "p_limit": "2", "_simulate": "1"})
    bad = admin_client.post(url, {"editor": "form", "p_limit": "lots", "_simulate": "1"})

    assert b"proposals replayed" in good.content and b"Refused" not in good.content
    assert b"Refused" in bad.content and b"Enter a whole number" in bad.content
    assert Policy.objects.value("x_daily_quota").limit == 5


def test_the_json_view_still_saves_fields_the_form_does_not_show(admin_client):
    set_policy("recovery_policy", {"max_age_minutes": {"deploy": 120}}, actor="a")
    body = {"value": '{"max_age_minutes": {"deploy": 30}}', "reason": "tighter", "editor": "json"}

    response = admin_client.post(policy_url("recovery_policy"), body)

    assert response.status_code == 302
    assert Policy.objects.get(key="recovery_policy").value == {"max_age_minutes": {"deploy": 30}}


def test_the_override_form_offers_targets_for_the_chosen_kind(admin_client, agent):
    lanes = admin_client.get(APPLY, {"kind": "pause_lane"}).content.decode()
    agents = admin_client.get(APPLY, {"kind": "disable_agent"}).content.decode()
    drains = admin_client.get(APPLY, {"kind": "drain"}).content.decode()

    assert '<select name="target"' in lanes and '<option value="roundtable">' in lanes
    assert '<option value="roundtable:drop">' in lanes
    assert f'<option value="{agent.slug}">' in agents
    assert '<option value="kind:analyze">' in drains
    assert f'<option value="agent:{agent.slug}">' in drains
    assert "drain — drain" not in drains and "Drain… (until lifted or expired)" in drains
    assert 'name="expires"' in lanes


def test_a_one_shot_kind_has_no_expiry_and_still_applies(admin_client, agent):
    from missions.models import Mission
    from tests.factories import propose

    mission = Mission.objects.get(proposal=propose(agent, "analyze"))

    page = admin_client.get(APPLY, {"kind": "cancel_mission"}).content.decode()
    form = {"kind": "cancel_mission", "target": str(mission.id), "reason": "wrong", "confirm": "1"}
    applied = admin_client.post(APPLY, form)

    assert 'name="expires"' not in page and '<input type="text" name="target"' in page
    assert applied.status_code == 302 and Override.objects.get().status == "applied"


@pytest.mark.parametrize("table", ["review_days", "expire_days"])
@pytest.mark.parametrize("days", [1_000_000, 0, -30])
def test_a_memory_review_or_expiry_no_calendar_holds_is_refused(admin_client, table, days):
    """Any integer was taken: a million days put a memory's review window before year 1 (an
    OverflowError each time the gate promoted or upkeep reviewed one of that kind), and 0 or
    less made every memory of it due again at once, on every beat."""
    set_policy("memory_policy", {}, actor="a")
    value = Policy.objects.get(key="memory_policy").value | {table: {"default": days}}
    form = {"editor": "json", "value": json.dumps(value), "reason": "longer"}

    page = admin_client.post(policy_url("memory_policy"), form)

    assert page.status_code == 200
    assert f"{table}.default: Input should be" in page.content.decode()
    assert PolicyVersion.objects.filter(policy__key="memory_policy").count() == 1
