"""The driver's walks of the trees a boxed command had its hands on (its worktree, its HOME):
each bounded, so that no harness holds the driver by what it leaves. A walk counts what it
meets and watches the clock: past OPS_CODING_WALK_ENTRIES files and folders, or
OPS_CODING_WALK_SECONDS, it stops with WalkStopped, which the pass records as its failure in
one line. It keeps its own stack and holds one folder open at a time: Python's os.walk and
shutil.rmtree recurse, and a chain of folders deeper than the interpreter's recursion limit
(a loop of os.mkdir, a second's work) crashed them — and with them the driver's turn.

A folder a walk cannot read because the command took its owner's rights away (Opscore's own
uid, when Opscore is not root and the box maps it) gets them back and is read: skipped, it
would hide what lies in it from the look for set-id bits and links out, while anyone who
knows a name in it still reaches it.
"""

import contextlib
import os
import stat
import time
from collections.abc import Iterable, Iterator

from django.conf import settings

# The bytes a path may have (Linux's PATH_MAX, its NUL included): the driver names each file
# of a walk by its path (to look at it, chmod it, hand it over), and a box makes folders deeper
# than that in a second.
PATH_BYTES = 4096
TOO_DEEP = f"a folder deeper than a path can name (past {PATH_BYTES:,} bytes)"


class WalkStopped(RuntimeError):
    """A walk stopped at its cap: why, in one line."""


def entries(tops: Iterable, skip: frozenset = frozenset()) -> Iterator[os.DirEntry]:
    """Every file, folder and link under `tops` (not the tops themselves), links not
    followed, folders named in `skip` not entered; WalkStopped past the cap."""
    cap, seconds = settings.OPS_CODING_WALK_ENTRIES, settings.OPS_CODING_WALK_SECONDS
    deadline, seen, stack = time.monotonic() + seconds, 0, [os.fspath(top) for top in tops]
    while stack:
        listing = opened(stack.pop())
        if listing is None:
            continue
        with listing:
            for entry in listing:
                seen += 1
                if seen > cap:
                    raise WalkStopped(f"more than {cap} files and folders")
                if time.monotonic() > deadline:
                    raise WalkStopped(f"still walking after {seconds}s ({seen} files and folders)")
                if len(os.fsencode(entry.path)) >= PATH_BYTES:  # no call can name it
                    raise WalkStopped(TOO_DEEP)
                yield entry
                if entry.name not in skip and entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)


def listed(folder) -> list[str]:
    """The names in one folder, sorted; WalkStopped past the entries cap."""
    cap, names = settings.OPS_CODING_WALK_ENTRIES, []
    with os.scandir(folder) as listing:
        for entry in listing:
            names.append(entry.name)
            if len(names) > cap:
                raise WalkStopped(f"more than {cap} files and folders in one folder")
    return sorted(names)


def opened(folder: str):
    """The folder's listing; None if it is gone (or was never a folder). One deeper than its
    whole path can be named (past the 4,096 bytes a path may have) stops the walk, as a folder
    it cannot read does: the look and the hand-over name each file by its path."""
    try:
        return os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError:
        pass
    except OSError as error:
        raise WalkStopped(f"{TOO_DEEP} ({error.strerror})") from None
    try:
        mode = os.lstat(folder).st_mode
        if stat.S_ISDIR(mode):
            os.chmod(folder, stat.S_IMODE(mode) | stat.S_IRWXU)  # ours again, not others'
        return os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        raise WalkStopped(f"a folder it cannot read ({error.strerror})") from None


def remove(top) -> None:
    """`top` and everything in it deleted (links as links), however deep — without the entries
    walk's cap: what a box filled is removed whole, however long. Each folder is named from
    the one above it (a descriptor held for the folder the removal is in, and the names down
    to it), never by its whole path: a chain of folders past the 4,096 bytes a path may have
    is removed like any (and git's own removal, by whole paths, stops there). A folder is
    opened without following a link and made its owner's by its descriptor, never by a name
    a link could stand in for."""
    top = os.fspath(top)
    if os.path.islink(top) or not os.path.isdir(top):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(top)
        return
    here = opened_at(top)
    if here is None:
        return
    names, pending = [], [emptied(here)]  # the way down from `top`; the folders left in each
    while True:
        if pending[-1]:
            name = pending[-1].pop()
            child = opened_at(name, here)
            if child is not None:
                os.close(here)
                here = child
                names.append(name)
                pending.append(emptied(here))
            continue
        pending.pop()
        if not names or (parent := up_from(here)) is None:
            break
        os.close(here)
        here = parent
        with contextlib.suppress(OSError):
            os.rmdir(names.pop(), dir_fd=here)
    os.close(here)
    with contextlib.suppress(OSError):
        os.rmdir(top)


def up_from(folder: int) -> int | None:
    try:
        return os.open("..", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=folder)
    except OSError:
        return None


def opened_at(name: str, parent: int | None = None) -> int | None:
    """The folder `name` (in the folder `parent` holds open, or a path without one) opened to
    be read, made its owner's (read, write, search) first, by a descriptor: a link, or
    anything but a folder, is not opened (None)."""
    flags = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        found = os.open(name, flags, dir_fd=parent)
    except OSError:
        return None
    try:
        with contextlib.suppress(OSError):  # its files can go (a folder a box made read-only)
            os.chmod(f"/proc/self/fd/{found}", stat.S_IRWXU)
        return os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=found)
    except OSError:
        return None
    finally:
        os.close(found)


def emptied(folder: int) -> list[str]:
    """Everything but the folders in the folder `folder` holds open removed; the folders' names."""
    folders = []
    with contextlib.suppress(OSError), os.scandir(folder) as listing:
        for entry in listing:
            if entry.is_dir(follow_symlinks=False):
                folders.append(entry.name)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.name, dir_fd=folder)
    return folders
