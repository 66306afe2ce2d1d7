"""Coding-run worktrees on a real git repository: isolated, serialised, never destroying work,
and nothing shaped like an injection reaches git."""

import threading
from pathlib import Path

import pytest
from django.db import connection

from coding import hardened_git
from coding.models import CodingRun
from coding.worktrees import (
    GitFailed,
    ReviewCommit,
    WorktreeRefused,
    check_branch,
    clean_up,
    commit_all,
    provision,
)
from tests.conftest import sh

pytestmark = pytest.mark.django_db(transaction=True)


def new_run(git_repo, summary="Fix the greeting", **extra):
    fields = {"runner": "command", "base_ref": "main", "task": {"summary": summary}} | extra
    return CodingRun.objects.create(repository=git_repo, **fields)


def test_a_run_gets_its_own_worktree_and_branch_from_the_base(git_repo):
    run = provision(new_run(git_repo))

    assert run.branch == f"opscore/{run.id}-fix-the-greeting"
    assert (repo_path := sh("git", "rev-parse", "HEAD", cwd=git_repo.path).strip()) == run.base_sha
    assert sh("git", "rev-parse", "HEAD", cwd=run.worktree_path).strip() == repo_path
    assert "app.py" in sh("git", "ls-files", cwd=run.worktree_path)


def test_a_commit_names_its_full_id_and_nothing_to_commit_names_head(git_repo):
    run = provision(new_run(git_repo))
    Path(run.worktree_path, "app.py").write_text("print('changed')\n")

    made = commit_all(run.worktree_path, "R1: change")
    again = commit_all(run.worktree_path, "R1: nothing new")

    head = sh("git", "rev-parse", "HEAD", cwd=run.worktree_path).strip()
    assert made == again == head != run.base_sha


def test_a_review_commit_built_before_a_branch_moved_is_refused_and_the_branch_kept(git_repo):
    run = provision(new_run(git_repo))
    Path(run.worktree_path, "app.py").write_text("print('changed')\n")
    sh("git", "add", "app.py", cwd=run.worktree_path)
    commit = ReviewCommit(run.worktree_path, "R1: change")
    commit.settle()
    git = ["git", "-c", "user.name=me", "-c", "user.email=me@example.com"]
    sh(*git, "commit", "-q", "--allow-empty", "-m", "by hand", cwd=run.worktree_path)
    by_hand = sh("git", "rev-parse", "HEAD", cwd=run.worktree_path).strip()

    commit.move()
    with pytest.raises(GitFailed, match="review commit was refused"):
        commit.made()
    assert sh("git", "rev-parse", "HEAD", cwd=run.worktree_path).strip() == by_hand


def test_runs_provisioned_at_once_each_get_their_own(git_repo):
    runs = [new_run(git_repo, summary=f"change {n}") for n in range(4)]
    errors = []

    def go(run):
        try:
            provision(run)
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=go, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    done = CodingRun.objects.filter(pk__in=[r.pk for r in runs])
    assert len({r.worktree_path for r in done}) == 4 and len({r.branch for r in done}) == 4


def test_a_base_ref_that_is_not_allowed_is_refused(git_repo):
    with pytest.raises(WorktreeRefused, match="not allowed"):
        provision(new_run(git_repo, base_ref="origin/evil"))


@pytest.mark.parametrize(
    "name", ["opscore/1-x; rm -rf /", "opscore/1-$(id)", "-opscore/1-x", "opscore/../1-x"]
)
def test_branch_names_shaped_like_injections_are_refused_before_git(git_repo, tmp_path, name):
    run = new_run(git_repo)
    run.branch = name  # as a caller might supply it (the database refuses it as well)

    with pytest.raises(WorktreeRefused):
        provision(run)
    with pytest.raises(WorktreeRefused):
        check_branch(f"opscore/1-x; touch {tmp_path / 'canary'}")

    assert not (tmp_path / "canary").exists()
    assert "opscore" not in sh("git", "branch", "--list", cwd=git_repo.path)


def test_a_task_summary_cannot_inject_through_the_branch(git_repo, tmp_path):
    canary = tmp_path / "canary"
    run = provision(new_run(git_repo, summary=f"x; touch {canary} $(touch {canary})"))

    assert run.branch.startswith(f"opscore/{run.id}-x-touch") and not canary.exists()


def test_cleanup_saves_uncommitted_work_before_removing_the_worktree(git_repo):
    run = provision(new_run(git_repo))
    worktree = Path(run.worktree_path)
    (worktree / "app.py").write_text("print('hi')\n")
    (worktree / "new.py").write_text("x = 1\n")

    clean_up(run)

    patch = Path(run.patch_ref).read_text()
    assert "print('hi')" in patch and "new.py" in patch
    assert run.worktree_path == "" and not worktree.exists()
    assert run.branch in sh("git", "branch", "--list", cwd=git_repo.path)  # the branch stays


def test_a_worktree_left_by_a_killed_run_is_saved_unlocked_and_reset_on_retry(git_repo):
    run = provision(new_run(git_repo))
    Path(run.worktree_path, "app.py").write_text("half-written\n")
    gitdir = sh("git", "rev-parse", "--git-dir", cwd=run.worktree_path).strip()
    Path(gitdir).joinpath("index.lock").write_text("")  # the killed process held it

    again = provision(CodingRun.objects.get(pk=run.pk))

    assert "half-written" in Path(again.patch_ref).read_text()
    assert Path(again.worktree_path, "app.py").read_text() == "print('hello')\n"
    assert not Path(gitdir, "index.lock").exists()


def test_a_git_that_does_not_finish_in_time_is_a_git_failure_the_driver_says(git_repo, monkeypatch):
    """A worktree of millions of files (the harness's to make) keeps git busy past its
    timeout: a GitFailed the run's failure and its cleanup report, not a crash of the driver."""
    run = provision(new_run(git_repo))

    monkeypatch.setattr(hardened_git, "GIT_TIMEOUT", 0)  # over before git can answer
    with pytest.raises(GitFailed, match="did not finish in 0s"):
        clean_up(run)
