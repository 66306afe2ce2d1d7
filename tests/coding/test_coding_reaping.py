"""A wait for a child with a deadline blocks until the child exits, rather than sleeping between
looks: subprocess's own timed wait slept a millisecond or more after nearly every git the
coding lane ran (its output ends a moment before it can be reaped)."""

import subprocess
import sys
import threading
import time

import pytest

from coding.hardened_git import git, git_output, git_started
from coding.reaping import Reaped

WAITS_FOR_ITS_INPUT = [sys.executable, "-c", "import sys; sys.stdin.read()"]


@pytest.fixture
def sleeping_is_polling(monkeypatch):
    """Any sleep in the test's own thread is subprocess's polling: fail it. Another thread's
    (a lease keeper an earlier test left in this process) sleeps as ever."""
    test_thread, sleep = threading.current_thread(), time.sleep

    def polled(seconds):
        if threading.current_thread() is not test_thread:
            return sleep(seconds)
        raise AssertionError(f"slept {seconds}s waiting for a child")

    monkeypatch.setattr(time, "sleep", polled)


def test_a_timed_wait_returns_when_the_child_exits_without_polling(sleeping_is_polling):
    child = Reaped(WAITS_FOR_ITS_INPUT, stdin=subprocess.PIPE)
    child.stdin.close()  # it exits once its interpreter has started and read the end

    assert child.wait(timeout=60) == 0


def test_a_timed_wait_still_gives_up_at_its_deadline(sleeping_is_polling):
    child = Reaped(WAITS_FOR_ITS_INPUT, stdin=subprocess.PIPE)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=0.05)  # its input stays open: it never exits by itself
        assert child.returncode is None
    finally:
        child.stdin.close()
        child.wait()
    assert child.returncode == 0


def test_a_child_reaped_already_is_not_waited_for_again(sleeping_is_polling):
    child = Reaped([sys.executable, "-c", "pass"])
    child.wait()

    assert child.wait(timeout=1) == 0


def test_the_drivers_git_is_waited_for_without_polling(tmp_path, sleeping_is_polling):
    assert git(["--version"], tmp_path).startswith("git version")
    assert git_output(git_started(["--version"], tmp_path)).startswith("git version")
