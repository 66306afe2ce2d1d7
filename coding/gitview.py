"""What of the repository's git directory a run's box shows: a view of its own run's, never the
repository's whole. A run's worktree is a linked worktree of the registered repository — its
`.git` pointer names `<common>/worktrees/<name>` — and its git reads the common directory
(objects, refs, config). The box shows at that path a view of its own, a tmpfs its box builder
fills from the spec (nothing of it is written on disk) and seals read-only, holding only:

- its config: the repository's format and the checkout's core settings (KEPT_CONFIG), none of
  the operator's (a remote's credentials, an http.extraHeader, a credential helper);
- its own branch and the main checkout's (its base, as `git diff main` reads it), in a
  packed-refs of its own: no other run's branch, no refs/opscore/runs, no tag, no logs
  (reflogs), no FETCH_HEAD or ORIG_HEAD of the operator's git;
- worktrees/<name>: its own private git directory (HEAD, index, its own reflog), no other's;
- objects: the repository's own store, its `info` replaced by one naming only the run's own
  store as an alternate (no commit graph of every branch, no other run's store).

The objects a run makes (the driver's `git add`, its review commits, its kept states) never
land in the repository's store while the run lives: the driver's git writes them to a store of
the run's own (`<coding dir>/objects/run-<id>`, coding/run_objects.py), which the repository
lists as an alternate, so its branch reads whole to the operator, a reviewer and a merge. So
another run's harness finds neither their names nor their contents, in a ref, a listing of the
store or a file of git's.

Also here: the driver's reading of a worktree's `.git` pointer (the harness's text), which
says which repository — if any — the driver's git may take as the worktree's.
"""

import functools
import os
import re
import stat
from pathlib import Path

from django.conf import settings

# Where every checkout is a linked worktree Opscore added (a run's, a merge's): a harness had
# its hands on it, so a `.git` directory, a `.git` link, or none at all (the worktree itself
# made a repository) is no repository of the run's — git would take its config, filters
# included, and run them here, outside the box.
LINKED_ONLY = ("worktrees", "merges")
STORES = "objects"  # in the coding directory: each live run's own object store, run-<id>
# Whose checkout a path of LINKED_ONLY's is: a run's worktree, or the scratch tree of its merge.
RUN_CHECKOUT = re.compile(r"worktrees/[^/]+/run-(\d+)(/.*)?|merges/merge-(\d+)-[^/]+(/.*)?")


def git_dirs(worktree: Path) -> tuple[Path | None, Path | None]:
    """(private, common): the git directories of a linked worktree whose pointer names a real
    repository's worktree pointing back here; (None, its `.git` directory) for a checkout of
    its own (a probe's); (None, None) otherwise — a pointer the harness rewrote must not get a
    directory of its choosing into its next box."""
    pointer = worktree / ".git"
    text = read_pointer(pointer)
    if text is None:
        own = pointer.is_dir() and not pointer.is_symlink()
        return None, (pointer if own else None)
    return linked_dirs(worktree, text) or (None, None)


def linked_dirs(worktree: Path, text: str) -> tuple[Path, Path] | None:
    """(private, common): the git directories the pointer `text` (as read_pointer read it)
    names, if it names a real repository's worktree pointing back here; None otherwise. A
    repository never lies where a harness can write (its worktree and HOME, both under the
    coding directory's worktrees): one that does is forged, however real it looks — a
    `worktrees/x` with a `gitdir` back here and `objects` beside it takes a minute to plant,
    and its config's filters would run in the driver's git. Its `gitdir` is read as the
    pointer is (a FIFO planted there would hold the driver forever). Real paths are compared
    as text (each resolved whole): a Path made of each part cost more than the checks."""
    private = real_path(os.path.join(worktree, text.removeprefix("gitdir:").strip()))
    parent = os.path.dirname(private)
    if not text.startswith("gitdir:") or os.path.basename(parent) != "worktrees":
        return None
    if linked_only(private):
        return None
    back = read_pointer(os.path.join(private, "gitdir"))
    here = back is not None and real_path(back) == real_path(os.path.join(worktree, ".git"))
    common = os.path.dirname(parent)
    objects = here and os.path.isdir(os.path.join(common, "objects"))
    return (Path(private), Path(common)) if objects else None


def real_path(path) -> str:
    """os.path.realpath(path), resolved by the kernel: the path opened O_PATH (nothing read,
    a FIFO never waited on) and its descriptor's name read back — one walk of the path in C,
    where realpath walks it in Python, an lstat (and a readlink) a component, the driver's
    dearest call around each of its gits. A path that does not resolve whole (a missing part,
    a loop, no /proc) is os.path.realpath's, as ever. Its name is the one the descriptor
    holds: were the file removed meanwhile, the kernel's "(deleted)" mark names nothing real,
    so a check comparing it with another's fails closed."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return os.path.realpath(path)
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(path)
    finally:
        os.close(fd)


def linked_only(resolved: str) -> bool:
    """`resolved` (a real path) lies in one of the coding directory's LINKED_ONLY folders."""
    return any(inside(resolved, folder) for folder in linked_roots(settings.OPS_CODING_DIR))


def inside(resolved: str, folder: str) -> bool:
    """Path(resolved).is_relative_to(folder), for real paths (whole: no `.`, `..`, doubled
    or trailing slash), by their text."""
    return resolved == folder or resolved.startswith(folder.rstrip("/") + "/")


@functools.lru_cache(maxsize=8)
def linked_folders(coding_dir) -> tuple[Path, ...]:
    """The LINKED_ONLY folders of a coding directory, resolved once per process: the operator's
    configuration, outside every box, so no harness can move them."""
    return tuple(coding_root(coding_dir) / name for name in LINKED_ONLY)


@functools.lru_cache(maxsize=8)
def linked_roots(coding_dir) -> tuple[str, ...]:
    return tuple(map(str, linked_folders(coding_dir)))


@functools.lru_cache(maxsize=8)
def coding_root(coding_dir) -> Path:
    return Path(os.path.realpath(coding_dir))


POINTER_BYTES = 4096  # a `.git` pointer is one line; a bigger file is not one


def read_pointer(pointer: Path) -> str | None:
    """A worktree's `.git` pointer as the harness left it, read by the driver: only a regular
    file in the worktree itself, never through a link (to /proc/kmsg, whose read as root
    blocks, or to a file of the machine's), and only its first few kilobytes. None otherwise."""
    try:
        fd = os.open(pointer, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, POINTER_BYTES).decode(errors="replace").strip()
    finally:
        os.close(fd)


def store_path(run_id: int) -> Path:
    return coding_root(settings.OPS_CODING_DIR) / STORES / f"run-{run_id}"


def retired_path() -> Path:
    """Where ended runs' objects are kept (coding/run_objects.retire): no box shows it."""
    return coding_root(settings.OPS_CODING_DIR) / STORES / "retired"


def store_of(resolved: str) -> Path | None:
    """The object store of the run whose checkout (its worktree, its merge's scratch tree)
    `resolved` (a real path) is, if it has one (a run provisioned before stores were kept has
    none)."""
    for folder in linked_roots(settings.OPS_CODING_DIR):
        if inside(resolved, folder):
            below = resolved[len(folder) + 1 :] if resolved != folder else "."
            found = RUN_CHECKOUT.fullmatch(f"{os.path.basename(folder)}/{below}")
            store = store_path(int(found[1] or found[3])) if found else None
            return store if store is not None and store.is_dir() else None
    return None


def view_mounts(worktree: Path) -> tuple[list[dict], list[str]]:
    """(mounts, readable): the worktree's git directory as its box shows it, read-only — the
    view (a tmpfs the box builder fills with view_files(), sealed read-only: nothing of it is
    written on disk), the repository's objects with the run's store as their only alternate,
    the run's own private directory; or a checkout's own `.git`; or nothing."""
    private, common = git_dirs(worktree)
    if common is None:
        return [], []
    if private is None:  # a `.git` directory of its own, inside the worktree anyway
        return [bind(common)], [str(common)]
    objects, info, own = common / "objects", common / "objects" / "info", private.name
    mounts = [sealed(common, "1m"), bind(objects), bind(private, common / "worktrees" / own)]
    mounts += [{"kind": "dir", "dst": str(common / name)} for name in ("refs/heads", "hooks")]
    mounts += [file(common / name, text) for name, text in view_files(private, common).items()]
    store = store_of(real_path(worktree)) if info.is_dir() else None  # made at provision
    if info.is_dir():  # the commit graph of every branch, the repository's alternates: hidden
        mounts += [sealed(info, "4k"), file(info / "alternates", f"{store}\n" if store else "")]
    mounts += [bind(store)] if store else []
    return mounts, [str(common), *([str(store)] if store else [])]


def bind(path: Path, dst: Path | None = None) -> dict:
    """`path` shown read-only at `dst` (at its own path without one)."""
    return {"kind": "bind", "src": str(path), "dst": str(dst or path)}


def sealed(path: Path, size: str) -> dict:
    """A tmpfs at `path`, made read-only once what the spec puts in it is there."""
    return {"kind": "tmpfs", "dst": str(path), "options": f"mode=755,size={size}", "sealed": True}


def file(path: Path, text: str) -> dict:
    return {"kind": "file", "dst": str(path), "text": text}


# A branch's name as the view writes it: no `..`, nothing hidden, no odd bytes.
SAFE_REF = re.compile(r"refs/heads/(?:[\w-][\w.-]*/)*[\w-][\w.-]*")
RUNS_BRANCHES = "refs/heads/opscore/"  # coding/models.py's BRANCH_PATTERN: every run's


def view_files(private: Path, common: Path) -> dict[str, str]:
    """The view's files (the module's docstring), read afresh for each launch, since the
    branch moves from pass to pass: its HEAD, its config, its refs."""
    own, main = head_of(private), head_of(common)
    main = "" if main.startswith(RUNS_BRANCHES) else main  # a run's branch: its own alone
    tips = {ref: ref_tip(common, ref) for ref in filter(None, [own, main])}
    refs = [f"{tip} {ref}\n" for ref, tip in sorted(tips.items()) if tip]
    files = {
        "HEAD": f"ref: {main or own or 'refs/heads/main'}\n",
        "config": config_text(common / "config"),
        "packed-refs": "# pack-refs with: peeled fully-peeled sorted \n" + "".join(refs),
    }
    if (common / "shallow").is_file():  # a shallow clone's history ends where it says
        files["shallow"] = (common / "shallow").read_text()
    return files


def head_of(git_dir: Path) -> str:
    """The branch a git directory's HEAD names, if it is a plain one; '' otherwise."""
    try:
        ref = (git_dir / "HEAD").read_text(errors="replace").strip().removeprefix("ref: ")
    except OSError:
        return ""
    return ref if SAFE_REF.fullmatch(ref) and ".." not in ref else ""


OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def ref_tip(common: Path, ref: str) -> str:
    """The commit `ref` names in the repository: its loose file, else its packed-refs line
    (the operator's gc packs every ref); '' where neither says."""
    try:
        tip = (common / ref).read_text().strip()
        if OBJECT_ID.fullmatch(tip):
            return tip
    except OSError:
        pass
    try:
        packed = (common / "packed-refs").read_text(errors="replace")
    except OSError:
        return ""
    for line in packed.splitlines():
        sha, _, name = line.partition(" ")
        if name == ref and OBJECT_ID.fullmatch(sha):
            return sha
    return ""


# What of the repository's config the view shows: what git needs to read the repository (its
# format, the checkout's core settings). The rest is the operator's — a remote's URL with its
# credentials, an http.extraHeader, a credential helper, filters. The view's refs are files,
# whatever backend the repository keeps its own in.
KEPT_CONFIG = re.compile(
    r"core\.(repositoryformatversion|bare|filemode|ignorecase|precomposeunicode|symlinks"
    r"|logallrefupdates)|extensions\.(?!refstorage$)[a-z0-9]+"
)
PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.-]+")  # a format's: written back as it is, unquoted


def config_text(config: Path) -> str:
    if not config.is_file() or config.is_symlink():
        return ""
    seen = os.stat(config)
    return kept_config(str(config), seen.st_mtime_ns, seen.st_size)


@functools.lru_cache(maxsize=8)
def kept_config(path: str, mtime_ns: int, size: int) -> str:
    """KEPT_CONFIG's keys of the config file at `path` (that file alone: no includes), as a
    config file; read again when the file changes. Read here rather than by a `git config`
    (a git more on a pass): only `[core]` and `[extensions]` lines of the plain form
    `name = value` are taken, anything else — a subsection, a quoted or continued value,
    another section — is left out, never misread into a kept key."""
    sections: dict[str, list[str]] = {}
    section = ""
    for line in Path(path).read_text(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("["):
            header, _, line = line[1:].partition("]")
            section = header.strip().lower()
        name, equals, value = line.partition("=")
        key, value = f"{section}.{name.strip().lower()}", value.strip()
        if equals and KEPT_CONFIG.fullmatch(key) and PLAIN_VALUE.fullmatch(value):
            sections.setdefault(section, []).append(f"\t{name.strip()} = {value}\n")
    return "".join(f"[{section}]\n" + "".join(lines) for section, lines in sections.items())
