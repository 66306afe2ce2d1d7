"""One pass of a coding run (single-shot): the harness in the worktree, then the repository's
tests and lint. Completion is proven by the tests passing, never by what the harness prints;
every transition is a row (the run's status, an iteration) and an event."""

import hashlib
from pathlib import Path

from django.conf import settings
from django.db.models.functions import Now

from coding.models import CodingIteration, CodingRun, RunStatus
from coding.sandbox import HarnessMissing, run_boxed
from coding.worktrees import GitFailed, WorktreeRefused, git, provision
from opscore.actions import record_event


def transition(run: CodingRun, status: str, reason: str = "") -> CodingRun:
    run.status, run.reason, run.updated_at = status, reason[:2000], Now()
    run.save(update_fields=["status", "reason", "updated_at"])
    record_event(
        f"coding.run.{status}",
        f"R{run.id} {run.repository_id} {status}",
        summary=reason[:500],
        tags=["coding", status],
        payload={"run_id": run.id, "branch": run.branch or ""},
        actor="system:coding",
    )
    return run


def harness_argv(run: CodingRun) -> list[str]:
    configured = settings.OPS_CODING_RUNNERS.get(run.runner)
    if not configured:
        raise HarnessMissing(f"no harness configured for runner {run.runner!r}")
    prompt = run.task.get("problem") or run.task.get("summary", "")
    return [*configured, prompt]


def diff_hash(worktree: str) -> str:
    git(["add", "--all", "--intent-to-add"], worktree)
    return hashlib.sha256(git(["diff", "HEAD", "--binary"], worktree).encode()).hexdigest()[:16]


def check(repo, worktree: str) -> tuple[bool, str]:
    """Tests and lint, each its argv in the worktree; no command configured is no evidence."""
    commands = [c for c in (repo.test_command, repo.lint_command) if c]
    if not commands:
        return False, "no test command is configured: nothing proves the change"
    for argv in commands:
        done = run_boxed(argv, worktree)
        if done.exit_status != 0:
            return False, f"{argv[0]} failed ({done.exit_status}): {done.output[-500:]}"
    return True, "tests and lint passed"


def run_once(run: CodingRun) -> CodingRun:
    if run.runner not in run.repository.runners:
        return transition(run, RunStatus.FAILED, f"runner {run.runner} may not touch this repo")
    try:
        run = provision(run)
        argv = harness_argv(run)
        if run.status != RunStatus.RUNNING:  # start_next already moved it (and said so)
            transition(run, RunStatus.RUNNING)
        done = run_boxed(argv, run.worktree_path)
    except HarnessMissing as missing:
        return transition(run, RunStatus.BLOCKED, str(missing))
    except (WorktreeRefused, GitFailed) as refused:
        return transition(run, RunStatus.FAILED, str(refused))
    run.iteration += 1
    run.save(update_fields=["iteration"])
    transition(run, RunStatus.WAITING_FOR_TESTS)
    passed, why = check(run.repository, run.worktree_path)
    CodingIteration.objects.create(
        run=run,
        number=run.iteration,
        prompt=argv[-1][:5000],
        output_summary=done.output[-4000:],
        diff_hash=diff_hash(run.worktree_path),
        tests_passed=passed,
        duration_ms=int(done.seconds * 1000),
        exit_status=done.exit_status,
    )
    if done.timed_out:
        return transition(run, RunStatus.FAILED, "the harness ran past its wall-clock limit")
    if not passed:
        return transition(run, RunStatus.FAILED, why)
    run.diff_stats = {"files": changed_files(run.worktree_path)}
    run.save(update_fields=["diff_stats"])
    return transition(run, RunStatus.WAITING_FOR_REVIEW, why)


def changed_files(worktree: str) -> list[str]:
    names = git(["diff", "HEAD", "--name-only"], worktree).split("\n")
    return [n for n in names if n and not Path(n).is_absolute()][:200]
