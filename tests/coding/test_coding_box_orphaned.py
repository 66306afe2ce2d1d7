"""A box whose driver died: nobody pumps its output or kills it at its time limit any more (the
next driver adopts a run's box, but not while the lane is paused or Opscore is stopped, and
never a merge's tests'), so it ends by itself a while past its limit."""

import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest

from coding.sandbox import confinement_missing
from tests.coding_support import BOX_READS
from tests.processes import wait_for

pytestmark = pytest.mark.skipif(
    bool(confinement_missing()),
    reason=f"this kernel cannot build the box: {confinement_missing()}",
)
# A driver process running one box (the box's own slack past its limit made none); it is
# killed once the box's command has started.
DRIVER = """import json, sys
import django
django.setup()
from django.conf import settings
settings.OPS_CODING_READ_PATHS = json.loads(sys.argv[2])
from coding import box
box.ORPHAN_SECONDS = 0
from coding.sandbox import Limits, run_boxed
run_boxed(json.loads(sys.argv[3]), sys.argv[1], Limits(seconds=2))
"""
SLEEPER = "import sys, time; open('started', 'w').close(); time.sleep(600)"


def carrying(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if marker in (process.info["cmdline"] or []):
            found.append(process)
    return found


def test_a_box_whose_driver_died_ends_by_itself_past_its_time_limit(tmp_path):
    tree, marker = tmp_path / "run-1" / "tree", f"opscore-orphan-{uuid.uuid4().hex}"
    tree.mkdir(parents=True)
    command = [sys.executable, "-c", SLEEPER, marker]
    argv = [str(tree), json.dumps(BOX_READS), json.dumps(command)]
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, *argv])
    try:
        wait_for(lambda: Path(tree, "started").exists(), 60)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
        (sleeper,) = carrying(marker)  # it outlived its driver

        gone, alive = psutil.wait_procs([sleeper], timeout=60)

        assert gone and not alive
    finally:
        driver.kill()
        for process in carrying(marker):
            process.kill()
