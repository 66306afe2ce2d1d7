"""Waiting for a child process with a deadline, without polling.

subprocess's wait(timeout=…), and so communicate(timeout=…) and run(timeout=…), looks at the
child, then sleeps 1 ms, 2 ms, 4 ms … between looks. A command's output ends as it exits, a
moment before the kernel has it ready to be reaped, so the first look nearly always finds it
still there: every git the coding lane ran cost its driver a millisecond of sleep after git
was done (as long again as `git --version` itself), several of them a pass on the way from
the harness's end to its tests' start. psutil's wait polls the same way.

Reaped waits on the child's pidfd (Linux ≥ 5.3), which becomes readable the moment it exits,
for at most the time left, then reaps it at once; where there is no pidfd it waits as
subprocess does. Its own module because every process the lane starts outside the box (its
git, the box's launch, a spare) is waited for this one way.
"""

import contextlib
import os
import select
import subprocess


class Reaped(subprocess.Popen):
    """subprocess.Popen whose timed waits block on the child's pidfd instead of polling."""

    def _wait(self, timeout):
        if timeout is None or self.returncode is not None:
            return super()._wait(timeout)
        pidfd = pidfd_of(self.pid)
        if pidfd is None:
            return super()._wait(timeout)
        try:
            ended = select.poll()
            ended.register(pidfd, select.POLLIN)
            if not ended.poll(max(timeout, 0) * 1000):
                raise subprocess.TimeoutExpired(self.args, timeout)
        finally:
            os.close(pidfd)
        return super()._wait(None)  # it has exited: reaped without a wait


def pidfd_of(pid: int) -> int | None:
    """A pidfd for the child, or None: no pidfd_open (an older kernel or Python), or the child
    reaped already by another waiter (subprocess's own wait then says so)."""
    with contextlib.suppress(AttributeError, OSError):
        return os.pidfd_open(pid)
    return None
