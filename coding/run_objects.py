"""A run's own object store (coding/gitview.py says why its objects stay out of the
repository's while it lives): opened as its worktree is provisioned and listed in the
repository's alternates (objects/info/alternates), so every git outside the boxes — the
operator's, a reviewer's diff, a merge — reads the run's branch whole; published into the
repository's own store when its work merges (it is the base's history from then on, which
later runs' boxes read from there); moved there for good, and struck from the list, when the
run ends (its worktree may go earlier, at the heartbeat after it comes to wait for review: the
store stays, for a revision's box and a merge). Each step under the repository's lock (the
list is rewritten whole), and in the order that never leaves a ref naming an object no store
holds.
"""

import os
import shutil
from pathlib import Path

from coding.gitview import git_dirs, retired_path, store_path
from coding.hardened_git import GitFailed, git

ALTERNATES = Path("info", "alternates")


def open_store(run_id: int, worktree: Path) -> None:
    """The run's store, made if it is not there yet, and listed in the repository's
    alternates: before the driver's git makes any object of the run's. It names no alternate
    of its own: the driver's git is told the repository's objects (coding/hardened_git.py),
    the box names it in theirs (coding/gitview.py). Nothing for a worktree whose pointer was
    tampered with (the driver's git refuses it anyway)."""
    private, common = git_dirs(worktree)
    if private is None or common is None:
        return
    objects, store = common / "objects", store_path(run_id)
    try:
        store.mkdir(parents=True, exist_ok=True)  # git makes its folders as it writes
        enlist(objects, store)
    except OSError as error:
        raise GitFailed(f"the run's object store could not be opened: {error}") from None


def enlist(objects: Path, store: Path) -> None:
    """`store` listed in the repository's alternates, if it is not yet: one line appended in
    one write (a reader meanwhile reads the list with it or without it; a rewrite would cost
    the run a file made and one freed)."""
    listed = objects / ALTERNATES
    text = listed.read_text() if listed.is_file() else ""
    if str(store) in text.splitlines():
        return
    listed.parent.mkdir(exist_ok=True)
    with open(listed, "a") as alternates:
        alternates.write(("\n" if text and not text.endswith("\n") else "") + f"{store}\n")


def unlist(objects: Path, store: Path) -> None:
    """`store` struck from the repository's alternates, its other lines (the operator's own)
    as they were; replaced whole, so a git reading it meanwhile reads either list."""
    listed = objects / ALTERNATES
    lines = listed.read_text().splitlines() if listed.is_file() else []
    wanted = [line for line in lines if line.strip() != str(store)]
    if wanted == lines:
        return
    fresh = listed.with_name(f"alternates.{os.getpid()}.tmp")
    fresh.write_text("".join(f"{line}\n" for line in wanted))
    os.replace(fresh, listed)


def publish(run_id: int, repo_path: str) -> None:
    """Every object of the run's store in the repository's own too: what merges is the base's
    history from now on, and a box reads that from the repository's store alone."""
    store = store_path(run_id)
    if store.is_dir():
        moved(store, repository_objects(repo_path))


def retire(run_id: int, repo_path: str, objects: Path | None = None) -> None:
    """The run's end, its worktree gone: its objects (its branch's, its kept states') into the
    retired store, listed first, then the run's store struck from the alternates and removed.
    `objects`: the repository's store, as objects_of() found it while the worktree was there."""
    store = store_path(run_id)
    if not store.is_dir():
        return
    objects, kept = objects or repository_objects(repo_path), retired_path()
    try:
        kept.mkdir(exist_ok=True)
        enlist(objects, kept)
    except OSError as error:
        raise GitFailed(f"the retired object store could not be opened: {error}") from None
    moved(store, kept)
    try:
        unlist(objects, store)
        shutil.rmtree(store)
    except OSError as error:
        raise GitFailed(f"the run's object store could not be removed: {error}") from None


def objects_of(worktree: Path) -> Path | None:
    """The repository's store, found through a linked worktree's checked pointer (no git)."""
    private, common = git_dirs(worktree)
    return common / "objects" if private is not None and common is not None else None


def repository_objects(repo_path: str) -> Path:
    common = git(["rev-parse", "--path-format=absolute", "--git-common-dir"], repo_path)
    return Path(os.path.realpath(common.strip())) / "objects"


def moved(store: Path, objects: Path) -> None:
    """Each loose object and pack of `store` linked into `objects` (copied across filesystems),
    what is there already left as it is; a pack's index last, so git never finds an index
    whose pack is not there yet."""
    try:
        for entry in sorted(os.scandir(store), key=lambda e: e.name):
            if len(entry.name) == 2 and entry.is_dir(follow_symlinks=False):
                for item in os.scandir(entry.path):
                    place(Path(item.path), objects / entry.name / item.name)
        packs = os.scandir(store / "pack") if (store / "pack").is_dir() else []
        for item in sorted(packs, key=lambda e: (e.name.endswith(".idx"), e.name)):
            place(Path(item.path), objects / "pack" / item.name)
    except OSError as error:
        raise GitFailed(f"the run's objects could not join the repository's: {error}") from None


def place(source: Path, target: Path) -> None:
    if target.exists():
        return
    target.parent.mkdir(exist_ok=True)
    try:
        os.link(source, target)
    except FileExistsError:
        return
    except OSError:  # another filesystem: a copy, put in place whole
        fresh = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copy2(source, fresh)
        os.replace(fresh, target)
