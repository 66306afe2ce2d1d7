"""Keep the system's processes running, and replace whatever dies.

django-q2 hosts the timers (heartbeat, sweep, standing orders, roundtable). Its cluster cannot
survive the death of one of its own processes: its workers read one multiprocessing queue whose
read lock (a SemLock) an idle worker holds while it waits for a task, so a worker SIGKILLed
while idle leaves that lock held for good, and every worker the cluster spawns after it waits on
it — no task runs again (seen with py-spy: every reincarnated worker sits in SemLock.__enter__
inside Queue.get). Nothing inside the cluster can release that lock, so when any process of the
cluster dies the supervisor restarts the cluster whole, with a new queue, and records
`cluster.restarted`.

Step workers do not run in that queue at all: one process per slot (`manage.py work --slot N`),
replaced within a second of dying (`worker.replaced`); nor does the outbox's deliverer
(`manage.py deliver`), so no outside channel's stall reaches a step worker or the cluster.
The steps a dead worker held are released at once (attempt `lost`), not a lease later: a step
that kills its worker every time must not hold its agent's concurrency, and its worker's slot,
for a lease each time. A child that dies soon after starting without having held a step (the
database is down, a broken install) is restarted after a growing pause instead of in a storm.
Every few seconds the supervisor also releases the steps of workers nobody saw die: leases run
out, liveness rows gone stale (a whole machine lost with its supervisor). A worker of its own
that is alive but stuck — its liveness row not advanced for OPS_WORKER_STALE_SECONDS by the
database clock, as when a step's handler hangs past its timeout and the lease keeper stops
renewing (missions.deadlines) — is killed with its process group and replaced
(`worker.replaced`, payload `stuck`).

Shutdown (SIGTERM or SIGINT): children get SIGTERM (the cluster's own process only, see
ask_to_stop: it lets a running timer task finish, and an idle cluster stops at once); workers
give a running step OPS_SHUTDOWN_GRACE_SECONDS, then hand it back (missions.shutdown). What
still runs a few seconds after the grace is killed with its process group, and a killed worker's
steps are handed back by the supervisor. A second signal cuts the grace short: everything is
down within 2 s. Children get SIGTERM if the supervisor itself dies, so none is left orphaned.
"""

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psutil
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models.functions import Now

from missions.models import AttemptOutcome, Worker
from missions.recovery import (
    reap_expired_leases,
    release_steps_of_process,
    release_steps_of_silent_workers,
)
from opscore import stopping
from opscore.actions import record_event
from opscore.db import DISCONNECTS

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
REAP_EVERY = 2.0  # seconds between looks for steps held by workers nobody saw die
STOP_SLACK = 3.0  # after the grace, for a worker to hand its step back and exit
HURRY_SECONDS = 1.5  # after a second signal, before SIGKILL
QUICK_DEATH = 10.0  # a child that dies sooner than this, holding no step, is restarted later


@dataclass
class Child:
    name: str
    argv: list[str]
    kind: str  # "worker", "cluster" or "web" (the web server: if it ends, everything stops)
    process: subprocess.Popen | None = None
    watched: set[int] = field(default_factory=set)
    started_at: float = 0.0
    restart_at: float | None = None  # dead, waiting out a pause before its restart
    quick_deaths: int = 0
    # The database's clock when this process started: a liveness row last seen before it is a
    # previous process's with the same pid, never this one's.
    spawned_db_at: datetime | None = None


def die_with_parent() -> None:
    """Runs in the child before exec: ask Linux for SIGTERM when the supervisor dies."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def standard_children(web: list[str] | None = None) -> list[Child]:
    python = [sys.executable, "manage.py"]
    children = [
        Child(f"worker-slot-{slot}", [*python, "work", "--slot", str(slot)], "worker")
        for slot in range(
            settings.OPS_WORKER_FIRST_SLOT,
            settings.OPS_WORKER_FIRST_SLOT + settings.OPS_WORKER_SLOTS,
        )
    ]
    children += [
        Child(f"coding-driver-{n}", [*python, "coding", "drive"], "worker")
        for n in range(settings.OPS_CODING_DRIVERS)
    ]
    children.append(Child("outbox-deliverer", [*python, "deliver"], "worker"))
    children.append(Child("qcluster", [*python, "qcluster"], "cluster"))
    if web:
        children.append(Child("web", web, "web"))
    return children


def cluster_processes(pid: int) -> set[int] | None:
    """The cluster's sentinel and its direct children (workers, monitor, pusher), or None when
    the tree could not be read this time. Deeper processes belong to a task (a subprocess it
    ran) and may come and go."""
    found = set()
    try:
        for sentinel in psutil.Process(pid).children():
            found.add(sentinel.pid)
            found.update(p.pid for p in sentinel.children() if p.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:  # a process ended while we looked: judge it on the next tick
        return None
    return found


def restart_pause(quick_deaths: int) -> float:
    """0.5, 1, 2 … seconds, doubling with each death in a row, up to the operator's ceiling."""
    if not quick_deaths:
        return 0
    return min(0.5 * 2 ** (quick_deaths - 1), settings.OPS_RESTART_MAX_PAUSE_SECONDS)


def signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def ask_to_stop(child: Child) -> None:
    """SIGTERM a child's process group — but only the cluster's own process: django-q2's cluster
    stops by setting an event its sentinel waits on; the sentinel then lets each worker finish its
    task. A group SIGTERM kills the sentinel and its workers (SIGTERM is their default action:
    a running timer task is lost), and the dead sentinel, killed inside that event's wait, never
    acknowledges the event's notify_all: the cluster hangs in "stopping" until it is killed."""
    if child.kind != "cluster":
        signal_group(child.process, signal.SIGTERM)
        return
    with contextlib.suppress(ProcessLookupError):
        child.process.send_signal(signal.SIGTERM)


class Supervisor:
    def __init__(self, children: list[Child], poll: float = POLL_SECONDS):
        self.children = children
        self.poll = poll
        self.stopping = False
        self.hurry = False
        self._reaped_at = 0.0

    def run(self) -> int:
        stopping.install(self._stop_soon)
        for child in self.children:
            if not self.stopping:  # told to stop while starting: nothing to start
                self._spawn(child)
        healthy = True
        while not self.stopping and healthy:
            time.sleep(self.poll)
            healthy = self.tick()
        self.stop()
        return 0 if self.stopping else 1

    def _stop_soon(self, signum, frame) -> None:
        self.hurry = self.stopping
        self.stopping = True

    def tick(self) -> bool:
        """One look at every child; False when the web server ended (stop everything)."""
        for child in self.children:
            if child.restart_at is not None:
                if time.monotonic() >= child.restart_at:
                    child.restart_at = None
                    self._spawn(child)
                continue
            code = child.process.poll()
            if code is not None:
                if child.kind == "web":
                    return False
                died = f"exited ({describe_exit(code)})"
                self._replace(child, f"{child.name} {died}", died)
            elif child.kind == "cluster":
                self._watch_cluster(child)
        self._reap_now_and_then()
        return True

    def _reap_now_and_then(self) -> None:
        if time.monotonic() - self._reaped_at < REAP_EVERY:
            return
        self._reaped_at = time.monotonic()
        with quiet_database("reap"):
            reap_expired_leases()
            release_steps_of_silent_workers()
        with quiet_database("look for stuck workers"):
            for child in self.stuck_workers():
                self._replace_stuck(child)

    def stuck_workers(self) -> list[Child]:
        """Running workers of ours whose liveness row stopped advancing, by the database clock."""
        cutoff = Now() - timedelta(seconds=settings.OPS_WORKER_STALE_SECONDS)
        stuck = []
        for child in self.children:
            if child.kind != "worker" or child.restart_at or child.process.poll() is not None:
                continue
            child.spawned_db_at = child.spawned_db_at or database_now()
            mine = Worker.objects.filter(host=socket.gethostname(), pid=child.process.pid)
            silent = mine.filter(last_seen_at__lt=cutoff, last_seen_at__gte=child.spawned_db_at)
            if silent.exists():
                stuck.append(child)
        return stuck

    def _replace_stuck(self, child: Child) -> None:
        signal_group(child.process, signal.SIGKILL)
        child.process.wait()
        silent = f"was stuck (no liveness for {settings.OPS_WORKER_STALE_SECONDS}s) and was killed"
        self._replace(child, f"{child.name} {silent}", silent, stuck=True)

    def _watch_cluster(self, child: Child) -> None:
        current = cluster_processes(child.process.pid)
        if current is None:
            return
        lost = child.watched - current
        child.watched = current
        if lost:
            self._stop_child(child, grace=1)  # a stuck queue never drains: no long goodbye
            self._replace(child, f"cluster process(es) {sorted(lost)} died; its queue may be stuck")

    def _spawn(self, child: Child) -> None:
        child.spawned_db_at = None
        if child.kind == "worker":
            with quiet_database("read the clock"):  # else read on the next look for stuck ones
                child.spawned_db_at = database_now()
        child.process = subprocess.Popen(
            child.argv, start_new_session=True, preexec_fn=die_with_parent
        )
        child.watched, child.started_at = set(), time.monotonic()

    def _replace(self, child: Child, reason: str, died: str = "died", stuck=False) -> None:
        """Release what the dead child held, then start another at once — or after a pause
        when it died young holding nothing (a crash loop: the database is down, say)."""
        dead_pid = child.process.pid
        released = self._release(child, died) if child.kind == "worker" else 0
        lived = time.monotonic() - child.started_at
        child.quick_deaths = child.quick_deaths + 1 if lived < QUICK_DEATH and not released else 0
        pause = restart_pause(child.quick_deaths)
        if pause:
            child.restart_at = time.monotonic() + pause
            reason += f"; it died {child.quick_deaths} time(s) young: restarting in {pause:.1f}s"
        else:
            self._spawn(child)
        if released:
            reason += f"; {released} step(s) it held released"
        kind = "cluster.restarted" if child.kind == "cluster" else "worker.replaced"
        log.warning("%s: %s", kind, reason)
        payload = {"child": child.name, "dead_pid": dead_pid, "released": released, "stuck": stuck}
        payload["pid"], payload["pause_seconds"] = child.process.pid, pause
        with quiet_database(f"record {kind}"):  # the database may be the reason
            record_event(
                kind,
                f"Supervisor: {child.name} replaced",
                summary=reason,
                tags=["alert", "supervisor", child.kind],
                payload=payload,
                actor="system:supervisor",
            )

    def _release(self, child: Child, why: str, outcome=AttemptOutcome.LOST) -> int:
        with quiet_database(f"release the steps of {child.name}"):
            counts = release_steps_of_process(socket.gethostname(), child.process.pid, why, outcome)
            return sum(counts.values())
        return 0

    def _stop_child(self, child: Child, grace: float) -> None:
        signal_group(child.process, signal.SIGINT)
        try:
            child.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            signal_group(child.process, signal.SIGKILL)
            child.process.wait()

    def stop(self) -> None:
        """SIGTERM to every child; wait the grace and a little; kill what still runs with its
        process group and hand back the steps a killed worker held. A second signal while
        waiting sends SIGTERM again (workers cut their step short) and kills soon after."""
        running = [c for c in self.children if c.process and c.process.poll() is None]
        for child in running:
            ask_to_stop(child)
        deadline = time.monotonic() + settings.OPS_SHUTDOWN_GRACE_SECONDS + STOP_SLACK
        hurried = False
        while any(c.process.poll() is None for c in running) and time.monotonic() < deadline:
            if self.hurry and not hurried:
                hurried, deadline = True, time.monotonic() + HURRY_SECONDS
                for child in running:
                    ask_to_stop(child)
            time.sleep(0.05)
        for child in running:
            if child.process.poll() is None:
                signal_group(child.process, signal.SIGKILL)
                child.process.wait()
            if child.kind == "worker":  # one that handed its step back itself holds nothing
                self._release(child, "was stopped at shutdown", AttemptOutcome.INTERRUPTED)


@contextlib.contextmanager
def quiet_database(doing: str):
    """The supervisor outlives database outages: one warning line, no traceback, no crash."""
    try:
        yield
    except (DatabaseError, *DISCONNECTS) as error:
        log.warning("supervisor could not %s: %s", doing, str(error).strip()[:200])
        connection.close()


def database_now() -> datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")
        return cursor.fetchone()[0]


def describe_exit(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"
