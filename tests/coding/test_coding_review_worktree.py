"""A run waiting for review gives up its worktree at the next heartbeat: its branch and review
commit are everything a reviewer, an approval, a merge (in a scratch tree of its own) or a
revision (a fresh tree from the branch) needs, so its tree, box HOME and box output go, and
runs waiting for days do not fill the disk. Not on the run's own path: the driver leaves the
tree, the beat's duty takes it. The run's object store stays until it ends (a revision's box
reads its branch from there); an ending retires it, tree or no tree."""

import json
import shutil
import sys
from pathlib import Path

import pytest

from coding import hardened_git, worktrees
from coding.box import BOX_DIR, HOME_DIR
from coding.driver import handle_one_run
from coding.duties import TREES_A_BEAT, set_aside_review_trees
from coding.gitview import store_path
from coding.hardened_git import GitFailed
from coding.models import CodingRun
from coding.operations import approve_run, cancel, revise
from coding.worktrees import clean_up, provision, set_aside, worktree_dir
from opscore.heartbeat import run_heartbeat
from tests.coding.test_coding_sandbox import pytestmark  # noqa: F401 (the box, real Postgres)
from tests.coding_support import new_run
from tests.conftest import sh

PRYING = [sys.executable, str(Path(__file__).parent.parent / "fake_harness" / "prying.py")]


def waiting(repo, tokens="@greet", **constraints):
    run = new_run(repo, tokens, **constraints)
    assert handle_one_run()
    run.refresh_from_db()
    assert run.status == "waiting_for_review", run.reason
    return run


def set_aside_at_the_beat(run):
    assert set_aside_review_trees()["set_aside"] == [run.id]
    run.refresh_from_db()
    return run


def checkouts(repo) -> list[str]:
    listed = sh("git", "worktree", "list", "--porcelain", cwd=repo.path)
    return [line for line in listed.splitlines() if line.startswith("worktree ")]


def alternates(repo) -> str:
    listed = Path(repo.path, ".git", "objects", "info", "alternates")
    return listed.read_text() if listed.exists() else ""


def retired(run) -> bool:
    store = store_path(run.id)
    return not store.exists() and str(store) not in alternates(run.repository)


def test_a_run_waiting_for_review_keeps_its_tree_until_the_next_beat_sets_it_aside(coding_repo):
    run = waiting(coding_repo, allow_merge=True)
    tree = Path(run.worktree_path)
    assert tree == worktree_dir(run) and (tree / "app.py").exists()  # the driver left it

    beat = run_heartbeat("test")

    duty = next(d for d in beat.duties if d["name"] == "set_aside_review_trees")
    assert duty["counts"] == {"set_aside": [run.id], "refused": {}, "left": 0}, duty
    run.refresh_from_db()
    assert run.worktree_path == "" and not tree.parent.exists()  # its HOME and output too
    assert checkouts(coding_repo) == [f"worktree {coding_repo.path}"]  # none registered either
    shown = sh("git", "show", f"{run.branch}:app.py", cwd=coding_repo.path)
    assert shown == "print('hello, world')\n"
    assert sh("git", "rev-parse", run.branch, cwd=coding_repo.path).strip() == run.head_sha
    assert store_path(run.id).is_dir()  # it has not ended


def test_approving_a_run_whose_worktree_was_set_aside_still_merges_with_green_tests(
    coding_repo,
):
    run = set_aside_at_the_beat(waiting(coding_repo, allow_merge=True))

    approve_run(run, "code", by="ana")
    approve_run(run, "merge", by="ana")
    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "completed" and run.merged_sha, run.reason
    assert Path(coding_repo.path, "app.py").read_text() == "print('hello, world')\n"
    sh("git", "fsck", "--connectivity-only", "--no-dangling", cwd=coding_repo.path)
    assert retired(run)


def test_cancelling_a_run_whose_worktree_was_set_aside_ends_it_and_keeps_its_branch(
    coding_repo,
):
    run = set_aside_at_the_beat(waiting(coding_repo, allow_merge=True))

    run = cancel(run, "not wanted", actor="ana")

    assert run.status == "cancelled" and run.worktree_path == ""
    assert sh("git", "rev-parse", run.branch, cwd=coding_repo.path).strip() == run.head_sha
    sh("git", "fsck", "--connectivity-only", "--no-dangling", cwd=coding_repo.path)
    assert retired(run)


@pytest.mark.parametrize("beat_first", [True, False], ids=["set-aside", "with-its-tree"])
def test_a_code_approval_that_ends_a_run_retires_its_tree_and_object_store(coding_repo, beat_first):
    """A job that may not merge ends at its code approval: nothing of it stays live."""
    run = waiting(coding_repo)
    tree = worktree_dir(run)
    if beat_first:
        set_aside_at_the_beat(run)

    approve_run(run, "code", by="ana")

    run.refresh_from_db()
    assert run.status == "completed" and run.worktree_path == "" and not tree.exists()
    assert retired(run)
    assert sh("git", "cat-file", "-t", run.head_sha, cwd=coding_repo.path).strip() == "commit"


def test_a_revision_pass_gets_a_fresh_worktree_whose_git_reads_the_branch(coding_repo, settings):
    """The revision's box reads its branch's history (its review commit, in the run's own
    store) with its own git; back at review, its tree waits for the next beat again."""
    sent = json.dumps({"attempts": ["own_git"]})
    run = set_aside_at_the_beat(waiting(coding_repo, f"@greet @prying {sent}", allow_merge=True))
    reviewed = run.head_sha
    settings.OPS_CODING_RUNNERS = {"command": PRYING}

    revise(run, "look at your own history", by="ana")
    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review" and run.head_sha != reviewed, run.reason
    sh("git", "merge-base", "--is-ancestor", reviewed, run.head_sha, cwd=coding_repo.path)
    own = json.loads(Path(run.worktree_path, "findings.json").read_text())["own_git"]
    assert own.startswith("ok") and reviewed in own and "Greeting" in own, own
    assert set_aside_at_the_beat(run).worktree_path == ""


def test_a_run_sent_back_before_its_set_aside_keeps_the_tree_it_is_in(coding_repo):
    run = waiting(coding_repo, allow_merge=True)
    as_the_beat_read_it = CodingRun.objects.get(pk=run.pk)

    revise(run, "once more", by="ana")

    assert set_aside(as_the_beat_read_it) is False
    run.refresh_from_db()
    assert run.status == "revision_requested" and Path(run.worktree_path, "app.py").exists()
    assert set_aside_review_trees() == {"set_aside": [], "refused": {}, "left": 0}


def test_a_beat_sets_aside_at_most_its_share_oldest_first_and_says_what_is_left(coding_repo):
    runs = [new_run(coding_repo, "@greet") for _ in range(TREES_A_BEAT + 1)]
    for run in runs:
        provision(run)
    CodingRun.objects.filter(pk__in=[r.pk for r in runs]).update(status="waiting_for_review")
    trees = [worktree_dir(run) for run in runs]

    first = set_aside_review_trees()

    assert first == {"set_aside": [r.id for r in runs[:-1]], "refused": {}, "left": 1}
    assert [tree.exists() for tree in trees] == [False] * TREES_A_BEAT + [True]
    assert set_aside_review_trees() == {"set_aside": [runs[-1].id], "refused": {}, "left": 0}
    assert not trees[-1].exists()


def refusing_removal_of(monkeypatch, runs):
    """git refuses to remove these runs' trees, as a locked or damaged worktree makes it."""
    refused, real = {str(worktree_dir(run)) for run in runs}, worktrees.git

    def git(args, cwd, *rest, **named):
        if args[:2] == ["worktree", "remove"] and args[-1] in refused:
            raise GitFailed(f"git worktree remove: '{args[-1]}' is locked")
        return real(args, cwd, *rest, **named)

    monkeypatch.setattr(hardened_git, "git", git)  # remove_worktree's


def waiting_with_trees(repo, count):
    runs = [new_run(repo, "@greet") for _ in range(count)]
    for run in runs:
        provision(run)
    CodingRun.objects.filter(pk__in=[r.pk for r in runs]).update(status="waiting_for_review")
    return runs


def test_runs_git_keeps_refusing_do_not_keep_the_others_waiting(coding_repo, monkeypatch):
    *stuck, healthy = waiting_with_trees(coding_repo, TREES_A_BEAT + 1)
    refusing_removal_of(monkeypatch, stuck)

    beats = [set_aside_review_trees(), set_aside_review_trees()]

    assert healthy.id in beats[0]["set_aside"] + beats[1]["set_aside"]
    assert not worktree_dir(healthy).exists()
    assert set(beats[0]["refused"]) | set(beats[1]["refused"]) == {str(r.id) for r in stuck}
    first = CodingRun.objects.get(pk=stuck[0].pk)
    assert first.worktree_path and "cleanup: git worktree remove" in first.reason
    assert first.reason.count("cleanup:") == 1  # said once, however often refused


def test_trees_a_failing_beat_removed_stay_set_aside(coding_repo, monkeypatch):
    """The beat's duty fails on its second run (git's output unreadable): the first run's tree
    is gone from disk, and its row says so."""
    first, second = waiting_with_trees(coding_repo, 2)
    real = worktrees.git

    def git(args, cwd, *rest, **named):
        if str(cwd) == str(worktree_dir(second)):
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
        return real(args, cwd, *rest, **named)

    monkeypatch.setattr(worktrees, "git", git)

    beat = run_heartbeat("test")

    duty = next(d for d in beat.duties if d["name"] == "set_aside_review_trees")
    assert duty["status"] == "error", duty
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.worktree_path == "" and not worktree_dir(first).parent.exists()
    assert second.worktree_path and worktree_dir(second).exists()


def box_folders_beside(run, outside) -> list[Path]:
    """The box's HOME and output beside the run's tree, as a pass leaves them: with files, and
    a link out of the box, whose target a removal must not follow."""
    folders = [worktree_dir(run).parent / name for name in (HOME_DIR, BOX_DIR)]
    for folder in folders:
        (folder / "cache").mkdir(parents=True)
        (folder / "cache" / "kept.txt").write_text("left by the box\n")
        (folder / "out").symlink_to(outside)
    return folders


def test_a_set_aside_that_rolled_back_after_its_tree_went_takes_the_box_folders_next_time(
    coding_repo, monkeypatch, tmp_path
):
    """The first set-aside fails after git removed the tree (the row still names it); the
    next one finds the tree gone and takes the HOME and output beside it, not what they link."""
    (run,) = waiting_with_trees(coding_repo, 1)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("not the box's\n")
    box_folders_beside(run, outside)
    real = worktrees.git

    def git(args, cwd, *rest, **named):
        answer = real(args, cwd, *rest, **named)
        if args[:2] == ["worktree", "remove"]:
            raise OSError("the disk went away after git's remove")
        return answer

    monkeypatch.setattr(hardened_git, "git", git)  # remove_worktree's
    with pytest.raises(OSError):
        set_aside(CodingRun.objects.get(pk=run.pk))
    monkeypatch.setattr(hardened_git, "git", real)
    run.refresh_from_db()
    assert run.worktree_path and not worktree_dir(run).exists()

    assert set_aside(run) is True

    run.refresh_from_db()
    assert run.worktree_path == "" and not worktree_dir(run).parent.exists()
    assert (outside / "precious.txt").read_text() == "not the box's\n"


def test_cleaning_up_a_run_whose_tree_was_deleted_by_hand_takes_its_box_folders(
    coding_repo, tmp_path
):
    (run,) = waiting_with_trees(coding_repo, 1)
    box_folders_beside(run, tmp_path)
    shutil.rmtree(worktree_dir(run))

    clean_up(CodingRun.objects.get(pk=run.pk))

    run.refresh_from_db()
    assert run.worktree_path == "" and not worktree_dir(run).parent.exists()
    assert not any(line.endswith(str(worktree_dir(run))) for line in checkouts(coding_repo))
