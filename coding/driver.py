"""Who drives which coding run. A driver holds a Postgres session lock on the run it drives, so
a driver that dies (SIGKILL, a lost box) lets go of it with its connection, and the next driver
adopts the run: it kills whatever the dead driver's harness left in its process group and
resumes from a recovered worktree.

Which run may start is decided under one advisory lock against the WIP limits — overall
(coding_policy.max_running), per repository (max_concurrent_runs) and per agent — so ten runs
submitted at once cannot all start; the rest wait `queued` and are counted.
"""

import contextlib
import functools
import logging
import os
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass

from django.db import close_old_connections, connection, transaction
from django.db.models import Count, F

from coding.actions import put_away, transition
from coding.approvals import merge, merge_ready, refuse_merge
from coding.executor import wake_step_of
from coding.loop import drive
from coding.models import ACTIVE, CodingIteration, CodingRun, RunStatus
from coding.spare import keep, start_spare, take_spare
from coding.switches import held_reason, switched_off
from coding.watch import kill_process_group
from opscore.actions import record_event
from opscore.compiled import compiled_join, joined
from opscore.db import DISCONNECTS
from opscore.models import Policy
from opscore.stopping import install as install_stop_handler

log = logging.getLogger(__name__)

RUN_LOCK = 0x0C0D1  # first key of the two-key session lock; the run id is the second


def hold(run_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [RUN_LOCK, run_id])
        return cursor.fetchone()[0]


def let_go(run_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [RUN_LOCK, run_id])


# The dispatcher's fixed reads, run on every turn of every driver (most turns find nothing):
# each compiled once per process, since compiling one cost more than running it.
READS = {
    "merge": lambda: merge_ready().values_list("id", flat=True)[:1],
    "active": lambda: CodingRun.objects.active().order_by("id").values_list("id", flat=True)[:50],
    "busy": lambda: CodingRun.objects.active().values_list("repository_id", "agent_id"),
    "waiting": lambda: CodingRun.objects.startable().values_list("id", flat=True)[:1],
}


@functools.cache
def compiled(name: str) -> tuple[str, tuple]:
    return READS[name]().query.sql_with_params()


def read(name: str) -> list[tuple]:
    text, params = compiled(name)
    with connection.cursor() as cursor:
        cursor.execute(text, params)
        return cursor.fetchall()


@functools.cache
def looking() -> tuple[str, tuple]:
    (merge, m), (active, a), (waiting, w) = map(compiled, ("merge", "active", "waiting"))
    (switches, s), (caps, c) = map(Policy.objects.reading, ("lane_switches", "coding_policy"))
    text = f"SELECT ({switches}), ({caps}), ({merge}), ARRAY({active}), EXISTS({waiting})"
    return text, (*s, *c, *m, *a, *w)


@dataclass(frozen=True)
class Turn:
    """What a turn reads before it picks, in one statement rather than a round trip each:
    whether the lane is paused, the coding policy in force, the approved merge to do, the
    active runs, whether any run waits."""

    paused: bool
    policy: object
    merging: int | None
    active: list[int]
    waiting: bool


def look() -> Turn:
    text, params = looking()
    with connection.cursor() as cursor:
        cursor.execute(text, params)
        switches, caps, merging, active, waiting = cursor.fetchone()
    paused = not Policy.objects.parsed("lane_switches", switches).is_running("coding")
    policy = Policy.objects.parsed("coding_policy", caps)
    return Turn(paused, policy, merging, active, waiting)


def busy() -> tuple[int, Counter, Counter]:
    """Active runs: how many, by repository, by agent — from one read of the few active rows
    (at most the WIP limit's worth, under the dispatch lock), not a count and two GROUP BYs."""
    rows = read("busy")
    return len(rows), Counter(repo for repo, _ in rows), Counter(a for _, a in rows if a)


@transaction.atomic
def start_next(policy=None, group: int | None = None) -> CodingRun | None:
    """The oldest startable run the limits allow, now `running` and held by this driver.
    `policy`: the coding policy as the turn's look read it (read here without one). `group`:
    the process group of the launch its first pass will hand its box to (the dispatcher's
    spare), recorded by the move itself rather than by a statement of its own once the spec
    is handed over: a cancel or an adopting driver kills it only once it works in the run's
    worktree (coding/watch.py), as ever."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('opscore.coding.dispatch'))")
    policy = policy or Policy.objects.value("coding_policy")
    running, per_repo, per_agent = busy()
    if running >= policy.max_running:
        return None
    for run in startable():
        if per_repo.get(run.repository_id, 0) >= run.repository.max_concurrent_runs:
            continue
        if run.agent_id and per_agent.get(run.agent_id, 0) >= policy.max_running_per_agent:
            continue
        if not hold(run.id):
            continue
        launch = {"process_group": group} if group else {}
        if transition(run, RunStatus.RUNNING, "started within the WIP limits", **launch):
            return run
        let_go(run.id)
    return None


@functools.cache
def startable_read() -> tuple[str, tuple, int]:
    runs = CodingRun.objects.startable().select_related("repository").order_by("id")
    return compiled_join(runs[:100], "repository")


def startable() -> list[CodingRun]:
    """The oldest hundred startable runs, each with its repository (select_related): one
    statement compiled once per process, as the fixed reads are; its rows made into models
    as the ORM makes them (compiling it had cost three times what building them does)."""
    text, params, start = startable_read()
    with connection.cursor() as cursor:
        cursor.execute(text, params)
        rows = cursor.fetchall()
    return [joined(row, CodingRun, "repository", start, connection) for row in rows]


def adopt_orphan(active: list[int]) -> CodingRun | None:
    """An active run nobody holds (`active`: the turn's look): its driver died. Kill what
    its harness left, take it over — or hold it, when a switch thrown meanwhile (its agent
    disabled or drained) forbids the pass it would launch next."""
    for run_id in active:
        if not hold(run_id):
            continue  # a live driver has it
        run = CodingRun.objects.filter(pk=run_id).first()  # as it is now that it is held
        if run is not None and run.status in ACTIVE:
            killed = kill_process_group(run.process_group, inside=run.worktree_path)
            left = "; its harness's process group was killed" if killed else ""
            CodingRun.objects.filter(pk=run.pk).update(process_group=None)
            record_lost_pass(run)
            held = switched_off(run)
            if held:
                transition(run, RunStatus.BLOCKED, held_reason(run, held))
            elif transition(run, RunStatus.RUNNING, f"adopted after its driver was lost{left}"):
                return run
        let_go(run_id)
    return None


def record_lost_pass(run: CodingRun) -> None:
    """The pass a dead driver was in the middle of counts against the caps (a harness that
    kills its driver every time must not loop forever) and gets its row, saying so."""
    if run.status == RunStatus.RUNNING:
        CodingRun.objects.filter(pk=run.pk).update(iteration=F("iteration") + 1)
        run.refresh_from_db()
    CodingIteration.objects.get_or_create(
        run=run,
        number=run.iteration,
        defaults={"prompt": run.prompt_input[:5000], "verdict": "lost with its driver"},
    )


def drive_one() -> dict:
    """The coding lane's loop as the lane contract sees it (opscore.lanes): the lane switch
    read with the turn's look, not by a statement of its own before it."""
    turn = look()
    return {"paused": "coding"} if turn.paused else {"ran": handle_one_run(turn)}


def handle_one_run(turn: Turn | None = None) -> bool:
    """One unit of the coding lane's work — a merge, an orphan, or the next run — driven to a
    resting state. Returns whether there was any. A paused coding lane does none: nothing
    merges, starts or is adopted until the pause ends. `turn`: the look read already."""
    turn = turn or look()
    if turn.paused:
        return False
    merging = turn.merging
    ready = CodingRun.objects.filter(pk=merging).first() if merging is not None else None
    if ready is not None:
        merge_or_refuse(ready)
        return True
    spare, run = take_spare() or early_spare(turn.waiting), None
    try:
        group = spare.process.pid if spare is not None else None
        run = adopt_orphan(turn.active) or start_next(turn.policy, group)
    finally:
        if run is None:
            keep(spare)  # waits for the next run
    if run is None:
        return False
    try:
        drive(run, spare)
    except DISCONNECTS:  # the database went, not the run: it is adopted once it is back
        raise
    except Exception as error:  # a run's crash is the run's failure, never the driver's
        transition(run, RunStatus.FAILED, f"the driver hit {crash_line(error)}")
    finally:
        with contextlib.suppress(*DISCONNECTS):  # a lost session let go of it already
            let_go(run.id)
    tidy(run, reread=False)  # as its last move (or the failure's) read it back
    wake_step_of(run)
    return True


def early_spare(waiting: bool):
    """A box builder for the run about to start, when no spare waits already (a driver's
    first run): started before the dispatch decides which run (its interpreter starts while
    the run is picked and its worktree provisioned), when one waits at all. A run that then
    cannot start leaves it waiting for the next (coding/spare.py keeps it), so a queue held
    back by its limits does not start and kill a builder on every idle turn."""
    return start_spare() if waiting else None


def crash_line(error: Exception) -> str:
    return "".join(traceback.format_exception_only(error)).strip()[:1500]


def merge_or_refuse(run: CodingRun) -> None:
    try:
        merge(run)
    except Exception as error:  # e.g. the repository vanished: the approval is spent, said why
        refuse_merge(run, f"the merge hit {crash_line(error)}")
    tidy(run)


def tidy(run: CodingRun, reread: bool = True) -> None:
    """An ended run's disk put away (coding.actions.put_away); a run waiting for review keeps
    its tree until the heartbeat sets it aside (coding/duties.py), off the run's own path.
    `reread=False`: the run is as its last move wrote it (a cancel since cleans up itself)."""
    if reread:
        run.refresh_from_db()
    put_away(run)


def wip() -> dict:
    """What the Stage and the CLI count: running against the limit, queued by repository."""
    queued = CodingRun.objects.filter(status=RunStatus.QUEUED)
    by_repo = dict(queued.values_list("repository__name").annotate(n=Count("id")).order_by())
    limit = Policy.objects.value("coding_policy").max_running
    return {"running": CodingRun.objects.active().count(), "limit": limit, "queued": by_repo}


def drive_for(seconds: float, idle_pause: float = 2.0) -> int:
    """A bounded driver session (the supervisor starts the next): work while there is any,
    pause when there is none, stop at the deadline or on SIGTERM/SIGINT (a second one stops
    at once). The database going away (a Postgres restart) is waited out here, with growing
    pauses, rather than by dying into a restart storm; the outage is recorded once it is back.
    Returns units done."""
    deadline, done, stopping = time.monotonic() + seconds, 0, stop_on_signals()
    outage = Outage()
    while not stopping.is_set() and time.monotonic() < deadline:
        try:
            close_old_connections()
            outage.record_end()
            worked = handle_one_run()
        except DISCONNECTS as error:
            connection.close()
            stopping.wait(outage.next_pause(error))
            continue
        done += worked
        if not worked:
            stopping.wait(idle_pause)
    return done


def stop_on_signals() -> threading.Event:
    stopping = threading.Event()

    def stop(signum, frame):
        if stopping.is_set():
            raise KeyboardInterrupt  # the second signal: manage.py exits quietly
        stopping.set()

    install_stop_handler(stop)
    return stopping


class Outage:
    """A driver's database outage: its pauses grow 1, 2, 4 … 30 s; its end is an event."""

    def __init__(self):
        self.attempts, self.first_error, self.began = 0, "", 0.0

    def next_pause(self, error) -> float:
        if not self.attempts:
            self.first_error, self.began = str(error).strip()[:300], time.monotonic()
        self.attempts += 1
        log.warning("coding driver lost the database (attempt %s): %s", self.attempts, error)
        return min(2.0 ** (self.attempts - 1), 30.0)

    def record_end(self) -> None:
        if not self.attempts:
            return
        record_event(
            "coding.driver.reconnected",
            "Coding driver: the database is back",
            summary=f"lost it for {time.monotonic() - self.began:.0f}s over {self.attempts} "
            f"attempt(s): {self.first_error}; a run it was driving is adopted",
            tags=["coding", "driver", "outage"],
            payload={"attempts": self.attempts, "pid": os.getpid()},
            actor="system:coding",
        )
        self.attempts = 0
