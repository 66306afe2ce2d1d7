"""SIGTERM and Ctrl-C: a running step gets the grace, what outlives it is handed back for the
next start to claim at once, a second signal stops at once, and no command prints a traceback.
The grace is set to a second or to ten minutes; the tests read rows, never the clock."""

import signal
import subprocess
import sys
import uuid

import pytest

from missions.execution import claim_next_step
from missions.models import Step
from tests.factories import make_step
from tests.processes import (
    ROOT,
    child_environment,
    database_url,
    kill_tree,
    report_of,
    spawn_supervisor,
    spawn_worker,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
LONG_LEASE = 600


def gated_step(tmp_path):
    return make_step("test_gate", payload={"gate": str(tmp_path / "never-opened")})


def running(step) -> Step:
    return wait_for(lambda: Step.objects.filter(pk=step.pk, status="running").first())


def assert_handed_back(step, why: str):
    step = Step.objects.get(pk=step.pk)
    assert (step.status, step.lease_token, step.lease_owner) == ("queued", None, "")
    [attempt] = step.attempts.all()
    assert attempt.outcome == "interrupted" and why in attempt.error
    assert step.max_attempts > step.attempt_count  # the interrupted attempt is not spent
    assert claim_next_step("next-start").id == step.id


def test_sigterm_hands_back_a_step_that_outlives_the_grace(tmp_path):
    step = gated_step(tmp_path)
    worker = spawn_worker("stopping", seconds=600, lease=LONG_LEASE, OPS_SHUTDOWN_GRACE_SECONDS=1)
    running(step)

    worker.send_signal(signal.SIGTERM)
    report = report_of(worker)

    assert report["steps"] == 1
    assert_handed_back(step, "SIGTERM and its 1s grace ran out")


def test_a_second_sigterm_hands_back_at_once(tmp_path):
    step = gated_step(tmp_path)
    worker = spawn_worker("hurried", seconds=600, lease=LONG_LEASE, OPS_SHUTDOWN_GRACE_SECONDS=600)
    running(step)

    worker.send_signal(signal.SIGTERM)
    for line in worker.stderr:  # until the first one was heard
        if "stopping" in line:
            break
    worker.send_signal(signal.SIGTERM)
    _out, err = worker.communicate(timeout=60)

    assert worker.returncode == 0 and "Traceback" not in err
    assert_handed_back(step, "a second SIGTERM arrived")


def test_stopping_the_supervisor_hands_back_what_outlived_the_grace(tmp_path):
    step = gated_step(tmp_path)
    supervisor = spawn_supervisor(
        lease=LONG_LEASE, OPS_WORKER_SLOTS=1, OPS_CODING_DRIVERS=0, OPS_SHUTDOWN_GRACE_SECONDS=1
    )
    try:
        running(step)
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=60) == 0
    finally:
        kill_tree(supervisor)

    assert_handed_back(step, "grace ran out")


def spawn_command(*args: str, name: str, program=("manage.py",)) -> subprocess.Popen:
    env = child_environment(LONG_LEASE, OPS_CODING_DRIVERS=0, OPS_WORKER_SLOTS=1)
    env["DATABASE_URL"] = f"{database_url()}?application_name={name}"
    return subprocess.Popen(
        [sys.executable, *program, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


# The command as manage.py runs it, but Ctrl-C comes twice while a library is busy that swallows
# KeyboardInterrupt — as lxml's import did in CI, and then `work` ran its whole session.
SWALLOWS_CTRL_C = """
import os, signal, sys
from django.core import checks
from opscore.cli import main

run_checks = checks.run_checks

def ctrl_c_twice_then_run_checks(*args, **kwargs):
    try:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        sum(range(1000))  # a Python handler runs between these bytecodes
    except KeyboardInterrupt:
        pass
    return run_checks(*args, **kwargs)

checks.run_checks = ctrl_c_twice_then_run_checks
main(sys.argv)
"""


def connected(name: str) -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_stat_activity WHERE application_name = %s", [name])
        return cursor.fetchone() is not None


def stopped_quietly(process: subprocess.Popen) -> str:
    try:
        _out, err = process.communicate(timeout=60)
    finally:
        kill_tree(process)
    assert "Traceback" not in err, err
    assert process.returncode in (0, 130), err
    return err


RUN_UNTIL_STOPPED = pytest.mark.parametrize(
    "command",
    [
        ("coding", "drive", "--seconds", "600"),
        ("work", "--seconds", "600"),
        ("work", "--slot", "0"),
        ("supervise",),
        ("deliver",),
    ],
    ids=lambda c: " ".join(c[:2]),
)


@RUN_UNTIL_STOPPED
def test_ctrl_c_twice_prints_no_traceback(command):
    name = f"ctrl-c-{uuid.uuid4().hex[:8]}"  # never an earlier test's backend still leaving
    process = spawn_command(*command, name=name)
    try:
        wait_for(lambda: connected(name))
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGINT)
    finally:
        stopped_quietly(process)


@RUN_UNTIL_STOPPED
def test_ctrl_c_that_a_library_swallowed_still_stops_the_command(command):
    stopped_quietly(spawn_command(*command, name="swallowed", program=("-c", SWALLOWS_CTRL_C)))


# The command as manage.py runs it, but the second of two Ctrl-Cs lands only once the first has
# stopped it and the interpreter is finalizing: after Python has taken its signal handlers away,
# as a busy machine can deliver it.
CTRL_C_WHILE_FINALIZING = """
import os, signal, sys
from opscore.cli import main

class CtrlCWhenCollected:
    def __del__(self, kill=os.kill, pid=os.getpid(), sigint=signal.SIGINT):
        kill(pid, sigint)  # bound now: by then the module's names may already be None

left_for_the_end = CtrlCWhenCollected()  # collected with __main__, after the handlers went
main(sys.argv)
"""


@RUN_UNTIL_STOPPED
def test_a_ctrl_c_that_comes_while_the_command_exits_leaves_its_exit_code(command):
    name = f"late-ctrl-c-{uuid.uuid4().hex[:8]}"
    process = spawn_command(*command, name=name, program=("-c", CTRL_C_WHILE_FINALIZING))
    try:
        wait_for(lambda: connected(name))
        process.send_signal(signal.SIGINT)
    finally:
        stopped_quietly(process)
