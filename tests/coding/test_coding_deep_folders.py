"""A merge's tests run the change's code in the merge's scratch tree, and what they leave there
is the driver's to walk and remove once they end. Folders deeper than a path can name are more
than a walk reaches: the merge is refused saying so in one line, as a pass that leaves them
fails, and the scratch folder is removed all the same (coding/walks.py). A recursive removal
ran out of stack there, and the walk's error named a 4 kB path: the merge was refused with
Python's RecursionError or OSError, and its scratch folder stayed on disk for good."""

import sys
from pathlib import Path

import pytest

from coding.driver import handle_one_run
from coding.sandbox import confinement_missing
from tests.coding_support import approved_to_merge, new_run
from tests.conftest import sh

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        bool(confinement_missing()),
        reason=f"this kernel cannot build the box: {confinement_missing()}",
    ),
]
# Folders 2,100 deep, past the 4,096 bytes of a path git's own removal can name, made only in
# a merge's scratch tree (the run's passes leave none).
DEEP = (
    "import os\n"
    "if os.sep + 'merges' + os.sep in os.getcwd():\n"
    "    for _ in range(2100):\n"
    "        os.mkdir('d')\n"
    "        os.chdir('d')\n"
)


def test_a_merge_whose_tests_leave_folders_too_deep_to_name_is_refused_and_leaves_no_scratch(
    coding_repo, settings
):
    coding_repo.test_command = [sys.executable, "-c", DEEP]
    coding_repo.save()
    run = approved_to_merge(coding_repo, "@greet")
    base = sh("git", "rev-parse", "main", cwd=coding_repo.path)

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review" and not run.merged_sha, run.reason
    assert run.reason.startswith("merge refused: tests failed on the merged head"), run.reason
    assert "walk of what it left stopped: a folder deeper than a path can name" in run.reason, (
        run.reason
    )
    assert "past 4,096 bytes" in run.reason
    assert len(run.reason) < 300, run.reason  # one line, no 4 kB path in it
    assert sh("git", "rev-parse", "main", cwd=coding_repo.path) == base
    assert list(Path(settings.OPS_CODING_DIR, "merges").iterdir()) == []


def test_a_pass_that_leaves_folders_too_deep_to_name_fails_and_its_tree_is_removed(
    coding_repo, settings
):
    run = new_run(coding_repo, "@greet @abyss", mode="single-shot")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "failed" and not run.head_sha, run.reason
    assert "a folder deeper than a path can name" in run.reason and len(run.reason) < 300
    assert not Path(run.worktree_path or "/nonexistent").exists(), run.reason
    assert list(Path(settings.OPS_CODING_DIR, "worktrees", "app").iterdir()) == [], run.reason
