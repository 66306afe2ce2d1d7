"""A run's life around the loop: a blocked run retried once its harness is installed, a crash
that fails the run and not the driver, ended runs' worktrees tidied without losing work, and
a waiting step woken by the sweeper when no driver woke it."""

from pathlib import Path

import pytest

from coding.driver import handle_one_run
from coding.operations import retry
from missions.recovery import requeue_cleared_blockers
from missions.worker import handle_one_step
from tests.coding_support import new_run
from tests.conftest import sh
from tests.factories import make_step

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_blocked_run_runs_once_its_harness_is_installed_and_it_is_retried(coding_repo, settings):
    working = settings.OPS_CODING_RUNNERS
    settings.OPS_CODING_RUNNERS = {"command": ["/nonexistent/harness"]}
    run = new_run(coding_repo, "@greet")
    handle_one_run()
    run.refresh_from_db()
    assert run.status == "blocked"

    settings.OPS_CODING_RUNNERS = working
    retry(run, actor="ops")
    handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review"


def test_a_crash_inside_a_run_fails_that_run_and_the_driver_goes_on(coding_repo):
    broken = new_run(coding_repo, "@greet @vandalize")
    assert handle_one_run()
    healthy = new_run(coding_repo, "@greet")
    assert handle_one_run()

    broken.refresh_from_db(), healthy.refresh_from_db()
    assert broken.status == "failed" and broken.reason.startswith(
        "the driver hit coding.worktrees.GitFailed"
    )
    assert healthy.status == "waiting_for_review"


def test_an_ended_run_leaves_no_worktree_behind_but_keeps_its_work(coding_repo, settings):
    run = new_run(coding_repo, "@break", mode="single-shot")
    handle_one_run()

    run.refresh_from_db()
    assert run.status == "failed" and run.worktree_path == ""
    assert not Path(settings.OPS_CODING_DIR, "worktrees", "app", f"run-{run.id}").exists()
    assert "raise SystemExit(1)" in Path(run.patch_ref).read_text()
    assert sh("git", "branch", "--list", run.branch, cwd=coding_repo.path).strip()


def test_the_sweeper_wakes_a_step_whose_run_ended_without_a_driver_to_say_so(coding_repo, agent):
    step = make_step(kind="dev.code_change", agent=agent, payload=payload())
    handle_one_step("w1")
    run = step.coding_run
    run.move("cancelled", "cancelled behind the driver's back")

    assert requeue_cleared_blockers() == 1
    handle_one_step("w1")

    step.refresh_from_db()
    assert (
        step.status == "failed"
        and "coding run" in step.last_error
        and "cancelled" in step.last_error
    )


def payload():
    return {
        "repo": "app",
        "worktree_ref": "main",
        "summary": "Greet",
        "problem_statement": "@greet",
        "acceptance_criteria": ["greets"],
        "handoff": {"runner": "command", "mode": "single-shot"},
    }


def test_a_dev_job_step_on_a_repository_no_longer_registered_fails_as_refused_input(
    coding_repo, agent
):
    step = make_step(kind="dev.code_change", agent=agent, payload=payload() | {"repo": "gone"})

    handle_one_step("w1")

    step.refresh_from_db()
    assert step.status == "failed" and "no registered repository 'gone'" in step.last_error
