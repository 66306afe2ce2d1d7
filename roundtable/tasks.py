"""django-q2 entry points for the roundtable lane (both respect the lane's pause switch)."""

import random

from opscore.models import Policy
from opscore.standing_orders import db_now
from roundtable.actions import claim_conversation, run_conversation, schedule_tick


def lane_paused() -> bool:
    return not Policy.objects.value("lane_switches").is_running("roundtable")


def schedule_conversations() -> dict:
    if lane_paused():
        return {"paused": True}
    return schedule_tick(db_now(), random.Random())


def run_next_conversation() -> dict:
    """At most one conversation per call: bounded, and the next call picks up the next."""
    if lane_paused():
        return {"paused": True}
    from missions.worker import default_worker_id

    conversation = claim_conversation(default_worker_id())
    if conversation is None:
        return {"ran": None}
    conversation = run_conversation(conversation, random.Random())
    return {"ran": conversation.id, "status": conversation.status}
