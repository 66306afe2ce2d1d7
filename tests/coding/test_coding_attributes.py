"""A .gitattributes the harness wrote (working-tree-encoding, ident, eol, text, filter) never
turns the bytes it left into others: the commit a reviewer reads holds the bytes its tests ran
on, and every checkout the lane makes later (a lint's, a merge's tests', the main checkout's)
writes exactly those bytes. The file itself stays an ordinary file of the change."""

import subprocess
import sys
from pathlib import Path

import pytest

from coding.diffs import shown_diff
from coding.driver import handle_one_run
from coding.hardened_git import VERBATIM, git
from tests.coding_support import approved_to_merge, new_run

pytestmark = pytest.mark.django_db(transaction=True)
GREETING = "\u30bd\n".encode("shift_jis")  # ソ in Shift-JIS: its second byte is a backslash
IDENT = b"print('hello, world')  # $Id$\n"  # as the harness wrote it: no expansion, no CR


def blob(repo, commit: str, path: str) -> bytes:
    return subprocess.run(
        ["git", "cat-file", "blob", f"{commit}:{path}"], cwd=repo.path, capture_output=True
    ).stdout


def test_a_pass_commits_the_bytes_its_harness_wrote_whatever_its_gitattributes_say(
    coding_repo,
):
    run = new_run(coding_repo, "@greet @encoded")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review"
    assert blob(coding_repo, run.head_sha, "greeting.txt") == GREETING
    shown = shown_diff(coding_repo.path, run.base_sha, run.head_sha)
    assert "+greeting.txt working-tree-encoding=SHIFT-JIS" in shown


def test_a_lint_reads_the_bytes_the_change_holds_not_a_checkout_converted(coding_repo):
    """The tests leave app.py changed, so the lint's worktree writes it again from the change."""
    ran = "exec(open('app.py').read()); open('app.py', 'a').write('# ran')"
    holds = f"import sys; sys.exit(open('app.py', 'rb').read() != {IDENT!r})"
    coding_repo.test_command = [sys.executable, "-c", ran]
    coding_repo.lint_command = [sys.executable, "-c", holds]
    coding_repo.save()
    run = new_run(coding_repo, "@ident")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review", run.reason
    assert blob(coding_repo, run.head_sha, "app.py") == IDENT


def test_a_merge_checks_out_the_bytes_approved_not_ones_its_gitattributes_make(coding_repo):
    run = approved_to_merge(coding_repo, "@ident")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "completed" and run.merged_sha
    assert blob(coding_repo, run.merged_sha, "app.py") == IDENT
    assert Path(coding_repo.path, "app.py").read_bytes() == IDENT  # the main checkout's


def test_the_repositorys_own_attributes_stay_and_the_lanes_line_comes_last(git_repo):
    info = Path(git_repo.path, ".git", "info", "attributes")
    info.write_text("*.png binary")  # the operator's, no newline at its end

    git(["status"], git_repo.path)
    git(["status"], git_repo.path)

    assert info.read_text() == "*.png binary\n" + VERBATIM
