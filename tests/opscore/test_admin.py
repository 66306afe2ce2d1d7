import pytest
from django.contrib import admin
from django.db.models.functions import Now
from django.urls import reverse

from missions.models import Mission
from opscore.actions import set_policy
from opscore.models import Agent, Event, Policy, PolicyVersion
from tests.factories import propose

pytestmark = pytest.mark.django_db


def act(client, model, action, ids, **extra):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return client.post(url, {"action": action, "_selected_action": ids, **extra}, follow=True)


def test_every_model_has_a_working_changelist(admin_client, agent):
    propose(agent, "analyze")
    set_policy("x_daily_quota", {"limit": 5}, actor="a")
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert admin_client.get(url).status_code == 200, model


def test_a_nul_in_an_objects_address_is_a_400_on_every_model(admin_client):
    """Models keyed by text (agents, policies, workers …) used to answer 500: PostgreSQL cannot
    compare text holding a NUL."""
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for page in ("change/", "history/", "delete/"):
            assert admin_client.get(f"{url}abc%00/{page}").status_code == 400, (model, page)


def test_an_operator_approves_a_pending_proposal_from_its_page(admin_client, agent):
    pending = propose(agent, "post_tweet")

    admin_client.post(
        f"/admin/missions/proposal/{pending.id}/decide/",
        {"decision": "approve", "digest": pending.content_digest()},
    )

    pending.refresh_from_db()
    assert pending.status == "accepted"
    assert pending.decided_by == "operator:operator"
    assert Mission.objects.get(proposal=pending).steps.get().kind == "post_tweet"


def test_rejecting_asks_for_a_reason_first(admin_client, agent):
    pending = propose(agent, "deploy")

    page = act(admin_client, type(pending), "reject_proposals", [pending.id])
    assert b"Reason (kept with each proposal)" in page.content
    act(admin_client, type(pending), "reject_proposals", [pending.id], apply="1", reason="risky")

    pending.refresh_from_db()
    assert (pending.status, pending.reason) == ("rejected", "risky")


def test_a_bad_policy_save_is_refused_and_writes_no_version(admin_client):
    set_policy("x_daily_quota", {"limit": 5}, actor="a")
    url = reverse("admin:opscore_policy_change", args=["x_daily_quota"])

    response = admin_client.post(url, {"value": '{"limit": "lots"}', "reason": ""})

    assert response.status_code == 200
    assert b"Input should be a valid integer" in response.content
    assert Policy.objects.value("x_daily_quota").limit == 5
    assert PolicyVersion.objects.count() == 1


def test_a_good_policy_save_is_versioned_with_the_operator(admin_client):
    set_policy("x_daily_quota", {"limit": 5}, actor="a")
    url = reverse("admin:opscore_policy_change", args=["x_daily_quota"])

    admin_client.post(url, {"value": '{"limit": 9}', "reason": "launch"})

    version = PolicyVersion.objects.get(version=2)
    assert (version.new_value, version.changed_by, version.reason) == (
        {"limit": 9},
        "operator:operator",
        "launch",
    )


def test_audit_rows_cannot_be_edited_or_deleted_even_by_a_superuser(admin_client, agent):
    propose(agent, "analyze")
    set_policy("x_daily_quota", {"limit": 5}, actor="a")
    event = Event.objects.first()
    version = PolicyVersion.objects.first()

    for name, pk in [("opscore_event", event.pk), ("opscore_policyversion", version.pk)]:
        delete = admin_client.post(reverse(f"admin:{name}_delete", args=[pk]), {"post": "yes"})
        assert delete.status_code == 403
        page = admin_client.get(reverse(f"admin:{name}_change", args=[pk]))
        assert b'name="_save"' not in page.content
    assert Event.objects.filter(pk=event.pk).exists()


def test_operators_cancel_missions_and_enable_agents(admin_client, agent):
    proposal = propose(agent, "analyze", "crawl")
    mission = Mission.objects.get(proposal=proposal)

    act(admin_client, Mission, "cancel_missions", [mission.id])
    act(admin_client, Agent, "disable_agents", [agent.slug])

    assert set(mission.steps.values_list("status", flat=True)) == {"cancelled"}
    assert not Agent.objects.get(pk=agent.pk).enabled
    assert Event.objects.filter(kind="agent.disabled").exists()


def test_repeated_failed_logins_are_locked_out(client, operator):
    for _ in range(5):
        client.post(reverse("admin:login"), {"username": "operator", "password": "wrong"})

    response = client.post(
        reverse("admin:login"), {"username": "operator", "password": "correct-horse-battery"}
    )

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_standing_order_with_a_bad_cron_or_handler_is_refused(admin_client, agent):
    url = reverse("admin:opscore_standingorder_add")
    form = {
        "agent": "devops",
        "name": "x",
        "cron": "every tuesday",
        "timezone": "UTC",
        "grace_minutes": 5,
        "timeout_minutes": 30,
        "enabled": "on",
        "handler": "magic",
        "instructions": "",
        "phase": 1,
        "precondition": "",
    }

    page = admin_client.post(url, form)

    assert b"not a five-field cron expression" in page.content
    assert b"unknown handler" in page.content
    form |= {"cron": "*/5 * * * *", "handler": "generic"}
    assert admin_client.post(url, form).status_code == 302
    from django_q.models import Schedule

    assert Schedule.objects.filter(name__startswith="standing-order:").count() == 1


@pytest.mark.parametrize("cron", ["0 0 31 2 *", "0 0 30 2 *", "0 9 31 4,6,9,11 *"])
def test_a_cron_naming_a_day_no_month_has_is_refused_not_a_500(admin_client, agent, cron):
    """croniter's is_valid takes it; the schedule's save then walked it and raised
    CroniterBadDateError (a 500, and every later walk of the order would raise too)."""
    from opscore.models import StandingOrder

    form = {"agent": "devops", "name": "x", "cron": cron, "timezone": "UTC", "grace_minutes": 5}
    form |= {"timeout_minutes": 30, "enabled": "on", "handler": "generic", "phase": 1}

    page = admin_client.post(reverse("admin:opscore_standingorder_add"), form)

    assert page.status_code == 200 and b"names no date that exists" in page.content
    assert not StandingOrder.objects.filter(name="x").exists()


@pytest.mark.parametrize("field,limit", [("grace_minutes", 1440), ("timeout_minutes", 10080)])
def test_a_grace_or_timeout_no_clock_can_count_is_refused_not_a_stopped_gap_check(
    admin_client, agent, field, limit
):
    """2147483647 minutes passed the form (a positive integer), then the gap check's
    now - timedelta(minutes=…) fell before year 1: OverflowError on every beat, for every order."""
    from opscore.models import StandingOrder
    from opscore.standing_orders import check_gaps

    form = {"agent": "devops", "name": "x", "cron": "*/5 * * * *", "timezone": "UTC"}
    form |= {"grace_minutes": 5, "timeout_minutes": 30, "enabled": "on", "handler": "generic"}
    form |= {"phase": 1, field: 2147483647}
    url = reverse("admin:opscore_standingorder_add")

    page = admin_client.post(url, form)

    assert page.status_code == 200
    assert f"less than or equal to {limit}" in page.content.decode()
    assert not StandingOrder.objects.filter(name="x").exists()
    assert admin_client.post(url, form | {field: limit}).status_code == 302
    check_gaps()  # the longest allowed is still a time the gap check can count back to


@pytest.mark.parametrize("field", ["grace_minutes", "timeout_minutes"])
def test_a_grace_or_timeout_of_zero_is_refused_it_would_call_every_run_missed_or_timed_out(
    admin_client, agent, field
):
    """0 passed the form: a grace of 0 called every slot fired a second late missed, and a
    timeout of 0 failed a run still working at the next gap check, 'timed out after 0 min'."""
    from opscore.models import StandingOrder

    form = {"agent": "devops", "name": "x", "cron": "*/5 * * * *", "timezone": "UTC"}
    form |= {"grace_minutes": 5, "timeout_minutes": 30, "enabled": "on", "handler": "generic"}
    form |= {"phase": 1, field: 0}

    page = admin_client.post(reverse("admin:opscore_standingorder_add"), form)

    assert page.status_code == 200 and "greater than or equal to 1" in page.content.decode()
    assert not StandingOrder.objects.filter(name="x").exists()


def test_a_step_page_lists_its_attempts_as_evidence(admin_client, agent):
    from missions.execution import claim_next_step
    from tests.factories import make_step

    step = make_step("noop", agent=agent)
    claim_next_step("w-evidence")

    page = admin_client.get(reverse("admin:missions_step_change", args=[step.pk]))

    assert page.status_code == 200
    assert b"w-evidence" in page.content


def test_no_add_form_asks_for_a_time_the_database_sets(admin_client):
    """One clock, the database's: a column it fills (db_default=Now()) is not the operator's."""
    asked = []
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
        page = admin_client.get(url)
        if page.status_code != 200:
            continue
        fields = page.context["adminform"].form.fields
        stamped = {f.name for f in model._meta.concrete_fields if isinstance(f.db_default, Now)}
        asked += [f"{model._meta.label}.{name}" for name in stamped & set(fields)]

    assert asked == []
