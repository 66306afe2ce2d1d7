"""Executors for tests only: a plug-in module, registered from OPS_EXECUTOR_MODULES (the test
settings name it; worker processes get it in their environment)."""

import contextlib
import datetime
import os
import signal
import time
from pathlib import Path

from missions.executors import Blocked, Effect, Failed, Succeeded
from opscore.registry import StepKind


def effect(run):
    """Sleeps on the attempts listed in its payload, then records one outside effect."""
    if run.step.attempt_count in run.step.payload.get("sleep_on_attempts", []):
        time.sleep(run.step.payload.get("seconds", 0))
    effect = Effect(key=f"effect:{run.step.id}", channel="local", payload={"step": run.step.id})
    return Succeeded({"attempt": run.step.attempt_count}, effects=[effect])


def fail(run):
    return Failed("it broke", retryable=run.step.payload.get("retryable", True))


def crash(run):
    raise RuntimeError("executor crashed")


def exit_now(run):
    """A library inside the handler calls sys.exit() (argparse on bad arguments, say)."""
    raise SystemExit(3)


def interrupt(run):
    raise KeyboardInterrupt


def generator(run):
    """A generator function registered as an executor: calling it runs none of its body."""
    yield Succeeded()


def unstorable(run):
    """Succeeds with a result the database cannot store: text holding a NUL (as a crawled
    page may), or a value JSON has no form for (a date)."""
    if run.step.payload.get("what") == "nul":
        return Succeeded({"text": "before\x00after"})
    return Succeeded({"when": datetime.date(2026, 1, 1)})


def block(run):
    return Blocked("waiting for a human", code="needs_human")


def die(run):
    """The worker process dies mid-step, every time."""
    os.kill(os.getpid(), signal.SIGKILL)


def gate(run):
    """Runs until the file named in its payload exists (a test opens the gate), at most a
    minute: a step exactly as long as the test needs, with no sleep to guess."""
    gate = Path(run.step.payload["gate"])
    for _ in range(1200):
        if gate.exists():
            return Succeeded({"attempt": run.step.attempt_count})
        time.sleep(0.05)
    return Failed("the gate never opened", retryable=False)


def gate_then_read(run):
    """`gate`, then a read of its own row (in a transaction when its payload says `atomic`):
    a step that uses the database as it works."""
    from django.db import transaction

    from missions.models import Step

    outcome = gate(run)
    with transaction.atomic() if run.step.payload.get("atomic") else contextlib.nullcontext():
        Step.objects.filter(pk=run.step.pk).exists()
    return outcome


def hang(run):
    """Says it started (a file named by attempt in the folder its payload names), then, on the
    attempts its payload lists, hangs — ignoring its lease, as a stuck handler would — until the
    folder's `release` file exists (at most two minutes). Its kind times out after 30 s."""
    folder = Path(run.step.payload["folder"])
    (folder / f"entered-{run.step.attempt_count}").touch()
    if run.step.attempt_count in run.step.payload.get("hang_on_attempts", [1]):
        for _ in range(2400):
            if (folder / "release").exists():
                break
            time.sleep(0.05)
    return Succeeded({"attempt": run.step.attempt_count, "worker": run.worker_id})


STEP_KINDS = [
    StepKind("test_hang", "hangs until released; times out after 30 s", timeout_seconds=30),
    StepKind(
        "test_publish", "test_effect with an outside effect: not idempotent", idempotent=False
    ),
]

EXECUTORS = {
    "test_gate": gate,
    "test_gate_then_read": gate_then_read,
    "test_effect": effect,
    "test_publish": effect,
    "test_fail": fail,
    "test_crash": crash,
    "test_unstorable": unstorable,
    "test_exit": exit_now,
    "test_interrupt": interrupt,
    "test_generator": generator,
    "test_block": block,
    "test_die": die,
    "test_hang": hang,
}
