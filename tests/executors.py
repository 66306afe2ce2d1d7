"""Executors for tests only, loaded into worker processes with OPS_EXECUTOR_MODULES."""

import os
import signal
import time

from missions.executors import Blocked, Effect, Failed, Succeeded, executor_for


@executor_for("test_effect")
def effect(run):
    """Sleeps on the attempts listed in its payload, then records one outside effect."""
    if run.step.attempt_count in run.step.payload.get("sleep_on_attempts", []):
        time.sleep(run.step.payload.get("seconds", 0))
    effect = Effect(key=f"effect:{run.step.id}", channel="local", payload={"step": run.step.id})
    return Succeeded({"attempt": run.step.attempt_count}, effects=[effect])


@executor_for("test_fail")
def fail(run):
    return Failed("it broke", retryable=run.step.payload.get("retryable", True))


@executor_for("test_crash")
def crash(run):
    raise RuntimeError("executor crashed")


@executor_for("test_block")
def block(run):
    return Blocked("waiting for a human", code="needs_human")


@executor_for("test_die")
def die(run):
    """The worker process dies mid-step, every time."""
    os.kill(os.getpid(), signal.SIGKILL)
