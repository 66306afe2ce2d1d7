"""django-q2 entry point for the memory lane's worker: drafting queued initiatives."""

from memory.initiative import draft_next_initiatives
from missions.worker import default_worker_id
from opscore.lanes import paused_loop


def draft_initiatives() -> dict:
    """A few per call (bounded); initiative is proactive work, so the proactive switch holds."""
    if paused := paused_loop("proactive"):
        return paused
    done = draft_next_initiatives(default_worker_id())
    return {"drafted": [(r.id, r.status) for r in done]}
