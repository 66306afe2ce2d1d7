"""Stopping a worker process on SIGTERM or SIGINT without leaving a step to wait out its lease.

The first signal stops claiming and gives the running step OPS_SHUTDOWN_GRACE_SECONDS to finish;
when the grace runs out (SIGALRM), or a second signal comes, the step is interrupted where it
stands: StepInterrupted is raised in the main thread — only inside a region that may be cut
(the executor's call, the idle wait), never while an outcome is being written — and the worker
hands the step back (attempt `interrupted`, lease cleared) so the next start claims it at once.
"""

import logging
import signal
import threading

from django.conf import settings

from opscore import stopping

log = logging.getLogger(__name__)


class StepInterrupted(BaseException):
    """Not an Exception: an executor's `except Exception` must not swallow the stop."""


class GracefulStop:
    """One per process (signals are per process): installed by the worker's entry point."""

    def __init__(self):
        self.requested = threading.Event()
        self.forced = ""
        self._region = ""
        self._why = ""

    def install(self):
        """Main thread only. Resets state, so one process may install it more than once.
        Returns a function that puts the previous handlers back (a session run inside another
        program, such as a test, leaves that program's Ctrl-C as it found it)."""
        self.requested.clear()
        self.forced, self._region = "", ""
        previous = {signal.SIGALRM: signal.signal(signal.SIGALRM, self._on_alarm)}
        previous |= stopping.install(self._on_signal)  # hears a signal noted while starting

        def restore() -> None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            for signum, handler in previous.items():
                signal.signal(signum, handler)

        return restore

    def _on_signal(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.requested.is_set():
            self._force(f"a second {name} arrived")
            return
        self.requested.set()
        grace = settings.OPS_SHUTDOWN_GRACE_SECONDS
        signal.setitimer(signal.ITIMER_REAL, max(grace, 0.01))  # 0 would disarm the timer
        self._why = f"{name} and its {grace}s grace ran out"
        log.warning("%s: stopping; a running step has %ss to finish", name, grace)
        if self._region == "idle":
            raise StepInterrupted("stopping")

    def _on_alarm(self, signum, frame) -> None:
        if self.requested.is_set():
            self._force(self._why)

    def _force(self, why: str) -> None:
        self.forced = why
        if self._region:
            raise StepInterrupted(why)

    def region(self, name: str) -> "Region":
        """A stretch of work the stop may cut: "step" (cut when forced) or "idle" (cut by the
        first signal). Raises StepInterrupted at once if that moment has already come. Off the
        main thread (where no signal handler can raise) it marks nothing."""
        return Region(self, name)


class Region:
    """GracefulStop.region's context: a class rather than a generator, which cost a worker
    ~1 µs a step to set up and wind down."""

    __slots__ = ("_marked", "_name", "_stop")

    def __init__(self, stop: GracefulStop, name: str):
        self._stop, self._name, self._marked = stop, name, False

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        stop = self._stop
        if stop.forced or (self._name == "idle" and stop.requested.is_set()):
            raise StepInterrupted(stop.forced or "stopping")
        stop._region, self._marked = self._name, True

    def __exit__(self, *exc) -> None:
        if self._marked:
            self._stop._region = ""


STOP = GracefulStop()
