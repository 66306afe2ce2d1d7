"""Which coding run may start now: WIP limits overall (coding_policy.max_running) and per
repository (Repository.max_concurrent_runs), decided under one advisory lock so ten runs
submitted at once cannot all start. Over the limits a run waits `queued` and says so."""

from django.db import connection, transaction
from django.db.models import Count

from coding.models import CodingRun, RunStatus
from coding.runs import transition
from opscore.models import Policy

ACTIVE = [RunStatus.RUNNING, RunStatus.WAITING_FOR_TESTS]


@transaction.atomic
def start_next() -> CodingRun | None:
    """The oldest queued run the limits allow, now `running`; None when nothing may start."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('opscore.coding.dispatch'))")
    limit = Policy.objects.value("coding_policy").max_running
    active = CodingRun.objects.filter(status__in=ACTIVE)
    if active.count() >= limit:
        return None
    busy = dict(active.values_list("repository").annotate(n=Count("id")).order_by())
    waiting = CodingRun.objects.filter(status=RunStatus.QUEUED).select_related("repository")
    for run in waiting.order_by("id")[:100]:
        if busy.get(run.repository_id, 0) < run.repository.max_concurrent_runs:
            return transition(run, RunStatus.RUNNING, "started within the WIP limits")
    return None


def waiting_counts() -> dict[str, int]:
    queued = CodingRun.objects.filter(status=RunStatus.QUEUED)
    rows = queued.values_list("repository__name").annotate(n=Count("id")).order_by()
    return dict(rows)
