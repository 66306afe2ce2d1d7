"""The layout of a coding sandbox, as coding/jail.py builds it: what is mounted where,
read-only or writable, what Landlock allows, which uid runs the command and under which
rlimits. Only the system's programs, the run's view of the repository's git directory
(read-only, coding/gitview.py), the worktree, a private HOME and a fresh /tmp exist in the
box; everything else of the machine (Opscore's checkout and .data, the operator's HOME, other
runs — their worktrees, refs and objects —, sockets under /run) is absent.
"""

import contextlib
import functools
import marshal
import os
import stat
import sys
import tempfile
from pathlib import Path

from django.conf import settings

from coding import confine, jail, loopback
from coding.egress import BOX_PORT
from coding.gitview import real_path, view_mounts
from coding.walks import WalkStopped, entries
from coding.watch import ORPHAN_SECONDS

SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")
BOX_DIR = ".box"  # beside the worktree: the driver's files for the box, never inside it
HOME_DIR = "home"
SOCKET = "proxy.sock"  # the egress proxy's, in the run's box folder (coding/egress.py)


def rlimits(limits) -> dict:
    """The command's rlimits. Core 1, not 0: where core_pattern pipes to a helper
    (systemd-coredump, apport) the kernel ignores a limit of 0 and runs that helper as root
    on the host with the crashed command's memory; 1 means no dump at all, piped or written."""
    return {
        "cpu": limits.cpu_seconds,
        "as": limits.memory_bytes,
        "fsize": limits.file_bytes,
        "nproc": limits.processes,
        "core": 1,
    }


# The box builder reaches the interpreter as code objects the driver compiled once (in the
# environment, beside the spec), not as files: a script or an import without cached bytecode
# (PYTHONDONTWRITEBYTECODE, a read-only checkout) compiles jail.py afresh at every start, about
# a third of a start's price. Nothing of the checkout is on the path: jail.py's own modules
# (BOX_MODULES) are made modules under their names from their code objects before it runs, so
# its imports of them are never looked for on disk, and every other module the box builder
# imports comes from the standard library; -B: it writes no bytecode anywhere.
BOX_MODULES = (confine, loopback)  # what jail.py imports of Opscore's, in that order
BOOT = """import marshal, os, sys
modules, jail = marshal.loads(bytes.fromhex(os.environ.pop("OPS_BOX_JAIL")))
for name, code in modules:
    sys.modules[name] = type(sys)(name)
    exec(code, vars(sys.modules[name]))
exec(jail, {{"__name__": "{name}"}})
"""
LAUNCH = BOOT.format(name="__main__")


def jail_command() -> list[str]:
    """The box builder, run by this interpreter isolated from the environment and site."""
    return [sys.executable, "-I", "-S", "-B", "-c", LAUNCH]


@functools.cache
def jail_code() -> str:
    """jail.py and its modules compiled by this interpreter (the one that runs them), as
    LAUNCH reads them: ([(name, code) of each of BOX_MODULES], jail.py's code), marshalled as
    hex."""
    modules = [(module.__name__, compiled(module)) for module in BOX_MODULES]
    return marshal.dumps((modules, compiled(jail))).hex()


def compiled(module):
    path = Path(module.__file__).resolve()
    return compile(path.read_bytes(), str(path), "exec")


def jail_env(spec: dict) -> dict:
    """The box builder's whole environment: its code and the box's spec, nothing else."""
    return {"OPS_BOX_JAIL": jail_code(), "OPS_BOX_SPEC": jail.encode_spec(spec)}


def hand_over(paths: list[Path], uid: int | None, gid: int | None) -> None:
    """Give the worktree and HOME to the sandbox's uid (symlinks are not followed): whatever
    is not its already — what the driver's git wrote (a new worktree, a reset), the HOME's
    git config — rather than every file of the tree on every pass, which a chown (an inode
    written, ctime and all) is even when the owner is the same. A bounded walk
    (coding/walks.py): WalkStopped past its cap."""
    if uid is None:
        return
    for top in paths:
        with contextlib.suppress(FileNotFoundError):
            give(str(top), os.lstat(top), uid, gid)
    for entry in entries(paths):
        with contextlib.suppress(FileNotFoundError):
            give(entry.path, entry.stat(follow_symlinks=False), uid, gid)


def give(path: str, owned: os.stat_result, uid: int, gid: int) -> None:
    if owned.st_uid != uid or owned.st_gid != gid:
        with contextlib.suppress(FileNotFoundError):
            os.chown(path, uid, gid, follow_symlinks=False)


SET_IDS = stat.S_ISUID | stat.S_ISGID
# The owner's rights on what it holds, as git's checkout gives them: a file it reads and
# writes; a folder it lists, enters and writes in (stat.S_IRWXU).
OWNED_FILE = stat.S_IRUSR | stat.S_IWUSR


def disarm(paths: list[Path]) -> str:
    """No set-user- or set-group-id bit left on anything a box wrote in the worktree or HOME.
    In the box no_new_privs keeps them inert; but the worktree stays on the machine (a run
    waits for review for days), where a copy of an interpreter the command made set-user-id
    would run as the box's uid — Opscore's own where Opscore is not root — for whoever runs
    it. Nor any right of its owner taken away: git records no such mode, so no review shows
    it, yet the next box runs as that owner — a folder of failing tests it may not read is a
    folder a test runner's discovery passes over. Walked once the box is gone (a killed one's
    processes may outlive its outer process by a moment: chmod_if_same). The same walk
    adds up the disk they take. '' — or why the pass fails: the walk stopped at its cap
    (coding/walks.py; the run's folder is then closed to all but Opscore, so what the walk did
    not reach is out of anyone else's reach too), or they take more than the disk cap."""
    taken = 0
    try:
        for top in paths:
            with contextlib.suppress(FileNotFoundError):
                taken += disarmed(str(top), os.lstat(top))
        for entry in entries(paths):
            with contextlib.suppress(FileNotFoundError):
                taken += disarmed(entry.path, entry.stat(follow_symlinks=False))
    except WalkStopped as stopped:
        for top in paths:
            with contextlib.suppress(OSError):
                os.chmod(top.parent, 0o700)
        return f"the driver's walk of what it left stopped: {stopped}"
    return too_big(taken)


def disarmed(path: str, found: os.stat_result) -> int:
    """The set-id bits taken off `path`, its owner's rights given back (never through a link:
    its target is not the box's); the bytes it takes on disk."""
    mode = stat.S_IMODE(found.st_mode)
    owned = stat.S_IRWXU if stat.S_ISDIR(found.st_mode) else OWNED_FILE
    if (mode & SET_IDS or ~mode & owned) and not stat.S_ISLNK(found.st_mode):
        chmod_if_same(path, found, mode & ~SET_IDS | owned)
    return found.st_blocks * 512


def chmod_if_same(path: str, found: os.stat_result, mode: int) -> None:
    """`path` given `mode` only if it is still the file `found` was (its device and inode),
    through a descriptor of it: a killed box's processes outlive its outer process, all the
    driver waits for, by a moment, in which one can swap the file, or a folder above it, for
    a link to a file of the machine's, which a chmod by name, as root, would open to all."""
    fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        now = os.fstat(fd)
        if same_file(now, found):
            os.chmod(f"/proc/self/fd/{fd}", mode)
    finally:
        os.close(fd)


def same_file(now: os.stat_result, found: os.stat_result) -> bool:
    """The same file: device, inode and type (a link made in a removed file's place may get
    its inode number)."""
    kind = stat.S_IFMT
    return (now.st_dev, now.st_ino, kind(now.st_mode)) == (
        found.st_dev,
        found.st_ino,
        kind(found.st_mode),
    )


def too_big(taken: int) -> str:
    """Why the worktree and HOME take too much disk; '' while they are within the cap (a box
    cannot be stopped from filling the disk while it runs, but no run goes on from there)."""
    cap = settings.OPS_CODING_TREE_BYTES
    if taken <= cap:
        return ""
    return f"its worktree and HOME take {in_mb(taken)} on disk, past the {in_mb(cap)} cap"


def in_mb(size: int) -> str:
    return f"{size / 1024**2:,.0f} MB"


GITCONFIG = "[safe]\n\tdirectory = *\n"


def welcome(home: Path) -> None:
    """The private HOME's git config: the repository (owned by Opscore, not by the box's uid)
    is readable to the harness's git — read-only, so `status`, `diff` and `log` work. HOME is
    the harness's, kept from pass to pass, and this runs as Opscore: a link the harness left
    in the config's place is removed, never written through (O_EXCL does not follow one)."""
    config = home / ".gitconfig"
    if config.is_symlink():
        config.unlink()
    try:
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:  # the harness's own config, in its own HOME: its business
        return
    with open(fd, "w") as written:
        written.write(GITCONFIG)


def box_spec(
    argv,
    worktree,
    home,
    box: Path,
    limits,
    env,
    egress=None,
    fresh_home=False,
    report="box",
    shared=None,
    ids=(None, None),
):
    """What jail.py mounts and allows, in mount order (parents before what they hold).
    `egress`: the folder holding the driver's proxy socket (coding/egress.py), or None.
    `fresh_home`: HOME is an empty tmpfs holding only the git config, for a command that must
    not see what an earlier one left there (a check after the harness: a usercustomize.py,
    a .gitconfig or an .npmrc would steer it without ever showing in the diff). `report`: the
    name of the file in `box` where its init says how the command ended. `shared`: what
    shared_mounts(worktree, egress) gave already (for another box of the same launch). `ids`:
    the uid/gid its command runs as, its driver's of the pool (coding/uids.py); None maps
    Opscore's own uid in a user namespace (Opscore is not root)."""
    uid, gid = ids
    fresh = {"uid": uid or 0, "gid": gid or 0} if fresh_home else None
    shared = shared or shared_mounts(worktree, egress)
    mounts, readable, writable = box_mounts(worktree, home, limits, shared, fresh)
    mounts += identity_mounts(box, home, uid, gid)  # over /etc's bind, placed already
    (box / "root").mkdir(exist_ok=True)
    return {
        "argv": argv,
        "cwd": str(worktree),
        "env": env,
        "mounts": mounts,
        "stage": str(box / "root"),
        "report": str(box / f"{report}.json"),
        "uid": uid,
        "gid": gid,
        "limits": rlimits(limits),
        "ends_by": int(limits.seconds) + 1 + ORPHAN_SECONDS,  # seconds from its init's start
        **reach(readable, writable, egress),
    }


def reach(readable: list[str], writable: list[str], egress) -> dict:
    """What the command may reach beyond its mounts' own modes: Landlock (coding/confine.py)
    lets it read and write only its mounts, /proc and the devices jail.py binds, and connect
    only to the box's proxy port, which its init forwards to the driver's socket in `egress`
    (coding/loopback.py); without egress, no port at all."""
    devices = [f"/dev/{name}" for name in jail.DEVICES]
    return {
        "landlock": True,
        "read": [*readable, "/proc", "/dev"],
        "write": [*writable, "/tmp", *devices],
        "egress": {"socket": str(Path(egress) / SOCKET), "port": BOX_PORT} if egress else None,
        "connect_ports": [BOX_PORT] if egress else [],
    }


def shared_mounts(worktree: Path, egress) -> tuple[tuple[dict, ...], tuple[str, ...]]:
    """(mounts, readable): what every box of a launch in `worktree` shows read-only — the
    system, the configured read paths, the egress socket's folder, the run's view of the
    repository's git directory (coding/gitview.py) — with Opscore's own directories masked
    inside them. Looked at once a launch: a pass's tests' box shows the same as its harness's
    (the tests have no egress; a launch with egress chains nothing)."""
    mounts, readable = system_mounts()
    mounts, readable = [dict(m) for m in mounts], list(readable)
    extra = [real_path(p) for p in settings.OPS_CODING_READ_PATHS if Path(p).exists()]
    doors = [str(egress)] if egress else []
    for path in extra + doors:
        mounts.append({"kind": "bind", "src": path, "dst": path})
        readable.append(path)
    git_mounts, git_readable = view_mounts(worktree)
    readable += git_readable
    mounts += masks(readable) + git_mounts
    return tuple(mounts), tuple(readable)


def box_mounts(worktree: Path, home: Path, limits, shared, fresh=None) -> tuple[list, list, list]:
    """The system, the run's view of the git directory and the egress socket's folder read-only
    (`shared`: shared_mounts'), the worktree and a scratch home writable, fresh /tmp, /dev and
    /proc: nothing else exists. `fresh` ({uid, gid}): the home is a new tmpfs owned by them,
    not the run's folder."""
    mounts, readable = [dict(m) for m in shared[0]], list(shared[1])
    writable = [str(worktree), str(home)]
    mounts.append({"kind": "bind", "src": str(worktree), "dst": str(worktree), "rw": True})
    mounts += home_mounts(home, limits, fresh)
    mounts += [
        {"kind": "tmpfs", "dst": "/tmp", "options": f"mode=1777,size={limits.tmp_bytes}"},
        {"kind": "tmpfs", "dst": "/dev", "options": "mode=755,size=64k"},
        {"kind": "proc", "dst": "/proc"},
    ]
    mounts.sort(key=lambda m: m["dst"].rstrip("/").count("/"))
    return mounts, readable, writable


@functools.cache
def system_mounts() -> tuple[tuple[dict, ...], tuple[str, ...]]:
    """The machine's system directories as every box shows them (read-only binds, or the
    links a merged /usr has), looked at once per process: they do not move under a driver."""
    mounts, readable = [], []
    for path in SYSTEM_PATHS:
        if os.path.islink(path):
            mounts.append({"kind": "symlink", "src": os.readlink(path), "dst": path})
        elif os.path.isdir(path):
            mounts.append({"kind": "bind", "src": path, "dst": path})
            readable.append(path)
    return tuple(mounts), tuple(readable)


def masks(bound: list[str]) -> list[dict]:
    """Opscore's checkout, its data (secrets, the database's files), its coding directory
    (other runs' worktrees, saved patches) and the HOME it runs with (its user's keys, tokens
    and credentials: ~/.ssh, ~/.netrc, a harness's login), each under an empty tmpfs wherever
    it lies inside a path bound into the box: a checkout in /opt, or a service user whose HOME
    is there, would otherwise be readable whole. A path bound deeper (the run's own worktree,
    a harness in ~/.local/bin named in OPS_CODING_READ_PATHS) still shows."""
    dirs = (settings.BASE_DIR, settings.DATA_DIR, settings.OPS_CODING_DIR, *operator_home())
    hidden = opscore_dirs(*dirs)
    inside = [p for p in hidden if any(p.is_relative_to(b) and p != Path(b) for b in bound)]
    return [{"kind": "tmpfs", "dst": str(p), "options": "mode=755,size=4k"} for p in inside]


def operator_home() -> tuple[str, ...]:
    """The HOME Opscore runs with, as its own git and tools would find it; none where it has
    none (an unset HOME and no account: `~` is not expanded)."""
    home = os.path.expanduser("~")
    return (home,) if os.path.isabs(home) and home != "/" else ()


@functools.lru_cache(maxsize=8)
def opscore_dirs(*paths) -> frozenset[Path]:
    """Opscore's own directories resolved, once per process and configuration: they lie
    outside every box, so nothing a harness does can move them."""
    return frozenset(Path(os.path.realpath(p)) for p in paths)


def home_mounts(home: Path, limits, fresh) -> list[dict]:
    """The run's HOME bound writable, or a new tmpfs over its path holding only the git config."""
    if not fresh:
        return [{"kind": "bind", "src": str(home), "dst": str(home), "rw": True}]
    options = f"mode=700,uid={fresh['uid']},gid={fresh['gid']},size={limits.tmp_bytes}"
    return [
        {"kind": "tmpfs", "dst": str(home), "options": options},
        {"kind": "file", "dst": str(home / ".gitconfig"), "text": GITCONFIG},
    ]


USER_FILES = ("passwd", "group")  # /etc's, never shadow: the box has no password to look up


def identity_mounts(box: Path, home: Path, uid: int | None, gid: int | None) -> list[dict]:
    """/etc/passwd and /etc/group as the box sees them: the machine's, plus an entry for the
    pool's uid and gid it runs as (coding/uids.py), which the machine does not know — without
    one, whatever looks its user up fails (Node's os.userInfo(), Python's getpass, ssh). Copies
    in the run's box folder (outside every box), each bound read-only over /etc's file; the
    machine's are never written. None (Opscore is not root): the box runs as uid 0 of its user
    namespace, root's entry."""
    if uid is None or "/etc" not in system_mounts()[1]:
        return []
    entries = {
        "passwd": (uid, f"sandbox:x:{uid}:{gid}:opscore sandbox:{home}:/usr/sbin/nologin"),
        "group": (gid, f"sandbox:x:{gid}:"),
    }
    mounts = []
    for name in USER_FILES:
        host = Path("/etc", name)
        if host.is_file():
            copy = written(box / name, with_entry(host.read_text(), *entries[name]))
            mounts.append({"kind": "bind", "src": str(copy), "dst": str(host)})
    return mounts


def with_entry(text: str, number: int, entry: str) -> str:
    """`text` (a passwd or group file) with `entry` added, unless its id has one already."""
    if any(line.split(":")[2:3] == [str(number)] for line in text.splitlines()):
        return text
    return text + ("" if text.endswith("\n") or not text else "\n") + entry + "\n"


def written(path: Path, text: str) -> Path:
    """`text` put in `path` whole, readable by all: written beside it and renamed over it, so a
    box binding it meanwhile sees the old file or the new, never part of one."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o644)
        with open(fd, "w") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path
