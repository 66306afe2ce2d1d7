"""Age-bounded recovery: work that became due long ago is not silently run after downtime.

A step of a kind with a maximum age (`recovery_policy.max_age_minutes`) that is claimed more
than that long after it became due (created, or its run_after) is blocked with
`stale_after_downtime` for a human instead of run — yesterday's post is not published today.
A human's retry makes it due again, so it runs. The check costs no query: the claim returns
the claim time (`updated_at`), and the policy is re-read at most every few seconds.
"""

import time
from datetime import timedelta

from missions.executors import Blocked
from opscore.models import Policy

CODE = "stale_after_downtime"
REREAD_SECONDS = 5.0
_cache: dict = {"at": -REREAD_SECONDS, "ages": {}}


def max_ages() -> dict[str, int]:
    now = time.monotonic()
    if now - _cache["at"] >= REREAD_SECONDS:
        _cache["ages"] = Policy.objects.value("recovery_policy").max_age_minutes
        _cache["at"] = now
    return _cache["ages"]


def forget_policy() -> None:
    _cache["at"] = -REREAD_SECONDS


def stale_outcome(step) -> Blocked | None:
    limit = max_ages().get(step.kind)
    if limit is None:
        return None
    due = max(step.created_at, step.run_after)
    late = step.updated_at - due
    if late <= timedelta(minutes=limit):
        return None
    hours = late.total_seconds() / 3600
    return Blocked(
        f"due at {due:%Y-%m-%d %H:%M} UTC, claimed {hours:.1f} h later: older than {step.kind}'s "
        f"max age of {limit} min, so a human decides (retry runs it now, or dead-letter it)",
        code=CODE,
    )
