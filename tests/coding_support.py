"""Making coding runs the way the lane does (caps from policy), for tests that start below
the intake."""

import os
import subprocess
import sys
from pathlib import Path

from coding.loop import limits_for
from coding.models import CodingRun

# The fake harness: edits files as its prompt's @tokens say, prints Claude Code's stream-json.
HARNESS = [sys.executable, str(Path(__file__).parent / "fake_harness" / "edit_and_report.py")]
# What the sandbox must let the fake harness read: this interpreter and the harness's folder.
BOX_READS = [sys.prefix, sys.base_prefix, str(Path(__file__).parent / "fake_harness")]


def new_run(repo, tokens: str, mode="ralph-loop", agent=None, **constraints) -> CodingRun:
    task = {
        "summary": "Greeting",
        "problem_statement": f"Make the app greet {tokens}",
        "acceptance_criteria": ["the app prints a greeting"],
        "constraints": constraints,
    }
    return CodingRun.objects.create(
        repository=repo,
        runner="command",
        mode=mode,
        base_ref="main",
        task=task,
        limits=limits_for(task),
        agent=agent,
    )


def approved_to_merge(repo, tokens: str, **constraints) -> CodingRun:
    """A run of `tokens` through its passes, its code and its merge approved: the driver's
    next turn merges it."""
    from coding.driver import handle_one_run
    from coding.operations import approve_run

    run = new_run(repo, tokens, allow_merge=True, **constraints)
    assert handle_one_run()
    run.refresh_from_db()
    approve_run(run, "code", by="ana")
    approve_run(run, "merge", by="ana")
    return run


def is_git(argv) -> bool:
    """A driver's git, as subprocess.Popen is handed it: started by its full path
    (coding/hardened_git.py's git_program)."""
    return bool(argv) and os.path.basename(argv[0]) == "git"


def watch_starts(monkeypatch, before=None, after=None) -> None:
    """Every process started, seen where each is started: subprocess.Popen's __init__, which
    every Popen runs (coding.reaping's Reaped, a subclass made at import, included; patching
    the name subprocess.Popen would miss those). `before(argv)` returns the argv to start
    (changed or not); `after(process, argv)` sees the process started."""
    real = subprocess.Popen.__init__

    def start(self, argv, *args, **kwargs):
        argv = before(argv) if before is not None else argv
        real(self, argv, *args, **kwargs)
        if after is not None:
            after(self, argv)

    monkeypatch.setattr(subprocess.Popen, "__init__", start)
