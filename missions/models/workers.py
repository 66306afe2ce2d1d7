"""Who is running: one liveness row per worker process."""

from django.db import models
from django.db.models.functions import Now

from missions.models.steps import Step


class Worker(models.Model):
    """A liveness row per worker process, written every ~30 s while it runs. `current_step`
    names a step long enough to have had its lease renewed; `steps_run` is flushed on each
    beat, so it may trail the truth (StepAttempt rows) by up to one beat."""

    worker_id = models.CharField(primary_key=True, max_length=200)
    host = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(db_default=Now())
    last_seen_at = models.DateTimeField(db_default=Now())
    current_step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    steps_run = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self):
        return self.worker_id
