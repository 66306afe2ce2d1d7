"""The inside of a coding sandbox: run by `python -I -S` as code objects the driver compiled
(OPS_BOX_JAIL, coding/box.py) with the box's spec in OPS_BOX_SPEC (a spare's comes on its
stdin, coding/spare.py), it builds the box around one command and execs it. Standard library
only besides the two modules that come with it, so it reads nothing of Opscore's checkout
once the harness could see it.

The outer process unshares mount, PID, network, IPC and UTS namespaces (and a user namespace
when Opscore is not root) and forks the namespace's init. Init builds a new root on a tmpfs
holding only what the spec binds (system directories and the run's view of the git directory
read-only, that view a tmpfs filled from the spec and sealed; the worktree, a private HOME and
a fresh /tmp writable; a fresh /proc showing only the box's processes), pivots into it, and
forks the command's process: unprivileged uid/gid when Opscore is root, rlimits, no new
privileges, no keyrings (seccomp), Landlock on top (coding/confine.py), all before the
driver's go where the box is built ahead of its command. With egress (coding/egress.py,
coding/loopback.py) init also brings the box's loopback up and forwards 127.0.0.1:3128 to the
driver's proxy socket, and Landlock lets the command connect to that port only. When the
command exits, init records how many processes it left behind and exits: the kernel then kills
every process left in the PID namespace (setsid children included), so nothing outlives its
pass and nothing holds its output pipe. The outer process exits with the command's status.

Split along what runs where: this module makes the box (namespaces, root, init, launches);
coding/confine.py is what the command's process confines itself with (identity, rlimits,
Landlock, seccomp); coding/loopback.py forwards a box's egress. The driver compiles the three
and hands them to the box's interpreter as code objects (coding/box.py), so none is ever
looked for on disk: no directory the harness could plant a file in is on the box's path.
"""

import _signal as signal  # the module, not `signal`: that one pulls in enum and functools
import ctypes
import marshal
import os
import resource
import warnings  # noqa: F401 — os.execvpe imports it, after the interpreter's files are gone

from coding.confine import check, confine, libc
from coding.loopback import egress_listener, import_egress, start_forwarding

# Every box start pays for the box builder's imports twice a pass (harness, tests): what only
# egress needs is imported by coding/loopback.py's import_egress, only for a run with egress;
# the spec comes marshalled, not as JSON (json pulls in re), and the report is written by
# hand. tests/coding counts what a start imports.

CLONE = {"mount": 0x20000, "uts": 0x4000000, "ipc": 0x8000000, "pid": 0x20000000}
CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
# statvfs flags a read-only remount must keep (the kernel refuses to drop locked ones)
KEEP = {1: MS_RDONLY, 2: MS_NOSUID, 4: MS_NODEV, 8: MS_NOEXEC, 1024: 1024, 2048: 2048}
PR_SET_PDEATHSIG = 1
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
DEVICES = ("null", "zero", "full", "random", "urandom")


# ---- the new root ----
def mount(source, target, fstype, flags, data=None) -> None:
    args = [a.encode() if isinstance(a, str) else a for a in (source, target, fstype, data)]
    check(libc.mount(args[0], args[1], args[2], ctypes.c_ulong(flags), args[3]), f"mount {target}")


def place(stage: str, item: dict) -> None:
    """One entry of the spec's mount list, at its path under the staging root."""
    target = stage + item["dst"]
    kind = item["kind"]
    if kind == "symlink":
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.symlink(item["src"], target)
        return
    if kind == "dir":  # in a tmpfs of the spec's
        os.makedirs(target, exist_ok=True)
        return
    if kind == "file":  # root's, readable: the command may replace it, not write through it
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        os.fchmod(fd, 0o644)
        os.write(fd, item["text"].encode())
        os.close(fd)
        return
    if kind == "bind" and not os.path.isdir(item["src"]):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):  # a file bound over one a read-only bind shows
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666))
    else:
        os.makedirs(target, exist_ok=True)
    if kind == "tmpfs":
        mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, item.get("options", "mode=755"))
    elif kind == "proc":
        mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    else:
        mount(item["src"], target, None, MS_BIND | MS_REC)
        if not item.get("rw"):
            flags = os.statvfs(target).f_flag  # once, not once for each flag kept
            kept = sum(ms for st, ms in KEEP.items() if flags & st)
            mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)


def build_root(spec: dict) -> None:
    """A tmpfs root holding only the spec's mounts, pivoted into; the old root detached."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    stage = spec["stage"]
    mount("tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m")
    for item in spec["mounts"]:
        place(stage, item)
    for item in spec["mounts"]:  # a tmpfs the spec filled, read-only from now on
        if item.get("sealed"):
            mount(None, stage + item["dst"], None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    dev = stage + "/dev"
    for name in DEVICES:
        place(stage, {"kind": "bind", "src": f"/dev/{name}", "dst": f"/dev/{name}", "rw": True})
    links = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1"}
    for name, to in (links | {"stderr": "/proc/self/fd/2"}).items():
        os.symlink(to, f"{dev}/{name}")
    os.chdir(stage)
    check(libc.syscall(PIVOT_ROOT[os.uname().machine], b".", b"."), "pivot_root")
    check(libc.umount2(b".", 2), "detach the old root")  # MNT_DETACH
    mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=755")


# ---- the command ----
def become(spec: dict) -> None:
    """The command's process: confined (coding/confine.py) and in its worktree before the
    driver's go (held), so that what follows the go is the exec alone: a box's confinement
    costs its command's start nothing, and the process that waits for the go already holds
    no more than the command will."""
    confine(spec)
    os.chdir(spec["cwd"])
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    held(spec.get("hold"))
    os.execvpe(spec["argv"][0], spec["argv"], spec["env"])


def leftovers() -> int:
    """Processes still alive in the box besides init (zombies not counted)."""
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit() and name != "1":
            try:
                with open(f"/proc/{name}/stat") as stat:
                    count += stat.read().rsplit(")", 1)[1].split()[0] != "Z"
            except OSError:
                continue
    return count


def held(go: int | None) -> None:
    """A box built ahead of its command (a pass's tests; a spare's harness): the command's
    process, confined already, execs nothing until the driver says go, one byte; the pipe
    closed unwritten (the pass ended before), and the box goes without its command ever
    starting (exit 126)."""
    if go is None:
        return
    said = os.read(go, 1)
    os.close(go)  # the command never holds it
    if not said:
        os._exit(126)
    if go == 0:  # the spec's socket: the command's stdin is /dev/null
        quiet_stdin()


def shed_go(go: int | None) -> None:
    """Init's copy of the go (the command's process waits on its own): init holds no end of
    the driver's, the spec's socket included (its stdin becomes /dev/null)."""
    if go == 0:
        quiet_stdin()
    elif go is not None:
        os.close(go)


def init(spec: dict) -> None:
    """PID 1 of the box: dies with the outer process, runs the command, reports, exits."""
    check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    report = os.open(spec["report"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    if spec.get("egress"):
        import_egress()
    build_root(spec)
    listener = egress_listener(spec.get("egress"))
    child = os.fork()
    if child == 0:
        try:
            become(spec)
        except BaseException as error:  # the command could not start: said, exit 127
            os.write(2, f"opscore sandbox: {error}\n".encode())
        os._exit(127)
    shed_go(spec.get("hold"))
    orphan_deadline(spec.get("ends_by"))
    if listener is not None:  # threads only after the fork: the command's process has none
        start_forwarding(listener, spec["egress"]["socket"])
    while True:
        pid, status = os.wait()
        if pid == child:
            break
    code = os.waitstatus_to_exitcode(status)
    os.write(report, f'{{"exit": {code}, "left_behind": {leftovers()}}}'.encode())
    os._exit(code if code >= 0 else 128 - code)


def orphan_deadline(seconds: int | None) -> None:
    """The box ends by itself `seconds` after its init started (ORPHAN_SECONDS past its limit):
    a dead driver kills nothing, and the next adopts a run's box, but not while the lane is
    paused or Opscore stopped, nor a merge's tests'. Init's exit takes every process of the
    box with it; the command's process, forked before, holds no such timer."""
    if seconds:
        signal.signal(signal.SIGALRM, lambda *_: os._exit(128 + signal.SIGKILL))
        signal.alarm(seconds)


def map_ids() -> None:
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWUSER | sum(CLONE.values()) | CLONE_NEWNET
    check(libc.unshare(flags), "unshare")
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    for name, outer in (("uid_map", uid), ("gid_map", gid)):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(f"0 {outer} 1")


def encode_spec(spec: dict) -> str:
    """The spec as the driver hands it over in OPS_BOX_SPEC: marshal (built in, nothing to
    import) as hex (an environment value cannot hold NUL). Only the driver writes it, for this
    same interpreter; the command never sees it (popped before anything runs)."""
    return marshal.dumps(spec).hex()


def decode_spec(text: str) -> dict:
    return marshal.loads(bytes.fromhex(text))


def main() -> None:
    """Each box of the spec in turn — the first, then the ones in its `then` (a pass's tests
    after its harness) — each in namespaces, a root and an init of its own, so a box shares
    nothing with the one before it but the worktree; one interpreter start serves them all.
    A box after the first writes to its own pipe (`out`), which no earlier box ever holds (the
    outer process takes it over once the earlier box's launch is forked), and is built once
    the box before it is gone, but its command starts only once the driver says go (a byte on
    `go`, read by the command's process, confined already): the driver looks for an escape
    between the two, before anything the harness wrote runs again; no byte, no command. A
    spare's first box has its namespaces and its init ahead of its spec (standing_by)."""
    given = os.environ.pop("OPS_BOX_SPEC", None)
    standing = standing_by() if given is None else None
    spec = decode_spec(given) if given is not None else receive_spec()
    for fd in spec.pop("close", ()):  # a spare's chained slot, not used by this spec
        os.close(fd)
    if (claim := spec.pop("slot", None)) is not None:  # its uid's claim (coding/uids.py)
        os.set_inheritable(claim, False)  # held by the launch, never by a command it execs
    boxes = [spec, *spec.pop("then", ())]
    for n, box in enumerate(boxes):
        last = n == len(boxes) - 1
        if standing is not None and n == 0:
            child = hand(standing, box)
        elif last:
            launch(box, outer=True)
        else:
            child = launch_earlier(box, boxes[n + 1 :])
        if box.get("hold") == 0:  # the spec's socket is the first box's alone
            quiet_stdin()
        if not last:  # the earlier box's output ends with its launch: the driver reads on
            take_over(boxes[n + 1])
        _, status = os.waitpid(child, 0)  # its status is in its report
        if last:
            exit_as(status)


def launch_earlier(box: dict, later: list[dict]) -> int:
    """A box that others follow, launched in a process forked for it (the launch's pid): only
    the outer process goes back round main's loop, and the forked one closes every later
    box's pipes first, so no process of this box ever holds their output or their go."""
    child = os.fork()
    if child == 0:
        try:
            for following in later:
                os.close(following["out"])
                os.close(following["go"])
            launch(box)
        finally:
            os._exit(126)
    return child


def take_over(following: dict) -> None:
    """The outer process writes to the next box's own pipe from now on (the earlier box's
    launch, forked already, keeps the old output and lets it go when its box is gone), and
    that box's command waits on its go."""
    out = following.pop("out")
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    following["hold"] = following.pop("go")  # its command waits on it


def standing_by() -> tuple[int, int]:
    """A spare's first box started before its spec comes, so that unsharing its namespaces
    and forking its init are not waited for once it does: (the launch's pid, the write end of
    the pipe its init waits on for its box's spec, which only this process holds). Until the
    spec comes the box holds nothing of a run — no root, no command, no descriptor but the
    standard ones and that pipe (the chained box's pipes, which a spare holds from its start,
    are closed in it at once, so no process of the first box ever holds them)."""
    waiting, write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.closerange(3, waiting)
            os.closerange(waiting + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
            launch(None, waiting)
        finally:
            os._exit(126)
    os.close(waiting)
    return child, write


def hand(standing: tuple[int, int], box: dict) -> int:
    """The first box's spec handed to its waiting init (standing_by); the launch's pid."""
    child, write = standing
    data = marshal.dumps(box)
    try:
        while data:
            data = data[os.write(write, data) :]
    except OSError:
        pass  # its init is gone: the launch's status says so
    os.close(write)
    return child


def awaited(waiting: int) -> dict:
    """The spec of a box started ahead of it, read by its init; none (the spare was let go,
    its launch died): it exits."""
    check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    data = b""
    while chunk := os.read(waiting, 1 << 16):
        data += chunk
    os.close(waiting)
    if not data:
        os._exit(126)
    return marshal.loads(data)


def receive_spec() -> dict:
    """A spare (coding/spare.py): the spec comes on stdin, a socket whose other end only the
    driver holds, its length first; then the launch moves into the worktree and says so (the
    driver records its group only then). The same socket is the first box's go (its init
    starts the command on the driver's next byte, stdin /dev/null as with a spec in the
    environment): the driver looks at the worktree's surroundings while the box is built. No
    spec: the driver let it go, it exits."""
    size = int.from_bytes(read_exactly(8), "big")
    spec = marshal.loads(read_exactly(size))
    os.chdir(spec["cwd"])
    os.write(0, b"k")
    return spec | {"hold": 0}


def read_exactly(size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(0, size - len(data))
        if not chunk:
            os._exit(126)
        data += chunk
    return data


def quiet_stdin() -> None:
    """Stdin as /dev/null (the spec's socket goes): in the box, its own /dev/null."""
    null = os.open("/dev/null", os.O_RDONLY)
    if null != 0:
        os.dup2(null, 0)
        os.close(null)
    os.set_inheritable(0, True)  # os.open's are not: the command would find no stdin


def launch(spec: dict | None, waiting: int | None = None, outer: bool = False) -> None:
    """New namespaces for this process's children, the box's init forked into them; exits
    with the command's status. `waiting`: no spec yet, the init reads it from that pipe.
    `outer`: this is the launch's outer process, whose end the driver waits for (a killed
    group's too); a launch forked for an earlier box lets its output go as soon as its box
    is gone, before its own teardown, so that the driver reads on."""
    try:
        if os.geteuid() == 0:
            check(libc.unshare(sum(CLONE.values()) | CLONE_NEWNET), "unshare")
        else:
            map_ids()
        child = os.fork()
        if child == 0:
            init(spec if waiting is None else awaited(waiting))
    except Exception as error:  # anything that stops the box is said (init's too)
        os.write(2, f"opscore sandbox: could not build the box: {error}\n".encode())
        os._exit(126)
    if waiting is not None:
        os.close(waiting)
    _, status = os.waitpid(child, 0)  # the box is gone: its init and every process it held
    if not outer:
        os.close(1)
        os.close(2)
    exit_as(status)


def exit_as(status: int) -> None:
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)  # nothing buffered: skip the teardown


if __name__ == "__main__":
    main()
