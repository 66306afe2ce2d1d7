"""Entry points django-q2 runs. It hosts the processes and the timers; the rows are the truth."""

import contextlib

from django.conf import settings
from django.db import connection
from django_q.tasks import async_task

from missions.outbox import deliver_pending
from missions.recovery import reap_expired_leases, requeue_cleared_blockers
from missions.worker import WorkerSession, default_worker_id
from opscore.db import AdvisoryLock, Channel

SLOT_LOCK = AdvisoryLock.WORKER_SLOT  # the slot number is the second key


@contextlib.contextmanager
def worker_slot(slot: int):
    """Hold one of the OPS_WORKER_SLOTS slots for this connection's life, or yield False."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [SLOT_LOCK, slot])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with contextlib.suppress(Exception), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [SLOT_LOCK, slot])


def worker_session(slot: int) -> dict:
    """Run one bounded session in a slot, then hand the slot to a successor."""
    with worker_slot(slot) as held:
        if not held:
            return {"slot": slot, "ran": False, "reason": "slot busy"}
        session = WorkerSession(
            worker_id=f"{default_worker_id()}:slot{slot}",
            seconds=settings.OPS_WORKER_SESSION_SECONDS,
        )
        report = session.run()
    async_task("missions.tasks.worker_session", slot, task_name=f"worker-slot-{slot}")
    return {"slot": slot, "ran": True, "steps": report.steps, "reconnects": report.reconnects}


def free_slots() -> list[int]:
    free = []
    for slot in range(settings.OPS_WORKER_SLOTS):
        with worker_slot(slot) as held:
            if held:
                free.append(slot)
    return free


def top_up_workers() -> dict:
    """Every minute: start a session in any slot whose session chain broke."""
    started = free_slots()
    for slot in started:
        async_task("missions.tasks.worker_session", slot, task_name=f"worker-slot-{slot}")
    return {"started": started}


def sweep() -> dict:
    """Every minute: catch whatever a lost wake-up or a dead worker left behind."""
    counts = reap_expired_leases()
    counts["unblocked"] = requeue_cleared_blockers()
    counts["delivered"] = deliver_pending()
    with connection.cursor() as cursor:
        cursor.execute(f"NOTIFY {Channel.STEPS}")  # a hint, in case one was missed
    return counts
