"""Each driver's boxes have their own outer uid (coding/uids.py), so their own process limit:
a harness that forks up to RLIMIT_NPROC — which counts every process of a uid on the machine
— keeps no other driver's box from starting its command."""

import contextlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from coding.sandbox import Limits, confinement_missing, run_boxed
from coding.spare import start_spare
from tests.coding_support import BOX_READS

pytestmark = [
    pytest.mark.skipif(
        bool(confinement_missing()),
        reason=f"this kernel cannot build the box: {confinement_missing()}",
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="only root gives each box a uid of its own"),
]
PROCESSES = 16
# Forks until the process limit refuses, says how many it holds in `full`, and holds them
# until a byte comes on `done`.
BOMB = """import os, select
done = os.open("done", os.O_RDONLY | os.O_NONBLOCK)
reader, writer = os.pipe()
held = 0
try:
    while True:
        if os.fork() == 0:
            os.close(writer)
            os.read(reader, 1)
            os._exit(0)
        held += 1
except OSError:
    pass
with open("full", "w") as full:
    full.write(str(held))
select.select([done], [], [])
"""
# Another driver process: the bomb's box, run as a driver runs it.
ANOTHER_DRIVER = """import json, sys
import django
django.setup()
from django.conf import settings
settings.OPS_CODING_READ_PATHS = json.loads(sys.argv[2])
from coding.sandbox import Limits, run_boxed
run_boxed([sys.executable, "-c", sys.argv[3]], sys.argv[1], Limits(processes=int(sys.argv[4])))
"""


def tree(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name / "tree"
    path.mkdir(parents=True)
    return path


def nudge(fifo: Path, data: bytes = b"") -> None:
    """Whoever waits on `fifo`'s other end goes on (nobody waiting: nothing happens)."""
    with contextlib.suppress(OSError):
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, data)
        os.close(fd)


@pytest.mark.parametrize("launch", ["own launch", "spare"])
def test_a_box_forking_to_its_process_limit_leaves_another_drivers_box_free_to_start(
    tmp_path, launch
):
    bombed = tree(tmp_path, "run-1")
    full, done = bombed / "full", bombed / "done"
    os.mkfifo(full), os.mkfifo(done)
    argv = [bombed, json.dumps(BOX_READS), BOMB, str(PROCESSES)]
    driver = subprocess.Popen([sys.executable, "-c", ANOTHER_DRIVER, *map(str, argv)])
    gone = threading.Thread(target=lambda: (driver.wait(), nudge(full)))  # never read in vain
    gone.start()
    try:
        held = full.read_text()
        spare = start_spare() if launch == "spare" else None  # built while the bomb holds on
        command = ["sh", "-c", "/bin/true && echo started"]
        other = run_boxed(
            command, str(tree(tmp_path, "run-2")), Limits(processes=PROCESSES), spare=spare
        )
    finally:
        nudge(done, b"x")
        gone.join()

    assert int(held) >= PROCESSES - 2  # it did hold its whole process budget
    assert other.exit_status == 0 and "started" in other.output, other.output


def test_a_driver_keeps_its_uid_from_pass_to_pass_so_a_worktree_keeps_its_owner(tmp_path):
    worktree = tree(tmp_path, "run-1")
    owners = []
    for spare in (None, start_spare()):  # the next pass's spare, started while one ran
        done = run_boxed(["sh", "-c", "id -u; touch new"], str(worktree), spare=spare)
        owners.append((done.output.strip(), (worktree / "new").stat().st_uid))

    assert owners[0] == owners[1] and owners[0][0] == str(owners[0][1]) != "0"


LOOKUP = (
    "import pwd, os; print(pwd.getpwuid(os.getuid()).pw_name, pwd.getpwuid(os.getuid()).pw_dir)"
)


@pytest.mark.parametrize("launch", ["own launch", "spare"])
def test_a_box_knows_the_user_it_runs_as_and_the_machines_files_stay_as_they_were(tmp_path, launch):
    host = {name: Path("/etc", name).read_bytes() for name in ("passwd", "group")}
    worktree = tree(tmp_path, "run-1")
    looked_up = [sys.executable, "-c", LOOKUP]
    command = ["sh", "-c", f"{' '.join(map(repr, looked_up))} && id -gn"]
    spare = start_spare() if launch == "spare" else None
    done = run_boxed(command, str(worktree), spare=spare)

    home = str(worktree.parent / "home")
    assert done.exit_status == 0, done.output
    assert done.output.split() == ["sandbox", home, "sandbox"]
    assert {name: Path("/etc", name).read_bytes() for name in host} == host
