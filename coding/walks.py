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
    """The folder's listing; None if it is gone (or was never a folder)."""
    try:
        return os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError:
        pass
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
    """`top` and everything in it deleted (links as links), however deep — the way the
    entries walk goes, without its cap: what a box filled is removed whole, however long."""
    top = os.fspath(top)
    if os.path.islink(top) or not os.path.isdir(top):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(top)
        return
    folders, stack = [], [top]
    while stack:
        folder = stack.pop()
        with contextlib.suppress(OSError):  # its files can go (a folder a box made read-only)
            os.chmod(folder, stat.S_IRWXU)
        listing = opened_quietly(folder)
        if listing is None:
            continue
        folders.append(folder)
        with listing:
            for entry in listing:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
    for folder in reversed(folders):  # the deepest first
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def opened_quietly(folder: str):
    try:
        return opened(folder)
    except WalkStopped:
        return None
