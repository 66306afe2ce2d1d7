"""What a hostile harness leaves in its worktree and HOME is read by the driver outside the
box — its git, the HOME it sets up again, the diff it measures, the tests' output — and none of
that may run, write or miscount anything the harness chose (issue 26).

The harness is tests/fake_harness/hostile.py, sent by test_coding_sandbox's `attack`; what
stays inside its box is that module's.
"""

# ruff: noqa: F811 (`attack`, a fixture of test_coding_sandbox, is taken as a parameter)

import os
from pathlib import Path

import pytest

from coding.driver import handle_one_run
from tests.coding.test_coding_sandbox import attack, findings, pytestmark  # noqa: F401
from tests.coding_support import new_run
from tests.conftest import sh


def test_the_driver_git_runs_no_hook_fsmonitor_or_global_config_planted_for_it(
    coding_repo, tmp_path, monkeypatch
):
    pwned = tmp_path / "pwned"
    hook = f"#!/bin/sh\ntouch {pwned}\n"
    hooks = Path(coding_repo.path, ".git", "hooks")
    for name in ("post-checkout", "pre-commit", "post-commit", "post-index-change"):
        (hooks / name).write_text(hook)
        (hooks / name).chmod(0o755)
    evil = tmp_path / "fsmonitor"
    evil.write_text(hook)
    evil.chmod(0o755)
    sh("git", "config", "core.fsmonitor", str(evil), cwd=coding_repo.path)
    home = tmp_path / "operator-home"
    home.mkdir()
    (home / ".gitconfig").write_text(f"[core]\n\thooksPath = {hooks}\n\tfsmonitor = {evil}\n")
    monkeypatch.setenv("HOME", str(home))

    run = new_run(coding_repo, "@greet")
    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review" and run.head_sha
    assert not pwned.exists()


def test_a_git_pointer_rewritten_by_the_harness_fails_the_run_and_runs_nothing(attack, tmp_path):
    run = attack("git_pointer")

    assert findings(run)["git_pointer"].startswith("ok")  # its own worktree: allowed
    assert run.status == "failed" and "tampered with" in run.reason
    assert not (tmp_path / "pwned").exists()


def test_a_rewritten_git_pointer_gets_no_directory_of_its_choosing_into_the_next_box(tmp_path):
    from coding.gitview import git_dirs

    secret = tmp_path / "operator" / ".ssh"
    (secret / "worktrees" / "x").mkdir(parents=True)
    (secret / "objects").mkdir()
    tree = tmp_path / "run-1" / "tree"
    tree.mkdir(parents=True)
    (tree / ".git").write_text(f"gitdir: {secret / 'worktrees' / 'x'}\n")

    assert git_dirs(tree) == (None, None)


# forged_linked_worktree: the pointer kept, aimed at a linked worktree forged in the worktree;
# gitdir_fifo: the same, its `gitdir` a FIFO the driver would wait on forever.
PLANTED = ["git_dir_of_its_own", "worktree_as_repository", "forged_linked_worktree", "gitdir_fifo"]


@pytest.mark.parametrize("planted", PLANTED)
def test_a_repository_planted_for_the_git_pointer_runs_nothing_in_the_driver(
    attack, tmp_path, planted
):
    run = attack(planted)

    assert not (tmp_path / "pwned").exists()  # the driver's git ran none of its filters
    assert findings(run)[planted].startswith("ok"), findings(run)  # its own worktree: allowed
    assert run.status == "failed" and "tampered with" in run.reason, run.reason


def test_a_link_planted_as_homes_git_config_is_not_written_through(attack, coding_repo):
    coding_repo.lint_command = ["true"]  # a second box after the harness's: HOME is set up again
    coding_repo.save()

    run = attack("home_gitconfig_link")

    assert findings(run)["home_gitconfig_link"].startswith("ok")  # its own HOME: allowed
    assert not os.path.lexists(attack.targets["planted"])
    assert run.status == "waiting_for_review", run.reason


def test_a_file_name_cannot_hide_changed_files_from_the_cap(attack):
    run = attack("numstat_cut", caps={"max_changed_files": 3})

    assert run.status == "failed" and "changed-files cap" in run.reason, run.reason
    counted = run.iterations.get().changed_files
    assert counted == 6, counted  # five files, findings
    kept = Path(run.patch_ref).read_text()  # the failed run's worktree is gone, its work kept
    assert "+++ b/0 diff --git x" in kept


def test_a_nested_repository_runs_nothing_in_the_driver_and_fails_its_pass(attack, tmp_path):
    run = attack("nested_repository")

    assert not (tmp_path / "pwned").exists()  # not at the look, nor at the cleanup's saving
    assert run.status == "failed", run.reason
    assert "repository nested in its worktree: sub" in run.reason, run.reason
    assert "+Subproject commit " in Path(run.patch_ref).read_text()  # its work kept


def test_a_nul_byte_in_what_the_tests_print_does_not_fail_the_run(attack, coding_repo):
    coding_repo.test_command = ["sh", "-c", r"printf 'binary\000output\n'"]
    coding_repo.save()

    run = attack()

    assert run.status == "waiting_for_review", run.reason
    assert "binary\N{REPLACEMENT CHARACTER}output" in run.iterations.get().test_output


def test_a_file_that_is_not_utf8_or_a_symlink_loop_is_measured_committed_and_cleaned_up(attack):
    run = attack("not_utf8", "symlink_loop")

    assert run.status == "waiting_for_review", run.reason
    assert "latin1.txt" in run.diff_stats["files"]


def test_the_driver_looks_for_an_escape_before_the_tests_box_is_built(attack, coding_repo):
    coding_repo.test_command = ["sh", "-c", "rm -f link-out"]  # the harness's code erasing it
    coding_repo.save()

    run = attack("leave_link")

    assert run.status == "failed" and "symlink pointing outside" in run.reason, run.reason
