"""Every Python a test run starts while OPS_TEST_INSTANT is set runs this first (tests/conftest.py
puts this folder at the head of PYTHONPATH): its clock moves by the run's shift and ticks, as the
test process's and the database's do, so a worker or django-q2 cluster the test spawned reads
the same instant. Without it a cluster dequeued only tasks locked before its real now, and a
task a test queued at the moved instant never ran."""

import os

_shift = os.environ.get("OPS_TEST_CLOCK_SHIFT")
if _shift:
    import sys
    import time
    from datetime import UTC, datetime

    # time-machine imports pytest when it can, and a process with pytest loaded takes itself
    # for the test run (opscore.settings.TESTING): the child would no longer be the real one.
    sys.modules["pytest"] = None  # type: ignore[assignment]
    try:  # a sandboxed child that cannot read the venv's time-machine keeps the real clock
        import time_machine
    except ImportError:
        time_machine = None
    finally:
        del sys.modules["pytest"]
    if time_machine is not None:
        moved = datetime.fromtimestamp(time.time() + float(_shift), UTC)
        time_machine.travel(moved, tick=True).start()
