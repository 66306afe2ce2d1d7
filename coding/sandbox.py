"""Running a harness (or a repository's test command) in a run's worktree, boxed in.

The process gets an allowlisted environment (none of Opscore's secrets, no database URL, no API
keys), its own process group (a timeout or a cancel kills everything it started), CPU, memory
and file-size limits, a wall-clock timeout, and output capped with a marker. A missing binary
is reported as such: the run is blocked, not failed.
"""

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

import psutil

ENV_ALLOWED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TERM")
OUTPUT_CAP = 64_000
CUT_MARKER = "\n[… output cut at 64 kB by opscore]\n"


@dataclass(frozen=True)
class Limits:
    seconds: float = 600
    cpu_seconds: int = 600
    memory_bytes: int = 2 * 1024**3
    file_bytes: int = 256 * 1024**2

    @classmethod
    def from_caps(cls, caps: dict) -> "Limits":
        """A run's caps (coding_policy at its start) as process limits."""
        seconds = caps.get("harness_timeout_seconds", 900)
        memory = caps.get("harness_memory_mb", 16384) * 1024**2
        return cls(seconds=seconds, cpu_seconds=2 * seconds, memory_bytes=memory)


@dataclass(frozen=True)
class Finished:
    exit_status: int | None  # None: killed at the wall-clock limit
    output: str
    seconds: float
    timed_out: bool = False


class HarnessMissing(LookupError):
    """The operator has not installed the harness this run names."""


def boxed_env(extra: dict | None = None) -> dict:
    """Only what a tool needs to run; `extra` is the harness's own key, when configured."""
    env = {k: os.environ[k] for k in ENV_ALLOWED if k in os.environ}
    return env | (extra or {})


def _limit(limits: Limits):
    def apply():
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))

    return apply


def capped(text: str) -> str:
    return text if len(text) <= OUTPUT_CAP else text[:OUTPUT_CAP] + CUT_MARKER


def run_boxed(
    argv: list[str], cwd: str, limits: Limits = Limits(), env=None, on_start=None
) -> Finished:
    """`on_start(pid)` hears the process group's id before any waiting, so another process (a
    cancel) can kill the group while this one blocks."""
    if not argv or shutil.which(argv[0], path=boxed_env().get("PATH")) is None:
        raise HarnessMissing(f"{argv[0] if argv else '(empty)'} is not installed or not on PATH")
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=boxed_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group
        preexec_fn=_limit(limits),
    )
    if on_start is not None:
        on_start(process.pid)
    try:
        output, _ = process.communicate(timeout=limits.seconds)
        return Finished(process.returncode, capped(output), time.monotonic() - started)
    except subprocess.TimeoutExpired:
        kill_group(process)
        output, _ = process.communicate()
        return Finished(None, capped(output or ""), time.monotonic() - started, timed_out=True)


def kill_group(process: subprocess.Popen) -> None:
    kill_process_group(process.pid)


def kill_process_group(pgid: int | None, inside: str = "") -> bool:
    """SIGKILL a harness's whole group (it was started as its own session); False if none.
    With `inside`, only if one of the group works in that directory: a recorded id whose
    process ended long ago may belong to someone else's group by now."""
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
