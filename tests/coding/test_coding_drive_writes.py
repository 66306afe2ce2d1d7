"""What a drive writes after a pass's tests lands whole however the last steps go: a run row
read back from its own UPDATE is the row the ORM reads, a review commit git refuses still
leaves the pass's row, and a review move that lost its race still lists the kept patch."""

import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from coding import conclusion, spare
from coding.box import jail_command
from coding.checks import Change
from coding.conclusion import ready_for_review
from coding.driver import handle_one_run
from coding.loop import count_pass
from coding.models import CodingRun
from coding.runners import Report
from coding.sandbox import confinement_missing
from coding.worktrees import ReviewCommit
from tests.coding_support import is_git, new_run, watch_starts
from tests.conftest import sh

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_reads_back_the_row_it_wrote_as_the_orm_reads_it(coding_repo):
    run = new_run(coding_repo, "@greet")

    written = {
        "cost_usd": F("cost_usd") + Decimal("0.125"),
        "diff_stats": {"changed": 2, "files": ["a"]},
    }
    (row,) = CodingRun.objects.move_returning(run.pk, written)

    fresh = CodingRun.objects.get(pk=run.pk)
    assert row.cost_usd == Decimal("0.1250") and row.diff_stats == {"changed": 2, "files": ["a"]}
    for field in CodingRun._meta.concrete_fields:
        assert getattr(row, field.attname) == getattr(fresh, field.attname), field.name
    assert not row._state.adding and row._state.db == "default"


@pytest.fixture(params=["commit-tree", "update-ref"])
def refusing_commits(request, monkeypatch):
    """git refuses the review commit (an unknown option), as a full disk or a lock would:
    its building while the tests run, or the branch's move once they passed."""
    verb = request.param

    def refused(argv):
        if is_git(argv) and verb in argv:
            return [*argv[: argv.index(verb) + 1], "--no-such-option"]
        return argv

    watch_starts(monkeypatch, before=refused)


def test_a_review_commit_git_refuses_still_leaves_the_passs_row(coding_repo, refusing_commits):
    run = new_run(coding_repo, "@greet", mode="single-shot")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "failed" and "the driver hit" in run.reason and "commit" in run.reason
    kept = run.iterations.get()
    assert kept.tests_passed is True and kept.changed_files > 0
    assert run.test_summary.startswith("tests passed") and run.process_group is None


def test_a_review_move_that_lost_its_race_still_lists_the_kept_patch(coding_repo):
    run = new_run(coding_repo, "@greet")
    run.move("cancelled", "cancelled while its tests ran")
    change = Change("d1g3st", {"changed": 1, "files": ["app.py"]}, "diff --git a/app.py\n")

    assert not ready_for_review(run, change, "a" * 40)

    run.refresh_from_db()
    assert run.status == "cancelled" and run.head_sha == ""
    assert Path(run.artifact_refs[-1]).read_text() == change.patch


def test_a_drive_ending_with_its_pass_writes_its_time_once_in_the_passs_transaction(
    coding_repo,
):
    run = new_run(coding_repo, "@greet", mode="single-shot")

    with CaptureQueriesContext(connection) as queries:
        assert handle_one_run()

    run.refresh_from_db()
    added = [q["sql"] for q in queries if "active_seconds" in q["sql"]]
    assert len(added) == 1
    assert '"test_summary"' in added[0]  # on the statement writing the pass's summaries
    assert run.status == "waiting_for_review" and 0 < run.limits["active_seconds"] < 60


@pytest.fixture
def main_checkout_touched_during_the_pass(coding_repo, monkeypatch):
    """A file appears in the main checkout while the harness runs: written just before the
    escape look's second `git status` starts (the box keeps the harness itself out of it)."""
    statuses = []

    def touching(argv):
        if is_git(argv) and "status" in argv:
            statuses.append(argv)
            if len(statuses) == 2:
                Path(coding_repo.path, "planted.py").write_text("x = 1\n")
        return argv

    watch_starts(monkeypatch, before=touching)
    return statuses


def test_a_change_to_the_main_checkout_during_the_pass_fails_the_run(
    coding_repo, main_checkout_touched_during_the_pass
):
    run = new_run(coding_repo, "@greet", mode="single-shot")

    assert handle_one_run()

    run.refresh_from_db()
    assert len(main_checkout_touched_during_the_pass) == 2
    assert run.status == "failed" and "in the main checkout" in run.reason


def started_processes(monkeypatch, wanted) -> list:
    """Every process started whose argv `wanted` accepts."""
    started = []
    watch_starts(monkeypatch, after=lambda process, argv: started.extend([process] * wanted(argv)))
    return started


@pytest.fixture
def git_processes(monkeypatch) -> list:
    return started_processes(monkeypatch, is_git)


@pytest.fixture
def box_builders(monkeypatch) -> list:
    """The box builders a test starts; the process's one probe of what confinement works
    here (the same command, run once and cached) is made first, so it is never counted:
    counted, a test that was its worker's first to reach the coding lane failed alone."""
    confinement_missing()
    return started_processes(monkeypatch, lambda argv: argv == jail_command())


def test_a_pass_whose_harness_is_missing_leaves_no_git_running(
    coding_repo, settings, git_processes
):
    settings.OPS_CODING_RUNNERS = {"command": ["/nonexistent/harness"]}
    run = new_run(coding_repo, "@greet", mode="single-shot")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "blocked" and "not installed" in run.reason
    assert git_processes and all(p.returncode is not None for p in git_processes)


def test_a_passs_branch_move_waits_for_no_git_to_start(coding_repo, git_processes, monkeypatch):
    """The review commit's update-ref is started once the commit is built, while the tests
    run, and waits for its line: the verdict is followed by the move alone."""
    started_before, real = [], ReviewCommit.move

    def moving(self):
        self.settle()  # built: what it started is started
        started_before.extend(git_verb(p.args) for p in git_processes)
        real(self)

    monkeypatch.setattr(ReviewCommit, "move", moving)
    run = new_run(coding_repo, "@greet", mode="single-shot")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review", run.reason
    assert started_before[-1] == "update-ref", started_before
    assert run.head_sha == sh("git", "rev-parse", run.branch, cwd=coding_repo.path).strip()
    assert all(p.returncode is not None for p in git_processes)


def test_a_pass_its_tests_fail_moves_no_branch_and_leaves_no_git_waiting(
    coding_repo, git_processes
):
    run = new_run(coding_repo, "@break", mode="single-shot")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "failed" and not run.head_sha, run.reason
    assert all(p.returncode is not None for p in git_processes)  # the move's too, told nothing
    assert sh("git", "rev-parse", run.branch, cwd=coding_repo.path) == sh(
        "git", "rev-parse", "main", cwd=coding_repo.path
    )


def test_a_pass_that_fails_after_its_move_was_told_leaves_no_git_waiting(
    coding_repo, git_processes, monkeypatch
):
    def failing(*args):
        raise RuntimeError("the row's fields could not be built")

    # after the move, before git is waited for
    monkeypatch.setattr(conclusion, "run_fields", failing)
    run = new_run(coding_repo, "@greet", mode="single-shot")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "failed" and "could not be built" in run.reason, run.reason
    assert all(p.returncode is not None for p in git_processes)
    assert sh("git", "rev-parse", run.branch, cwd=coding_repo.path) == sh(
        "git", "rev-parse", "main", cwd=coding_repo.path
    )


def test_a_move_writes_its_own_run_only_and_only_from_where_it_may_come(coding_repo):
    run, other = (new_run(coding_repo, name) for name in ("one", "other"))

    assert run.move("running", "started") and run.status == "running"
    assert not run.move("completed", "too early")  # completed comes from waiting_for_review

    assert CodingRun.objects.get(pk=run.pk).reason == "started" and run.status == "running"
    assert CodingRun.objects.get(pk=other.pk).status == "queued"
    assert CodingRun.objects.status_of(run.pk) == "running"
    assert CodingRun.objects.status_of(other.pk) == "queued"
    assert CodingRun.objects.status_of(0) is None


def git_verb(argv) -> str:
    return next(a for a in argv[1:] if not a.startswith("-") and "=" not in a)


def test_a_pass_of_a_run_cancelled_meanwhile_is_counted_and_its_cost_kept(coding_repo):
    run = CodingRun.objects.select_related("repository").get(pk=new_run(coding_repo, "x").pk)
    run.move("running")
    CodingRun.objects.filter(pk=run.pk).update(status="cancelled")
    report = Report(summary="did half", cost_usd=Decimal("0.5000"), session_id="s-1")

    assert not count_pass(run, "the prompt", report, None)

    assert (run.status, run.iteration, run.cost_usd) == ("cancelled", 1, Decimal("0.5000"))
    assert run.result_summary == "did half" and run.external_session_id == "s-1"
    assert CodingRun.objects.get(pk=run.pk).iteration == 1


def test_a_pass_counted_moves_its_run_to_its_tests_in_the_same_statement(coding_repo):
    run = CodingRun.objects.select_related("repository").get(pk=new_run(coding_repo, "x").pk)
    run.move("running")

    with CaptureQueriesContext(connection) as queries:
        assert count_pass(run, "the prompt", Report(cost_usd=Decimal("0.25")), None)

    updates = [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    assert (run.status, run.iteration, run.reason) == ("waiting_for_tests", 1, "pass 1 ran")


def test_a_dispatch_with_nothing_waiting_starts_no_box_builder(coding_repo, box_builders):
    assert not handle_one_run()

    assert box_builders == []


def test_a_box_builder_started_for_a_run_the_limits_hold_back_waits_for_it(
    coding_repo, box_builders
):
    coding_repo.max_concurrent_runs = 0  # nothing may start on it for now
    coding_repo.save()
    held_back = new_run(coding_repo, "@greet")

    assert not handle_one_run()

    assert CodingRun.objects.get(pk=held_back.pk).status == "queued"
    assert len(box_builders) == 1 and box_builders[0].poll() is None  # waiting, not killed

    assert not handle_one_run()  # still held back: no builder started and killed every turn
    assert len(box_builders) == 1 and box_builders[0].poll() is None

    coding_repo.max_concurrent_runs = 1
    coding_repo.save()
    assert handle_one_run()  # it starts on the builder that waited
    assert CodingRun.objects.get(pk=held_back.pk).status != "queued"
    assert box_builders[0].poll() is not None


def test_the_next_pass_finds_its_box_builder_waiting(coding_repo, box_builders):
    first, second = new_run(coding_repo, "@greet"), new_run(coding_repo, "@greet")

    assert handle_one_run()
    waiting = spare.STANDING["spare"].process  # started while the first run's harness ran
    assert handle_one_run()

    assert {first.pk, second.pk} == set(
        CodingRun.objects.filter(status="waiting_for_review").values_list("pk", flat=True)
    )
    assert waiting in box_builders and waiting.poll() is not None  # the second run's launch
    assert len(box_builders) == 3  # the first run's, the second's and the one waiting now


def test_a_review_move_that_fails_still_leaves_the_passs_row(coding_repo, monkeypatch):
    """The patch file cannot be written (a full disk): the move to review rolls back alone, the
    pass's row commits, and the run fails saying why."""

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(conclusion, "write_patch", full_disk)
    run = new_run(coding_repo, "@greet", mode="single-shot")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "failed" and "No space left on device" in run.reason
    kept = run.iterations.get()
    assert kept.tests_passed is True and kept.changed_files > 0
    # what the pass writes on the run's row, rolled back with the move, is written alone
    assert run.test_summary.startswith("tests passed") and run.process_group is None
    assert run.limits["active_seconds"] > 0


def test_the_change_a_pass_commits_is_the_tree_its_tests_ran_on(coding_repo):
    """What the tests write in the worktree (a report, a snapshot) is theirs, not the harness's
    change: the pass's stats, patch and review commit hold the tree they were judged on."""
    writes = "open('tests-wrote.txt', 'w').write('x'); exec(open('app.py').read())"
    coding_repo.test_command = [sys.executable, "-c", writes]
    coding_repo.save()
    run = new_run(coding_repo, "@greet", mode="single-shot")

    assert handle_one_run()

    run.refresh_from_db()
    assert run.status == "waiting_for_review", run.reason
    assert Path(run.worktree_path, "tests-wrote.txt").exists()  # the tests did write it
    assert "app.py" in run.diff_stats["files"]
    assert "tests-wrote.txt" not in run.diff_stats["files"]
    assert "tests-wrote.txt" not in Path(run.artifact_refs[-1]).read_text()
    committed = sh("git", "show", "--name-only", "--format=", run.head_sha, cwd=coding_repo.path)
    assert "app.py" in committed and "tests-wrote.txt" not in committed
