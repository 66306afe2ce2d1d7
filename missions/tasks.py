"""Entry points django-q2 runs: it hosts the timers; the rows are the truth. Worker processes
run beside the cluster, not in its task queue (operations.supervisor says why)."""

from django.db import connection

from missions.deadlines import time_out_overdue_attempts
from missions.mission_control import time_out_missions
from missions.recovery import (
    reap_expired_leases,
    release_steps_of_silent_workers,
    requeue_cleared_blockers,
)
from missions.wake import wake_external_agents
from opscore.db import Channel
from opscore.models import IdempotencyKey
from opscore.overrides import lift_expired_overrides


def sweep() -> dict:
    """Every minute: catch whatever a lost wake-up or a dead worker left behind."""
    counts = reap_expired_leases()
    for outcome, n in release_steps_of_silent_workers().items():
        counts[outcome] = counts.get(outcome, 0) + n
    timed_out = time_out_overdue_attempts()  # a runtime's job has no keeper of ours
    counts["attempts_timed_out"] = timed_out["timed_out"]
    if "deferred" in timed_out:
        counts["attempts_timed_out_deferred"] = timed_out["deferred"]
    counts["unblocked"] = requeue_cleared_blockers()
    counts["timed_out"] = time_out_missions()
    counts["woken"] = wake_external_agents()
    # An expiring override lifts within the sweep's interval, not the heartbeat's five minutes.
    counts["overrides_lifted"] = lift_expired_overrides()["lifted"]
    counts["idempotency_keys_pruned"] = IdempotencyKey.objects.expired().delete()[0]
    with connection.cursor() as cursor:
        cursor.execute(f"NOTIFY {Channel.STEPS}")  # a hint, in case one was missed
        # Delivery is the outbox deliverer's (`manage.py deliver`): outside calls stay out
        # of the cluster's processes too.
        cursor.execute(f"NOTIFY {Channel.OUTBOX}")
    return counts
