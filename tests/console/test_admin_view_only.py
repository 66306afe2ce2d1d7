"""A staff account that may only *view* a model's rows sees them in the admin but changes
nothing through it: every action that writes (cancel, retry, revise a coding run; mark a
memory stale; lift an override) needs the model's change permission, and the page that
applies an override needs the override's. Those three actions asked for no permission or for
view only, and the apply page for none at all, so a read-only operator could cancel a coding
run, lift a `disable-agent` or apply one."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from coding.models import CodingRun, Repository
from memory.models import Memory
from opscore.models import Event, Override
from opscore.overrides import apply_override
from tests.coding_support import new_run
from tests.factories import make_memories

pytestmark = pytest.mark.django_db


def queued_coding_run(agent):
    repo = Repository.objects.create(name="app", path="/nowhere", allowed_base_refs=["main"])
    row = new_run(repo, "@greet", agent=agent)
    return row, lambda: CodingRun.objects.get(pk=row.pk).status == "queued"


def active_memory(agent):
    make_memories(agent, "lesson", 1)
    row = Memory.objects.get()
    return row, lambda: Memory.objects.get(pk=row.pk).status == "active"


def override_in_force(agent):
    row = apply_override("pause-lane", "reactions", reason="storm", actor="operator:test")
    return row, lambda: Override.objects.get(pk=row.pk).status == "active"


ACTIONS = {  # the model, the action, and a row it acts on (with "is it untouched?")
    "cancel coding runs": ("coding", "codingrun", "cancel_runs", queued_coding_run),
    "retry coding runs": ("coding", "codingrun", "retry_runs", queued_coding_run),
    "revise coding runs": ("coding", "codingrun", "revise_runs", queued_coding_run),
    "mark memories stale": ("memory", "memory", "mark_stale", active_memory),
    "lift overrides": ("opscore", "override", "lift_selected", override_in_force),
}


def viewer(client, *codenames):
    user = get_user_model().objects.create_user("viv", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


@pytest.mark.parametrize("name", ACTIONS)
def test_a_staff_user_who_may_only_view_cannot_act(client, agent, name):
    app, model, action, make = ACTIONS[name]
    row, untouched = make(agent)
    viewer(client, f"view_{model}")
    events = Event.objects.count()
    changelist = f"/admin/{app}/{model}/"
    chosen = {"action": action, "_selected_action": [row.pk], "apply": "1", "reason": "why"}

    listed = client.get(changelist).content.decode()
    answer = client.post(changelist, chosen)

    assert answer.status_code in (200, 302) and untouched()
    assert Event.objects.count() == events
    assert f'value="{action}"' not in listed  # not offered


def test_a_staff_user_without_the_override_permission_cannot_apply_one(client, agent):
    viewer(client, "view_override")
    form = {"kind": "disable_agent", "target": agent.slug, "reason": "why", "confirm": "1"}

    listed = client.get("/admin/opscore/override/").content.decode()
    shown = client.get("/admin/opscore/override/apply/")
    answer = client.post("/admin/opscore/override/apply/", form)

    agent.refresh_from_db()
    assert agent.enabled and not Override.objects.exists()
    assert (shown.status_code, answer.status_code) == (403, 403)
    assert "Apply an override" not in listed


def test_an_operator_who_may_change_overrides_still_applies_one(client, agent):
    viewer(client, "view_override", "change_override")
    form = {"kind": "disable_agent", "target": agent.slug, "reason": "why", "confirm": "1"}

    answer = client.post("/admin/opscore/override/apply/", form)

    assert answer.status_code == 302 and Override.objects.get().kind == "disable_agent"


def test_someone_not_staff_is_sent_to_sign_in_and_nothing_is_applied(client, agent):
    user = get_user_model().objects.create_user("nan", password="x")
    user.user_permissions.add(*Permission.objects.filter(codename__endswith="_override"))
    client.force_login(user)
    form = {"kind": "disable_agent", "target": agent.slug, "reason": "why", "confirm": "1"}

    answer = client.post("/admin/opscore/override/apply/", form)

    assert answer.status_code == 302 and "/login/" in answer["Location"]
    assert not Override.objects.exists()


def finished_task(success: bool):
    from django.utils import timezone
    from django_q.models import Task

    now = timezone.now()
    return Task.objects.create(
        id=f"t{int(success)}", name="n", func="math.floor", args=(1.5,), started=now,
        stopped=now, success=success,
    )  # fmt: skip


@pytest.mark.parametrize("model,success", [("success", True), ("failure", False)])
def test_a_viewer_cannot_resubmit_a_task_to_run_again(client, model, success):
    from django_q.models import OrmQ, Task

    task = finished_task(success)
    viewer(client, f"view_{model}")
    chosen = {"action": "resubmit_task", "_selected_action": [task.pk]}

    client.post(f"/admin/django_q/{model}/", chosen)

    assert not OrmQ.objects.exists() and Task.objects.filter(pk=task.pk).exists()


def test_a_superuser_resubmits_a_failed_task(admin_client):
    from django_q.models import OrmQ, Task

    task = finished_task(False)
    chosen = {"action": "resubmit_task", "_selected_action": [task.pk]}

    admin_client.post("/admin/django_q/failure/", chosen)

    assert OrmQ.objects.count() == 1 and not Task.objects.filter(pk=task.pk).exists()


PINNED = datetime(2027, 3, 1, 0, 30, tzinfo=UTC)  # the 1st of a month, half past midnight


def a_login_attempt(username: str, minutes_ago: float):
    """An attempt made `minutes_ago` before the pinned clock (AXES_COOLOFF_TIME is 15 minutes)."""
    from axes.models import AccessAttempt

    row = AccessAttempt.objects.create(
        username=username, ip_address="10.0.0.9", failures_since_start=9
    )
    made = PINNED - timedelta(minutes=minutes_ago)
    AccessAttempt.objects.filter(pk=row.pk).update(attempt_time=made)
    return row


def an_expired_login_attempt():
    return a_login_attempt("eve", minutes_ago=16)


def test_a_viewer_cannot_clean_up_login_attempts(client, clock):
    from axes.models import AccessAttempt

    clock.freeze(PINNED)
    viewer(client, "view_accessattempt")
    row = an_expired_login_attempt()  # after signing in, which cleans up expired ones
    chosen = {"action": "cleanup_expired_attempts", "_selected_action": [row.pk]}

    listed = client.get("/admin/axes/accessattempt/").content.decode()
    client.post("/admin/axes/accessattempt/", chosen)

    assert AccessAttempt.objects.filter(pk=row.pk).exists()
    assert 'value="cleanup_expired_attempts"' not in listed


def test_an_operator_who_may_delete_attempts_cleans_up_the_expired_ones(client, clock):
    from axes.models import AccessAttempt

    clock.freeze(PINNED)
    viewer(client, "view_accessattempt", "delete_accessattempt")
    row = an_expired_login_attempt()  # after signing in, which cleans up expired ones
    recent = a_login_attempt("mallory", minutes_ago=14)  # still cooling off
    chosen = {"action": "cleanup_expired_attempts", "_selected_action": [row.pk]}

    client.post("/admin/axes/accessattempt/", chosen)

    assert list(AccessAttempt.objects.values_list("pk", flat=True)) == [recent.pk]


def test_no_one_adds_or_edits_a_schedule_by_hand(admin_client):
    """A schedule names the function it runs: the console's would run anything typed there."""
    from django_q.models import Schedule

    from console.schedules import ensure_system_schedules

    ensure_system_schedules()
    heartbeat = Schedule.objects.get(name="opscore.heartbeat")
    hostile = {"name": "x", "func": "os.system", "args": "'id'", "schedule_type": "O"}
    hostile |= {"repeats": "-1", "next_run_0": "2030-01-01", "next_run_1": "00:00:00"}

    added = admin_client.post("/admin/django_q/schedule/add/", hostile)
    edited = admin_client.post(f"/admin/django_q/schedule/{heartbeat.pk}/change/", hostile)
    shown = admin_client.get(f"/admin/django_q/schedule/{heartbeat.pk}/change/")

    assert added.status_code == 403 and edited.status_code == 403 and shown.status_code == 200
    assert not Schedule.objects.filter(func="os.system").exists()
    assert Schedule.objects.get(pk=heartbeat.pk).func == "console.tasks.heartbeat"


def an_active_goal(agent):
    from missions.goals import add_goal

    terms = {"title": "Ship", "why": "asked", "metric": "missions_succeeded", "target": 3}
    return add_goal(terms | {"owner": agent.slug, "deadline": "30d"}, actor="operator:test")


def test_a_staff_user_without_goal_permissions_neither_sees_nor_revises_nor_closes_one(
    client, agent
):
    """GoalAdmin's 'may change?' answered yes for any active goal whoever asked, so any staff
    account reached goals and closed one."""
    goal = an_active_goal(agent)
    viewer(client)
    revised = {"title": "Mine now", "why": "w", "metric": "missions_succeeded", "target": "9"}
    revised |= {"direction": "up", "owner": agent.slug, "deadline": "30d", "reason": "r"}
    close = {"action": "close_goals", "_selected_action": [goal.pk], "apply": "1", "reason": "r"}

    answers = [
        client.get("/admin/missions/goal/").status_code,
        client.post(f"/admin/missions/goal/{goal.pk}/change/", revised).status_code,
        client.post("/admin/missions/goal/", close).status_code,
    ]

    goal.refresh_from_db()
    assert (goal.title, goal.status, goal.version) == ("Ship", "active", 1)
    assert answers == [403, 403, 403]


def test_a_goal_viewer_sees_it_but_neither_revises_nor_closes_it(client, agent):
    goal = an_active_goal(agent)
    viewer(client, "view_goal")
    revised = {"title": "Mine now", "why": "w", "metric": "missions_succeeded", "target": "9"}
    revised |= {"direction": "up", "owner": agent.slug, "deadline": "30d", "reason": "r"}
    close = {"action": "close_goals", "_selected_action": [goal.pk], "apply": "1", "reason": "r"}

    listed = client.get("/admin/missions/goal/")
    client.post(f"/admin/missions/goal/{goal.pk}/change/", revised)
    client.post("/admin/missions/goal/", close)

    goal.refresh_from_db()
    assert (goal.title, goal.status) == ("Ship", "active")
    assert listed.status_code == 200 and 'value="close_goals"' not in listed.content.decode()


def test_a_staff_user_without_feedback_permissions_does_not_reach_it(client):
    viewer(client)

    assert client.get("/admin/missions/feedback/").status_code == 403
