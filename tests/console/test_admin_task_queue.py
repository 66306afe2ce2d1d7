"""django-q2's pages rerun or drop work: resubmitting a finished or failed task runs its
function again, deleting a queued one means it never runs. Both went by without an event, so
nobody could tell afterwards who had rerun a deploy's step or dropped a backup."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django_q.models import OrmQ, Task
from django_q.tasks import async_task

from opscore.models import Event
from tests.console.test_admin_view_only import finished_task

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def awkward_instant(clock):
    """Both clocks a moment before a leap day's midnight, ticking: nothing here may depend on
    the date or the hour the suite runs at."""
    clock.travel(datetime(2028, 2, 29, 23, 59, 58, tzinfo=UTC))


@pytest.mark.parametrize("model,success", [("success", True), ("failure", False)])
def test_resubmitting_a_task_in_the_admin_is_an_event(admin_client, model, success):
    task = finished_task(success)
    chosen = {"action": "resubmit_task", "_selected_action": [task.pk]}

    admin_client.post(f"/admin/django_q/{model}/", chosen)

    event = Event.objects.get(kind="config.task_resubmitted")
    queued = OrmQ.objects.get()
    assert event.actor == "operator:operator" and "math.floor" in event.title
    assert event.payload["changed"] == {}
    assert event.payload | {"queued_as": "?"} == {
        "model": f"django_q.{model.capitalize()}", "id": task.pk, "func": "math.floor", "name": "n",
        "queued_as": "?", "changed": {},
    }  # fmt: skip
    assert event.payload["queued_as"] == queued.task_id()
    assert Task.objects.filter(pk=task.pk).exists() == success


def queued_task():
    async_task("math.floor", 1.5, task_name="backup-now")
    return OrmQ.objects.get()


def test_deleting_queued_tasks_in_the_admin_is_an_event_each(admin_client):
    row = queued_task()
    chosen = {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}

    admin_client.post("/admin/django_q/ormq/", chosen)

    assert not OrmQ.objects.exists()
    event = Event.objects.get(kind="config.queued_task_deleted")
    assert event.actor == "operator:operator" and "backup-now" in event.title
    assert event.payload == {
        "model": "django_q.OrmQ", "id": row.pk, "func": "math.floor", "name": "backup-now",
        "task_id": row.task_id(), "changed": {},
    }  # fmt: skip


def test_deleting_a_queued_task_from_its_page_is_an_event(admin_client):
    row = queued_task()

    admin_client.post(reverse("admin:django_q_ormq_delete", args=[row.pk]), {"post": "yes"})

    assert not OrmQ.objects.exists()
    assert Event.objects.get(kind="config.queued_task_deleted").payload["id"] == row.pk


def test_no_one_edits_a_queued_task_by_hand(admin_client):
    """Another cluster key or a far lock drops the task as surely as deleting it, unrecorded."""
    row = queued_task()
    url = reverse("admin:django_q_ormq_change", args=[row.pk])

    answer = admin_client.post(url, {"key": "elsewhere", "lock": "2099-01-01 00:00:00"})

    assert answer.status_code == 403 and admin_client.get(url).status_code == 200
    assert OrmQ.objects.get(pk=row.pk).key == row.key


def finished_tasks(success: bool, funcs: list[str]):
    from django.utils import timezone

    now = timezone.now()
    return [
        Task.objects.create(
            id=f"t{n}",
            name=f"n{n}",
            func=func,
            args=("sk-secret-argument",),
            started=now,
            stopped=now,
            success=success,
        )
        for n, func in enumerate(funcs)
    ]


@pytest.mark.parametrize("model,success", [("success", True), ("failure", False)])
def test_deleting_task_history_in_the_admin_is_an_event_naming_the_functions(
    admin_client, model, success
):
    """The standard bulk delete erased who ran what, and when, with nothing to say so."""
    tasks = finished_tasks(success, ["math.floor", "math.ceil", "math.floor"])
    chosen = {"action": "delete_selected", "_selected_action": [t.pk for t in tasks]}

    admin_client.post(f"/admin/django_q/{model}/", chosen | {"post": "yes"})

    assert not Task.objects.exists()
    event = Event.objects.get(kind="config.task_history_deleted")
    assert event.actor == "operator:operator" and "3" in event.title
    assert event.payload == {
        "model": f"django_q.{model.capitalize()}", "count": 3,
        "funcs": {"math.ceil": 1, "math.floor": 2}, "changed": {},
    }  # fmt: skip
    assert "sk-secret-argument" not in str(event.payload) + event.title + event.summary


def test_deleting_a_finished_task_from_its_page_is_an_event(admin_client):
    (task,) = finished_tasks(True, ["math.floor"])

    admin_client.post(reverse("admin:django_q_success_delete", args=[task.pk]), {"post": "yes"})

    assert not Task.objects.exists()
    event = Event.objects.get(kind="config.task_history_deleted")
    assert event.payload["count"] == 1 and event.payload["funcs"] == {"math.floor": 1}
