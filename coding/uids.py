"""Each driver's boxes their own outer uid and gid, from a small pool, when Opscore is root.
RLIMIT_NPROC counts every process of a real uid on the machine: boxes sharing one uid would
share one process budget, and a harness that forks up to its limit would keep every other
run's box from starting anything.

A process that starts boxes (a driver, a `coding doctor` probe) claims a uid of the pool on
its first box and keeps it for its life: its boxes run one after another, so one uid each is
enough, and a run's worktree keeps one owner from pass to pass (handing it to another uid
would chown, and change the ctime of, every file). The claim is an exclusive flock on a file
named after the uid; every launch and spare the process starts inherits the same open file
(pass_fds), so the uid stays claimed while any of them lives: a dead driver's launch that
outlives it holds its uid until it is gone, and the driver started in its place takes another.
A spare, started before its run is known, holds its driver's uid, which no other driver's box
holds. The pool's folder is machine-wide, as uids are.

The pool has room for a box and a left-over launch for every run the coding policy's
max_running could ever allow at once (or every driver process, if there are more), and one
more (a probe); slots are tried from the first, so most machines use one or two. Where
Opscore is not root an unprivileged user namespace maps only Opscore's own uid: every box
runs as it, and their processes share its limit (`coding doctor` says so).
"""

import fcntl
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from coding.policies import MOST_RUNNING


class NoFreeUid(RuntimeError):
    """Every uid of the pool is held by another process's boxes."""


@dataclass(frozen=True)
class Slot:
    """A claimed uid/gid; `fd` holds the claim (every launch of the process inherits it)."""

    uid: int
    gid: int
    fd: int


def pool_size() -> int:
    return 2 * max(MOST_RUNNING, settings.OPS_CODING_DRIVERS) + 1


# This process's claim, by pid: a child forked from it (it inherits the open file, never
# the boxes) claims one of its own.
HELD: dict[int, Slot] = {}


def claim() -> Slot | None:
    """This process's uid of the pool, claimed on its first box; None where Opscore is not root
    (the box maps Opscore's own uid). NoFreeUid when every one is held."""
    if os.geteuid() != 0:
        return None
    pid = os.getpid()
    if pid not in HELD:
        for inherited in HELD.values():
            os.close(inherited.fd)
        HELD.clear()
        HELD[pid] = first_free()
    return HELD[pid]


def first_free() -> Slot:
    folder = pool_folder()
    for n in range(pool_size()):
        uid, gid = settings.OPS_CODING_SANDBOX_UID + n, settings.OPS_CODING_SANDBOX_GID + n
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(folder / str(uid), flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return Slot(uid, gid, fd)
    raise NoFreeUid(f"all {pool_size()} sandbox uids are held by other boxes' launches")


def pool_folder() -> Path:
    """Root's own folder of the pool's lock files: none other may take or hold a slot."""
    folder = Path(settings.OPS_CODING_UID_LOCKS)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = folder.lstat()
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != 0 or found.st_mode & 0o077:
        raise NoFreeUid(f"{folder} is not root's own folder: no sandbox uid is claimed there")
    return folder


def ids(slot: Slot | None) -> tuple[int | None, int | None]:
    """The uid/gid a box's command runs as: (None, None) maps Opscore's own in a user namespace."""
    return (slot.uid, slot.gid) if slot is not None else (None, None)


def runs_as() -> dict:
    """What `coding doctor` says of it: the uid a box's command runs as, and whether each
    driver's boxes have their own (so their own process limit)."""
    if os.geteuid() == 0:
        first = settings.OPS_CODING_SANDBOX_UID
        return {"ok": True, "uid": first, "own_uid_per_driver": True, "pool": pool_size()}
    note = "not root: every box runs as Opscore's own uid, so they share its process limit"
    return {"ok": True, "uid": os.geteuid(), "own_uid_per_driver": False, "note": note}
