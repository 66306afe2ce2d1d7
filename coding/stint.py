"""A driver's time on a run — what the wall-time cap counts (time spent driving, not time
spent waiting for a reviewer) — kept in the run's limits, added on this driver's monotonic
clock, which no clock change moves."""

import time

from django.db import connection, transaction

ADD_ACTIVE_TIME = """
    UPDATE coding_codingrun SET limits = limits || jsonb_build_object('active_seconds',
        COALESCE((limits->>'active_seconds')::float, 0) + %s::float)
    WHERE id = %s"""


def add_active_time(run, stint: float) -> None:
    """The stint's seconds (`stint`: its start on the monotonic clock) added in one statement
    to what the row holds then (a retry may have reset it)."""
    with connection.cursor() as cursor:
        cursor.execute(ADD_ACTIVE_TIME, [time.monotonic() - stint, run.pk])


class Stint:
    """The drive's time not yet on the row. A pass adds it in its own transaction (the
    one that writes its row and moves the run, so the move reads it back); once that
    commits the stint starts afresh, and a drive that ends there has nothing left to add.
    A pass that writes no row, or whose transaction fails, leaves it for the drive's end."""

    def __init__(self):
        self.began, self.settled = time.monotonic(), False

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def settle(self, run) -> None:
        add_active_time(run, self.began)
        now = time.monotonic()
        transaction.on_commit(lambda: self.restart(now))

    def restart(self, now: float) -> None:
        self.began, self.settled = now, True

    def close(self, run) -> None:
        """The drive's end: what the passes did not settle, added."""
        if not self.settled:
            add_active_time(run, self.began)
