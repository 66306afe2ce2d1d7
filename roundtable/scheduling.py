"""The roundtable's hourly schedule: one roll per slot, a daily cap, and who takes part."""

from datetime import UTC, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Count
from django.db.models.functions import Now
from django.utils.timezone import localdate

from memory.models import Memory
from opscore.db import start_of_today
from opscore.models import Agent, Policy
from roundtable.formats import FORMATS, SCHEDULE
from roundtable.lifecycle import ConversationInvalid, request_conversation
from roundtable.models import Conversation, ConversationStatus, Relationship, affinity_lookup


def pick_participants(fmt: str, size: int, rand) -> list[str]:
    spec = FORMATS[fmt]
    pool = list(Agent.objects.enabled().values_list("slug", flat=True))
    size = max(spec.agents[0], min(size, spec.agents[1], len(pool)))
    if spec.pairing and len(pool) >= 2:
        return _paired(spec.pairing, pool)
    chosen = [slug for slug in spec.opener if slug in pool][:1]
    others = [p for p in pool if p not in chosen]
    rand.shuffle(others)
    return chosen + others[: size - len(chosen)]


def _paired(rule: str, pool: list[str]) -> list[str]:
    """Affinity chooses pairings: the tensest pair for conflict resolution; for mentoring a
    close pair with the biggest gap in experience (memories held)."""
    lookup = affinity_lookup(Relationship.objects.affinity_table(pool))
    pairs = [(a, b) for i, a in enumerate(pool) for b in pool[i + 1 :]]
    if rule == "tense":
        return list(min(pairs, key=lambda p: (lookup(*p), p)))
    experience = dict(
        Memory.objects.active().filter(agent__in=pool).values_list("agent").annotate(n=Count("id"))
    )

    def score(p):
        return lookup(*p) + abs(experience.get(p[0], 0) - experience.get(p[1], 0)) / 100

    return list(max(pairs, key=lambda p: (score(p), p)))


def conversations_today() -> int:
    return (
        Conversation.objects.filter(created_at__gte=start_of_today())
        .exclude(status=ConversationStatus.SKIPPED)
        .count()
    )


SCHEDULE_LOCK = "opscore.roundtable.schedule"  # hashtext() advisory key
STANDUP_HOUR = next(hour for hour, fmt, _, _ in SCHEDULE if fmt == "standup")


def cap_reached(cap: int, slot) -> str:
    """Why this slot may not enqueue: the day's cap is spent, or (before the morning standup,
    which always happens) all of it but the one the standup is owed. '' when there is room."""
    owed = cap > 0 and standup_to_come(slot)
    if conversations_today() < cap - owed:
        return ""
    return f"daily cap {cap} reached" + (
        f" (one is kept for the {STANDUP_HOUR:02d}:00 standup)" if owed else ""
    )


def standup_to_come(slot) -> bool:
    """Whether the standup of this slot's day is still to be held. The slots are UTC hours but
    the cap counts the day in OPS_TIME_ZONE: Tokyo's day opens at 15:00 UTC the evening before
    its standup, New York's evening runs past 00:00 UTC into the next standup's date. Dates are
    compared, never hours, so a day of 23 or 25 hours (DST) is read as it is."""
    day, hour = slot
    if hour == STANDUP_HOUR:
        return False
    standup_day = day + timedelta(days=1) if hour > STANDUP_HOUR else day
    standup = datetime.combine(standup_day, time(STANDUP_HOUR), UTC)
    if localdate(standup) != localdate(datetime.combine(day, time(hour), UTC)):
        return False
    held = Conversation.objects.filter(slot_day=standup_day, slot_hour=STANDUP_HOUR)
    return not held.exists()


def schedule_tick(now, rand) -> dict:
    """Enqueue this hour's slot if its roll passes and the daily cap allows (once per slot).
    One tick at a time: two at once each found the slot free and the cap unspent, and the
    second died on the slot's unique key."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [SCHEDULE_LOCK])
        return _tick(now, rand)


def _tick(now, rand) -> dict:
    policy = Policy.objects.value("roundtable_policy")
    if not policy.enabled:
        return {"enqueued": 0, "reason": "roundtable_policy disabled"}
    hour, fmt, size, probability = SCHEDULE[now.hour]
    slot = (now.date(), hour)
    if Conversation.objects.filter(slot_day=slot[0], slot_hour=hour).exists():
        return {"enqueued": 0, "reason": "slot already handled"}
    if full := cap_reached(policy.max_daily_conversations, slot):
        return skip_slot(fmt, slot, full)
    if rand.random() >= probability:
        return skip_slot(fmt, slot, f"{fmt} slot not rolled ({probability:.0%})")
    participants = pick_participants(fmt, size, rand)
    try:
        conversation = request_conversation(
            fmt,
            participants,
            f"{fmt.replace('_', ' ')} for {now:%Y-%m-%d %H}:00",
            source="schedule",
            slot=slot,
        )
    except ConversationInvalid as problem:
        return skip_slot(fmt, slot, str(problem))
    return {"enqueued": 1, "conversation": conversation.id}


def skip_slot(fmt: str, slot, reason: str) -> dict:
    """A slot not held is on record with why (not rolled, the cap spent, too few agents for
    its format), once: the Stage lists it among the day's conversations, and the ticks left
    in the hour find it handled."""
    Conversation.objects.create(
        format=fmt,
        topic=reason[:300],
        participants=[],
        status=ConversationStatus.SKIPPED,
        error=reason,
        slot_day=slot[0],
        slot_hour=slot[1],
        finished_at=Now(),
    )
    return {"enqueued": 0, "reason": reason}
