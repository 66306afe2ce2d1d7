"""A repository's own content filters (git-crypt unlocked: `filter.git-crypt.smudge` in its
config, `secret/** filter=git-crypt` in its .gitattributes) never touch a run: its worktree,
the staging of its change and a merge's scratch tree hold the blobs exactly as committed, and
no filter program of the repository runs outside the box."""

from pathlib import Path

import pytest

from coding.approvals import AUTHOR
from coding.driver import handle_one_run
from coding.hardened_git import git
from coding.worktrees import provision
from tests.coding_support import approved_to_merge, new_run
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
    run = approved_to_merge(coding_repo, "@greet")
    ran = unlock(coding_repo, tmp_path, "smudge", "clean")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "completed" and run.merged_sha
    assert ran_as(ran) == []


NOTES = "".join(f"line {n}\n" for n in range(1, 11))  # hunks far enough apart to merge


def test_a_merge_driver_of_the_repository_named_by_a_harness_never_runs(coding_repo, tmp_path):
    """A harness's .gitattributes, merged once, names the repository's `evil` merge driver for
    every file: a later scratch merge of a base that moved meanwhile merges the file by git's
    own text merge, no program of the repository's config runs."""
    Path(coding_repo.path, "notes.txt").write_text(NOTES)
    commit(coding_repo, "notes")
    approved_to_merge(coding_repo, "@greet @attributed")
    assert handle_one_run()  # its .gitattributes merged into the base
    run = approved_to_merge(coding_repo, "@noted")
    Path(coding_repo.path, "notes.txt").write_text(NOTES.replace("line 10", "base"))
    commit(coding_repo, "the base moves")
    ran = tmp_path / "driver-ran"
    driver = f"echo driver >> {ran}; echo DRIVEN > %A"
    sh("git", "config", "merge.evil.driver", driver, cwd=coding_repo.path)

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "completed" and run.merged_sha
    notes = sh("git", "show", f"{run.merged_sha}:notes.txt", cwd=coding_repo.path)
    assert notes == NOTES.replace("line 1\n", "harness\n").replace("line 10", "base")
    assert ran_as(ran) == []


def commit(repo, message: str) -> None:
    sh("git", "add", ".", cwd=repo.path)
    sh("git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", message, cwd=repo.path)


def test_no_merge_driver_of_the_repository_runs_for_a_criss_cross_merges_bases(git_repo, tmp_path):
    """Two merges with two merge bases: git merges the bases first, by the driver the
    repository names `recursive` for it; neither that one nor the driver itself runs."""
    Path(git_repo.path, ".gitattributes").write_text("* merge=evil\n")
    Path(git_repo.path, "notes.txt").write_text(NOTES)
    commit(git_repo, "notes")
    edit = {"ours": ("line 1\n", "ours\n"), "theirs": ("line 10", "theirs")}
    for branch, (old, new) in edit.items():  # the two bases, each merged into the other
        sh("git", "checkout", "-qb", branch, "main", cwd=git_repo.path)
        edited(git_repo, old, new)
    for branch, other, (old, new) in [
        ("ours", "theirs", ("5", "five")),
        ("theirs", "ours", ("7", "7!")),
    ]:
        sh("git", "checkout", "-qb", f"{branch}-2", branch, cwd=git_repo.path)
        sh(*GIT_AS_A, "merge", "-q", "--no-edit", other, cwd=git_repo.path)
        edited(git_repo, old, new)
    sh("git", "checkout", "-q", "ours-2", cwd=git_repo.path)
    ran = tmp_path / "driver-ran"
    for name in ("evil", "inner"):
        sh("git", "config", f"merge.{name}.driver", f"echo {name} >> {ran}", cwd=git_repo.path)
    sh("git", "config", "merge.evil.recursive", "inner", cwd=git_repo.path)

    git([*AUTHOR, "merge", "-q", "--no-edit", "theirs-2"], git_repo.path)

    notes = Path(git_repo.path, "notes.txt").read_text()
    assert notes == NOTES.replace("line 1\n", "ours\n").replace("line 10", "theirs").replace(
        "5", "five"
    ).replace("7", "7!")
    assert ran_as(ran) == []


GIT_AS_A = ("git", "-c", "user.email=a@b", "-c", "user.name=a")


def edited(repo, old: str, new: str) -> None:
    notes = Path(repo.path, "notes.txt")
    notes.write_text(notes.read_text().replace(old, new))
    commit(repo, f"{old} is {new}")
