"""The driver's own git: every git the coding lane runs outside the box, as Opscore, on a
repository or worktree a harness had its hands on. Hardened so nothing a harness planted runs
or steers it: no hooks, fsmonitor, system or global config, pager or signing program; the git
directory of a linked worktree is taken from its repository (a rewritten `.git` pointer, a
`.git` of its own or the worktree made a repository is "tampered with"), never found by
climbing out of it; the repository's content filters (git-crypt's) pass content through
unchanged, so a worktree holds its blobs as committed, and its merge drivers are git's own
text merge; argv lists only, never a shell; a call that runs too long is the run's failure
(GitFailed), not the driver's hang. A module of its own because every git caller of the lane
(worktrees, checks, merges, deploys, review, the admin) goes through it, and because it is a
trust boundary to read in one place.
"""

import contextlib
import errno
import functools
import os
import re
import selectors
import shlex
import shutil
import stat
import subprocess
import threading
import time
from pathlib import Path

from django.conf import settings

from coding.gitview import linked_dirs, linked_only, read_pointer, real_path, store_of
from coding.reaping import Reaped
from coding.walks import remove

GIT_TIMEOUT = 120
SAFE_ENV = ("PATH", "LANG", "LC_ALL", "TMPDIR")
# The driver's git runs outside the box, as Opscore: nothing a harness could have planted may
# run or steer it — no hooks, no fsmonitor, no system or global config (HOME is Opscore's
# coding directory), no pager, no external diff, no signing program; worktrees are owned by
# the sandbox's uid, so ownership checks are the box's business, not git's.
HARDENED = [
    *("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false"),
    *("-c", "safe.directory=*", "-c", "core.pager=cat", "-c", "commit.gpgSign=false"),
    *("-c", "diff.noprefix=false", "-c", "core.untrackedCache=false"),
]


@functools.cache
def git_program() -> str:
    """git by its full path, found once per process on the PATH its calls are given
    (SAFE_ENV's, the driver's own): started by name, each call looked for it in every PATH
    folder before it, one failed exec a folder (eight on a PATH with rustup's and pyenv's
    folders first), in a child forked with vfork, the driver waiting meanwhile. Where no git
    is found, "git", as before (each call fails as it would have)."""
    return shutil.which("git", path=os.environ.get("PATH")) or "git"


class GitFailed(RuntimeError):
    pass


# Its name in a run's reason stays where it has always been said from ("the driver hit
# coding.worktrees.GitFailed: …", coding/driver.py's crash_line): worktrees.py re-exports it.
GitFailed.__module__ = "coding.worktrees"


def git(args: list[str], cwd: Path | str, extra_env: dict | None = None, bare=False) -> str:
    """`bare`: git as a bare repository, attribute-free (BARE)."""
    return git_output(git_started(args, cwd, bare, extra_env=extra_env))


def git_environment(cwd: Path | str, extra_env: dict | None = None, bare=False) -> dict:
    env = {k: os.environ[k] for k in SAFE_ENV if k in os.environ} | git_env(Path(cwd))
    if bare:  # the git directory git_env named (a linked worktree's), else the checkout's
        git_dir = Path(cwd, ".git")
        env.setdefault("GIT_DIR", str(git_dir if git_dir.is_dir() else cwd))
        env.pop("GIT_WORK_TREE", None)
    env |= extra_env or {}
    verbatim(config_of(Path(cwd), env).parent)
    return env | unfiltered(Path(cwd), env)


# What the lane's git writes into the repository's own attributes, read before any
# .gitattributes and winning over each (gitattributes(5): $GIT_DIR/info/attributes, the last
# line that names an attribute): no conversion of a file's bytes, in or out. A harness's
# .gitattributes would otherwise have git stage other bytes than its tests ran on (a Shift-JIS
# `working-tree-encoding` made UTF-8) and write other bytes than the reviewer read into every
# later checkout (`ident` expanded, `eol=crlf`, a Shift-JIS "ソ" ending in a backslash in a
# shell script): the commit approved is the bytes tested and the bytes merged. git < 2.40 has
# no `--attr-source` to keep the work tree's .gitattributes unread; this needs none. No
# `-filter`: the lane's git runs every filter as a pass-through already (unfiltered()), and the
# line is read by the operator's own git in the main checkout too, whose git-lfs it would stop.
VERBATIM = "* -text -eol -working-tree-encoding -ident\n"


def verbatim(common: Path) -> None:
    """VERBATIM the last line of the repository's `info/attributes` (its common directory's: a
    linked worktree reads that one), written if it is not: the operator's own lines before it
    are kept. Nowhere but a repository's git directory. GitFailed where it cannot be written:
    no git of the lane runs converting what it stages or checks out."""
    if not (common / "HEAD").is_file():
        return
    info = common / "info" / "attributes"
    written = info.with_name(f".attributes.opscore-{os.getpid()}-{threading.get_ident()}")
    try:
        text = info.read_text(errors="surrogateescape") if info.is_file() else ""
        if ("\n" + text).endswith("\n" + VERBATIM):
            return
        info.parent.mkdir(exist_ok=True)
        kept = text if not text or text.endswith("\n") else text + "\n"
        written.write_text(kept + VERBATIM, errors="surrogateescape")
        os.replace(written, info)  # whole, whoever reads it meanwhile (another driver's git)
    except OSError as error:
        with contextlib.suppress(OSError):
            written.unlink()
        raise GitFailed(f"the repository's {info} could not be written: {error}") from None


# A content filter of the repository's config (git-crypt's `filter.git-crypt.smudge`), named
# for a path by its .gitattributes, would run its program outside the box on every checkout
# and staging, and check out what the blob is not (a decrypted secret, in the tree a harness
# reads). Each filter the config defines is overridden: an empty command passes content
# through unchanged, and one not required is no error for it (gitattributes(5)).
PASS_THROUGH = (("smudge", ""), ("clean", ""), ("process", ""), ("required", "false"))
# What a config must say before it can define a filter or a merge driver, in any case or
# spelling git reads: the section's name (`[merge "x"]`, `[merge.x]`: a `merge = ` of a
# branch defines none), an include of another file, or a per-worktree config.
MAY_DEFINE = re.compile(rb'filter|include|worktreeconfig|merge(\s+"|\.)')


def unfiltered(cwd: Path, env: dict) -> dict:
    """The environment that turns off each content filter and merge driver this git's config
    defines, as command-line config (GIT_CONFIG_COUNT: a name git can read back whatever it
    holds, an `=` too, which `-c` would split on); {} where it defines none."""
    overrides = {"filter": PASS_THROUGH, "merge": text_merge()}
    keys = [
        (f"{section}.{name}.{what}", value)
        for section, names in defined_in_config(cwd, env).items()
        for name in names
        for what, value in overrides[section]
    ]
    env = {"GIT_CONFIG_COUNT": str(len(keys))} if keys else {}
    for number, (key, value) in enumerate(keys):
        env |= {f"GIT_CONFIG_KEY_{number}": key, f"GIT_CONFIG_VALUE_{number}": value}
    return env


def text_merge() -> tuple[tuple[str, str], ...]:
    """What a merge driver of the repository's config (`merge.<name>.driver`) is made: git's
    own three-way text merge, `git merge-file`, git merging as it would with no driver of that
    name. Its program, named for a path by a .gitattributes a harness wrote and got merged,
    would otherwise run outside the box on the harness's content at every scratch merge
    (coding.approvals). A driver cannot be undefined, only redefined; an empty command would
    keep our side as the merge, silently; `false` would refuse every such merge. A conflict
    is merge-file's non-zero exit, the merge refused with its reason as for any conflict. The
    merge of a criss-cross's bases (`recursive`) is git's built-in text merge (or this)."""
    git_itself = shlex.quote(git_program()).replace("%", "%%")  # git expands % in a driver
    return (("driver", f"{git_itself} merge-file --marker-size=%L %A %O %B"), ("recursive", "text"))


def defined_in_config(cwd: Path, env: dict) -> dict[str, list[str]]:
    """The content filters and merge drivers the config this git reads defines (its
    repository's, never one of the worktree's: git_env), by name, as git itself reads them
    (includes too). A config that cannot define one is not asked about: a repository with
    neither spares the git."""
    defined = {"filter": set(), "merge": set()}
    if not may_define(config_of(cwd, env)):
        return {section: [] for section in defined}
    query = [git_program(), *HARDENED, "config", "-z", "--get-regexp", r"^(filter|merge)\."]
    try:
        found = subprocess.run(query, cwd=cwd, env=env, capture_output=True, timeout=GIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise GitFailed(f"git config did not finish in {GIT_TIMEOUT}s") from None
    if found.returncode not in (0, 1):  # 1: no such key at all
        said = found.stderr.decode(errors="replace").strip()[:500]
        raise GitFailed(f"git config failed: {said}")
    for entry in filter(None, found.stdout.split(b"\0")):
        key = entry.split(b"\n", 1)[0].decode(errors="surrogateescape")
        section, _, rest = key.partition(".")
        defined[section].add(rest.rpartition(".")[0])  # "" for merge.default, merge.tool
    return {section: sorted(names - {""}) for section, names in defined.items()}


def config_of(cwd: Path, env: dict) -> Path:
    """The config file of the repository this git reads: its common git directory's (a linked
    worktree's git directory names it in `commondir`)."""
    git_dir = Path(env["GIT_DIR"]) if "GIT_DIR" in env else cwd / ".git"
    git_dir = git_dir if git_dir.is_dir() else cwd  # else cwd is a bare repository, or none
    with contextlib.suppress(OSError):
        return git_dir / (git_dir / "commondir").read_text().strip() / "config"
    return git_dir / "config"


def may_define(config: Path) -> bool:
    """Whether the config says a word a filter's or a merge driver's definition needs (a
    section's name is letters only, no escape: git reads `[filter "x"]` in no other spelling
    but its case)."""
    try:
        text = config.read_bytes().lower()
    except FileNotFoundError:  # no repository there: git reads no config either
        return False
    except OSError:  # git is asked
        return True
    return MAY_DEFINE.search(text) is not None


EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
# A change measured whatever the repository's attributes say: git reads a checkout's
# .gitattributes from its work tree, else from its index (where a harness's own sits staged),
# so `* binary` or `*.py -diff` would count every line of it as "-". The same git with no work
# tree, as a bare repository, reads neither (and the empty attr.tree keeps git >= 2.42 from
# reading a bare one's from HEAD); the index and the objects are read as ever. `--bare`
# alone would not do: the repository's own core.bare=false overrides it once its config is
# read.
BARE = ["--bare", "-c", "core.bare=true", "-c", f"attr.tree={EMPTY_TREE}"]


def git_started(args: list[str], cwd: Path | str, bare=False, fed=False, extra_env=None):
    """git running, not waited for (the driver writes its rows meanwhile); git_output()
    waits for it. `bare`: git as a bare repository, attribute-free (BARE). `fed`: its
    standard input a pipe, for git_output() to write (a git reading its commands there waits
    for them, started). Reaped (coding/reaping.py): the wait for its end sleeps not a
    millisecond past it."""
    process = Reaped(
        [git_program(), *HARDENED, *(BARE if bare else ()), *args],
        cwd=cwd,
        env=git_environment(cwd, extra_env, bare),
        stdin=subprocess.PIPE if fed else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",  # a worktree's file need not be UTF-8: its diff is still read
    )
    return process, args[0]


def git_output(started, said: str | None = None) -> str:
    """What a started git printed, once it ended; `said`: written to its input first (one
    started `fed`), which then closes."""
    process, verb = started
    try:
        out, err = process.communicate(said, timeout=GIT_TIMEOUT)
    except subprocess.TimeoutExpired:  # a worktree of millions of files: the run's failure
        process.kill()
        process.communicate()
        raise GitFailed(f"git {verb} did not finish in {GIT_TIMEOUT}s") from None
    if process.returncode != 0:
        raise GitFailed(f"git {verb} failed: {err.strip()[:500]}")
    return out


# The most of a change's patch the driver reads (text, or binary as git prints it): a change
# past it is no change to review, and held whole it would cost the driver its memory.
PATCH_BYTES = 64 * 1024**2


class PatchTooBig(GitFailed):
    """A change's patch past PATCH_BYTES (read_patch)."""


def read_patch(started) -> str:
    """The patch a started git diff prints, refused (PatchTooBig) past PATCH_BYTES, git
    killed: never read whole, since a harness makes it as big as it likes — gigabytes of
    binary files would be held several times over in the driver's memory, which the kernel
    then kills the driver for, and each that adopts the run after it. Within GIT_TIMEOUT."""
    (process, verb), cap = started, PATCH_BYTES
    out, err, deadline = bytearray(), bytearray(), time.monotonic() + GIT_TIMEOUT
    streams = {process.stdout.fileno(): out, process.stderr.fileno(): err}
    try:
        with selectors.DefaultSelector() as selector:
            for fd in streams:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map() and len(out) <= cap:
                if time.monotonic() >= deadline:
                    raise GitFailed(f"git {verb} did not finish in {GIT_TIMEOUT}s")
                for key, _ in selector.select(max(deadline - time.monotonic(), 0)):
                    chunk = os.read(key.fd, 1 << 20)
                    streams[key.fd] += chunk
                    if not chunk:
                        selector.unregister(key.fd)
        if len(out) > cap:
            raise PatchTooBig(
                f"the change's patch is past the {cap / 1e6:,.0f} MB the driver reads"
            )
        process.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        raise GitFailed(f"git {verb} did not finish in {GIT_TIMEOUT}s") from None
    finally:
        if process.returncode is None:
            process.kill()
            process.wait()
        process.stdout.close(), process.stderr.close()
    if process.returncode != 0:
        raise GitFailed(f"git {verb} failed: {err.decode(errors='replace').strip()[:500]}")
    return out.decode(errors="replace")


TOO_LONG = os.strerror(errno.ENAMETOOLONG)  # as git says it, in the C locale


def remove_worktree(repo_path: str, tree: Path) -> None:
    """A linked worktree removed by git — or, where git cannot name what a box left in it
    (folders deeper than the 4,096 bytes a path may have), folder by folder (coding/walks.py),
    its registration then pruned: the tree never stays on disk for good. Anything else git
    refuses (a lock, damage) is raised, for the run to say."""
    try:
        git(["worktree", "remove", "--force", "--", str(tree)], repo_path, {"LC_ALL": "C"})
    except GitFailed as refused:
        if TOO_LONG not in str(refused):
            raise
        remove(tree)
        git(["worktree", "prune"], repo_path)


def git_settled(started) -> None:
    """A started git waited for if nothing read it yet (a pass that ended early); what it
    said or refused no longer matters."""
    if started is not None and started[0].returncode is None:
        with contextlib.suppress(GitFailed):
            git_output(started)


def git_env(cwd: Path) -> dict:
    """Config only from the repository; a linked worktree's git directory taken from its
    repository, never from the `.git` file the harness could rewrite to point at a repository
    (and config) of its own; no climbing out of `cwd` to find one. A run's checkout writes
    its objects to its run's store (coding/gitview.py), never to the repository's."""
    here = real_path(cwd)
    env = {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "HOME": str(settings.OPS_CODING_DIR),
        "GIT_CEILING_DIRECTORIES": os.path.dirname(here),
    }
    if file_or_link(os.path.join(cwd, ".git")) or linked_only(here):
        private, common = linked_gitdirs(cwd)
        env |= {"GIT_DIR": str(private), "GIT_WORK_TREE": str(cwd)}
        env |= store_env(here, common / "objects")
    return env


def file_or_link(path: str) -> bool:
    """Path(path).is_file() or Path(path).is_symlink(), by one lstat: a link (to anything)
    or a regular file; the errors they raise (a folder not searchable) raised alike."""
    try:
        mode = os.lstat(path).st_mode
    except OSError as error:
        if error.errno in NOT_THERE:
            return False
        raise
    except ValueError:  # a NUL in the path
        return False
    return stat.S_ISLNK(mode) or stat.S_ISREG(mode)


NOT_THERE = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)  # pathlib's _IGNORED_ERRNOS


def store_env(here: str, objects: Path) -> dict:
    """Where the objects a run's checkout (`here`, resolved) makes land: its run's own store
    (coding/gitview.py), read with the repository's objects, its base's history."""
    store = store_of(here)
    if store is None:
        return {}
    return {"GIT_OBJECT_DIRECTORY": str(store), "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(objects)}


def linked_gitdirs(worktree: Path) -> tuple[Path, Path]:
    """(private, common): the worktree's git directories, if its `.git` pointer still names
    one of a real repository's worktrees that points back here; GitFailed if it was tampered
    with."""
    text = read_pointer(os.path.join(worktree, ".git"))
    found = linked_dirs(worktree, text) if text is not None else None
    if found is None:
        what = repr(text[:200]) if text is not None else "no longer a plain file"
        raise GitFailed(f"the worktree's .git pointer was tampered with: {what}")
    return found
