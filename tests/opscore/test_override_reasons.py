"""An override's reason, applied or lifted, from any surface: kept without the characters that
hide or reorder text (as a proposal's title or a mission's reason is), refused when nothing is
left, and refused — never cut — past the column's 500 characters."""

import json

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.core.management.base import CommandError

from opscore.models import Event, Override, PolicyVersion
from opscore.overrides import OverrideRefused, apply_override, lift_override

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"
HIDDEN = "ok\u202eevil\u200b \u2066quiet\u2069\ufe0f"  # bidi override, zero width, isolates


def pause(reason="storm"):
    return apply_override("pause-lane", "reactions", reason=reason, actor="operator:test")


def test_an_applied_reason_is_kept_without_hidden_characters_wherever_it_is_shown(agent):
    row = pause(HIDDEN)

    assert Override.objects.get(pk=row.pk).reason == "okevil quiet"
    assert Event.objects.get(kind="override.applied").summary == "okevil quiet"


def test_a_lift_reason_is_kept_without_hidden_characters(agent):
    row = pause()

    lift_override(row.id, actor="operator:test", reason=HIDDEN)

    assert Override.objects.get(pk=row.pk).lift_reason == "okevil quiet"
    assert Event.objects.get(kind="override.lifted").summary == "okevil quiet"


@pytest.mark.parametrize("reason", ["\u200b\u202e", " \u2066\u2069 ", ""])
def test_a_reason_of_nothing_but_hidden_characters_is_refused_on_apply_and_lift(agent, reason):
    with pytest.raises(OverrideRefused, match="needs a reason"):
        pause(reason)
    row = pause()

    with pytest.raises(OverrideRefused, match="needs a reason"):
        lift_override(row.id, actor="operator:test", reason=reason)

    assert Override.objects.get().status == "active"
    assert not Event.objects.filter(kind="override.lifted").exists()


def test_a_lift_reason_past_500_characters_is_refused_not_cut(agent):
    row = pause()

    with pytest.raises(OverrideRefused, match=r"at most 500 characters \(501 given\)"):
        lift_override(row.id, actor="operator:test", reason="r" * 501)

    assert Override.objects.get(pk=row.pk).status == "active"
    assert not Event.objects.filter(kind="override.lifted").exists()


def lift_in_admin(admin_client, row, reason):
    form = {"action": "lift_selected", "_selected_action": [row.pk], "apply": "1"}
    return admin_client.post("/admin/opscore/override/", form | {"reason": reason}, follow=True)


def test_the_admin_refuses_a_lift_reason_past_500_characters_with_a_message(admin_client, agent):
    row = pause()

    answer = lift_in_admin(admin_client, row, "r" * 501)

    said = [str(m) for m in get_messages(answer.wsgi_request)]
    assert answer.status_code == 200
    assert said == ["Nothing done: a reason is at most 500 characters (501 given)"]
    assert Override.objects.get(pk=row.pk).status == "active"


def test_the_admin_lifts_with_a_reason_kept_without_hidden_characters(admin_client, agent):
    row = pause()

    answer = lift_in_admin(admin_client, row, HIDDEN)

    assert [str(m) for m in get_messages(answer.wsgi_request)] == ["1 lifted."]
    assert Override.objects.get(pk=row.pk).lift_reason == "okevil quiet"


def test_the_admin_applies_with_a_reason_kept_without_hidden_characters(admin_client, agent):
    form = {"kind": "pause_lane", "target": "roundtable", "reason": HIDDEN, "confirm": "1"}

    admin_client.post("/admin/opscore/override/apply/", form)

    assert Override.objects.get().reason == "okevil quiet"


def test_the_cli_refuses_a_lift_reason_past_500_characters_with_one_line(agent):
    row = pause()

    with pytest.raises(CommandError, match=r"^a reason is at most 500 characters \(501 given\)$"):
        call_command("override", "lift", str(row.id), "--reason", "r" * 501)

    assert Override.objects.get(pk=row.pk).status == "active"


def test_the_cli_asks_for_reason_when_one_of_hidden_characters_alone_is_given(agent):
    """Its early check tested `.strip()`: the hidden characters passed it, and the refusal
    came from the action without naming the --reason option."""
    with pytest.raises(CommandError, match=r"^override pause-lane needs --reason \(say why"):
        call_command("override", "pause-lane", "reactions", "--reason", "\u200b\u202e")

    assert not Override.objects.exists()


def api(client, path, body):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def test_the_api_keeps_reasons_without_hidden_characters_and_refuses_none_left(
    client, agent, settings
):
    settings.OPS_API_TOKEN = TOKEN
    body = {"kind": "pause-lane", "target": "reactions", "reason": HIDDEN}

    made = api(client, "/api/ops/overrides", body).json()
    blank = api(client, f"/api/ops/overrides/{made['id']}/lift", {"reason": "\u200b"})
    lifted = api(client, f"/api/ops/overrides/{made['id']}/lift", {"reason": HIDDEN})

    assert made["reason"] == "okevil quiet"
    assert (blank.status_code, blank.json()["errors"]) == (400, {"reason": ["required"]})
    assert lifted.json()["lift_reason"] == "okevil quiet"


def lane_notes() -> list[str]:
    versions = PolicyVersion.objects.filter(policy_id="lane_switches").order_by("version")
    return [version.reason for version in versions]


def test_the_policy_history_keeps_a_500_character_reason_whole(agent):
    """It kept `lane paused: <reason>` cut to the column's 500 characters: the reason's end was
    lost from the history. What the override did is its row's, named by the version's actor."""
    whole = "r" * 497 + "end"
    row = pause(whole)
    lift_override(row.id, actor="operator:test", reason="calm")

    assert lane_notes() == [whole, whole]
    versions = PolicyVersion.objects.filter(policy_id="lane_switches")
    assert {version.changed_by for version in versions} == {f"override:{row.id}"}
    changed = Event.objects.filter(kind="policy.changed", tags__contains=["lane_switches"])
    assert [event.summary for event in changed.order_by("id")] == [whole, whole]


def test_the_policy_history_says_what_the_override_did_when_the_reason_leaves_room(agent):
    row = pause("storm")
    lift_override(row.id, actor="operator:test", reason="calm")

    assert lane_notes() == ["lane paused: storm", "lane resumed: storm"]
