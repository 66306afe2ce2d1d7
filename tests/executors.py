"""Executors for tests only: a plug-in module, registered from OPS_EXECUTOR_MODULES (the test
settings name it; worker processes get it in their environment)."""

import os
import signal
import time
from pathlib import Path

from missions.executors import Blocked, Effect, Failed, Succeeded


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


EXECUTORS = {
    "test_gate": gate,
    "test_effect": effect,
    "test_fail": fail,
    "test_crash": crash,
    "test_block": block,
    "test_die": die,
}
