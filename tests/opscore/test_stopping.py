"""The early stop latch: a long-running command hears a Ctrl-C that came while it started."""

import os
import signal

import pytest

from opscore import stopping


@pytest.mark.parametrize(
    ("argv", "listened"),
    [
        (["opscore", "work", "--slot", "0"], True),
        (["manage.py", "--json", "coding", "drive"], True),
        (["opscore", "supervise"], True),
        (["opscore", "coding", "list"], False),
        (["opscore", "status"], False),
        (["opscore", "up"], False),  # its setup stays interruptible by a plain Ctrl-C
    ],
)
def test_only_commands_that_run_until_stopped_are_listened_for(argv, listened):
    assert stopping.runs_until_stopped(argv) is listened


def test_a_signal_noted_while_starting_reaches_the_handler_once_installed():
    heard = []
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    stopping.EARLY.listen()
    try:
        os.kill(os.getpid(), signal.SIGTERM)  # noted, not raised and not fatal
        sum(range(100))
        previous = stopping.install(lambda signum, _frame: heard.append(signum))
        os.kill(os.getpid(), signal.SIGINT)
        sum(range(100))
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])

    assert heard == [signal.SIGTERM, signal.SIGINT]
    assert previous[signal.SIGINT] == stopping.EARLY._note
    assert stopping.EARLY.take() == []
