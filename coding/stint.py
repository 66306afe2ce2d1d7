"""A driver's time on a run — what the wall-time cap counts (time spent driving, not time
spent waiting for a reviewer) — kept in the run's limits, added on this driver's monotonic
clock, which no clock change moves."""

import time

from django.db import connection, transaction
from django.db.models import JSONField
from django.db.models.expressions import RawSQL

ADDED = """limits || jsonb_build_object('active_seconds',
    COALESCE((limits->>'active_seconds')::float, 0) + %s::float)"""


def with_active_time(stint: float) -> RawSQL:
    """The run's limits with the stint's seconds (`stint`: its start on the monotonic clock)
    added to what the row holds as the statement writes it (a retry may have reset it): a
    value for an UPDATE of the run's row."""
    return RawSQL(ADDED, [time.monotonic() - stint], output_field=JSONField())


def add_active_time(run, stint: float) -> None:
    """The stint's seconds added in one statement of their own."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE coding_codingrun SET limits = {ADDED} WHERE id = %s",
            [time.monotonic() - stint, run.pk],
        )


class Stint:
    """The drive's time not yet on the row. A pass adds it in its own transaction (the
    one that writes its row and moves the run, so the move reads it back); once that
    commits the stint starts afresh, and a drive that ends there has nothing left to add.
    A pass that writes no row, or whose transaction fails, leaves it for the drive's end."""

    def __init__(self):
        self.began, self.settled = time.monotonic(), False

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def settle(self) -> dict:
        """The stint's time as a field of the statement writing the pass's row (it rides
        along rather than costing a statement of its own); counted once that commits."""
        now, limits = time.monotonic(), with_active_time(self.began)
        transaction.on_commit(lambda: self.restart(now))
        return {"limits": limits}

    def restart(self, now: float) -> None:
        self.began, self.settled = now, True

    def close(self, run) -> None:
        """The drive's end: what the passes did not settle, added."""
        if not self.settled:
            add_active_time(run, self.began)
