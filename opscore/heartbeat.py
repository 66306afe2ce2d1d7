"""The heartbeat: cheap, deterministic housekeeping every five minutes.

Duties run in order, each in its own transaction (or, one whose pieces change the disk, each piece
in its own), try/except and time budget; a failing duty never stops the others. Every beat
writes one ActionRun row. A Postgres advisory lock makes two beats fired at the same moment
(schedule + endpoint) run once: the second records `skipped`.
"""

import contextlib
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction

from opscore.db import AdvisoryLock
from opscore.lanes import DROP, pause_of
from opscore.models import ActionRun, ActionRunStatus
from opscore.redaction import redact_text

log = logging.getLogger(__name__)


@dataclass
class Duty:
    name: str
    budget_seconds: float
    run: Callable[[float], dict]  # receives its deadline (time.monotonic based)
    lane: str = ""  # an operator can pause this lane (policy lane_switches)
    # While its lane is paused in drop mode: refuse the work that arrived, each with a row.
    dropping: Callable[[str], dict] | None = None
    # False: the duty commits each piece of its work in a transaction of its own, as one whose
    # pieces change the disk must: a rollback of the whole would leave rows naming what is gone.
    atomic: bool = True


# The duties in the order they run; the top layer composes the list (console.heartbeat).
DUTIES: list[Duty] = []


def compose(duties: list[Duty]) -> None:
    DUTIES[:] = duties


def install(new: Duty) -> None:
    """Replace the duty of the same name, or add one at the end."""
    for index, existing in enumerate(DUTIES):
        if existing.name == new.name:
            DUTIES[index] = new
            return
    DUTIES.append(new)


@contextlib.contextmanager
def exclusive():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [AdvisoryLock.HEARTBEAT])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [AdvisoryLock.HEARTBEAT])


def run_duty(item: Duty) -> dict:
    started = time.monotonic()
    pause = pause_of(item.lane)
    if pause is not None and not (pause.mode == DROP and item.dropping):
        return {"name": item.name, "status": "paused", "detail": pause.why}
    outcome = {"name": item.name, "budget_ms": int(item.budget_seconds * 1000)}
    try:
        with transaction.atomic() if item.atomic else contextlib.nullcontext():
            if pause is not None:
                outcome["counts"] = item.dropping(pause.why) | {"paused": pause.why}
            else:
                outcome["counts"] = item.run(started + item.budget_seconds)
        outcome["status"] = "ok"
    except Exception as error:  # one duty's failure is recorded, and the beat goes on
        log.exception("heartbeat duty %s failed", item.name)
        outcome["status"] = "error"
        outcome["error"] = redact_text("".join(traceback.format_exception_only(error)).strip())[
            :1000
        ]
    elapsed = time.monotonic() - started
    outcome["duration_ms"] = int(elapsed * 1000)
    outcome["over_budget"] = elapsed > item.budget_seconds
    return outcome


def run_heartbeat(trigger: str) -> ActionRun:
    started = time.monotonic()
    with exclusive() as acquired:
        if not acquired:
            return ActionRun.objects.create(
                trigger=trigger,
                status=ActionRunStatus.SKIPPED,
                reason="another heartbeat is running",
            )
        results = [run_duty(item) for item in DUTIES]
    failed = any(r["status"] == "error" for r in results)
    return ActionRun.objects.create(
        trigger=trigger,
        status=ActionRunStatus.PARTIAL if failed else ActionRunStatus.SUCCEEDED,
        duties=results,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
