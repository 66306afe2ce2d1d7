"""A harness gets its worktree and nothing else: not another run's work through the
repository's git directory (its refs, objects, worktrees' files, reflogs), and nothing it
leaves — more files than a walk should count, folders deeper than a recursive walk goes, more
disk than the cap — holds the driver or goes unsaid.

The harness is tests/fake_harness/prying.py; the other run is the ordinary fake harness's,
waiting for review (its worktree, branch and review commit all in place).
"""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from coding.driver import handle_one_run
from coding.operations import approve_run, cancel
from coding.worktrees import clean_up
from tests.coding.test_coding_sandbox import pytestmark  # noqa: F401 (the box, real Postgres)
from tests.coding_support import new_run
from tests.conftest import sh

PRYING = [sys.executable, str(Path(__file__).parent.parent / "fake_harness" / "prying.py")]
LOOKS = ["other_refs", "other_objects", "other_worktrees", "other_reflogs"]
LOOKS += ["repository_leftovers"]


def driven(run):
    assert handle_one_run()
    run.refresh_from_db()
    return run


@pytest.fixture
def pry(coding_repo, settings, tmp_path):
    """Another run waiting for review, the operator's own git run over the repository since
    (a fetch, a reset, a gc: FETCH_HEAD, ORIG_HEAD, packed refs and objects, a commit graph),
    and a way to send the prying harness at it."""
    other = driven(new_run(coding_repo, "@greet", allow_merge=True))
    assert other.status == "waiting_for_review", other.reason
    repo = Path(coding_repo.path)
    blob = hashlib.sha1(b"blob 22\0print('hello, world')\n").hexdigest()  # its change's
    git_dir = repo / ".git"
    (git_dir / "FETCH_HEAD").write_text(f"{other.head_sha}\t\tbranch '{other.branch}'\n")
    (git_dir / "ORIG_HEAD").write_text(f"{other.head_sha}\n")
    sh("git", "gc", "--quiet", cwd=repo)
    targets = {"other_branch": other.branch, "other_sha": other.head_sha, "other_blob": blob}

    def send(*attempts, **more):
        settings.OPS_CODING_RUNNERS = {"command": PRYING}
        prompt = "@prying " + json.dumps(targets | more | {"attempts": attempts})
        return driven(new_run(coding_repo, prompt))

    send.other = other
    yield send
    # pytest's own clean-up of old temporary folders recurses: a deep tree left would break it
    subprocess.run(["rm", "-rf", str(tmp_path / "coding")], check=False)


def findings(run) -> dict:
    """What the harness found: in its worktree, or (a failed run's worktree is gone) as the
    cleanup kept it under refs/opscore/runs/<id>."""
    if run.worktree_path:
        return json.loads(Path(run.worktree_path, "findings.json").read_text())
    return json.loads(sh("git", "show", f"{run.state_ref}:findings.json", cwd=run.repository.path))


def test_a_harness_sees_no_other_runs_refs_objects_worktrees_or_reflogs(pry):
    run = pry(*LOOKS, "own_git")

    seen = findings(run)
    assert {name: seen[name][:8] for name in LOOKS} == dict.fromkeys(LOOKS, "blocked:"), seen
    assert seen["own_git"].startswith("ok") and run.base_sha in seen["own_git"], seen
    assert run.status == "waiting_for_review", run.reason


def test_the_other_runs_work_still_merges_and_its_branch_is_whole_in_the_repository(pry, settings):
    other = pry.other
    store = Path(settings.OPS_CODING_DIR, "objects", f"run-{other.id}")
    alternates = Path(other.repository.path, ".git", "objects", "info", "alternates")
    assert str(store.resolve()) in alternates.read_text()  # its objects, its own while it lives
    pry("own_git")  # a run of its own in between, waiting for review beside it
    approve_run(other, "code", by="ana")
    approve_run(other, "merge", by="ana")

    other = driven(other)

    assert other.status == "completed" and other.merged_sha, other.reason
    repo = Path(other.repository.path)
    assert sh("git", "cat-file", "-t", other.head_sha, cwd=repo).strip() == "commit"
    sh("git", "fsck", "--connectivity-only", "--no-dangling", cwd=repo)
    assert (repo / "app.py").read_text() == "print('hello, world')\n"
    assert not store.exists() and str(store.resolve()) not in alternates.read_text()


def test_a_cancelled_runs_work_is_kept_for_the_operator_and_out_of_later_boxes(pry):
    other = cancel(pry.other, "not wanted", actor="ana")
    clean_up(other)
    repo = Path(other.repository.path)

    run = pry("other_objects")

    assert findings(run)["other_objects"].startswith("blocked:"), findings(run)
    assert sh("git", "cat-file", "-t", other.head_sha, cwd=repo).strip() == "commit"
    sh("git", "fsck", "--connectivity-only", "--no-dangling", cwd=repo)


def test_a_harness_burying_its_home_in_files_fails_its_pass_in_one_line(pry, settings):
    settings.OPS_CODING_WALK_ENTRIES = 50

    run = pry("many_files", files=500)

    assert findings(run)["many_files"].startswith("ok")
    assert run.status == "failed", run.reason
    assert "more than 50 files and folders" in run.reason and "\n" not in run.reason, run.reason
    assert run.iterations.count() == 1  # the pass is counted, its cost kept


def test_folders_deeper_than_a_recursive_walk_goes_are_walked_and_removed_all_the_same(pry):
    run = pry("deep_dirs", depth=1200)

    assert findings(run)["deep_dirs"].startswith("ok")
    assert run.status == "waiting_for_review", run.reason
    folder = Path(run.worktree_path).parent
    clean_up(run)
    assert not folder.exists()  # its HOME too, however deep


def test_a_harness_filling_the_disk_past_the_cap_fails_its_run(pry, settings):
    settings.OPS_CODING_TREE_BYTES = 2 * 1024**2

    run = pry("big_file", megabytes=3)

    assert findings(run)["big_file"].startswith("ok")
    assert run.status == "failed" and "past the 2 MB cap" in run.reason, run.reason
