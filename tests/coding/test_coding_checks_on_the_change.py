"""Every check of a pass judges the change under review. The change is staged before the
tests start, and what they write is no part of it; but the tests run the harness's code, so a
lint or an acceptance command after them that read the worktree as they left it would judge
files the commit does not hold: an app that greets only once its tests have run it (it
rewrites itself) would pass the acceptance criteria it fails, under a review card saying so."""

import sys

import pytest

from coding.driver import handle_one_run
from coding.sandbox import confinement_missing
from tests.coding_support import new_run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        bool(confinement_missing()),
        reason=f"this kernel cannot build the box: {confinement_missing()}",
    ),
]
GREETS = "out = subprocess.run([sys.executable, 'app.py'], capture_output=True, text=True).stdout"
GREETED = "sys.exit(out != 'hello, world\\n')"
CHECK = [sys.executable, "-c", f"import subprocess, sys; {GREETS}; {GREETED}"]


def test_lint_after_the_tests_judges_the_change_not_what_they_rewrote(coding_repo):
    coding_repo.lint_command = CHECK
    coding_repo.save()
    run = new_run(coding_repo, "@rewrites", mode="single-shot")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "failed" and not run.head_sha, run.reason
    assert run.lint_summary.startswith("lint failed"), run.lint_summary


def test_an_acceptance_command_judges_the_change_not_what_the_tests_rewrote(coding_repo):
    run = new_run(coding_repo, "@rewrites", mode="single-shot")
    run.task["acceptance_criteria"] = [{"text": "the app greets the world", "command": CHECK}]
    run.save(update_fields=["task"])

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "failed" and not run.head_sha, run.reason
    assert "acceptance: the app greets the world failed" in run.iterations.get().test_output


def test_a_change_that_greets_passes_every_check(coding_repo):
    coding_repo.lint_command = CHECK
    coding_repo.save()
    run = new_run(coding_repo, "@greet", mode="single-shot")
    run.task["acceptance_criteria"] = [{"text": "the app greets the world", "command": CHECK}]
    run.save(update_fields=["task"])

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review", run.reason
