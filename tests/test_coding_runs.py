"""A single-shot coding run with a fake harness on a real repository: tests prove completion,
the harness is boxed in, and a missing harness blocks instead of failing."""

import json
import sys
from pathlib import Path

import pytest

from coding.models import CodingRun
from coding.runs import run_once
from coding.sandbox import CUT_MARKER, Limits, run_boxed

pytestmark = pytest.mark.django_db(transaction=True)
HARNESS = [sys.executable, str(Path(__file__).parent / "fake_harness" / "edit_and_report.py")]


@pytest.fixture
def coding(git_repo, settings, monkeypatch):
    settings.OPS_CODING_RUNNERS = {"command": HARNESS}
    monkeypatch.setenv("OPS_API_TOKEN", "seeded-secret-token-0123456789abcdef")
    monkeypatch.setenv("DATABASE_URL", "postgres://secret@db/x")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-seeded")
    git_repo.test_command = [sys.executable, "app.py"]
    git_repo.save()
    return git_repo


def run_for(repo, problem):
    return CodingRun.objects.create(
        repository=repo,
        runner="command",
        base_ref="main",
        task={"summary": "Greeting", "problem": problem},
    )


def test_a_run_whose_tests_pass_waits_for_review_with_its_iteration(coding):
    run = run_once(run_for(coding, "greet the world"))

    assert run.status == "waiting_for_review"
    assert run.diff_stats == {"files": [".harness-env.json", "app.py"]}
    iteration = run.iterations.get()
    assert (
        iteration.tests_passed
        and iteration.exit_status == 0
        and '"type": "result"' in (iteration.output_summary)
    )
    assert Path(run.worktree_path, "app.py").read_text() == "print('hello, world')\n"


def test_failing_tests_fail_the_run_whatever_the_harness_said(coding):
    run = run_once(run_for(coding, "break it"))

    assert run.status == "failed" and "failed (1)" in run.reason
    assert run.iterations.get().tests_passed is False


def test_the_harness_sees_none_of_the_seeded_secrets(coding):
    run = run_once(run_for(coding, "greet"))

    seen = json.loads(Path(run.worktree_path, ".harness-env.json").read_text())
    assert not {"OPS_API_TOKEN", "DATABASE_URL", "ANTHROPIC_API_KEY"} & set(seen)


def test_a_missing_harness_blocks_the_run_with_the_reason(coding, settings):
    settings.OPS_CODING_RUNNERS = {"command": ["/nowhere/harness"]}

    run = run_once(run_for(coding, "greet"))

    assert run.status == "blocked" and "not installed" in run.reason


def test_a_harness_past_its_wall_clock_is_killed_with_its_group(coding, tmp_path):
    done = run_boxed([*HARNESS, "sleep"], str(tmp_path), Limits(seconds=1))

    assert done.timed_out and done.exit_status is None and done.seconds < 10


def test_output_is_capped_with_a_marker(coding, tmp_path):
    done = run_boxed([*HARNESS, "shout"], str(tmp_path))

    assert done.output.endswith(CUT_MARKER) and len(done.output) < 70_000


def test_cancel_keeps_the_diff_and_the_cli_lists_runs(coding):
    from io import StringIO

    from django.core.management import call_command

    from coding.worktrees import provision

    run = provision(run_for(coding, "greet"))
    Path(run.worktree_path, "app.py").write_text("print('half done')\n")
    out = StringIO()

    call_command("coding", "cancel", str(run.id), "--reason", "wrong idea", stdout=out)
    call_command("coding", "runs", stdout=out)

    run.refresh_from_db()
    assert run.status == "cancelled" and "half done" in Path(run.patch_ref).read_text()
    assert f"R{run.id} app cancelled" in out.getvalue()


def test_ten_runs_submitted_at_once_respect_the_wip_limits(coding):
    import threading

    from django.db import connection

    from coding.dispatch import start_next, waiting_counts
    from coding.models import Repository

    other = Repository.objects.create(
        name="other", path=coding.path, allowed_base_refs=["main"], runners=["command"]
    )
    for n in range(10):
        run_for(coding if n % 2 else other, f"change {n}")
    started = []

    def dispatch():
        try:
            run = start_next()
            if run is not None:
                started.append(run.repository.name)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatch) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(started) == ["app", "other"]  # one per repository, two overall
    assert waiting_counts() == {"app": 4, "other": 4}
