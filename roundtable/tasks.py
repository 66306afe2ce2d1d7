"""django-q2 entry points for the roundtable lane (both respect the lane's pause switch)."""

import random

from missions.worker import default_worker_id
from opscore.db import db_now
from opscore.lanes import paused_loop
from opscore.models import Policy
from roundtable.lifecycle import claim_conversation
from roundtable.scheduling import schedule_tick
from roundtable.speaking import run_conversation


def schedule_conversations() -> dict:
    if paused := paused_loop("roundtable"):
        return paused
    return schedule_tick(db_now(), random.Random())


def run_next_conversation() -> dict:
    """At most one conversation per call: bounded, and the next call picks up the next."""
    if paused := paused_loop("roundtable"):
        return paused
    if not Policy.objects.value("roundtable_policy").enabled:  # the queue waits for it
        return {"ran": None, "reason": "roundtable_policy disabled"}
    conversation = claim_conversation(default_worker_id())
    if conversation is None:
        return {"ran": None}
    conversation = run_conversation(conversation, random.Random())
    return {"ran": conversation.id, "status": conversation.status}
