"""Who is running: one liveness row per worker process."""

import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Value, When
from django.db.models.functions import Now

from missions.models.steps import Step


def stale_cutoff() -> Now:
    return Now() - timedelta(seconds=settings.OPS_WORKER_STALE_SECONDS)


class WorkerQuerySet(models.QuerySet):
    """Live, stale and stopped are derived, never stored: a row is stale because its process
    went silent without a word (a crash, a kill -9), and saying so is the whole point of the
    row. A worker that stopped cleanly said so (`stopped_at`) and is neither."""

    def running(self):
        return self.filter(stopped_at=None)

    def live(self):
        return self.running().filter(last_seen_at__gte=stale_cutoff())

    def with_state(self):
        """`state`: stopped, live or stale, by the rules above (the admin's column)."""
        return self.annotate(
            state=Case(
                When(stopped_at__isnull=False, then=Value("stopped")),
                When(last_seen_at__gte=stale_cutoff(), then=Value("live")),
                default=Value("stale"),
            )
        )


class Worker(models.Model):
    """A liveness row per worker process, written every ~30 s while it runs. `current_step`
    names a step long enough to have had its lease renewed; `steps_run` is flushed on each
    beat, so it may trail the truth (StepAttempt rows) by up to one beat. `stopped_at` is set
    by the session's last beat when its loop ended cleanly, and cleared by any later beat under
    the same id (a slot's next session)."""

    worker_id = models.CharField(primary_key=True, max_length=200)
    host = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(db_default=Now())
    last_seen_at = models.DateTimeField(db_default=Now())
    stopped_at = models.DateTimeField(null=True, blank=True)
    current_step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    steps_run = models.PositiveIntegerField(default=0)

    objects = WorkerQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self):
        return self.worker_id

    @classmethod
    def beat(cls, worker_id: str, steps: int = 0, stopping: bool = False) -> None:
        """This process is alive (or, `stopping`, has just finished cleanly): one UPDATE, or
        the row's first INSERT. Only a loop that ended on its own terms may pass `stopping`; a
        process dying of an exception must leave the row to go stale."""
        stopped_at = Now() if stopping else None
        fields = {"last_seen_at": Now(), "current_step": None, "stopped_at": stopped_at}
        seen = cls.objects.filter(pk=worker_id).update(steps_run=F("steps_run") + steps, **fields)
        if not seen:
            cls.objects.create(
                worker_id=worker_id,
                host=socket.gethostname(),
                pid=os.getpid(),
                steps_run=steps,
                stopped_at=stopped_at,
            )
