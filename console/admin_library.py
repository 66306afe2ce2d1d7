"""django-q2's and django-axes' pages in the console, shown as what they are here: its schedules
are written by Opscore alone (console.schedules and opscore.schedules keep them in sync by name),
so the admin shows them and changes none; a queued task is deleted, never edited, and each
deletion is an event, as each resubmission is and each deletion of finished or failed tasks'
history; resubmitting a finished or failed task runs its function again, a change that needs
the task's change permission, not only the right to see it; cleaning up expired login attempts
deletes rows, which needs the delete permission. A person's or a group's edit is an event, as
any switch's (opscore.admin_audit)."""

from collections import Counter

from axes import admin as axes_admin
from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django_q import admin as q_admin
from django_q.models import Failure, OrmQ, Schedule, Success
from django_q.tasks import async_task

from opscore.actions import record_event
from opscore.admin_audit import ADMIN_TAG, EditsRecorded
from opscore.models import operator_actor


class ScheduleAdmin(q_admin.ScheduleAdmin):
    """A schedule names any function by its dotted path: adding or editing one by hand would
    run whatever it names, and the next sync would overwrite or delete it anyway."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def record_task_work(request, kind: str, row, pk, name, func, **more) -> None:
    """A task rerun or dropped from the admin is an event: who, which function, under what
    name (not its arguments: the function and name say what work it was)."""
    done = kind.rsplit("_", 1)[-1]
    record_event(
        f"config.{kind}",
        f"{row._meta.verbose_name.capitalize()} {name} ({func}) {done} in the admin",
        tags=[ADMIN_TAG, row._meta.model_name],
        payload={"model": row._meta.label, "id": pk, "func": func, "name": name, **more}
        | {"changed": {}},
        actor=operator_actor(request.user),
    )


@admin.action(
    description="Resubmit selected tasks to queue (runs each function again)",
    permissions=["change"],
)
def resubmit_task(model_admin, request, queryset):
    """django-q2's own resubmit, each one an event naming the task it was queued as."""
    for task in queryset:
        options = {"hook": task.hook, "group": task.group, "cluster": task.cluster}
        queued_as = async_task(task.func, *task.args or (), **options, **task.kwargs or {})
        record_task_work(
            request, "task_resubmitted", task, task.pk, task.name, task.func, queued_as=queued_as
        )
        if isinstance(model_admin, q_admin.FailAdmin):
            task.delete()  # rerun: no longer a failure waiting on someone


class HistoryDeletionRecorded:
    """A finished or failed task deleted erases who ran what and when: each deletion (a page's
    or a bulk one) is one event saying how many went and which functions, never their
    arguments (a task's args can carry anything its caller passed)."""

    def delete_model(self, request, obj):
        self.delete_queryset(request, type(obj).objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        funcs = Counter(queryset.values_list("func", flat=True))
        super().delete_queryset(request, queryset)
        count = sum(funcs.values())
        if count:
            record_event(
                "config.task_history_deleted",
                f"{count} {queryset.model._meta.verbose_name_plural.lower()} deleted in the admin",
                tags=[ADMIN_TAG, queryset.model._meta.model_name],
                payload={"model": queryset.model._meta.label, "count": count}
                | {"funcs": dict(sorted(funcs.items())), "changed": {}},
                actor=operator_actor(request.user),
            )


class TaskAdmin(HistoryDeletionRecorded, q_admin.TaskAdmin):
    actions = [resubmit_task]


class FailAdmin(HistoryDeletionRecorded, q_admin.FailAdmin):
    actions = [resubmit_task]


class QueueAdmin(q_admin.QueueAdmin):
    """A queued task deleted never runs: an event each. Editing one is refused: another
    cluster key or a far lock drops it as surely, and its payload is signed, not for hands."""

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        pk, name, func, task_id = obj.pk, obj.name(), obj.func(), obj.task_id()
        super().delete_model(request, obj)
        record_task_work(request, "queued_task_deleted", obj, pk, name, func, task_id=task_id)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin):
    """axes' clean-up action asked for no permission: anyone who could view attempts deleted
    them. It also read the attempt time axes sets only on a sign-in request, so from the admin
    it failed (500) until the request is prepared as axes' proxy handler does."""

    @admin.action(description="Clean up expired attempts", permissions=["delete"])
    def cleanup_expired_attempts(self, request, queryset):
        AxesProxyHandler.update_request(request)
        super().cleanup_expired_attempts(request, queryset)


class UserAdmin(EditsRecorded, auth_admin.UserAdmin):
    """Who may approve, deploy, or sign in at all: a grant is a switch, so an event (its
    password never: a hash, and redacted besides; changing it is a page of its own)."""

    edit_event = "config.user_"

    def user_change_password(self, request, id, form_url=""):
        """The password's own page saves outside save_model: a changed hash is an event naming
        whose password was set or switched off, never what it was or became."""
        before = self.get_object(request, unquote(id))
        answer = super().user_change_password(request, id, form_url)
        after = self.get_object(request, unquote(id))
        if before and after and before.password != after.password:
            verb = "password_set" if after.has_usable_password() else "password_unset"
            self.record_edit(request, after, after.pk, verb, {})
        return answer


class GroupAdmin(EditsRecorded, auth_admin.GroupAdmin):
    edit_event = "config.group_"


LIBRARY_ADMINS = [(Schedule, ScheduleAdmin), (Success, TaskAdmin), (Failure, FailAdmin)]
LIBRARY_ADMINS += [(OrmQ, QueueAdmin)]
LIBRARY_ADMINS += [(AccessAttempt, AccessAttemptAdmin)]
LIBRARY_ADMINS += [(get_user_model(), UserAdmin), (Group, GroupAdmin)]

for model, model_admin in LIBRARY_ADMINS:
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
