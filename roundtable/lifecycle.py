"""A conversation's life: requested (by the schedule, an operator or the API), claimed by one
worker under a lease, closed with its outcome — or failed by recovery when its worker vanished."""

from django.db import transaction
from django.db.models.functions import Now

from missions.text import strip_invisible
from opscore.actions import record_cap_hit, record_event
from opscore.db import oldest_unlocked
from opscore.lanes import DROP, pause_of
from opscore.models import Agent, Override
from opscore.redaction import redact_text
from roundtable.formats import FORMATS
from roundtable.models import LEASE, Conversation, ConversationStatus

MAX_TOPIC = 300  # Conversation.topic's column


class ConversationInvalid(ValueError):
    pass


def request_conversation(
    fmt: str,
    participants: list[str],
    topic: str,
    *,
    source: str,
    requested_by: str = "",
    slot=None,
    held_by: str = "",
) -> Conversation:
    """A conversation queued — or, while the roundtable lane is paused in drop mode, refused:
    kept as a failed row naming the pause (no turn ever runs), since the contract of `drop` is
    that new work is refused with a recorded reason, not held for after the lift. `converse
    --force` (source `operator`) has chosen to hold one whatever the pause says. `held_by`:
    born running under that worker's lease (`converse`), never queued for another to claim."""
    topic = checked_request(fmt, participants, topic)
    day, hour = slot or (None, None)
    dropped = dropped_by_pause() if source != "operator" else ""
    conversation = Conversation.objects.create(
        format=fmt,
        topic=topic,
        participants=list(dict.fromkeys(participants)),
        source=source,
        requested_by=requested_by,
        slot_day=day,
        slot_hour=hour,
        **born(dropped, held_by),
    )
    if dropped:
        record_event(
            "conversation.dropped",
            f"C{conversation.id} {conversation.format} refused: the roundtable lane drops",
            summary=dropped,
            tags=["conversation", "dropped", "lane_paused"],
            payload={"conversation_id": conversation.id, "source": source},
            actor="system:roundtable",
        )
    return conversation


def born(dropped: str, held_by: str) -> dict:
    """A new conversation's state: refused by a pause, held by its worker, or queued."""
    if dropped:
        return {"status": ConversationStatus.FAILED, "error": dropped}
    if held_by:
        lease = {"lease_owner": held_by, "lease_expires_at": Now() + LEASE}
        return {"status": ConversationStatus.RUNNING, "started_at": Now()} | lease
    return {}


def dropped_by_pause() -> str:
    pause = pause_of("roundtable")
    return f"dropped: {pause.why}" if pause is not None and pause.mode == DROP else ""


def checked_request(fmt: str, participants: list[str], topic: str) -> str:
    """The topic as kept, or ConversationInvalid saying what is wrong with the request."""
    spec = FORMATS.get(fmt)
    if spec is None:
        raise ConversationInvalid(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    low, high = spec.agents
    if not low <= len(set(participants)) <= high:
        raise ConversationInvalid(f"{fmt} needs {low}-{high} different agents")
    enabled = set(
        Agent.objects.enabled().filter(slug__in=participants).values_list("slug", flat=True)
    )
    missing = [p for p in participants if p not in enabled]
    if missing:
        raise ConversationInvalid(f"not enabled or unknown: {', '.join(missing)}")
    # as the intake cleans a title (read as it acts), and one line: every turn's prompt sets it
    # above the transcript, where a line break in it wrote a turn nobody took; and, as a chat
    # message is, with no secret of the installation in it (the Stage and every prompt show it)
    topic = " ".join(redact_text(strip_invisible(topic)).split())
    if not topic:
        raise ConversationInvalid("a conversation needs a topic")
    if len(topic) > MAX_TOPIC:  # it was cut there, without a word
        raise ConversationInvalid(f"a topic is at most {MAX_TOPIC} characters ({len(topic)} given)")
    return topic


def claim_conversation(worker_id: str) -> Conversation | None:
    with transaction.atomic():
        queued = Conversation.objects.filter(status=ConversationStatus.QUEUED)
        conversation = oldest_unlocked(queued)
        if conversation is None:
            return None
        conversation.start(worker_id)
    return conversation


def excuse_disabled(conversation: Conversation) -> str:
    """A participant disabled since the conversation was queued takes no part: no turn, no
    model call as it, no memory. Returns why the rest cannot go on ('' if they can)."""
    enabled = Agent.objects.enabled().filter(slug__in=conversation.participants)
    present = set(enabled.values_list("slug", flat=True))
    absent = [p for p in conversation.participants if p not in present]
    if not absent:
        return ""
    why = "; ".join(disabled_because(slug) for slug in absent)
    spec, left = FORMATS[conversation.format], len(conversation.participants) - len(absent)
    if left < spec.agents[0]:
        low, high = spec.agents
        return f"{why}; a {conversation.format} needs {low}-{high} agents and {left} is left"
    if not conversation.excuse(absent):
        raise LeaseLost(f"C{conversation.id} is no longer held by {conversation.lease_owner}")
    record_event(
        "conversation.participants_excused",
        f"C{conversation.id}: {', '.join(absent)} will not take part",
        summary=why,
        tags=["conversation", "excused"],
        payload={"conversation_id": conversation.id, "excused": absent},
        actor="system:roundtable",
    )
    return ""


def disabled_because(slug: str) -> str:
    return Override.objects.why_disabled(slug)


class LeaseLost(RuntimeError):
    """The conversation changed hands (recovery failed it): its worker stops speaking."""


def close_conversation(conversation: Conversation, status: str, error: str) -> Conversation:
    """The conversation's outcome and its event — or, for a worker whose lease was taken, a
    refusal recorded as an event, the row left as recovery wrote it."""
    holder = conversation.lease_owner
    if not conversation.finish(status, redact_text(error)):
        return refuse_late_write(conversation, holder, f"close as {status}")
    record_event(
        f"conversation.{status}",
        f"C{conversation.id} {conversation.format} {status}",
        summary=conversation.error,
        tags=["conversation", status],
        payload={
            "conversation_id": conversation.id,
            "participants": conversation.participants,
            "distillation": conversation.distillation,
        },
        actor="system:roundtable",
    )
    return conversation


def refuse_late_write(conversation: Conversation, holder: str, what: str) -> Conversation:
    conversation.refresh_from_db()
    record_event(
        "conversation.late_write_refused",
        f"C{conversation.id}: a late {what} from a lost lease was refused",
        summary=f"by {holder or 'a worker'}; the conversation is now {conversation.status}",
        tags=["conversation", "fencing", "refused"],
        payload={"conversation_id": conversation.id, "attempted": what},
        actor=f"worker:{holder}" if holder else "worker:unknown",
    )
    return conversation


def recover_stale_conversations(limit: int = 100) -> dict:
    """A conversation stuck in `running` past its lease (worker died) fails with the reason.
    At most `limit` a pass, oldest lease first; past the cap, `deferred` counts what waits for
    the next pass and a row records the cut-short pass."""
    stale = Conversation.objects.filter(
        status=ConversationStatus.RUNNING, lease_expires_at__lt=Now()
    )
    batch = list(stale.order_by("lease_expires_at", "id")[: limit + 1])
    for conversation in batch[:limit]:
        close_conversation(
            conversation,
            ConversationStatus.FAILED,
            f"worker {conversation.lease_owner} stopped before finishing",
        )
    counts = {"recovered": len(batch[:limit])}
    if len(batch) > limit:
        counts["deferred"] = stale.count()  # those failed match no longer
        record_cap_hit(
            "recover_stale_conversations", limit, counts["deferred"], actor="system:roundtable"
        )
    return counts


def fail_orphaned_conversations(host: str, alive) -> int:
    """At start-up: fail the conversations this machine's stopped processes left `running`
    (one killed after the shutdown grace), now rather than when their lease runs out (15 min,
    recover_stale_conversations). Only a lease whose process is gone: `alive(pid)` decides."""
    running = Conversation.objects.filter(
        status=ConversationStatus.RUNNING, lease_owner__startswith=f"{host}:"
    )
    orphans = [c for c in running if not alive(int(c.lease_owner.rsplit(":", 1)[1]))]
    for conversation in orphans:
        why = f"worker {conversation.lease_owner} stopped before finishing (found at start-up)"
        close_conversation(conversation, ConversationStatus.FAILED, why)
    return len(orphans)


def conversations_in_flight() -> dict:
    """What pausing the roundtable stops: queued conversations wait, a running one finishes."""
    counts = Conversation.objects.filter(
        status__in=[ConversationStatus.QUEUED, ConversationStatus.RUNNING]
    ).values_list("status", flat=True)
    statuses = list(counts)
    return {"queued": statuses.count("queued"), "running": statuses.count("running")}
