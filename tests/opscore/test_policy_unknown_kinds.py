"""A stored policy naming a step kind no loaded app knows (a plug-in removed after the breaker
or an operator wrote its kind) is kept, reported and ignored: it never turns into a 500."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from missions.breaker import switched_off_kinds, trip_breaker_if_needed
from missions.execution import claim_next_step
from missions.executors import EXECUTORS, Failed
from missions.models import Proposal
from missions.worker import handle_one_step
from opscore import checks
from opscore.actions import set_policy
from opscore.models import Policy
from opscore.policies import PolicyError
from tests.factories import make_step

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"
GONE = "plugin_gone"


@pytest.fixture(autouse=True)
def api_token(settings):
    settings.OPS_API_TOKEN = TOKEN
    settings.STAGE_PUBLIC = True


def store(key: str, value: dict) -> None:
    """Straight into the row, as the breaker did before the plug-in was removed."""
    Policy.objects.update_or_create(key=key, defaults={"value": value})


@pytest.fixture
def gone_kind_on_file():
    store("worker_switches", {"kinds": {"analyze": True, GONE: False}})
    store("auto_approve", {"enabled": True, "allowed_step_kinds": ["analyze", GONE]})
    store("recovery_policy", {"max_age_minutes": {"deploy": 120, GONE: 60}})


def post_proposal(client, kind="analyze"):
    body = {"agent": "devops", "title": "Check", "steps": [{"kind": kind}]}
    return client.post(
        "/api/ops/proposals",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


def test_it_answers_status_and_names_the_unknown_kinds(client, gone_kind_on_file):
    response = client.get("/api/ops/status")

    assert response.status_code == 200
    assert response.json()["unknown_in_policies"] == {
        "auto_approve": {"allowed_step_kinds": [GONE]},
        "recovery_policy": {"max_age_minutes": [GONE]},
        "worker_switches": {"kinds": [GONE]},
    }
    assert GONE not in response.json()["switched_off_kinds"]


def test_manage_status_and_the_health_views_report_them(client, gone_kind_on_file):
    text = StringIO()
    call_command("status", stdout=text)
    strip = client.get("/stage/health")
    metrics = client.get("/metrics").content.decode()

    assert f"Unknown in policy (kept, ignored): worker_switches.kinds: {GONE}" in text.getvalue()
    assert strip.status_code == 200 and f"auto_approve.allowed_step_kinds: {GONE}" in (
        strip.content.decode()
    )
    assert 'opscore_policy_unknown_names{scope="database"} 3.0' in metrics


def test_a_proposal_is_admitted_and_auto_approved_as_before(client, agent, gone_kind_on_file):
    response = post_proposal(client)

    assert response.status_code == 201
    assert response.json()["status"] == "accepted"


def test_the_gates_ignore_the_unknown_kind(agent, gone_kind_on_file):
    step = make_step("analyze", agent=agent)

    assert switched_off_kinds() == []
    assert claim_next_step("w1").id == step.id  # the worker switches and the max ages read fine


def test_the_breaker_trips_a_known_kind_and_keeps_the_unknown_one(
    agent, gone_kind_on_file, settings, monkeypatch
):
    settings.OPS_BREAKER_THRESHOLD = 2
    monkeypatch.setitem(EXECUTORS, "analyze", lambda run: Failed("site down"))
    for _ in range(2):
        make_step("analyze", agent=agent, max_attempts=1)
        handle_one_step("w1")

    trip_breaker_if_needed("analyze")

    assert Policy.objects.get(key="worker_switches").value["kinds"] == {
        "analyze": False,
        GONE: False,
    }


def test_the_system_check_warns_with_an_id_and_a_hint(gone_kind_on_file):
    warnings = checks.check_policy_names(None)

    assert [w.id for w in warnings] == ["opscore.W005"] * 3
    assert f"worker_switches.kinds: {GONE}" in warnings[2].msg and "kept and ignored" in (
        warnings[2].msg
    )
    assert "plug-in" in warnings[2].hint


def test_the_system_check_is_quiet_when_every_kind_is_known():
    store("auto_approve", {"enabled": True, "allowed_step_kinds": ["analyze"]})

    assert checks.check_policy_names(None) == []


def test_an_operator_typing_an_unknown_kind_is_refused_clearly(gone_kind_on_file):
    value = {"enabled": True, "allowed_step_kinds": ["analyze", GONE, "teleport"]}

    with pytest.raises(PolicyError, match=r"unknown step kinds \['teleport'\]; known step kinds"):
        set_policy("auto_approve", value, actor="op", reason="typo")


def test_a_kind_already_on_file_may_stay_or_go_in_an_edit(gone_kind_on_file):
    set_policy("auto_approve", {"allowed_step_kinds": [GONE, "crawl"]}, actor="op", reason="r")
    assert Policy.objects.get(key="auto_approve").value["allowed_step_kinds"] == [GONE, "crawl"]

    set_policy("auto_approve", {"allowed_step_kinds": ["crawl"]}, actor="op", reason="cleanup")
    assert Policy.objects.unknown_names().get("auto_approve") is None


def test_the_admin_refuses_a_new_unknown_kind_and_lets_the_old_one_be_dropped(
    admin_client, gone_kind_on_file
):
    url = "/admin/opscore/policy/worker_switches/change/"

    typed = {"kinds": {"analyze": True, GONE: False, "teleport": True}}
    refused = admin_client.post(url, {"value": json.dumps(typed), "reason": "typo"})
    dropped = admin_client.post(url, {"value": '{"kinds": {"analyze": true}}', "reason": "gone"})

    assert refused.status_code == 200 and "unknown step kinds" in refused.content.decode()
    assert dropped.status_code == 302
    assert Policy.objects.get(key="worker_switches").value == {"kinds": {"analyze": True}}


def test_a_proposal_naming_an_unknown_kind_is_still_bad_input(client, agent, gone_kind_on_file):
    response = post_proposal(client, kind=GONE)

    assert response.status_code == 400 and "steps.0.kind" in response.json()["errors"]
    assert not Proposal.objects.exists()
