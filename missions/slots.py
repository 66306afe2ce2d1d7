"""Worker slots: OPS_WORKER_SLOTS worker processes per database, each holding one slot.

A slot is a Postgres advisory lock held for the length of one session; a process that cannot take
its slot (another machine's worker holds it) waits as a standby and takes it when it frees. The
supervisor (`console.supervisor`) keeps one process per slot alive and replaces any that dies.
"""

import contextlib
import signal
import threading

from django.conf import settings
from django.db import connection

from missions.worker import WorkerSession, default_worker_id
from opscore.db import AdvisoryLock


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
    """Sessions back to back in one slot until SIGINT (or SIGTERM); returns the steps run."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    steps = 0
    while not stop.is_set():
        with worker_slot(slot) as held:
            if not held:
                stop.wait(standby_poll)
                continue
            worker_id = f"{default_worker_id()}:slot{slot}"
            seconds = settings.OPS_WORKER_SESSION_SECONDS
            session = WorkerSession(worker_id, seconds, idle_poll, stop_event=stop)
            steps += session.run().steps
            if session.stopping:  # SIGINT reached the session's own handler
                stop.set()
    return steps
