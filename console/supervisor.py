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
Children get SIGTERM if the supervisor itself dies, so none is left orphaned.
"""

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import psutil
from django.conf import settings

from opscore.actions import record_event

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
STOP_SECONDS = 20


@dataclass
class Child:
    name: str
    argv: list[str]
    kind: str  # "worker", "cluster" or "web" (the web server: if it ends, everything stops)
    process: subprocess.Popen | None = None
    watched: set[int] = field(default_factory=set)
    started_at: float = 0.0


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


def signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


class Supervisor:
    def __init__(self, children: list[Child], poll: float = POLL_SECONDS):
        self.children = children
        self.poll = poll
        self.stopping = False

    def run(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._stop_soon)
        for child in self.children:
            self._spawn(child)
        healthy = True
        while not self.stopping and healthy:
            time.sleep(self.poll)
            healthy = self.tick()
        self.stop()
        return 0 if self.stopping else 1

    def _stop_soon(self, signum, frame) -> None:
        self.stopping = True

    def tick(self) -> bool:
        """One look at every child; False when the web server ended (stop everything)."""
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                if child.kind == "web":
                    return False
                self._replace(child, f"{child.name} exited ({describe_exit(code)})")
            elif child.kind == "cluster":
                self._watch_cluster(child)
        return True

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
        child.process = subprocess.Popen(
            child.argv, start_new_session=True, preexec_fn=die_with_parent
        )
        child.watched, child.started_at = set(), time.monotonic()

    def _replace(self, child: Child, reason: str) -> None:
        self._spawn(child)
        kind = "cluster.restarted" if child.kind == "cluster" else "worker.replaced"
        log.warning("%s: %s", kind, reason)
        try:
            record_event(
                kind,
                f"Supervisor: {child.name} replaced",
                summary=reason,
                tags=["alert", "supervisor", child.kind],
                payload={"child": child.name, "pid": child.process.pid},
                actor="system:supervisor",
            )
        except Exception:  # the database may be the reason; the process is replaced anyway
            log.exception("could not record %s", kind)

    def _stop_child(self, child: Child, grace: float) -> None:
        signal_group(child.process, signal.SIGINT)
        try:
            child.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            signal_group(child.process, signal.SIGKILL)
            child.process.wait()

    def stop(self) -> None:
        """SIGINT to every child (workers finish their step, the cluster and the web server stop
        gracefully); whatever still runs after 20 s is killed with its whole process group."""
        running = [c for c in self.children if c.process and c.process.poll() is None]
        for child in running:
            signal_group(child.process, signal.SIGINT)
        deadline = time.monotonic() + STOP_SECONDS
        for child in running:
            try:
                child.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:  # steps it held are reaped when leases expire
                signal_group(child.process, signal.SIGKILL)
                child.process.wait()


def describe_exit(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"
