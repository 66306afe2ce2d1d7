"""An operator's edit through the admin leaves an event, as a policy's does (policy.changed):
who, which fields, from what to what. A repository's trust zone (its path, its base refs, its
runners), a standing order (its schedule, its instructions, its switch), an agent (handed to an
outside runtime, its wake URL) and a trigger rule (switched on, what it proposes) changed in the
admin without a row, so nobody could tell afterwards who had widened what, or when."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from missions.models import TriggerRule
from opscore.models import Event, StandingOrder
from tests.console.test_admin_edit_as_shown import shown_form

pytestmark = pytest.mark.django_db


def saved(admin_client, url: str, **changes) -> None:
    answer = admin_client.post(url, shown_form(admin_client, url) | changes)
    assert answer.status_code == 302, answer.content.decode()[:2000]


def test_editing_a_repository_in_the_admin_is_an_event(admin_client, git_repo):
    url = reverse("admin:coding_repository_change", args=[git_repo.id])

    saved(admin_client, url, max_concurrent_runs="3", test_command='["python", "app.py"]')

    event = Event.objects.get(kind="coding.repository_changed")
    assert event.actor == "operator:operator"
    assert "app" in event.title and "max_concurrent_runs" in event.title
    assert event.payload["changed"]["max_concurrent_runs"] == {"old": 1, "new": 3}
    assert set(event.payload["changed"]) == {"max_concurrent_runs", "test_command"}


def test_editing_a_standing_order_in_the_admin_is_an_event(admin_client, agent):
    order = StandingOrder.objects.create(agent=agent, name="sweep", cron="0 * * * *")
    url = reverse("admin:opscore_standingorder_change", args=[order.id])

    saved(admin_client, url, enabled="", cron="*/5 * * * *")

    event = Event.objects.get(kind="standing_order.changed")
    assert event.actor == "operator:operator" and event.agent_id == agent.slug
    assert event.payload["changed"] == {
        "cron": {"old": "0 * * * *", "new": "*/5 * * * *"},
        "enabled": {"old": True, "new": False},
    }


def test_saving_a_page_with_nothing_changed_writes_no_event(admin_client, agent):
    order = StandingOrder.objects.create(agent=agent, name="sweep", cron="0 * * * *")

    saved(admin_client, reverse("admin:opscore_standingorder_change", args=[order.id]))

    assert not Event.objects.filter(kind__startswith="standing_order.").exists()


def test_adding_a_standing_order_in_the_admin_is_an_event(admin_client, agent):
    url = reverse("admin:opscore_standingorder_add")
    form = {"agent": agent.slug, "name": "digest", "cron": "0 9 * * *", "timezone": "UTC"}
    form |= {"grace_minutes": 5, "timeout_minutes": 30, "enabled": "on", "handler": "generic"}

    answer = admin_client.post(url, form | {"phase": 1, "instructions": "Sum up the day"})

    assert answer.status_code == 302, answer.content.decode()[:2000]
    event = Event.objects.get(kind="standing_order.added")
    assert event.actor == "operator:operator" and "digest" in event.title
    assert event.payload["changed"]["cron"] == {"old": None, "new": "0 9 * * *"}


def test_an_edits_event_keeps_no_secret(admin_client, agent, settings):
    order = StandingOrder.objects.create(agent=agent, name="sweep", cron="0 * * * *")
    url = reverse("admin:opscore_standingorder_change", args=[order.id])
    secret = settings.ANTHROPIC_API_KEY = "sk-ant-api03-" + "x" * 40

    saved(admin_client, url, instructions=f"Call it with {secret}")

    event = Event.objects.get(kind="standing_order.changed")
    assert secret not in str(event.payload) and "instructions" in event.payload["changed"]


def test_removing_a_repository_in_the_admin_is_an_event(admin_client, git_repo):
    url = reverse("admin:coding_repository_delete", args=[git_repo.id])

    assert admin_client.post(url, {"post": "yes"}).status_code == 302

    event = Event.objects.get(kind="coding.repository_deleted")
    assert event.actor == "operator:operator" and event.payload["id"] == git_repo.id


def test_handing_an_agent_to_an_outside_runtime_in_the_admin_is_an_event(admin_client, agent):
    url = reverse("admin:opscore_agent_change", args=[agent.slug])

    saved(admin_client, url, runtime="external", wake_url="https://runtime.example/hooks/agent")

    event = Event.objects.get(kind="agent.changed")
    assert event.actor == "operator:operator" and event.agent_id == agent.slug
    assert event.payload["changed"]["runtime"] == {"old": "internal", "new": "external"}
    assert set(event.payload["changed"]) == {"runtime", "wake_url"}


def test_switching_a_trigger_rule_on_in_the_admin_is_an_event(admin_client, agent):
    rule = TriggerRule.objects.create(
        name="posted", trigger_event="content_published", enabled=False,
        action_config={"target_agent": agent.slug},
    )  # fmt: skip
    url = reverse("admin:missions_triggerrule_change", args=[rule.id])

    saved(admin_client, url, enabled="on", cooldown_minutes="5")

    event = Event.objects.get(kind="trigger.rule_changed")
    assert event.actor == "operator:operator" and "posted" in event.title
    assert event.payload["changed"] == {
        "cooldown_minutes": {"old": 60, "new": 5},
        "enabled": {"old": False, "new": True},
    }


def test_granting_a_person_the_right_to_approve_in_the_admin_is_an_event(admin_client):
    """Four-eyes rests on who holds *can approve proposals*: a grant in the admin is as much a
    switch as a policy's."""
    bea = get_user_model().objects.create_user("bea", password="pw-not-kept-0123")
    approve = Permission.objects.get(codename="approve_proposal")
    url = reverse("admin:auth_user_change", args=[bea.id])

    saved(admin_client, url, user_permissions=str(approve.id), is_staff="on")

    event = Event.objects.get(kind="config.user_changed")
    assert event.actor == "operator:operator" and "bea" in event.title
    assert event.payload["changed"] == {
        "is_staff": {"old": False, "new": True},
        "user_permissions": {"old": [], "new": [str(approve)]},
    }
    assert "pw-not-kept" not in str(event.payload) and bea.password not in str(event.payload)


def test_adding_a_person_in_the_admin_is_an_event_without_their_password(admin_client):
    password = "a-long-pass-phrase-0123"
    form = {"username": "cara", "password1": password, "password2": password}

    answer = admin_client.post(reverse("admin:auth_user_add"), form | {"usable_password": "true"})

    assert answer.status_code == 302, answer.content.decode()[:2000]
    event = Event.objects.get(kind="config.user_added")
    assert event.payload["changed"] == {"username": {"old": None, "new": "cara"}}
    assert password not in str(event.payload)


@pytest.mark.parametrize("usable", [True, False])
def test_setting_a_persons_password_on_its_own_page_is_an_event_without_it(admin_client, usable):
    """The admin changes a password on a page of its own, not the person's change page: a
    takeover of someone's account left no row. The event says so, never what it was set to."""
    bea = get_user_model().objects.create_user("bea", password="pw-old-0123456")
    password = "a-new-pass-phrase-0123"
    form = {"password1": password, "password2": password, "usable_password": str(usable).lower()}
    url = reverse("admin:auth_user_password_change", args=[bea.id])

    answer = admin_client.post(url, form | ({} if usable else {"unset-password": "1"}))

    assert answer.status_code == 302, answer.content.decode()[:2000]
    event = Event.objects.get(kind__startswith="config.user_password")
    bea.refresh_from_db()
    assert event.kind == ("config.user_password_set" if usable else "config.user_password_unset")
    assert event.actor == "operator:operator" and "bea" in event.title
    assert event.payload == {"model": "auth.User", "id": bea.id, "changed": {}}
    assert password not in str(event.__dict__) and bea.password not in str(event.__dict__)


def test_a_refused_password_change_writes_no_event(admin_client):
    bea = get_user_model().objects.create_user("bea", password="pw-old-0123456")
    form = {"password1": "a-new-pass-0123", "password2": "another-0123", "usable_password": "true"}

    admin_client.post(reverse("admin:auth_user_password_change", args=[bea.id]), form)

    assert not Event.objects.filter(kind__startswith="config.user_").exists()
