"""A pass's tests boxed in the same launch as its harness: the box builder's interpreter starts
once for both (about half a box start's price), the tests' box is built once the harness's is
gone, and its command starts once the driver has looked at what the harness left.

What the two boxes share is the launch's outer process and the worktree, nothing else. The
tests' box is a box like any other (coding/jail.py): new namespaces (PID, mount, network, IPC,
UTS), a new root, a fresh /tmp and a fresh HOME (an empty tmpfs), its own init and Landlock
domain. It is built only after the harness's init has exited, and with it every process the
harness left (the kernel empties a PID namespace whose init dies), so nothing the harness ran
is alive when the tests start. Its output goes to a pipe of its own that no process of the
harness's box ever holds (the launch closes it in the harness's branch before building the
box), so the harness cannot write into what the tests are judged by. The launch's outer
process is outside both boxes: root's (or Opscore's) and not in their PID namespaces, so a
box can neither see nor signal nor trace it.

The launch builds the tests' box while the driver looks (its command's process forked and
confined, waiting), and the command is exec'd only when the driver says go (a byte on a pipe
of its own, written by release()): the driver writes the harness's row (moving the run to
waiting-for-tests in the same statement) and looks for an escape before anything the harness
wrote runs again — the tests are the harness's code too, and could erase what the escape look
must find. A pass that ends before its tests (a cancel, a missing harness) closes that pipe
unwritten and kills the launch; the command never starts.
The box is not chained with egress (the tests have no network at all), unconfined, or after a
harness killed at its time limit: the check is boxed afresh.
"""

import contextlib
import os
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

from coding.box import box_spec, disarm
from coding.sandbox import Limits, boxed_env, slug
from coding.watch import GRACE, Finished, finished, kill_process_group, pump


@dataclass(eq=False)
class Chained:
    """A check waiting in a launch: its command and limits, then its pipe and its launch."""

    name: str
    argv: list
    limits: Limits
    stream: object = None  # the read end of its output pipe, once its box is in a launch
    go: object = None  # the write end of the pipe its launch waits on before building its box
    process: subprocess.Popen | None = None
    box: Path | None = None
    worktree: Path | None = None  # where its box writes (disarmed once it is gone)
    started: float | None = None  # when it was told go (its time limit counts from there)

    def spec(
        self, worktree: Path, home: Path, box: Path, ends=None, shared=None, ids=(None, None)
    ) -> dict:
        """Its box as a check's (a fresh HOME, no egress), writing to a pipe of its own, built
        once resume() says go. `ends`: the two pipes' (read, write, read, write) ends, made
        already (a spare launch's, coding/spare.py); made here otherwise. `shared`: the
        launch's read-only mounts (coding/box.py's shared_mounts, without egress), looked at
        once for both boxes. `ids`: the launch's uid/gid (coding/uids.py), its harness's."""
        read, write, wait, go = ends or (*os.pipe(), *os.pipe())
        self.stream = open(read, "rb", buffering=0)  # noqa: SIM115 — resume or drop closes it
        self.go = open(go, "wb", buffering=0)  # noqa: SIM115 — resume or drop closes it
        self.box, self.worktree = box, worktree
        variables = boxed_env() | {"HOME": str(home)}
        name = slug(self.name)
        how = (self.argv, worktree, home, box, self.limits, variables, None, True, name, shared)
        spec = box_spec(*how, ids=ids)
        return spec | {"out": write, "go": wait}

    def launched(self, process: subprocess.Popen) -> None:
        self.process = process

    def lost(self) -> None:
        """Its launch was killed before it: boxed afresh if it is still wanted."""
        drop(self)


def resume(item: Chained | None, on_start=None) -> Finished | None:
    """The chained check's outcome, pumped like run_boxed's; None when it has no launch (the
    caller boxes it afresh)."""
    if item is None or item.process is None:
        return None
    process, stream = item.process, item.stream
    item.process, item.stream = None, None  # resumed once: pump closes its pipe
    if on_start is not None:
        on_start(process.pid)  # the launch's group: a cancel kills the check with it
    release(item)
    log, started = item.box / f"{slug(item.name)}.log", item.started or time.monotonic()
    with open(log, "wb") as out:
        deadline = started + item.limits.seconds
        pumped = pump(process, out, item.limits, deadline, stream=stream)
    overflow = disarm([item.worktree])
    seconds = time.monotonic() - started
    done = finished(process, log, item.limits, seconds, pumped, [])
    return replace(done, overflow=overflow)


def release(item: Chained | None) -> None:
    """Tell the chained check's box to start its command (once): after the escape look."""
    if item is None or item.go is None:
        return
    with contextlib.suppress(OSError), item.go:  # a launch gone already: pump sees it end
        item.go.write(b"go")
    item.go, item.started = None, time.monotonic()


def drop(item: Chained | None) -> None:
    """A chained check that will not be resumed: its launch killed, its pipe closed."""
    if item is None:
        return
    if item.process is not None and item.process.poll() is None:
        kill_process_group(item.process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            item.process.wait(timeout=GRACE)
    for end in (item.stream, item.go):
        if end is not None:
            end.close()
    item.process, item.stream, item.go = None, None, None
