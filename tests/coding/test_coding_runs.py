"""The ralph loop on a real repository with a fake harness: tests prove completion, the caps
and the no-progress detector stop it, the harness is boxed in, and a missing harness blocks."""

import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from coding.driver import handle_one_run
from coding.models import CodingRun
from coding.sandbox import CUT_MARKER, Limits, run_boxed
from opscore.actions import set_policy
from opscore.models import Event
from tests.coding_support import HARNESS, new_run
from tests.conftest import sh

pytestmark = pytest.mark.django_db(transaction=True)


def driven(run) -> CodingRun:
    assert handle_one_run()
    run.refresh_from_db()
    return run


def caps(**values):
    set_policy("coding_policy", values, actor="test")


def test_a_change_is_counted_line_by_line_whatever_the_harnesss_gitattributes_say(coding_repo):
    # `* binary` in the worktree (or staged) had git count every changed line as "-": the
    # Stage and the offline review said "+0 -0" for a change it had made
    run = driven(new_run(coding_repo, "@unseen"))

    assert run.status == "waiting_for_review", run.reason
    stats = run.diff_stats
    # a line each: the attributes, the greeting, the fake harness's .harness-env.json
    assert (stats["insertions"], stats["deletions"]) == (3, 1), stats
    assert {".gitattributes", "app.py"} <= set(stats["files"])


def test_a_run_goes_through_passes_until_its_tests_pass_and_then_waits_for_review(coding_repo):
    run = driven(new_run(coding_repo, "@eventually"))

    assert run.status == "waiting_for_review" and run.iteration == 2
    first, second = run.iterations.all()
    assert first.tests_passed is False and "failed (1)" in first.test_output
    assert second.tests_passed and second.exit_status == 0
    assert run.head_sha and "app.py" in run.diff_stats["files"]
    assert "+print('hello, world')" in Path(run.artifact_refs[-1]).read_text()
    assert run.cost_usd == 2 * first.cost_usd and run.external_session_id == "s2"
    kinds = list(
        Event.objects.filter(payload__run_id=run.id).order_by("id").values_list("kind", flat=True)
    )
    assert kinds == [
        "coding.run.running",
        "coding.run.waiting_for_tests",
        "coding.run.running",
        "coding.run.waiting_for_tests",
        "coding.run.waiting_for_review",
    ]


def test_the_harness_printing_success_does_not_make_failing_tests_pass(coding_repo):
    run = driven(new_run(coding_repo, "@break", mode="single-shot"))

    assert run.status == "failed" and "failed (1)" in run.reason
    assert "I did it" in run.iterations.get().output_summary


def test_a_run_whose_diff_stops_changing_is_ended_by_the_no_progress_detector(coding_repo):
    caps(no_progress_repeats=3, max_iterations=10)

    run = driven(new_run(coding_repo, "@break"))

    assert run.status == "failed" and "the diff was the same for the last 3 passes" in run.reason
    assert run.iteration == 3


def test_tests_failing_the_same_way_also_count_as_no_progress(coding_repo):
    caps(no_progress_repeats=2, max_iterations=10)
    coding_repo.test_command = [sys.executable, "-c", "raise SystemExit('same failure')"]
    coding_repo.save()

    run = driven(new_run(coding_repo, "@wander"))

    assert run.status == "failed" and "failed the same way in the last 2" in run.reason


def test_a_run_past_its_iteration_cap_stops_and_says_so(coding_repo):
    caps(max_iterations=3, no_progress_repeats=20)

    run = driven(new_run(coding_repo, "@wander"))

    assert run.status == "failed" and run.reason == "iteration cap reached: 3 of 3 passes"
    assert run.iterations.count() == 3


def test_a_run_past_its_cost_cap_stops_and_says_so(coding_repo):
    caps(max_cost_usd=0.02, no_progress_repeats=20)

    run = driven(new_run(coding_repo, "@wander"))

    assert run.status == "failed" and run.reason.startswith("cost cap reached: $0.0200")
    assert run.iteration == 2


def test_a_harness_printing_more_than_is_kept_still_has_its_cost_counted(coding_repo):
    # Claude Code's stream ends with its `result` (the pass's cost): only the output's first
    # 64 kB were read for it, so a real session's cost was $0 and "no result message"
    run = driven(new_run(coding_repo, "@greet @shout", mode="single-shot"))

    assert run.status == "waiting_for_review", run.reason
    assert (run.cost_usd, run.external_session_id) == (Decimal("0.01"), "s1")
    assert run.iterations.get().verdict == ""


def test_a_harness_printing_past_its_output_cap_still_has_its_cost_counted(coding_repo):
    run = new_run(coding_repo, "@greet @shout", mode="single-shot")
    run.limits |= {"harness_output_bytes": 20_000}
    run.save(update_fields=["limits"])

    run = driven(run)

    assert (run.cost_usd, run.external_session_id) == (Decimal("0.01"), "s1")


def test_a_change_whose_patch_is_past_what_the_driver_reads_fails_its_run(coding_repo, monkeypatch):
    # the driver read the change's whole binary patch, several times over: a harness leaving
    # gigabytes of binary files had the driver killed for its memory, and each adopting one
    monkeypatch.setattr("coding.hardened_git.PATCH_BYTES", 1_000_000)
    run = driven(new_run(coding_repo, "@greet @bulky", mode="single-shot"))

    assert run.status == "failed" and not run.head_sha
    assert "patch is past the 1 MB the driver reads" in run.reason, run.reason


def test_a_change_touching_more_files_than_allowed_fails(coding_repo):
    run = driven(new_run(coding_repo, "@greet @many", max_changed_files=3))

    assert run.status == "failed" and "changed-files cap: 7 files" in run.reason
    branch_head = sh("git", "rev-parse", f"refs/heads/{run.branch}", cwd=coding_repo.path)
    assert branch_head.strip() == run.base_sha and not run.head_sha  # nothing was committed


def test_a_write_outside_the_worktree_fails_inside_the_box(coding_repo):
    run = driven(new_run(coding_repo, "@greet @escape"))

    assert not Path(run.worktree_path).parent.joinpath("escaped.txt").exists()
    assert "Permission denied: '../escaped.txt'" in run.iterations.get().output_summary


def test_a_symlink_pointing_out_of_the_worktree_fails_the_run_before_its_tests_run(coding_repo):
    run = driven(new_run(coding_repo, "@greet @symlink"))

    assert run.status == "failed" and "outside its worktree" in run.reason
    found = run.iterations.get()  # the escape look said so: no go, nothing it wrote ran again
    assert found.tests_passed is None and found.test_output == "" and not run.test_summary
    assert "outside its worktree" in found.verdict and not run.head_sha


def test_the_harness_sees_none_of_the_seeded_secrets(coding_repo):
    run = driven(new_run(coding_repo, "@greet"))

    seen = json.loads(Path(run.worktree_path, ".harness-env.json").read_text())
    assert not {"OPS_API_TOKEN", "DATABASE_URL", "ANTHROPIC_API_KEY"} & set(seen)
    assert "seeded-secret" not in Path(run.worktree_path, ".harness-env.json").read_text()


def test_a_harness_key_the_operator_passes_is_the_one_exception(coding_repo, settings):
    settings.OPS_CODING_PASS_ENV = ["ANTHROPIC_API_KEY"]

    run = driven(new_run(coding_repo, "@greet"))

    seen = json.loads(Path(run.worktree_path, ".harness-env.json").read_text())
    assert "ANTHROPIC_API_KEY" in seen and "OPS_API_TOKEN" not in seen


def test_the_key_passed_to_a_harness_is_masked_in_everything_kept_of_what_it_printed(
    coding_repo, settings, monkeypatch, admin_client
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-seeded-0123456789")
    settings.OPS_CODING_PASS_ENV = ["OPENAI_API_KEY"]
    coding_repo.test_command = ["cat", "leak.txt"]  # the tests print what it wrote down
    coding_repo.save()

    run = driven(new_run(coding_repo, "@leak"))

    iteration = run.iterations.get()
    kept = [run.result_summary, iteration.output_summary, iteration.test_output]
    kept += [f"{e.title} {e.summary} {e.payload}" for e in Event.objects.all()]
    assert not [text for text in kept if "sk-openai-seeded" in text]
    assert "key [redacted]" in run.result_summary, run.result_summary
    assert "[redacted]" in iteration.test_output
    page = admin_client.get(f"/admin/coding/codingrun/{run.id}/change/").content.decode()
    assert "+[redacted]" in page and "sk-openai-seeded" not in page  # leak.txt in the diff


def test_a_missing_harness_blocks_the_run_with_the_reason(coding_repo, settings):
    settings.OPS_CODING_RUNNERS = {"command": ["/nonexistent/harness"]}

    run = driven(new_run(coding_repo, "@greet"))

    assert run.status == "blocked" and "/nonexistent/harness is not installed" in run.reason


def test_a_harness_past_its_wall_clock_is_killed_with_its_group(tmp_path):
    done = run_boxed([*HARNESS, "@sleep"], str(tmp_path), Limits(seconds=1))

    assert done.timed_out and done.exit_status is None and done.seconds < 10


def test_output_is_capped_with_a_marker(tmp_path):
    done = run_boxed([*HARNESS, "@shout"], str(tmp_path))

    assert done.output.endswith(CUT_MARKER) and len(done.output) < 70_000


def test_a_second_run_on_the_same_repository_gets_its_own_worktree_and_branch(coding_repo):
    coding_repo.max_concurrent_runs = 2
    coding_repo.save()
    first = driven(new_run(coding_repo, "@greet"))
    second = driven(new_run(coding_repo, "@greet"))

    assert first.branch != second.branch and first.worktree_path != second.worktree_path
    assert first.status == second.status == "waiting_for_review"


def test_ten_runs_submitted_at_once_respect_the_wip_limits(coding_repo):
    import threading

    from django.db import connection

    from coding.driver import let_go, start_next, wip
    from coding.models import Repository

    other = Repository.objects.create(
        name="other", path=coding_repo.path, allowed_base_refs=["main"], runners=["command"]
    )
    for n in range(10):
        new_run(coding_repo if n % 2 else other, f"change {n}")
    started = []

    def dispatch():
        try:
            run = start_next()
            if run is not None:
                started.append(run.repository.name)
                let_go(run.id)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatch) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(started) == ["app", "other"]  # max_running 2, one per repository
    assert wip() == {"running": 2, "limit": 2, "queued": {"app": 4, "other": 4}}


def test_one_agent_runs_one_job_at_a_time(coding_repo):
    from coding.driver import let_go, start_next
    from tests.factories import AgentFactory

    coding_repo.max_concurrent_runs = 5
    coding_repo.save()
    devops, research = AgentFactory(slug="devops"), AgentFactory(slug="research")
    runs = [new_run(coding_repo, "x", agent=a) for a in (devops, devops, research)]

    started = [start_next(), start_next()]
    for run in started:
        let_go(run.id)

    assert [r.id for r in started] == [runs[0].id, runs[2].id]
    runs[1].refresh_from_db()
    assert runs[1].status == "queued"


def test_a_run_past_its_wall_time_stops_and_says_so(coding_repo):
    run = new_run(coding_repo, "@greet")
    run.limits |= {"active_seconds": 61 * 60}  # an hour already spent driving it
    run.save(update_fields=["limits"])

    run = driven(run)

    assert run.status == "failed" and run.reason.startswith("wall-time cap reached: 61 of 60")
    assert run.iteration == 0


def test_time_waiting_for_review_does_not_count_as_wall_time(coding_repo):
    from datetime import timedelta

    from django.db.models import F

    from coding.actions import request_revision

    run = driven(new_run(coding_repo, "@greet"))
    CodingRun.objects.filter(pk=run.pk).update(started_at=F("started_at") - timedelta(days=2))
    request_revision(run, "also wave", actor="devops")

    run = driven(run)

    assert run.status == "waiting_for_review" and run.iteration == 2
    assert 0 < run.limits["active_seconds"] < 60


def test_a_retried_run_gets_a_fresh_cost_budget(coding_repo):
    from coding.actions import retry_run

    caps(max_cost_usd=0.02, no_progress_repeats=20)
    run = driven(new_run(coding_repo, "@wander"))
    assert run.reason.startswith("cost cap reached")

    retry_run(run, actor="ops")
    run = driven(run)

    assert run.reason.startswith("cost cap reached: $0.0200") and run.iteration == 4


def test_no_bytecode_or_cache_is_ever_committed_even_without_a_gitignore(coding_repo):
    coding_repo.test_command = [sys.executable, "-c", "import mod"]
    coding_repo.save()

    run = driven(new_run(coding_repo, "@greet @bytecode"))

    assert run.status == "waiting_for_review", run.reason
    committed = sh("git", "ls-tree", "-r", "--name-only", run.head_sha, cwd=coding_repo.path)
    assert "mod.py" in committed.split()
    assert not [n for n in committed.split() if "__pycache__" in n or n.endswith(".pyc")]
    assert ".pytest_cache" not in committed
    assert not Path(run.worktree_path, "__pycache__").exists()  # nothing ran with bytecode on
    assert "PYTHONDONTWRITEBYTECODE" in json.loads(
        Path(run.worktree_path, ".harness-env.json").read_text()
    )


def test_worktrees_live_outside_opscore_own_checkout_by_default():
    from opscore import settings as defaults

    assert not Path(defaults.OPS_CODING_DIR).resolve().is_relative_to(defaults.BASE_DIR)
