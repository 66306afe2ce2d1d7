"""What a step's executor said when it said no outcome: it raised (a crash, the step's
failure), answered something no outcome is, or lost its database connection mid-step (not
its failure). missions.worker turns each into the outcome recorded under the step's lease."""

import logging
import traceback

from django.db import DatabaseError
from django.db import connection as django_connection

from missions.executors import Failed, Interrupted, Outcome
from missions.models import Step
from opscore.db import DISCONNECTS
from opscore.redaction import redact_text

log = logging.getLogger("missions.worker")  # where a worker's crashes were always logged


# SQLSTATEs of the database aborting one of several concurrent writers: deadlock_detected,
# serialization_failure.
CONTENTION = {"40P01", "40001"}


def answer_of(step: Step, answer) -> Outcome:
    """An executor's answer, or its failure when it is none: a generator function registered
    as an executor (whose body never ran), a forgotten return. Recording it as an outcome
    would raise in the worker and leave the step running, with no reason, for a lease."""
    if isinstance(answer, Outcome):
        return answer
    what = type(answer).__name__
    return Failed(f"the {step.kind} executor returned a {what} object, not an outcome")


# SQLSTATEs of a session ended under its client: connection_exception (class 08),
# admin_shutdown, crash_shutdown, cannot_connect_now.
SESSION_ENDED = ("08", "57P01", "57P02", "57P03")


def cut_off(worker_id: str, error: BaseException) -> Interrupted | None:
    """A step whose database connection died under it (Postgres restarted mid-step) did not
    fail: like a worker told to stop, it goes back at once, its attempt `interrupted`, neither
    spending one of its attempts nor counting toward its kind's breaker. Only a connection
    now broken (or dropped by Django, whose rollback on it failed) or a session-ended code
    counts: a statement timeout or a lock wait is an OperationalError too."""
    if not isinstance(error, DISCONNECTS):
        return None
    raw = django_connection.connection
    state = getattr(error.__cause__, "sqlstate", None) or getattr(error, "sqlstate", None)
    if raw is not None and not raw.closed and not (state or "").startswith(SESSION_ENDED):
        return None
    said = " ".join(str(error).split())[:200]
    return Interrupted(f"worker {worker_id} lost the database mid-step: {said}")


def crashed(step: Step, error: BaseException) -> Failed:
    """The reason is one line, for people; the traceback (redacted) goes to the worker's log.
    A deadlock's victim is marked as such: the database picked it, the kind did not fail.
    SystemExit and KeyboardInterrupt count too: a worker's stop signals raise StepInterrupted
    (missions.shutdown), so these came from the handler's own code (a library's sys.exit()),
    and would otherwise end the worker with the step left running, no reason given."""
    log.error("S%s %s crashed: %s", step.id, step.kind, redact_text(traceback.format_exc()))
    detail = " ".join("".join(traceback.format_exception_only(error)).split())
    cause = error.__cause__ if isinstance(error, DatabaseError) else error
    return Failed(detail[:500], contended=getattr(cause, "sqlstate", None) in CONTENTION)


def unstorable(step: Step, error: BaseException) -> Failed:
    """A success whose recording the database (or JSON) refused: the step's failure, saying
    why. The executor made the outcome, so it is the kind's fault, as a crash is."""
    log.error("S%s %s: its outcome could not be stored: %s", step.id, step.kind, error)
    detail = " ".join(f"{type(error).__name__}: {error}".split())
    return Failed(f"its outcome could not be stored: {detail}"[:500])
