"""Worktrees for coding runs: one per run, on its own branch, from a recorded base SHA.

Against the peers' failures: provisioning is serialised per repository by a Postgres advisory
lock (parallel `git worktree add` races on `.git/config.lock`); the base must be an allowed ref;
branch names are derived and checked against a strict pattern; git is driven with argv lists
and `--end-of-options` / `--`, never a shell. Cleanup never destroys work: uncommitted changes
are saved as a patch first, and a worktree a killed run left behind is saved, unlocked and
reset before a retry uses it.
"""

import os
import re
import subprocess
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils.text import slugify

from coding.models import BRANCH_PATTERN, CodingRun, Repository

GIT_TIMEOUT = 120
SAFE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


class WorktreeRefused(ValueError):
    """A name, ref or path that must not reach git."""


class GitFailed(RuntimeError):
    pass


def git(args: list[str], cwd: Path | str) -> str:
    env = {k: os.environ[k] for k in SAFE_ENV if k in os.environ}
    env |= {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=GIT_TIMEOUT
    )
    if done.returncode != 0:
        raise GitFailed(f"git {args[0]} failed: {done.stderr.strip()[:500]}")
    return done.stdout


def check_branch(name: str) -> str:
    if not re.fullmatch(BRANCH_PATTERN, name or ""):
        raise WorktreeRefused(f"branch name {name!r} does not match {BRANCH_PATTERN}")
    return name


def branch_for(run: CodingRun) -> str:
    words = re.sub(r"[^a-z0-9-]+", "-", slugify(run.task.get("summary", "") or "change"))
    slug = words[:40].strip("-") or "change"
    return check_branch(f"opscore/{run.id}-{slug}")


def resolve_base(repo: Repository, ref: str) -> str:
    """The commit an allowed ref names now; anything else is refused before git sees it."""
    if ref not in repo.allowed_base_refs:
        raise WorktreeRefused(f"base ref {ref!r} is not allowed for {repo.name}")
    sha = git(["rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}"], repo.path)
    return sha.strip()


def worktree_dir(run: CodingRun) -> Path:
    return Path(settings.OPS_CODING_DIR) / "worktrees" / run.repository.name / f"run-{run.id}"


def save_uncommitted(path: Path, run: CodingRun, label: str) -> str:
    """Everything not committed (untracked files included) as a patch file; '' if none."""
    git(["add", "--all"], path)
    patch = git(["diff", "--cached", "--binary"], path)
    git(["reset", "--quiet"], path)
    if not patch.strip():
        return ""
    target = Path(settings.OPS_CODING_DIR) / "patches" / f"run-{run.id}-{label}.patch"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(patch)
    return str(target)


def recover_leftover(path: Path, run: CodingRun) -> str:
    """A killed run's worktree: save what it held, drop a stale index.lock, reset it."""
    gitdir = Path(git(["rev-parse", "--git-dir"], path).strip())
    lock = (gitdir if gitdir.is_absolute() else path / gitdir) / "index.lock"
    lock.unlink(missing_ok=True)
    saved = save_uncommitted(path, run, "before-retry")
    git(["reset", "--hard", "--quiet"], path)
    git(["clean", "-fd", "--quiet"], path)
    return saved


@transaction.atomic
def provision(run: CodingRun) -> CodingRun:
    """The run's worktree on its branch from its base SHA, one repository at a time."""
    repo = run.repository
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"opscore.coding.{repo.name}"]
        )
    run.base_sha = run.base_sha or resolve_base(repo, run.base_ref)
    run.branch = check_branch(run.branch) if run.branch else branch_for(run)
    path = worktree_dir(run)
    if path.exists():
        saved = recover_leftover(path, run)
        run.patch_ref = saved or run.patch_ref
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        git(["worktree", "prune"], repo.path)
        if git(["branch", "--list", "--", run.branch], repo.path).strip():  # a retry
            git(["worktree", "add", "--", str(path), run.branch], repo.path)
        else:
            git(["worktree", "add", "-b", run.branch, "--", str(path), run.base_sha], repo.path)
    run.worktree_path = str(path)
    run.save(update_fields=["base_sha", "branch", "worktree_path", "patch_ref"])
    return run


def clean_up(run: CodingRun) -> CodingRun:
    """Remove the worktree — after saving any uncommitted work. The branch (and its commits)
    stays."""
    path = Path(run.worktree_path)
    if path.exists():
        saved = save_uncommitted(path, run, "at-cleanup")
        run.patch_ref = saved or run.patch_ref
        git(["worktree", "remove", "--force", "--", str(path)], run.repository.path)
    git(["worktree", "prune"], run.repository.path)
    run.worktree_path = ""
    run.save(update_fields=["worktree_path", "patch_ref"])
    return run
