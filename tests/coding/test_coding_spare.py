"""A box builder started before its box is known (coding/spare.py): it runs nothing until the
driver has looked and said go, the socket its spec came on never reaches a boxed command, and
a spare the driver does not use, or stops using, ends without running anything."""

import contextlib
import os
import sys
from pathlib import Path

import psutil
import pytest

from coding.chain import Chained, resume
from coding.sandbox import Limits, run_boxed
from coding.spare import Spare, discard, start_spare

# What a boxed command's stdin is: /dev/null, never the spare's socket.
STDIN = "import os, stat; print('stdin', stat.S_ISCHR(os.fstat(0).st_mode), os.read(0, 1))"
MARK = "import pathlib; pathlib.Path('ran.txt').write_text('x')"


@pytest.fixture
def tree(tmp_path) -> Path:
    path = tmp_path / "run-1" / "tree"
    path.mkdir(parents=True)
    return path


def test_a_spares_commands_read_dev_null_not_its_spec_socket(tree):
    tests = Chained("tests", [sys.executable, "-c", STDIN], Limits())
    spare = start_spare()

    done = run_boxed([sys.executable, "-c", STDIN], str(tree), then=[tests], spare=spare)
    checked = resume(tests)

    assert done.exit_status == 0 and "stdin True b''" in done.output, done.output
    assert checked.exit_status == 0 and "stdin True b''" in checked.output, checked.output


def test_the_harness_starts_only_after_the_drivers_look(tree):
    looked = []

    def look():
        looked.append((tree / "ran.txt").exists())

    done = run_boxed([sys.executable, "-c", MARK], str(tree), spare=start_spare(), ready=look)

    assert done.exit_status == 0 and (tree / "ran.txt").exists()
    assert looked == [False]


def test_a_look_that_fails_starts_no_command(tree):
    spare = start_spare()

    def look():
        raise OSError("the look failed")

    with pytest.raises(OSError):
        run_boxed([sys.executable, "-c", MARK], str(tree), spare=spare, ready=look)

    assert spare.process.wait(timeout=30) == 126  # its box ended without its command
    assert not (tree / "ran.txt").exists()
    discard(spare)


def test_a_spare_never_used_is_killed_and_ran_nothing(tree):
    spare = start_spare()

    discard(spare)

    assert spare.process.wait(timeout=30) != 0
    assert not (tree / "ran.txt").exists()


def in_its_session(spare) -> list[psutil.Process]:
    """The spare's processes but its own: its launches and their inits (one session)."""
    mine = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if process.pid != spare.process.pid and os.getsid(process.pid) == spare.process.pid:
                mine.append(process)
    return mine


def test_a_spares_first_box_is_forked_before_its_spec_comes(tree, monkeypatch):
    spare, told, real = start_spare(), [], Spare.launch

    def acknowledged(self, spec):  # the spare has its spec and works in the worktree
        launched = real(self, spec)
        told.extend(in_its_session(spare))
        return launched

    monkeypatch.setattr(Spare, "launch", acknowledged)
    tests = Chained("tests", [sys.executable, "-c", "print('tests ran')"], Limits())

    done = run_boxed([sys.executable, "-c", MARK], str(tree), then=[tests], spare=spare)
    checked = resume(tests)

    assert told, "no launch was waiting when the spec came"  # its namespaces made ahead
    assert done.exit_status == 0 and (tree / "ran.txt").exists(), done.output
    assert checked.exit_status == 0 and checked.output == "tests ran\n", checked.output


def test_a_spare_let_go_without_a_spec_leaves_nothing_running(tree):
    spare = start_spare()

    spare.channel.close()  # the driver went: no spec will ever come

    assert spare.process.wait(timeout=30) == 126
    _, alive = psutil.wait_procs(in_its_session(spare), timeout=30)
    assert alive == []
    spare.process.stdout.close()
