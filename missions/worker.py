"""A worker session: claim, run and record steps until a deadline, woken by LISTEN/NOTIFY.

Sessions are bounded (nothing loops forever): django-q2 starts them on a schedule into a fixed
number of slots, and `manage.py work` runs one in the foreground.
"""

import contextlib
import gc
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field

import psycopg
from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.db import connection as django_connection

from missions import deadlines, execution
from missions.binding import refusal_if_changed
from missions.crawl import load_extractor
from missions.executors import Blocked, Interrupted, Succeeded, lookup
from missions.models import Step, Worker
from missions.recovery import release_steps_held_by
from missions.shutdown import STOP, StepInterrupted
from missions.staleness import stale_outcome
from missions.step_crashes import answer_of, crashed, cut_off, unstorable
from missions.wake import wake_external_agents
from opscore.db import DISCONNECTS, Channel

log = logging.getLogger(__name__)
CHANNEL = Channel.STEPS
LIVENESS_EVERY = 30.0
KEEPER_TICK = 1.0  # deadlines are checked this often; leases renewed every third of one


class LeaseKeeper:
    """One thread per process tends the leases of every step this process is running, so a
    long step keeps its lease and a short one costs no thread of its own. Each tick it first
    asks whether the step ran past its kind's timeout (missions.deadlines): a hung handler
    then loses its step, and its worker, renewing nothing, stops looking alive."""

    def __init__(self):
        self._held: dict[int, StepRun] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def keep(self, run: "StepRun") -> None:
        with self._lock:
            self._held[run.step.id] = run
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._tend_forever, daemon=True)
                self._thread.start()

    def release(self, run: "StepRun") -> None:
        with self._lock:
            self._held.pop(run.step.id, None)

    def _tend_forever(self) -> None:
        while True:
            time.sleep(min(KEEPER_TICK, renew_every()))
            with self._lock:
                runs = list(self._held.values())
            for run in runs:
                if self.holds(run):  # not released since the snapshot: its step is not over
                    self.tend(run)

    def holds(self, run: "StepRun") -> bool:
        """A run released since a tick's snapshot is left alone: a late look at it would reach
        the database after its worker (or a test) had finished with the step."""
        with self._lock:
            return self._held.get(run.step.id) is run

    def tend(self, run: "StepRun") -> None:
        """One look at one running step: time it out past its deadline, else renew its lease
        once a third of it has passed. Either way a lease gone is the executor's cue to stop."""
        try:
            if deadlines.time_out_if_overdue(run.step.id, run.token, run.timeout):
                run.timed_out = True
                self._let_go(run)
            elif time.monotonic() - run.renewed_at >= renew_every():
                self._renew(run)
        except DatabaseError:
            log.warning("lease renewal for S%s failed; will retry", run.step.id)
            django_connection.close()

    def _renew(self, run: "StepRun") -> None:
        if execution.renew_lease(run.step.id, run.token):
            run.renewed, run.renewed_at = True, time.monotonic()
        else:
            self._let_go(run)

    def _let_go(self, run: "StepRun") -> None:
        run.lease_lost.set()
        self.release(run)


def renew_every() -> float:
    return max(settings.OPS_LEASE_SECONDS / 3, 0.2)


LEASES = LeaseKeeper()


class StepRun:
    """What an executor sees: the step, and whether its lease is still held. A long executor
    checks `lease_lost` between chunks of work and stops early when it is set."""

    _making = threading.Lock()  # two threads asking at once get one Event

    def __init__(self, step: Step, worker_id: str):
        self.step = step
        self.token = step.lease_token
        self.worker_id = worker_id
        self._lease_lost: threading.Event | None = None
        self.renewed = False  # then the worker's liveness row names this step
        self.renewed_at = time.monotonic()
        self.timeout = deadlines.step_timeout(step.kind)
        self.timed_out = False

    @property
    def lease_lost(self) -> threading.Event:
        """Made when first asked for (a long executor's check, the keeper letting go): most
        steps end before anyone asks, and an Event (a Condition and its lock) cost every step
        ~2 µs, a tenth of the worker's own Python around a short step."""
        if self._lease_lost is None:
            with self._making:
                if self._lease_lost is None:
                    self._lease_lost = threading.Event()
        return self._lease_lost


def run_step(step: Step, worker_id: str):
    """Execute one claimed step; any exception is that step's failure, never the worker's."""
    stale = stale_outcome(step) or refusal_if_changed(step)
    if stale is not None:
        return stale
    executor = lookup(step.kind)
    if executor is None:
        return Blocked(f"no executor registered for kind {step.kind!r}", code="no_executor")
    run = StepRun(step, worker_id)
    LEASES.keep(run)
    try:
        with STOP.region("step"):
            return answer_of(step, executor(run))
    except StepInterrupted as stop:
        return Interrupted(f"worker {worker_id} stopped mid-step: {stop}")
    except BaseException as error:  # a step's crash is recorded, not raised: see `crashed`
        return cut_off(worker_id, error) or crashed(step, error)
    finally:
        LEASES.release(run)
        if run.renewed:
            forget_current_step(worker_id, step.id)


def forget_current_step(worker_id: str, step_id: int) -> None:
    """Tidying only: a connection that died while the step ran (a Postgres restart during a
    step long enough to be renewed) must not take the step's outcome with it, or the outage
    recovery would hand back as never run a step that ran. The next beat clears it anyway."""
    with contextlib.suppress(DatabaseError, *DISCONNECTS):
        Worker.objects.filter(pk=worker_id, current_step=step_id).update(current_step=None)


def work_through(step: Step, worker_id: str, keep_going=lambda: True) -> Step | None:
    """Run a claimed step and record its outcome; returns the worker's next claimed step, which
    the fast path leases in the same round trip as the completion. Once `keep_going()` turns
    false (checked after the step ran) nothing more is claimed."""
    return record_and_claim(step, run_step(step, worker_id), worker_id, keep_going)


def record_and_claim(step: Step, outcome, worker_id: str, keep_going=lambda: True) -> Step | None:
    return storing(step, outcome, lambda said: _record_and_claim(step, said, worker_id, keep_going))


def storing(step: Step, outcome, write):
    """`write(outcome)`; a success the database cannot store (a NUL in its text, a value JSON
    has no form for) is written as the step's failure instead, nothing of it having been kept:
    raised, it would end the worker and leave the step running, with no reason, for a lease."""
    try:
        return write(outcome)
    except DISCONNECTS:
        raise
    except (DatabaseError, TypeError, ValueError) as error:
        if not isinstance(outcome, Succeeded):
            raise
        return write(unstorable(step, error))


def _record_and_claim(step: Step, outcome, worker_id: str, keep_going) -> Step | None:
    if not keep_going():
        execution.record_outcome(step.id, step.lease_token, outcome)
        return None
    writes = isinstance(outcome, Succeeded) and (
        outcome.effects or outcome.artifacts or outcome.unless_switched
    )
    if isinstance(outcome, Succeeded) and not writes:
        return execution.complete_and_claim_next(step, outcome, worker_id)
    execution.record_outcome(step.id, step.lease_token, outcome)
    return execution.claim_next_step(worker_id)


def handle_one_step(worker_id: str) -> bool:
    """Claim, run and record one step. Returns whether there was one."""
    step = execution.claim_next_step(worker_id)
    if step is None:
        return False
    outcome = run_step(step, worker_id)
    storing(step, outcome, lambda said: execution.record_outcome(step.id, step.lease_token, said))
    return True


_process_prepared = False


def prepare_worker_process() -> None:
    """Pay a worker process's one-time costs before its first step, not during it: import the
    crawler's extractor (trafilatura, ~0.25 s, which no other process needs), then freeze what
    start-up allocated so the cyclic GC stops re-scanning Django's long-lived objects between
    steps."""
    global _process_prepared
    if _process_prepared:
        return
    load_extractor()
    gc.freeze()
    _process_prepared = True


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def connect_listener() -> psycopg.Connection:
    params = django_connection.get_connection_params()
    params = {k: v for k, v in params.items() if k not in ("cursor_factory", "context")}
    listener = psycopg.connect(**params, autocommit=True)
    listener.execute(f"LISTEN {CHANNEL}")
    return listener


@dataclass
class SessionReport:
    worker_id: str
    steps: int = 0
    reconnects: int = 0
    errors: list[str] = field(default_factory=list)


class WorkerSession:
    def __init__(
        self,
        worker_id: str | None = None,
        seconds: float = 60.0,
        idle_poll=5.0,
        stop_event=None,
        until_idle=False,
    ):
        self.worker_id = worker_id or default_worker_id()
        self.until_idle = until_idle  # end the session the first time nothing is claimable
        self.stop_event = stop_event  # set by a signal (missions.shutdown): finish, then stop
        self.deadline = time.monotonic() + seconds
        self.idle_poll = idle_poll
        self.listener = None
        self.report = SessionReport(self.worker_id)
        self._last_beat = 0.0
        self._steps_since_beat = 0
        self.claimed: Step | None = None  # leased to us already: must be run before we leave
        self.unrecorded = None  # (step, outcome) whose recording the database did not take
        self.outage = False

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def _keep_going(self) -> bool:
        stopped = self.stop_event is not None and self.stop_event.is_set()
        return self.remaining() > 0 and not stopped

    def run(self) -> SessionReport:
        """SIGINT or SIGTERM (Ctrl-C on `manage.py work`; the supervisor on shutdown) lets the
        current step finish within the grace, then ends the session (missions.shutdown)."""
        prepare_worker_process()
        restore = lambda: None  # noqa: E731
        if self.stop_event is None and threading.current_thread() is threading.main_thread():
            restore, self.stop_event = STOP.install(), STOP.requested
        ended = False  # an exception out of the loop is a crash: the row must go stale
        try:
            while self._keep_going() or self.claimed or (self.unrecorded and not STOP.forced):
                self._cycle()
            ended = True
        finally:
            self._close_listener()
            with contextlib.suppress(*DISCONNECTS):
                self._beat(now=True, stopping=ended)
            restore()
        return self.report

    def _cycle(self) -> None:
        try:
            self._ensure_listener()
            if self.outage:
                self._settle_after_outage()
            self._beat()
            step = self.claimed or execution.claim_next_step(self.worker_id)
            self.claimed = None
            if step is not None:
                self._work_through(step)
                return
            if self.until_idle:
                self.deadline = time.monotonic()
                return
            wake_external_agents()  # an external agent's new job woke us too: pass it on
            self._wait_for_work()
        except DISCONNECTS as error:
            self._recover(error)

    def _work_through(self, step: Step) -> None:
        self.unrecorded = (step, run_step(step, self.worker_id))
        self.claimed = record_and_claim(*self.unrecorded, self.worker_id, self._keep_going)
        self.unrecorded = None
        self._count_step()

    def _count_step(self) -> None:
        """A step ran (its outcome recorded now, or after an outage: `_settle_after_outage`)."""
        self.report.steps += 1
        self._steps_since_beat += 1

    def _recover(self, error) -> None:
        """The database went away (restart, network): drop connections, wait a second,
        reconnect. What we held is settled once it answers again (`_settle_after_outage`)."""
        self.claimed = None
        self.outage = True
        self.report.reconnects += 1
        self.report.errors = [*self.report.errors[-19:], str(error).strip()[:200]]
        log.warning("worker %s lost the database: %s", self.worker_id, error)
        self._close_listener()
        close_old_connections()
        django_connection.close()
        time.sleep(1.0 if self.unrecorded else min(1.0, max(self.remaining(), 0)))

    def _settle_after_outage(self) -> None:
        """Record the outcome the outage swallowed (fenced by its lease token, so a lease
        lost meanwhile is refused and recorded), then release anything else still leased to
        us — a claim whose answer never arrived — rather than leave it a lease long and hold
        its agent's concurrency all that time."""
        if self.unrecorded is not None:
            step, outcome = self.unrecorded
            if not execution.attempt_closed(step.id, step.lease_token):  # the answer was lost
                execution.record_outcome(step.id, step.lease_token, outcome)
            self.unrecorded = None
            self._count_step()
        release_steps_held_by(self.worker_id, "lost the database before running it")
        self.outage = False

    def _ensure_listener(self) -> None:
        if self.listener is None or self.listener.closed:
            self.listener = connect_listener()

    def _close_listener(self) -> None:
        if self.listener is not None:
            with contextlib.suppress(psycopg.Error):
                self.listener.close()
            self.listener = None

    def _wait_for_work(self) -> None:
        timeout = max(min(self.idle_poll, self.remaining(), seconds_until_next_due()), 0.0)
        if timeout <= 0:
            return
        with contextlib.suppress(StepInterrupted), STOP.region("idle"):
            for _ in self.listener.notifies(timeout=timeout, stop_after=1):
                break

    def _beat(self, now: bool = False, stopping: bool = False) -> None:
        """The liveness row, written between steps every ~30 s rather than on every claim:
        the hot path stays free of it, and lease renewal covers a long step."""
        if not now and time.monotonic() - self._last_beat < LIVENESS_EVERY:
            return
        steps, self._steps_since_beat = self._steps_since_beat, 0
        Worker.beat(self.worker_id, steps, stopping=stopping)
        self._last_beat = time.monotonic()


def seconds_until_next_due() -> float:
    """How long until a backing-off step's run_after passes, by the database clock. Steps due
    but not claimable (dependencies, agent at capacity) are announced by NOTIFY instead."""
    with django_connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXTRACT(EPOCH FROM min(run_after) - statement_timestamp())"
            " FROM missions_step WHERE status = 'queued' AND run_after > statement_timestamp()"
        )
        value = cursor.fetchone()[0]
    return float("inf") if value is None else max(float(value), 0.0)
