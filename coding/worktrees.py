"""Worktrees for coding runs: one per run, on its own branch, from a recorded base SHA.

Against the peers' failures: provisioning is serialised per repository by a Postgres advisory
lock (parallel `git worktree add` races on `.git/config.lock`); the base must be an allowed ref;
branch names are derived and checked against a strict pattern; git is driven with argv lists
and `--end-of-options` / `--`, never a shell, and hardened (coding/hardened_git.py). Cleanup
never destroys work: uncommitted changes are saved as a patch and as a commit under
`refs/opscore/runs/<id>` first, and a worktree a killed run left behind is saved, unlocked and
reset before a retry uses it.
"""

import contextlib
import json
import re
import shutil
import tempfile
import threading
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import JSONField
from django.db.models.expressions import RawSQL
from django.utils.text import slugify

from coding import hardened_git
from coding.box import BOX_DIR, HOME_DIR
from coding.hardened_git import GitFailed, git, git_env, git_output, git_settled, git_started
from coding.models import BRANCH_PATTERN, CodingRun, Repository, RunStatus
from coding.run_objects import objects_of, open_store, retire
from coding.walks import remove

# Caches and bytecode are never part of a run's change, with or without a .gitignore.
NOT_WORK = [":(exclude,glob)**/__pycache__/**", ":(exclude,glob)**/*.py[co]"]
NOT_WORK += [":(exclude,glob)**/.pytest_cache/**"]


class WorktreeRefused(ValueError):
    """A name, ref or path that must not reach git."""


def check_branch(name: str) -> str:
    if not re.fullmatch(BRANCH_PATTERN, name or ""):
        raise WorktreeRefused(f"branch name {name!r} does not match {BRANCH_PATTERN}")
    return name


def branch_for(run: CodingRun) -> str:
    words = re.sub(r"[^a-z0-9-]+", "-", slugify(run.task.get("summary", "") or "change"))
    slug = words[:40].strip("-") or "change"
    return check_branch(f"opscore/{run.id}-{slug}")


def allowed_ref(repo: Repository, ref: str) -> str:
    """The ref, if the repository allows it as a base; refused before git sees it."""
    if ref not in repo.allowed_base_refs:
        raise WorktreeRefused(f"base ref {ref!r} is not allowed for {repo.name}")
    return ref


def resolve_base(repo: Repository, ref: str) -> str:
    """The commit an allowed ref names now; anything else is refused before git sees it."""
    ref = allowed_ref(repo, ref)
    sha = git(["rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}"], repo.path)
    return sha.strip()


def worktree_dir(run: CodingRun) -> Path:
    """`run-<id>/tree`: the tree alone in its own directory, so a write through `..` shows."""
    return (
        Path(settings.OPS_CODING_DIR) / "worktrees" / run.repository.name / f"run-{run.id}" / "tree"
    )


def save_uncommitted(path: Path, run: CodingRun, label: str, tree: str) -> str:
    """Everything not committed (untracked files included) as a patch file; '' if none.
    `tree` is the worktree as keep_state saved it, so the worktree's index is not touched.
    No textconv: a diff driver of the repository's config (`sops -d`, `gpg -d`), named for
    any file by the harness's .gitattributes, would run outside the box on its files, and
    print what no patch applies. None past PATCH_BYTES: the state ref keeps the tree."""
    diff = ["diff", "--binary", "--no-ext-diff", "--no-textconv", "HEAD", tree]
    try:
        patch = hardened_git.read_patch(git_started(diff, path))
    except hardened_git.PatchTooBig:
        return ""
    if not patch.strip():
        return ""
    return keep_patch(run, label, patch)


def state_ref_of(run: CodingRun) -> str:
    return f"refs/opscore/runs/{run.id}"


def snapshot(path: Path) -> str:
    """The worktree as it is (untracked files too, caches not) as a tree object, built on a
    scratch index seeded from the worktree's own — its stat cache spares hashing unchanged
    files, and the box mounts it read-only — or from HEAD where that cannot be read."""
    with tempfile.TemporaryDirectory() as scratch:
        index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        try:
            shutil.copyfile(index_of(path), index["GIT_INDEX_FILE"])
        except (OSError, GitFailed):
            git(["read-tree", "HEAD"], path, index)
        git(["add", "--all", "--", ".", *NOT_WORK], path, index)
        return git(["write-tree"], path, index).strip()


def index_of(path: Path) -> Path:
    return Path(git_env(path).get("GIT_DIR", path / ".git")) / "index"


def keep_state(path: Path, run: CodingRun, label: str) -> str:
    """The worktree as it is, committed onto HEAD under `refs/opscore/runs/<id>`."""
    return keep_tree(path, run, label)[0]


def keep_tree(path: Path, run: CodingRun, label: str) -> tuple[str, str]:
    """(ref, tree): the worktree as it is, committed onto HEAD under `refs/opscore/runs/<id>`
    in the repository: a patch file can be lost or fail to apply, a ref keeps the very tree.
    The worktree's own index and branch are not touched; a state kept earlier (before a
    retry) stays reachable as the second parent."""
    ref, tree = state_ref_of(run), snapshot(path)
    earlier = git(["for-each-ref", "--format=%(objectname)", ref], path).split()
    message = f"opscore: run {run.id} worktree {label}"
    parent_args = ["-p", "HEAD", *[arg for sha in earlier for arg in ("-p", sha)]]
    commit = git([*AUTHOR, "commit-tree", tree, *parent_args, "-m", message], path).strip()
    git(["update-ref", "-m", message, ref, commit], path)
    return ref, tree


def keep_patch(run: CodingRun, label: str, patch: str) -> str:
    """A patch file under OPS_CODING_DIR, listed in the run's artifact refs."""
    target = write_patch(run, label, patch)
    CodingRun.objects.filter(pk=run.pk).update(artifact_refs=listing(target))
    return target


def write_patch(run: CodingRun, label: str, patch: str) -> str:
    """The patch file alone; listing() is its entry in the run's artifact refs."""
    target = Path(settings.OPS_CODING_DIR) / "patches" / f"run-{run.id}-{label}.patch"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(patch)
    return str(target)


def listing(path: str) -> RawSQL:
    """`path` appended to the run's artifact refs as the statement writing the row finds them
    (a move's own UPDATE can carry it)."""
    return RawSQL("artifact_refs || %s::jsonb", [json.dumps([path])], output_field=JSONField())


def recover_leftover(path: Path, run: CodingRun) -> str:
    """A killed run's worktree: save what it held, drop a stale index.lock, reset it."""
    gitdir = Path(git(["rev-parse", "--git-dir"], path).strip())
    lock = (gitdir if gitdir.is_absolute() else path / gitdir) / "index.lock"
    lock.unlink(missing_ok=True)
    run.state_ref, tree = keep_tree(path, run, "before-retry")
    saved = save_uncommitted(path, run, "before-retry", tree)
    git(["reset", "--hard", "--quiet"], path)
    git(["clean", "-fd", "--quiet"], path)
    return saved


def lock_repository(repo: Repository) -> None:
    """Until the transaction ends, nobody else adds a worktree to or merges into this repo."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"opscore.coding.{repo.name}"]
        )


@contextlib.contextmanager
def holding_repository(repo: Repository):
    """The same lock for work too long for one transaction (a merge and its tests): a session
    lock, released however the block ends — or by the server, if this process dies."""
    key = f"opscore.coding.{repo.name}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", [key])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])


AUTHOR = ["-c", "user.name=Opscore coding lane", "-c", "user.email=coding@opscore.invalid"]


def commit_all(worktree: str, message: str, staged: bool = False) -> str:
    """Commit whatever the pass left (hooks off: they are the repository's, not the run's) and
    return the commit. `staged`: it is all staged already (coding/checks.py's Staging)."""
    if not staged:
        git(["add", "--all", "--", ".", *NOT_WORK], worktree)
    commit = ReviewCommit(worktree, message)
    commit.move()
    return commit.made()


class ReviewCommit:
    """A pass's review commit built while its tests run — the staged index's tree and a
    commit of it on HEAD (`write-tree`, `commit-tree`: objects only, no ref moves; the index
    is the driver's, staged before the tests started, so this is the tree they run on) — so
    only the branch's move waits for the verdict: `update-ref`, compare-and-set against the
    HEAD it was built on (a branch moved meanwhile refuses it), started once the commit is
    built and waiting for its one line on its input (`--stdin`), so that the verdict waits
    for the move alone, not for a git to start; told nothing (the tests failed, the pass
    ended early), it moves no ref and exits. A pass its tests fail leaves an unreferenced
    commit object, git's gc's to prune. Plumbing starts no `git maintenance run --auto`
    behind it (a `git commit` would: a second git on every pass, and past the loose-object
    threshold a gc in the middle of one); the repository's upkeep is left to a merge's
    commit and the operator's own git. Nothing staged beyond HEAD's tree is no commit: HEAD
    stays the commit, as `git commit` refuses an empty one. A refusal, in the building or
    the move, is raised by made(), once the pass's row is written."""

    def __init__(self, worktree: str, message: str):
        self.worktree, self.message = worktree, message
        self.built: tuple[str, str] = ("", "")  # (HEAD it was built on, the commit)
        self.refused: Exception | None = None
        self.mover = None  # the update-ref waiting for its line, once the commit is built
        self.moving: tuple | None = None  # (that git, its line), once the verdict is in
        self.building = threading.Thread(target=self.build, daemon=True)
        self.building.start()

    def build(self) -> None:
        heads = None
        try:
            heads = git_started(["rev-parse", "HEAD", "HEAD^{tree}"], self.worktree)
            tree = git(["write-tree"], self.worktree).strip()
            head, head_tree = git_output(heads).split()
            commit = [*AUTHOR, "commit-tree", tree, "-p", head, "-m", self.message]
            self.built = (head, head if tree == head_tree else git(commit, self.worktree).strip())
            if self.built[1] != head:
                subject = self.message.splitlines()[0]
                move = ["update-ref", "-m", f"commit: {subject}", "--stdin"]
                self.mover = git_started(move, self.worktree, fed=True)
        except (GitFailed, OSError, ValueError) as refused:
            self.refused = refused
        finally:
            git_settled(heads)

    def move(self) -> None:
        """The branch moved to the commit built (once built), told: the verdict is in."""
        self.settle()
        head, commit = self.built
        if self.refused is None and commit != head and self.mover is not None:
            self.moving, self.mover = (self.mover, f"update HEAD {commit} {head}\n"), None

    def made(self) -> str:
        """The commit HEAD now names, once git is done; GitFailed if git refused it."""
        moving, self.moving = self.moving, None
        try:
            if moving is not None:
                git_output(*moving)
        except GitFailed as refused:
            self.refused = refused
        finally:
            self.close()
        if self.refused is not None:
            raise GitFailed(f"the review commit was refused: {self.refused}")
        return self.built[1]

    def settle(self) -> None:
        """Never left building: waited for (it is a few short gits)."""
        self.building.join()

    def close(self) -> None:
        """A move never told (the tests failed, the pass ended early, or before made()): its
        git, waiting for its line, told nothing: it moves no ref and exits, waited for."""
        self.settle()
        waiting = self.mover or (self.moving and self.moving[0])
        self.mover, self.moving = None, None
        if waiting:
            with contextlib.suppress(GitFailed):
                git_output(waiting, "")


OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def head_commit(worktree: Path) -> str:
    """The commit the worktree's HEAD names, as git left it a moment ago: read from the files
    (its HEAD names its branch, whose ref git writes as a loose file), both in the repository's
    git directory, which the box mounts read-only, found through the checked `.git` pointer.
    A `rev-parse HEAD` only where the files do not say (a detached or packed head, reftable).
    `git commit --quiet` then spares printing a summary with its diffstat."""
    gitdir = Path(git_env(worktree).get("GIT_DIR", worktree / ".git"))
    with contextlib.suppress(OSError, ValueError):
        head = (gitdir / "HEAD").read_text().strip()
        shared = (gitdir / "commondir").read_text().strip() if gitdir.name != ".git" else "."
        if head.startswith("ref: refs/heads/"):
            tip = (gitdir / shared / head.removeprefix("ref: ")).read_text().strip()
            if OBJECT_ID.fullmatch(tip):
                return tip
    return git(["rev-parse", "HEAD"], worktree).strip()


def head_of(repo: Repository, branch: str) -> str:
    ref = f"refs/heads/{check_branch(branch)}"
    return git(["rev-parse", "--verify", "--end-of-options", ref], repo.path).strip()


def add_worktree(repo: Repository, path: Path, branch: str, base: str, ref: str = "") -> str:
    """A new branch from the base: one git call; the base commit returned. Without a `base`
    the new branch starts at the allowed `ref` (checked by the caller), and its first commit
    is the base: read from the files git just wrote rather than resolved by a call before.
    Where that fails — a retry's branch exists, or a tree deleted by hand is still registered —
    prune, resolve the base, and add the branch as it is."""
    try:
        git(
            ["worktree", "add", "--no-track", "-b", branch, "--", str(path), base or ref], repo.path
        )
        return base or head_commit(path)
    except GitFailed:
        git(["worktree", "prune"], repo.path)
    base = base or resolve_base(repo, ref)
    if git(["branch", "--list", "--", branch], repo.path).strip():
        git(["worktree", "add", "--", str(path), branch], repo.path)
    else:
        git(["worktree", "add", "-b", branch, "--", str(path), base], repo.path)
    return base


@transaction.atomic
def provision(run: CodingRun) -> CodingRun:
    """The run's worktree on its branch from its base SHA, one repository at a time, and its
    own object store (coding/run_objects.py) before any object of its is made."""
    repo = run.repository
    lock_repository(repo)
    run.branch = check_branch(run.branch) if run.branch else branch_for(run)
    path = worktree_dir(run)
    if path.exists():
        run.base_sha = run.base_sha or resolve_base(repo, run.base_ref)
        open_store(run.id, path)
        saved = recover_leftover(path, run)
        run.patch_ref = saved or run.patch_ref
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        ref = "" if run.base_sha else allowed_ref(repo, run.base_ref)
        run.base_sha = add_worktree(repo, path, run.branch, run.base_sha, ref)
        open_store(run.id, path)
    run.worktree_path = str(path)
    kept = ("base_sha", "branch", "worktree_path", "patch_ref", "state_ref")
    if not CodingRun.objects.write(run.pk, **{name: getattr(run, name) for name in kept}):
        raise DatabaseError("Save with update_fields did not affect any rows.")  # as save() says
    return run


@transaction.atomic
def clean_up(run: CodingRun) -> CodingRun:
    """An ended run's worktree removed — after saving any uncommitted work — if it still has
    one (a run that waited for review gave it up then), and its object store retired (its
    objects join the repository's). The branch (and its commits) stays. Under the
    repository's lock, so a cancel and the driver cannot both clean (one resetting what the
    other is saving)."""
    lock_repository(run.repository)
    run.refresh_from_db(fields=["worktree_path", "patch_ref"])
    objects = remove_tree(run) if run.worktree_path else None
    retire(run.id, run.repository.path, objects)
    return run


@transaction.atomic
def set_aside(run: CodingRun) -> bool:
    """A run resting for review gives up its worktree as an ended run does, but keeps its
    object store: it has not ended (a revision's box reads its branch from there, a merge
    publishes it). Only while it still waits, read under the repository's lock, which a send
    back and a provision take too: a run already on its way back keeps the tree it is in.
    Whether it gave its tree up."""
    lock_repository(run.repository)
    run.refresh_from_db(fields=["status", "worktree_path", "patch_ref"])
    if run.status != RunStatus.WAITING_FOR_REVIEW or not run.worktree_path:
        return False
    remove_tree(run)
    return True


def remove_tree(run: CodingRun) -> Path | None:
    """The worktree, its box HOME and output gone, what it held kept first (a patch and
    `refs/opscore/runs/<id>`); the repository's object store, as found through it."""
    path = Path(run.worktree_path)
    objects = objects_of(path)  # found before its pointer goes with the tree
    if path.exists():
        run.state_ref, tree = keep_tree(path, run, "at-cleanup")
        saved = save_uncommitted(path, run, "at-cleanup", tree)
        run.patch_ref = saved or run.patch_ref
        hardened_git.remove_worktree(run.repository.path, path)  # however deep a box left it
    else:  # deleted by hand, or by a set-aside that rolled back after: its registration goes
        git(["worktree", "prune"], run.repository.path)
    remove_run_folder(run, path.parent)
    run.worktree_path = ""
    run.save(update_fields=["worktree_path", "patch_ref", "state_ref"])
    return objects


def remove_run_folder(run: CodingRun, folder: Path) -> None:
    """The box's HOME and output beside the tree, and the run's folder once empty; only in a
    folder named for the run: a recorded path of another shape points the removal nowhere."""
    if folder.name != f"run-{run.id}":
        return
    for beside in (HOME_DIR, BOX_DIR):
        remove(folder / beside)  # links removed as links, never followed
    with contextlib.suppress(OSError):
        folder.rmdir()
