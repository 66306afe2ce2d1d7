"""Stopping the supervisor stops the django-q2 cluster by itself: an idle cluster at once, a
busy one once its running timer task has finished, both with the cluster's own "has stopped".
The grace is ten minutes, so a cluster that only ends when the supervisor kills it fails the
poll's deadline instead of passing late."""

import signal
from pathlib import Path

import pytest
from django_q.tasks import async_task, result

from tests.processes import kill_tree, spawn_supervisor, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
HANG = 120  # only a cluster that never stops by itself reaches this


def cluster_only(log_path: Path):
    log = log_path.open("w")
    return spawn_supervisor(
        log=log,
        OPS_WORKER_SLOTS=0,
        OPS_CODING_DRIVERS=0,
        OPS_SHUTDOWN_GRACE_SECONDS=600,
        Q_WORKERS=2,
        LOG_LEVEL="INFO",
    )


def logged(log_path: Path, text: str) -> bool:
    return text in log_path.read_text()


def stop(supervisor) -> int:
    supervisor.send_signal(signal.SIGTERM)
    return supervisor.wait(timeout=HANG)


def test_an_idle_cluster_stops_by_itself_on_sigterm(tmp_path):
    log = tmp_path / "supervisor.log"
    supervisor = cluster_only(log)
    try:
        wait_for(lambda: logged(log, " running."), timeout=HANG)
        code = stop(supervisor)
    finally:
        kill_tree(supervisor)

    assert code == 0
    assert logged(log, "has stopped"), log.read_text()[-3000:]


def test_a_running_timer_task_finishes_before_the_cluster_stops(tmp_path):
    log, started, gate = tmp_path / "supervisor.log", tmp_path / "started", tmp_path / "gate"
    supervisor = cluster_only(log)
    try:
        wait_for(lambda: logged(log, " running."), timeout=HANG)
        task = async_task("tests.processes.task_behind_gate", str(started), str(gate))
        wait_for(started.exists, timeout=HANG)
        supervisor.send_signal(signal.SIGTERM)
        wait_for(lambda: logged(log, "stopping"), timeout=HANG)
        gate.touch()
        code = supervisor.wait(timeout=HANG)
    finally:
        kill_tree(supervisor)

    assert code == 0
    assert result(task) == "finished"
    assert logged(log, "has stopped"), log.read_text()[-3000:]
