"""A repository's own content filters (git-crypt unlocked: `filter.git-crypt.smudge` in its
config, `secret/** filter=git-crypt` in its .gitattributes) never touch a run: its worktree,
the staging of its change and a merge's scratch tree hold the blobs exactly as committed, and
no filter program of the repository runs outside the box."""

from pathlib import Path

import pytest

from coding.driver import handle_one_run
from coding.operations import approve_run
from coding.worktrees import provision
from tests.coding_support import new_run
from tests.conftest import sh

pytestmark = pytest.mark.django_db(transaction=True)
SEALED = "ENCRYPTED-BLOB\n"  # secret.txt as committed: what a review and a merge see
# The filter program: says it ran (and as what) in a file of the test's, prints "DECRYPTED".
# As a long-running `process` it fails the handshake (git waits for none, it is not read).
FILTER = '#!/bin/sh\necho "$1" >> {ran}\n[ "$1" = process ] && exit 1\ncat >/dev/null\n'
FILTER += "echo DECRYPTED\n"


def with_secret(repo) -> None:
    """secret.txt committed with the attribute that routes it through the `crypt` filter."""
    Path(repo.path, ".gitattributes").write_text("secret.txt filter=crypt\n")
    Path(repo.path, "secret.txt").write_text(SEALED)
    sh("git", "add", ".", cwd=repo.path)
    sh("git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "seal", cwd=repo.path)


def unlock(repo, tmp_path, *kinds: str) -> Path:
    """The repository's config given the `crypt` filter (`kinds`: smudge, clean, process),
    required; the file its program writes a line to each time it runs."""
    ran, program = tmp_path / "filter-ran", tmp_path / "crypt-filter"
    program.write_text(FILTER.format(ran=ran))
    program.chmod(0o755)
    for kind in kinds:
        sh("git", "config", f"filter.crypt.{kind}", f"{program} {kind}", cwd=repo.path)
    sh("git", "config", "filter.crypt.required", "true", cwd=repo.path)
    return ran


def ran_as(ran: Path) -> list[str]:
    return ran.read_text().split() if ran.exists() else []


@pytest.mark.parametrize("kinds", [("smudge", "clean"), ("process",)])
def test_a_runs_worktree_holds_a_filtered_file_as_committed_and_no_filter_runs(
    coding_repo, tmp_path, kinds
):
    with_secret(coding_repo)
    ran = unlock(coding_repo, tmp_path, *kinds)

    run = provision(new_run(coding_repo, "@greet"))

    assert Path(run.worktree_path, "secret.txt").read_text() == SEALED
    assert ran_as(ran) == []


def test_a_pass_stages_the_harness_change_to_a_filtered_file_through_no_filter(
    coding_repo, tmp_path
):
    with_secret(coding_repo)
    ran = unlock(coding_repo, tmp_path, "smudge", "clean")
    run = new_run(coding_repo, "@greet @secret")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review"
    committed = sh("git", "show", f"{run.head_sha}:secret.txt", cwd=coding_repo.path)
    assert committed == SEALED + "a harness line\n"
    assert ran_as(ran) == []


def test_a_merges_scratch_tree_is_checked_out_through_no_filter(coding_repo, tmp_path):
    with_secret(coding_repo)
    run = new_run(coding_repo, "@greet", allow_merge=True)
    assert handle_one_run()
    run.refresh_from_db()
    approve_run(run, "code", by="ana")
    approve_run(run, "merge", by="ana")
    ran = unlock(coding_repo, tmp_path, "smudge", "clean")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "completed" and run.merged_sha
    assert ran_as(ran) == []
