"""Worker slots: OPS_WORKER_SLOTS worker processes per database, each holding one slot.

A slot is a Postgres advisory lock held for the length of one session; a process that cannot take
its slot (another machine's worker holds it) waits as a standby and takes it when it frees. The
supervisor (`operations.supervisor`) keeps one process per slot alive and replaces any that dies.
"""

import contextlib
import logging

from django.conf import settings
from django.db import connection
from django.db.models.functions import Now

from missions.models import Worker
from missions.shutdown import STOP
from missions.worker import DISCONNECTS, WorkerSession, default_worker_id
from opscore.db import AdvisoryLock

log = logging.getLogger(__name__)


@contextlib.contextmanager
def worker_slot(slot: int):
    """Hold one slot for this connection, or yield False when another process has it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [AdvisoryLock.WORKER_SLOT, slot])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with contextlib.suppress(Exception), connection.cursor() as cursor:
                unlock = "SELECT pg_advisory_unlock(%s, %s)"
                cursor.execute(unlock, [AdvisoryLock.WORKER_SLOT, slot])


def run_slot(slot: int, idle_poll: float = 5.0, standby_poll: float = 2.0) -> int:
    """Sessions back to back in one slot until SIGINT or SIGTERM (missions.shutdown: a step
    still running after the grace is handed back); returns the steps run."""
    STOP.install()
    steps = 0
    while not STOP.requested.is_set():
        try:
            steps += one_session(slot, idle_poll, standby_poll)
        except DISCONNECTS as error:  # the database is down: wait here, not in a restart loop
            log.warning("slot %s cannot reach the database: %s", slot, error)
            connection.close()
            STOP.requested.wait(1.0)
    return steps


def one_session(slot: int, idle_poll: float, standby_poll: float) -> int:
    worker_id = f"{default_worker_id()}:slot{slot}"
    with worker_slot(slot) as held:
        if not held:
            # Alive as a standby: a liveness row left by an earlier session must not go stale,
            # or the supervisor would take this process for a stuck one.
            Worker.objects.filter(pk=worker_id).update(
                last_seen_at=Now(), current_step=None, stopped_at=None
            )
            STOP.requested.wait(standby_poll)
            return 0
        seconds = settings.OPS_WORKER_SESSION_SECONDS
        session = WorkerSession(worker_id, seconds, idle_poll, stop_event=STOP.requested)
        return session.run().steps
