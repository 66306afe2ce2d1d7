"""What the coding lane spends in git around a pass is counted, so an extra call shows: a fresh
worktree is one add, a proven single-shot run a fixed handful (the escape look, the staging
and what it leaves out cleared, the diff measures, the review commit), a cleanup saves and
removes in a few more — and the fallbacks that the short paths skip still work when they are
needed."""

import shutil
from pathlib import Path

import pytest

from coding.driver import handle_one_run
from coding.models import CodingRun
from coding.worktrees import WorktreeRefused, clean_up, provision
from tests.coding_support import is_git, new_run, watch_starts
from tests.conftest import sh

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def git_calls(monkeypatch) -> list[list[str]]:
    """Every git the driver starts (waited for or not); the box's commands are not git."""
    calls = []
    watch_starts(monkeypatch, after=lambda process, argv: calls.extend([argv] * is_git(argv)))
    return calls


def verbs(calls) -> list[str]:
    return [next(a for a in call[1:] if not a.startswith("-") and "=" not in a) for call in calls]


def test_a_fresh_worktree_is_one_git_add_its_base_read_from_what_the_add_wrote(
    coding_repo, git_calls
):
    run = provision(new_run(coding_repo, "@greet"))

    assert verbs(git_calls) == ["worktree"]
    assert run.base_sha == sh("git", "rev-parse", "main", cwd=coding_repo.path).strip()


def test_a_base_ref_not_allowed_is_refused_before_git_sees_it(coding_repo, git_calls):
    run = new_run(coding_repo, "@greet")
    run.base_ref = "--upload-pack=evil"
    run.save()

    with pytest.raises(WorktreeRefused):
        provision(run)
    assert git_calls == []


def test_a_proven_single_shot_run_runs_git_ten_times(coding_repo, git_calls):
    run = new_run(coding_repo, "@greet", mode="single-shot")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review"
    assert "+print('hello, world')" in Path(run.artifact_refs[-1]).read_text()
    assert run.diff_stats["changed"] == len(run.diff_stats["files"]) > 0
    assert run.iterations.get().changed_files == run.diff_stats["changed"]
    # the add reads its base from what it wrote; what the staging leaves out is cleared before
    # the tests; the staging serves the review commit, built while the tests run (HEAD read,
    # tree, commit): only the branch's move waits
    built = ["rev-parse", "write-tree", "commit-tree"]
    staged = ["add", "clean", "diff"]
    assert verbs(git_calls) == ["worktree", "status", "status", *staged, *built, "update-ref"]
    # each by its full path: started by name, each was looked for in every PATH folder first,
    # a failed exec a folder, while the driver waited on its vforked child
    assert {call[0] for call in git_calls} == {shutil.which("git")}


def test_a_passs_review_commit_starts_no_git_maintenance(coding_repo):
    """A repository whose git would write its commit-graph after any commit: the review
    commit leaves that to the repository's own git."""
    for key, value in (
        ("maintenance.commit-graph.enabled", "true"),
        ("maintenance.commit-graph.auto", "1"),
    ):
        sh("git", "config", key, value, cwd=coding_repo.path)
    run = new_run(coding_repo, "@greet", mode="single-shot")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review", run.reason
    graphs = Path(coding_repo.path, ".git/objects/info")
    assert not any(graphs.glob("commit-graph*")), list(graphs.iterdir())


def test_cleanup_saves_and_removes_in_seven_git_calls(coding_repo, git_calls):
    run = provision(new_run(coding_repo, "@greet"))
    Path(run.worktree_path, "app.py").write_text("print('unsaved')\n")
    Path(run.worktree_path, "new.py").write_text("x = 1\n")
    git_calls.clear()

    clean_up(run)

    assert len(git_calls) <= 7, verbs(git_calls)
    patch = Path(run.patch_ref).read_text()
    assert "print('unsaved')" in patch and "new.py" in patch
    kept = sh("git", "show", f"{run.state_ref}:new.py", cwd=coding_repo.path)
    assert kept == "x = 1\n"


def test_a_run_whose_tree_was_deleted_by_hand_gets_a_fresh_one_on_its_branch(coding_repo):
    run = provision(new_run(coding_repo, "@greet"))
    shutil.rmtree(run.worktree_path)  # still registered with git, and its branch exists

    again = provision(CodingRun.objects.get(pk=run.pk))

    assert Path(again.worktree_path, "app.py").exists()
    head = sh("git", "rev-parse", "--abbrev-ref", "HEAD", cwd=again.worktree_path).strip()
    assert head == run.branch
