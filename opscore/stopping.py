"""Stop signals that reach a long-running command before its own handler is installed.

Python turns Ctrl-C into a KeyboardInterrupt wherever the main thread happens to be, and some
places swallow it: an extension module's import (lxml's, seen in CI while `manage.py work`
imported its executors), a finalizer ("Exception ignored in …"). Two Ctrl-Cs sent together are
one pending signal, so one swallowed KeyboardInterrupt lost both, and the worker then ran its
whole session. So a command that runs until it is told to stop (settings
OPS_RUNS_UNTIL_STOPPED, each of which installs its handler through `install` below) is listened
for from the start of `opscore.cli.main`: a SIGINT or SIGTERM is noted, never raised, and the
command's own handler hears what was noted as soon as it is installed. Every other command keeps
Python's Ctrl-C.
"""

import signal
from collections.abc import Callable
from contextlib import suppress

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from opscore import serving

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

Handler = Callable[[int, object], None]


class EarlySignals:
    """What arrived between the process's first line and its command's own handler."""

    def __init__(self):
        self.noted: list[int] = []

    def listen(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._note)

    def _note(self, signum, frame) -> None:
        self.noted.append(signum)

    def take(self) -> list[int]:
        noted, self.noted = self.noted, []
        return noted


EARLY = EarlySignals()


def runs_until_stopped(argv: list[str]) -> bool:
    try:
        starts = settings.OPS_RUNS_UNTIL_STOPPED
    except ImproperlyConfigured:  # Django says so next, in its own words
        return False
    return serving.started_by(serving.named_command(argv), starts)


def install(handler: Handler) -> dict:
    """Handle SIGINT and SIGTERM with `handler` from now on, then hand it, in order, what was
    noted before. Returns the handlers it replaced, to put back when a test runs the command
    in its own process."""
    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    for signum in EARLY.take():
        handler(signum, None)
    return previous


def ignore_from_now_on() -> None:
    """The command is on its way out: a SIGINT or SIGTERM from now on is ignored, so the process
    ends with the command's own exit code. Python's finalization puts the default action back
    in place of every Python handler (an ignored signal stays ignored), so the second of two
    Ctrl-Cs sent together, arriving once the first had stopped the command, would kill it by
    the signal: a supervisor would record a crash for a clean stop. Setting a handler first runs
    any still pending, which may say "stop at once" one last time."""
    for signum in STOP_SIGNALS:
        while signal.getsignal(signum) is not signal.SIG_IGN:
            with suppress(KeyboardInterrupt):  # already stopping
                signal.signal(signum, signal.SIG_IGN)
