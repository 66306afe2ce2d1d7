"""Running a harness (or a repository's test, lint or acceptance command — code from the same
untrusted worktree) in a run's worktree, confined: every such process starts through
`run_boxed`, which builds a box with coding/jail.py.

In the box the command sees the system's programs read-only, its worktree, a private HOME and a
fresh /tmp writable, its run's view of the repository's git directory read-only (its own
branch and objects, coding/gitview.py), and nothing else: no Opscore
checkout, no .data (secrets, the database socket), no ~/.ssh, no other run. It has no network
(its own empty network namespace; a harness whose runner needs its model's API gets only the
hosts in OPS_CODING_EGRESS, through coding/egress.py's proxy), its own PID namespace (Opscore's
processes and their environments are invisible; when the pass ends every process it started
dies), an unprivileged uid when Opscore is root, rlimits on processes, memory, CPU and file
size, and only the environment variables its runner declares.

Output streams to a file capped at `Limits.output_bytes` (the driver never holds it whole), and
the driver is back within the time limit plus a few seconds whatever the command's children do
(both coding/watch.py).
Where the kernel cannot build the box the run is refused, unless the operator opted in to
unconfined runs (OPS_CODING_ALLOW_UNCONFINED), which is then said on the run.
"""

import contextlib
import functools
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from django.conf import settings

from coding import confine
from coding.box import (
    BOX_DIR,
    HOME_DIR,
    SOCKET,
    box_spec,
    disarm,
    hand_over,
    jail_command,
    jail_env,
    rlimits,
    shared_mounts,
    welcome,
)
from coding.egress import EgressProxy
from coding.egress import box_env as egress_env
from coding.gitview import real_path
from coding.reaping import Reaped
from coding.uids import NoFreeUid, Slot, claim, ids, runs_as
from coding.watch import CUT_MARKER, OUTPUT_CAP, Finished, Pumped, finished, pump, unsaid

ENV_ALLOWED = ("PATH", "LANG", "LC_ALL", "TERM")
BOX_ENV = {"PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": "/tmp"}


@dataclass(frozen=True)
class Limits:
    seconds: float = 600
    cpu_seconds: int = 600
    memory_bytes: int = 2 * 1024**3
    file_bytes: int = 256 * 1024**2
    processes: int = 256
    output_bytes: int = 16 * 1024**2
    tmp_bytes: int = 512 * 1024**2

    @classmethod
    def from_caps(cls, caps: dict) -> "Limits":
        """A run's caps (coding_policy at its start) as process limits."""
        seconds = caps.get("harness_timeout_seconds", 900)
        memory = caps.get("harness_memory_mb", 16384) * 1024**2
        output = caps.get("harness_output_bytes", cls.output_bytes)
        return cls(
            seconds=seconds, cpu_seconds=2 * seconds, memory_bytes=memory, output_bytes=output
        )


class HarnessMissing(LookupError):
    """The operator has not installed the harness this run names."""


class Unconfined(RuntimeError):
    """The box cannot be built here and the operator has not allowed unconfined runs."""


def boxed_env(extra: dict | None = None) -> dict:
    """Only what a tool needs to run; `extra` is what its runner declares (its own key)."""
    env = {k: os.environ[k] for k in ENV_ALLOWED if k in os.environ}
    return env | BOX_ENV | (extra or {})


def capped(text: str) -> str:
    return text if len(text) <= OUTPUT_CAP else text[:OUTPUT_CAP] + CUT_MARKER


def run_boxed(
    argv: list[str],
    cwd: str,
    limits: Limits = Limits(),
    env=None,
    on_start=None,
    name="harness",
    egress=(),
    fresh_home=False,
    then=(),
    spare=None,
    ready=None,
    meanwhile=None,
) -> Finished:
    """Run `argv` confined to the worktree `cwd`; its output goes to `<name>.log` beside the
    worktree. `on_start(pid)` hears the process group's id before any waiting, so another
    process (a cancel) can kill the group. `egress`: the (host, port) pairs it may reach
    through the proxy (coding/egress.py); none, and the box has no network at all.
    `fresh_home`: an empty HOME of its own rather than the run's (which the harness keeps
    from pass to pass): a check must see nothing an earlier command left there. `then`:
    checks to box in the same launch once this command's box is gone (coding/chain.py); not
    with egress, nor unconfined. `spare`: a box builder already started (coding/spare.py)
    to hand the box to rather than starting one; it has room for one chained check.
    `ready()`: called before the command starts — with a spare, while its box is built.
    `meanwhile()`: the driver's own work, done once the command is told to start, while it
    runs (its output waits in the pipe)."""
    refuse_missing(argv)
    worktree = Path(real_path(cwd))
    box, variables = box_folders(worktree, env, egress)
    log, chained = box / f"{slug(name)}.log", riding(then, egress, spare)
    with egress_door(egress) as door, open(log, "wb") as out:
        how = (argv, worktree, box, limits, variables, door, fresh_home, chained, log.stem)
        spawn = spawning(*how, spare=spare)
        running = start_launch(spawn, worktree, spare, chained, on_start, ready, meanwhile)
        pumped = running.pumped(out, limits)
        notes = spawn.notes + refusal_notes(door)
    overflow = disarm([worktree, Path(variables["HOME"])])  # its box is gone; a chained one waits
    return running.ended(log, limits, pumped, notes, overflow)


def refuse_missing(argv: list[str]) -> None:
    """Before any folder or box is made: a command that is not installed here is said as
    such (a harness's run blocks until the operator installs it), not as a failed launch."""
    if not argv or shutil.which(argv[0], path=boxed_env().get("PATH")) is None:
        raise HarnessMissing(f"{argv[0] if argv else '(empty)'} is not installed or not on PATH")


def riding(then, egress, spare) -> list:
    """The checks chained into this launch: none with egress (the tests have no network at
    all: they are boxed afresh, coding/chain.py), and one at most with a spare (it has room
    for one)."""
    chained = [] if egress else list(then)
    return chained[:1] if spare else chained


class Spawn(NamedTuple):
    """How spawning() says to start the command: `command` None hands the spec (`env`) to a
    spare; `pipes` are the chained boxes' write ends, the launch's to keep; `claim` the
    driver's uid claim (coding/uids.py), which the launch holds too and the driver keeps."""

    command: list[str] | None
    env: dict
    setup: object
    notes: list[str]
    pipes: list[int]
    claim: tuple[int, ...] = ()


@dataclass(frozen=True)
class Launch:
    """A launch under way: what run_boxed reads of it once its command has ended."""

    process: subprocess.Popen
    started: float  # monotonic, just before the launch: its time limit counts from here
    last: bool  # no chained box follows in it: the output ends with this command
    chained: list

    def pumped(self, out, limits: Limits) -> Pumped:
        """Its output into `out` until it ends or its time is up."""
        return pump(self.process, out, limits, self.started + limits.seconds, last=self.last)

    def ended(self, log: Path, limits: Limits, pumped, notes: list[str], overflow) -> Finished:
        """How the command ended; a chained check that its timeout killed with it is lost."""
        for item in self.chained if pumped.timed_out else ():
            item.lost()  # killed with the launch
        seconds = time.monotonic() - self.started
        done = finished(self.process, log, limits, seconds, pumped, notes, last=self.last)
        return replace(done, overflow=overflow)


def start_launch(
    spawn: Spawn, worktree: Path, spare, chained, on_start, ready, meanwhile
) -> Launch:
    """The launch, each step in the order the driver relies on: `ready()` before the command
    can start (with a spare, while its box is built); the chained checks and `on_start` told
    of the process group before any waiting, so a cancel can kill it whole; a spare's command
    told to go; then the driver's own work (`meanwhile`) while the command runs."""
    if ready is not None and spawn.command is not None:
        ready()
    started = time.monotonic()
    process = launch(spawn, worktree, spare)
    for item in chained if spawn.pipes else ():
        item.launched(process)
    if on_start is not None:
        on_start(process.pid)
    if spawn.command is None:
        spare.go(ready)
    if meanwhile is not None:
        meanwhile()
    return Launch(process, started, last=not spawn.pipes, chained=chained)


def box_folders(worktree: Path, env, egress) -> tuple[Path, dict]:
    """The box's log folder and the run's HOME beside the worktree; the command's variables."""
    box, home = worktree.parent / BOX_DIR, worktree.parent / HOME_DIR
    box.mkdir(exist_ok=True), home.mkdir(exist_ok=True)
    welcome(home)
    return box, boxed_env(env) | {"HOME": str(home)} | (egress_env() if egress else {})


def launch(spawn: Spawn, worktree: Path, spare) -> subprocess.Popen:
    """The launch: the spare handed its spec when the spawn has no command, else a new process."""
    try:
        if spawn.command is None:
            return spare.launch(spawn.env)
        return Reaped(
            spawn.command,
            cwd=worktree,
            env=spawn.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a cancel kills it whole
            preexec_fn=spawn.setup,
            pass_fds=[*spawn.pipes, *spawn.claim],
        )
    finally:
        for fd in spawn.pipes:  # the launch's now: a chained box's output ends with that box
            os.close(fd)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower())[:40]


SHORT_TMP = "/tmp" if os.path.isdir("/tmp") else None


@contextlib.contextmanager
def egress_door(allow):
    """The run's egress proxy, listening while the command runs; None without egress."""
    if not allow:
        yield None
        return
    # Not in the run's folder: a Unix socket's path must stay under 108 bytes.
    folder = Path(tempfile.mkdtemp(prefix="opscore-egress-", dir=SHORT_TMP))
    try:
        folder.chmod(0o755)  # the box's unprivileged uid walks to the socket
        with EgressProxy(folder / SOCKET, list(allow)) as proxy:
            yield proxy
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def refusal_notes(door: EgressProxy | None) -> list[str]:
    named, more = door.refusals() if door is not None else ([], 0)
    notes = [f"egress refused: {d['target']} ({d['reason']})" for d in named]
    if more:
        notes.append(f"egress refused {more} more times (only the first {len(named)} are named)")
    return [unsaid(note) for note in notes]  # a target is the harness's text, its key too


def spawning(
    argv, worktree: Path, box: Path, limits, variables, door, fresh, chained, report, spare=None
):
    """How to start the command: through the box — or, where it cannot be built, refused
    unless the operator opted in to unconfined runs (then said in the notes). With the box,
    the `chained` checks' boxes follow in the same launch, each with its own output pipe
    (the write ends returned, for the launch to keep). With a `spare`, no command: the
    spec itself, for the spare (its pipes are the spare's slot)."""
    missing = confinement_missing()
    if missing and not settings.OPS_CODING_ALLOW_UNCONFINED:
        raise Unconfined(f"refused: the sandbox cannot be built here ({missing})")
    if missing:  # the machine's whole network, so no proxy address to point at
        note = f"ran UNCONFINED (OPS_CODING_ALLOW_UNCONFINED): {missing}"
        plain = {k: v for k, v in variables.items() if k not in egress_env()}
        return Spawn(argv, plain, limits_in_child(limits), [note], [])
    egress = door.path.parent if door is not None else None
    home = Path(variables["HOME"])
    shared = shared_mounts(worktree, egress)  # a launch with egress chains nothing
    slot = spare.claim if spare is not None else claimed()
    spec = box_spec(
        argv, worktree, home, box, limits, variables, egress, fresh, report, shared, ids(slot)
    )
    ends = spare.ends() if spare and chained else None
    spec["then"] = [item.spec(worktree, home, box, ends, shared, ids(slot)) for item in chained]
    hand_over([worktree, home], spec["uid"], spec["gid"])
    pipes = [fd for then in spec["then"] for fd in (then["out"], then["go"])]
    spec |= {"slot": slot.fd} if slot is not None else {}  # the launch holds it, never execs it
    if spare is not None:
        return Spawn(None, spec, None, [], pipes)
    return Spawn(jail_command(), jail_env(spec), None, [], pipes, (slot.fd,) if slot else ())


def claimed() -> Slot | None:
    """This driver's uid of the pool (coding/uids.py); none free refuses the run, saying so."""
    try:
        return claim()
    except (NoFreeUid, OSError) as error:
        raise Unconfined(f"refused: no sandbox uid could be claimed ({error})") from error


def limits_in_child(limits: Limits):
    """rlimits for an unconfined run (the box sets its own inside)."""

    def apply():
        for name, value in rlimits(limits).items():
            kind = getattr(resource, f"RLIMIT_{name.upper()}")
            resource.setrlimit(kind, (value, value))

    return apply


@functools.cache
def confinement() -> dict:
    """Which confinement this machine gives, each with why not (cached per process)."""
    abi = confine.landlock_abi()
    found = {
        "landlock": {"ok": abi >= 1, "abi": abi, "why": "" if abi else "no Landlock in kernel"},
        "tcp_rules": {"ok": abi >= 4, "why": "" if abi >= 4 else "Landlock ABI < 4"},
        "scoping": {"ok": abi >= 6, "why": "" if abi >= 6 else "Landlock ABI < 6"},
        "runs_as": runs_as(),
    }
    found["namespaces"] = probe_box(abi)
    return found


def probe_box(abi: int) -> dict:
    """Build a real box around `true`: user/mount/PID/network namespaces and the new root."""
    if abi < 1:
        return {"ok": False, "why": "not tried: the box needs Landlock"}
    with tempfile.TemporaryDirectory(prefix="opscore-box-probe-") as scratch:
        tree, home, box = (Path(scratch, name) for name in ("tree", "home", BOX_DIR))
        for path in (tree, home, box):
            path.mkdir()
        try:
            done = probe_run(tree, home, box)
        except (OSError, subprocess.TimeoutExpired, NoFreeUid) as error:
            return {"ok": False, "why": f"the box did not start: {error}"}
        if done.returncode != 0:
            return {"ok": False, "why": (done.stderr.strip() or f"exit {done.returncode}")[-300:]}
    return {"ok": True, "why": ""}


def probe_run(tree: Path, home: Path, box: Path) -> subprocess.CompletedProcess:
    """`true` in a box of its own, as a run's would be, on a uid of the pool (coding/uids.py)."""
    slot = claim()
    spec = box_spec(["true"], tree, home, box, Limits(), boxed_env(), ids=ids(slot))
    hand_over([tree, home], spec["uid"], spec["gid"])
    spec |= {"slot": slot.fd} if slot else {}
    held = [slot.fd] if slot else []
    run = {"capture_output": True, "text": True, "timeout": 30, "pass_fds": held}
    return subprocess.run(jail_command(), env=jail_env(spec), **run)


def confinement_missing() -> str:
    """'' when every confinement the box relies on works here; else what is missing."""
    found = confinement()
    return "; ".join(
        f"{name}: {item['why']}"
        for name, item in found.items()
        if name in ("landlock", "namespaces") and not item["ok"]
    )


def sandbox_state() -> dict:
    """How coding runs go here — confined, unconfined (the operator opted in) or refused —
    for `status` and the Stage, which show anything but confined in red."""
    missing = confinement_missing()
    allowed = settings.OPS_CODING_ALLOW_UNCONFINED
    runs = "confined" if not missing else "unconfined (opted in)" if allowed else "refused"
    return {"runs": runs, "missing": missing}


def doctor() -> dict:
    """What `coding doctor` says: each confinement feature, probed afresh, and whether a run
    would go ahead (confined, or unconfined by the operator's explicit opt-in) or be refused."""
    confinement.cache_clear()
    return sandbox_state() | {
        "allow_unconfined": settings.OPS_CODING_ALLOW_UNCONFINED,
        "features": confinement(),
        "read_paths": list(settings.OPS_CODING_READ_PATHS),
        "egress": {
            "hosts": [f"{host}:{port}" for host, port in settings.OPS_CODING_EGRESS],
            "runners": list(settings.OPS_CODING_EGRESS_RUNNERS),
        },
        "coding_dir": str(settings.OPS_CODING_DIR),
    }
