"""A driver killed mid-pass and a cancel mid-pass: no process of the run's group survives, the
work in progress is saved as a patch, and the retry starts from a clean worktree."""

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from io import StringIO
from pathlib import Path

import psutil
import pytest
from django.core.management import call_command
from django.db import connection

from coding.driver import RUN_LOCK, handle_one_run
from coding.models import CodingRun
from coding.worktrees import git, keep_state, provision
from opscore.models import Event
from tests.coding_support import BOX_READS, HARNESS, new_run
from tests.conftest import sh
from tests.processes import ROOT, child_environment

pytestmark = pytest.mark.django_db(transaction=True)


def live_members(pgid: int) -> list[int]:
    found = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def wait_for(check, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_a_run_whose_driver_was_sigkilled_is_adopted_with_a_clean_worktree(coding_repo):
    run = provision(new_run(coding_repo, "@greet"))
    run.move("running")
    orphan = subprocess.Popen(
        [*HARNESS, "@sleep"],
        cwd=run.worktree_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    assert wait_for(lambda: Path(run.worktree_path, "half-done.txt").exists())
    CodingRun.objects.filter(pk=run.pk).update(process_group=orphan.pid)
    gitdir = Path(git(["rev-parse", "--absolute-git-dir"], run.worktree_path).strip())
    (gitdir / "index.lock").write_text("")  # what a killed `git add` leaves

    assert handle_one_run()
    orphan.wait(timeout=10)

    run.refresh_from_db()
    assert run.status == "waiting_for_review"
    assert wait_for(lambda: not live_members(orphan.pid), 10)
    assert "work in progress" in Path(run.patch_ref).read_text()
    assert not Path(run.worktree_path, "half-done.txt").exists()
    assert "work in progress" in sh(
        "git", "show", f"{run.state_ref}:half-done.txt", cwd=coding_repo.path
    )
    adopted = Event.objects.get(kind="coding.run.running", summary__startswith="adopted")
    assert "process group was killed" in adopted.summary


def test_a_real_driver_sigkilled_mid_pass_leaves_nothing_the_next_one_does_not_clear(
    coding_repo, settings
):
    run = new_run(coding_repo, "@nap @greet")
    env = child_environment(
        2,
        OPS_CODING_DIR=settings.OPS_CODING_DIR,
        OPS_CODING_COMMAND=shlex.join(HARNESS),
        OPS_CODING_PASS_ENV="FAKE_HARNESS_NAP",
        FAKE_HARNESS_NAP="1",
        OPS_CODING_READ_PATHS=",".join(BOX_READS),
    )
    driver = subprocess.Popen(
        [sys.executable, "manage.py", "coding", "drive", "--once"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def harness_working():
        run.refresh_from_db()
        tree = run.worktree_path and Path(run.worktree_path, "half-done.txt")
        return run.process_group and tree and tree.exists()

    assert wait_for(harness_working, 60)
    pgid = run.process_group
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=10)
    assert live_members(pgid)  # the harness outlived its driver
    # Its database session ends when the server notices the closed socket, a moment after the
    # kill: until then the dead driver still holds the run, as a live one would.
    assert wait_for(lambda: not held_by_a_session(run.id), 30)

    assert handle_one_run()  # the next driver adopts the run (no nap here: a clean pass)

    run.refresh_from_db()
    assert wait_for(lambda: not live_members(pgid), 10)
    assert run.status == "waiting_for_review" and run.iteration == 2
    assert run.iterations.first().verdict == "lost with its driver"
    assert "work in progress" in Path(run.patch_ref).read_text()
    assert not Path(run.worktree_path, "half-done.txt").exists()
    assert "work in progress" in sh(
        "git", "show", f"{run.state_ref}:half-done.txt", cwd=coding_repo.path
    )


def held_by_a_session(run_id: int) -> bool:
    """Whether some session holds the run (coding.driver.hold: a two-key advisory lock)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s AND objid = %s AND objsubid = 2)",
            [RUN_LOCK, run_id],
        )
        return cursor.fetchone()[0]


def test_cancel_kills_the_live_harness_group_and_keeps_its_diff(coding_repo):
    """Kept twice: a patch file, and the uncommitted tree itself under refs/opscore/runs/<id>."""
    run = new_run(coding_repo, "@sleep")
    driver = threading.Thread(target=lambda: (handle_one_run(), connection.close()))
    driver.start()

    def harness_working():
        run.refresh_from_db()
        tree = run.worktree_path and Path(run.worktree_path, "half-done.txt")
        return run.process_group and tree and tree.exists()

    assert wait_for(harness_working)
    pgid = run.process_group
    call_command("coding", "cancel", str(run.id))
    driver.join(timeout=30)

    run.refresh_from_db()
    assert not driver.is_alive() and run.status == "cancelled"
    assert wait_for(lambda: not live_members(pgid), 10)
    assert "work in progress" in Path(run.patch_ref).read_text()
    assert run.iterations.get().verdict == "cut short: cancelled"
    assert_kept_as_ref(run, coding_repo)


def assert_kept_as_ref(run, repo):
    ref = f"refs/opscore/runs/{run.id}"
    assert run.state_ref == ref
    assert "work in progress" in sh("git", "show", f"{ref}:half-done.txt", cwd=repo.path)
    assert sh("git", "rev-parse", f"{ref}^", cwd=repo.path) == sh(
        "git", "rev-parse", run.branch, cwd=repo.path
    )  # the state sits on the run's branch, which stays where it was
    out = StringIO()
    call_command("coding", "runs", "--json", stdout=out)
    listed = next(r for r in json.loads(out.getvalue()) if r["id"] == run.id)
    assert listed["state_ref"] == ref


def test_a_run_that_keeps_losing_its_driver_still_ends_at_its_iteration_cap(coding_repo):
    run = new_run(coding_repo, "@greet")
    run.move("running")
    CodingRun.objects.filter(pk=run.pk).update(iteration=run.limits["max_iterations"] - 1)

    assert handle_one_run()  # adopted: the lost pass counts, and that was the last allowed

    run.refresh_from_db()
    assert run.status == "failed" and run.reason.startswith("iteration cap reached")
    assert run.iterations.get().verdict == "lost with its driver"


def test_a_recorded_group_working_elsewhere_is_not_killed(tmp_path):
    from coding.watch import kill_process_group

    elsewhere = subprocess.Popen(["sleep", "30"], cwd=tmp_path, start_new_session=True)
    worktree = tmp_path / "run-1" / "tree"
    worktree.mkdir(parents=True)

    assert not kill_process_group(elsewhere.pid, inside=str(worktree))
    assert elsewhere.poll() is None  # someone else's process, reusing an old id, lives on
    assert kill_process_group(elsewhere.pid, inside=str(tmp_path))
    assert elsewhere.wait(timeout=10) == -signal.SIGKILL


def holding(run) -> bool:
    """The fake harness says it is mid-pass by a file in its private HOME (the box shows it
    nothing else of the machine)."""
    worktree = CodingRun.objects.get(pk=run.pk).worktree_path
    return bool(worktree) and (Path(worktree).parent / "home" / ".holding").exists()


def test_a_driver_waits_out_a_database_restart_and_loses_no_lane_event(coding_repo, settings):
    """Every session ends under the driver mid-pass (what a Postgres restart does): the driver
    stays up, pauses and reconnects instead of dying into a restart storm, records the outage,
    adopts its own run and finishes it; every event before the outage is still there."""
    run = new_run(coding_repo, "@hold @greet")
    env = child_environment(
        2,
        OPS_CODING_DIR=settings.OPS_CODING_DIR,
        OPS_CODING_COMMAND=shlex.join(HARNESS),
        OPS_CODING_PASS_ENV="FAKE_HARNESS_GATE",
        OPS_CODING_READ_PATHS=",".join(BOX_READS),
        FAKE_HARNESS_GATE="worktree",
    )
    driver = subprocess.Popen(
        [sys.executable, "manage.py", "coding", "drive", "--seconds", "600"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: holding(run), 60)
        before = list(
            Event.objects.filter(kind__startswith="coding.")
            .order_by("id")
            .values_list("id", "kind")
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        (Path(CodingRun.objects.get(pk=run.pk).worktree_path).parent / "home" / ".gate").touch()
        assert wait_for(lambda: CodingRun.objects.get(pk=run.pk).status == "waiting_for_review", 60)
        assert driver.poll() is None  # it waited the outage out
    finally:
        driver.send_signal(signal.SIGTERM)
        _out, err = driver.communicate(timeout=60)

    assert "Traceback" not in err
    after = list(
        Event.objects.filter(kind__startswith="coding.").order_by("id").values_list("id", "kind")
    )
    assert after[: len(before)] == before
    assert Event.objects.get(kind="coding.driver.reconnected").payload["attempts"] >= 1
    assert Event.objects.filter(kind="coding.run.running", summary__startswith="adopted")
    assert run.iterations.order_by("number").first().verdict == "lost with its driver"


def test_a_later_kept_state_keeps_the_earlier_one_and_leaves_the_index_alone(coding_repo):
    run = provision(new_run(coding_repo, "@greet"))
    tree = Path(run.worktree_path)
    (tree / "first.txt").write_text("before the retry\n")
    keep_state(tree, run, "before-retry")
    (tree / "first.txt").unlink()
    (tree / "second.txt").write_text("at cleanup\n")

    ref = keep_state(tree, run, "at-cleanup")

    assert git(["show", f"{ref}:second.txt"], coding_repo.path) == "at cleanup\n"
    assert git(["show", f"{ref}^2:first.txt"], coding_repo.path) == "before the retry\n"
    assert git(["status", "--porcelain"], tree) == "?? second.txt\n"  # nothing staged
