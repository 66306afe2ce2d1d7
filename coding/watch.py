"""Watching a boxed command to its end: its output copied to a file up to the cap while it
runs (read and dropped past it, so the command never blocks on a full pipe), its process group
killed at the wall-clock deadline, and what it did (Finished) read back from that file and its
box's report. Its own module because a launch's first box (coding/sandbox.py's run_boxed) and
a chained check's box (coding/chain.py) are judged this one way, and every kill of a launch —
a cancel (coding/actions.py, coding/driver.py), a spare let go (coding/spare.py), a chained box
lost — goes through kill_process_group, which checks a recorded group still works in its run.
"""

import contextlib
import json
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import psutil
from django.conf import settings

from opscore.redaction import REDACTED, base64_cores, redact_text, spellings

OUTPUT_CAP = 64_000
CUT_MARKER = "\n[… output cut at 64 kB by opscore]\n"
GRACE = 2.0  # seconds the output may still drain once the command ended or was killed
# What a runner reads its report from at each end of a command's output (Finished.stream):
# a harness's report (Claude Code's `result`, the pass's cost) is the last thing it prints.
REPORT_WINDOW = 1 << 20
# How long past its time limit a box whose driver died lives on, by its init's own clock
# (coding/jail.py's orphan_deadline); generous: a pass's tests' box is built before the
# driver's look at the worktree, and their time counts from after it.
ORPHAN_SECONDS = 3600


@dataclass(frozen=True)
class Finished:
    exit_status: int | None  # None: killed at the wall-clock limit
    output: str
    seconds: float
    timed_out: bool = False
    output_path: str = ""
    output_cut: bool = False
    left_behind: int = 0  # processes still running when the command ended (then killed)
    notes: list = field(default_factory=list)  # refusals and kills, said on the run
    overflow: str = ""  # why what it left fails the pass (coding/box.py's disarm), if it does
    printed: int = 0  # bytes it printed, kept or not
    tail: bytes = field(default=b"", repr=False)  # its output's last REPORT_WINDOW bytes

    def stream(self) -> str:
        """What a runner reads its report from (coding/runners.py): the output whole, or its
        first and last REPORT_WINDOW bytes where it is longer — not `output`, its first 64 kB
        for display: Claude Code's stream ends with its `result`, the pass's cost, which a real
        session prints well past them, and a flood past the output cap (the tail is kept as it
        goes by). Masked as `output` is."""
        with open(self.output_path, "rb") as out:
            head = out.read(REPORT_WINDOW)
        start = self.printed - len(self.tail)  # where the tail starts in what it printed
        if start <= len(head):  # the two meet: the output whole
            joined = head[:start] + self.tail
        else:  # the tail's first line, cut, is no line of it
            joined = head + b"\n" + self.tail.partition(b"\n")[2]
        return unsaid(joined.decode(errors="replace").replace("\0", "\ufffd"))


def finished(process, log: Path, limits, seconds, pumped: "Pumped", notes, last=True) -> Finished:
    """What the command did, read back from its output file and its box's report."""
    timed_out, total, tail = pumped
    report = {}
    with contextlib.suppress(OSError, ValueError):
        report = json.loads(log.with_suffix(".json").read_text())
    log.with_suffix(".json").unlink(missing_ok=True)
    with open(log, "rb") as out:  # a NUL would be refused by Postgres wherever it is kept
        head = out.read(OUTPUT_CAP * 4).decode(errors="replace").replace("\0", "\ufffd")
    cut = total > limits.output_bytes
    if cut:
        notes.append(f"output cut at {limits.output_bytes} bytes (it printed {total})")
    left = int(report.get("left_behind", 0))
    if left:
        notes.append(f"killed {left} process(es) the command left running when it ended")
    if timed_out:
        notes.append(f"killed at the {limits.seconds:.0f}s wall-clock limit")
    status = None if timed_out else exit_status(process, report, last)
    head = unsaid(head)
    output = head if total <= OUTPUT_CAP else head[:OUTPUT_CAP] + CUT_MARKER
    done = Finished(status, output, seconds, timed_out, str(log), cut, left, notes)
    return replace(done, printed=total, tail=bytes(tail))


def unsaid(text: str) -> str:
    """What a boxed command printed, every known secret masked: the keys a harness is passed
    (OPS_CODING_PASS_ENV) too — an injected harness may print its own, or write it where its
    tests print it, percent-encoded or base64'd to pass a plain masking — before it reaches a
    run's rows, its events or a reviewer's prompt."""
    for name in settings.OPS_CODING_PASS_ENV:
        value = os.environ.get(name, "")
        if len(value) >= 8:
            for spelling in (*spellings(value), *base64_cores(value)):
                text = text.replace(spelling, REDACTED)
    return redact_text(text)


def exit_status(process: subprocess.Popen, report: dict, last: bool) -> int:
    """The launch's own status (its last box's command's); for a box with more to follow in
    its launch — the launch may have ended with the next one by now — the status its init
    reported, or 126 when the box never ran."""
    if last:
        return process.returncode
    code = report.get("exit", 126)
    return code if code >= 0 else 128 - code


class Pumped(NamedTuple):
    timed_out: bool
    total: int  # bytes printed
    tail: bytearray  # the last REPORT_WINDOW of them


def pump(process, out, limits, deadline: float, stream=None, last=True) -> Pumped:
    """Copy output to the file up to the cap (the rest is read and dropped, so the command
    never blocks on a full pipe; its last REPORT_WINDOW bytes are kept all the same). At the
    deadline the group is killed; once the command has ended, output drains for GRACE
    seconds at most — a child holding the pipe cannot hold the driver. `stream`: a chained
    box's own pipe rather than the launch's stdout; `last`: nothing more follows in the
    launch, so what is left of its group goes."""
    stream = stream or process.stdout
    fd, total, timed_out, ended, tail = stream.fileno(), 0, False, None, bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if ended is None and now >= deadline:
                kill_process_group(process.pid)
                timed_out, ended = True, now
            if ended is None and process.poll() is not None:
                ended = now
            if ended is not None and now >= ended + GRACE:
                break
            wait = min((ended + GRACE if ended else deadline) - now, 1.0)
            if not selector.select(timeout=max(wait, 0)):
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            keep = chunk[: max(limits.output_bytes - total, 0)]
            out.write(keep)
            total += len(chunk)
            tail += chunk
            del tail[:-REPORT_WINDOW]  # from the front: a bytearray moves no bytes for it
    stream.close()
    if last or timed_out:
        kill_process_group(process.pid)  # whatever of the group is left (unconfined runs)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=GRACE)
    return Pumped(timed_out, total, tail)


def kill_process_group(pgid: int | None, inside: str = "") -> bool:
    """SIGKILL a command's whole group (the box's outer process and its init: the kernel
    then kills the rest of the box); False if none. With `inside`, only if one of the group
    works in that directory: a recorded id whose process ended long ago may be reused."""
    if not pgid or (inside and not group_works_in(pgid, inside)):
        return False
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def group_works_in(pgid: int, directory: str) -> bool:
    root = os.path.realpath(directory)
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(process.pid) == pgid:
                cwd = os.path.realpath(process.cwd())
                if cwd == root or cwd.startswith(root + os.sep):
                    return True
    return False
