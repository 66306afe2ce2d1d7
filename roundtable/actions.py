"""Roundtable workflows: schedule and request conversations, generate them turn by turn,
distill them into memories, relationship drift and action items."""

import itertools
import json
import time
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.db.models.functions import Now
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memory.models import Memory, MemoryStatus, MemoryType
from missions.actions import submit_proposal
from missions.models import Proposal, ProposalSource, start_of_today
from missions.step_kinds import is_known
from opscore.actions import record_event
from opscore.llm import LLMError, LLMRequest, OverBudget, call_llm
from opscore.models import Agent, Policy
from opscore.redaction import redact_text
from roundtable.formats import FORMATS, SCHEDULE
from roundtable.models import Conversation, ConversationStatus, Relationship, Turn
from roundtable.speech import interaction_for, next_speaker, sanitize_turn

MAX_MEMORIES_PER_CONVERSATION = 6
MIN_CONFIDENCE = Decimal("0.55")
MAX_MEMORIES_PER_AGENT = 200
MAX_ACTION_ITEMS_PER_DAY = 3
DRIFT_LOG_LENGTH = 20


class ConversationInvalid(ValueError):
    pass


def pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def affinities(slugs) -> dict:
    rows = Relationship.objects.filter(agent_a__in=slugs, agent_b__in=slugs)
    return {(r.agent_a_id, r.agent_b_id): float(r.affinity) for r in rows}


def lookup_affinity(table: dict):
    return lambda a, b: table.get(pair(a, b), 0.5) if a and b else 0.5


def request_conversation(
    fmt: str, participants: list[str], topic: str, *, source: str, requested_by: str = "", slot=None
) -> Conversation:
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
    if not topic.strip():
        raise ConversationInvalid("a conversation needs a topic")
    day, hour = slot or (None, None)
    return Conversation.objects.create(
        format=fmt,
        topic=topic.strip()[:300],
        participants=list(dict.fromkeys(participants)),
        source=source,
        requested_by=requested_by,
        slot_day=day,
        slot_hour=hour,
    )


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
    table = affinities(pool)
    lookup = lookup_affinity(table)
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


def schedule_tick(now, rand) -> dict:
    """Enqueue this hour's slot if its roll passes and the daily cap allows (once per slot)."""
    policy = Policy.objects.value("roundtable_policy")
    if not policy.enabled:
        return {"enqueued": 0, "reason": "roundtable_policy disabled"}
    hour, fmt, size, probability = SCHEDULE[now.hour]
    slot = (now.date(), hour)
    if Conversation.objects.filter(slot_day=slot[0], slot_hour=hour).exists():
        return {"enqueued": 0, "reason": "slot already handled"}
    if conversations_today() >= policy.max_daily_conversations:
        return {"enqueued": 0, "reason": f"daily cap {policy.max_daily_conversations} reached"}
    if rand.random() >= probability:
        reason = f"{fmt} slot not rolled ({probability:.0%})"
        Conversation.objects.create(  # one roll per slot, and the roll is on record
            format=fmt,
            topic=reason,
            participants=[],
            status=ConversationStatus.SKIPPED,
            error=reason,
            slot_day=slot[0],
            slot_hour=hour,
            finished_at=Now(),
        )
        return {"enqueued": 0, "reason": reason}
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
        return {"enqueued": 0, "reason": str(problem)}
    return {"enqueued": 1, "conversation": conversation.id}


def claim_conversation(worker_id: str, lease_minutes: int = 15) -> Conversation | None:
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(skip_locked=True)
            .filter(status=ConversationStatus.QUEUED)
            .order_by("id")
            .first()
        )
        if conversation is None:
            return None
        conversation.status = ConversationStatus.RUNNING
        conversation.lease_owner = worker_id
        conversation.lease_expires_at = Now() + timedelta(minutes=lease_minutes)
        conversation.started_at = Now()
        conversation.save()
    conversation.refresh_from_db()
    return conversation


def run_conversation(conversation: Conversation, rand, pause=None) -> Conversation:
    """Generate every turn (one LLM call each), then distill. A failure fails this one."""
    pause = settings.OPS_TURN_PAUSE_SECONDS if pause is None else pause
    try:
        _speak(conversation, rand, pause)
    except (LLMError, OverBudget) as error:
        return _close(conversation, ConversationStatus.FAILED, str(error))
    return distill(conversation)


def _speak(conversation: Conversation, rand, pause) -> None:
    spec = FORMATS[conversation.format]
    agents = {a.slug: a for a in Agent.objects.filter(slug__in=conversation.participants)}
    lookup = lookup_affinity(affinities(conversation.participants))
    turns = rand.randint(*spec.turns)
    spoken: dict[str, int] = {}
    last = None
    opener = next((slug for slug in spec.opener if slug in agents), None)
    for index in range(conversation.turns.count(), turns):
        if index == 0 and opener:
            speaker = opener
        else:
            speaker = next_speaker(conversation.participants, last, spoken, lookup, rand)
        tension = 1 - lookup(speaker, last) if last else 0.5
        interaction = interaction_for(tension, rand)
        text = _turn_text(conversation, agents[speaker], interaction, spec.temperature)
        Turn.objects.create(
            conversation=conversation,
            index=index,
            speaker_id=speaker,
            interaction=interaction,
            text=text,
        )
        record_event(
            "conversation.turn",
            f"{speaker}: {text}",
            tags=["conversation", conversation.format, interaction],
            agent_id=speaker,
            payload={"conversation_id": conversation.id, "index": index},
            actor=f"agent:{speaker}",
        )
        spoken[speaker] = spoken.get(speaker, 0) + 1
        last = speaker
        if pause:
            time.sleep(rand.uniform(*pause) if isinstance(pause, tuple) else pause)


def _turn_text(conversation, agent, interaction: str, temperature: float) -> str:
    from missions.prompts import voice_of

    transcript = "\n".join(f"{t.speaker_id}: {t.text}" for t in conversation.turns.all())
    request = LLMRequest(
        system=voice_of(agent),
        messages=[
            {
                "role": "user",
                "content": (
                    f"A {conversation.format.replace('_', ' ')} about: {conversation.topic}\n"
                    f"So far:\n{transcript or '(you open)'}\n"
                    f"Reply in one short line (under 120 characters), {interaction} in tone, "
                    "no links, no markup."
                ),
            }
        ],
        temperature=temperature,
        max_tokens=80,
        tier="cheap",
        offline_hint={
            "text": f"{agent.signature or agent.display_name} ({interaction}) "
            f"on {conversation.topic}"
        },
    )
    reply = call_llm(request, agent=agent, purpose="roundtable.turn", prompt_version="turn.v1")
    return sanitize_turn(reply.text, fallback=agent.signature)


class MemoryDraft(BaseModel):
    model_config = ConfigDict(extra="ignore")
    agent: str
    type: MemoryType
    content: str = Field(min_length=1, max_length=500)
    confidence: float = Field(ge=0, le=1)
    tags: list[str] = Field(default_factory=list, max_length=10)


class DriftDraft(BaseModel):
    model_config = ConfigDict(extra="ignore")
    a: str
    b: str
    drift: float
    reason: str = Field(default="", max_length=200)


class ActionDraft(BaseModel):
    model_config = ConfigDict(extra="ignore")
    agent: str
    title: str = Field(min_length=1, max_length=200)
    step_kind: str = "analyze"


class Distillation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    memories: list[dict]
    pairwise_drift: list[dict]
    action_items: list[dict]


def distill(conversation: Conversation) -> Conversation:
    """One LLM call; a malformed reply is retried once, then the conversation is marked
    distill_failed with the reason. Invalid items are dropped and logged, valid ones kept."""
    problem = ""
    for _ in range(2):
        try:
            text = _distill_call(conversation)
            data = Distillation.model_validate(json.loads(text))
            break
        except (ValueError, ValidationError) as error:
            problem = f"malformed distillation: {str(error)[:300]}"
        except (LLMError, OverBudget) as error:
            problem = f"distillation call failed: {error}"
            break
    else:
        data = None
    if data is None:
        return _close(conversation, ConversationStatus.DISTILL_FAILED, problem)
    summary = apply_distillation(conversation, data)
    conversation.distillation = summary
    conversation.save(update_fields=["distillation"])
    return _close(conversation, ConversationStatus.SUCCEEDED, "")


def _distill_call(conversation: Conversation) -> str:
    transcript = [f"{t.speaker_id}: {t.text}" for t in conversation.turns.all()]
    request = LLMRequest(
        system="You distil team conversations into structured learning. Reply with JSON only.",
        messages=[
            {
                "role": "user",
                "content": (
                    'Return {"memories": [{agent, type '
                    "(insight|pattern|strategy|preference|lesson), "
                    'content, confidence 0-1, tags}], "pairwise_drift": [{a, b, drift, reason}], '
                    '"action_items": [{agent, title, step_kind}]} for this conversation:\n'
                    + "\n".join(transcript)
                ),
            }
        ],
        temperature=0.2,
        max_tokens=900,
        tier="main",
        offline_hint={"json": _offline_distillation(conversation)},
    )
    agent = Agent.objects.get(slug=conversation.participants[0])
    reply = call_llm(
        request, agent=agent, purpose="roundtable.distill", prompt_version="distill.v1"
    )
    return reply.text


def _offline_distillation(conversation: Conversation) -> dict:
    """A deterministic stand-in: one modest memory per speaker and a small warming drift."""
    people = conversation.participants
    return {
        "memories": [
            {
                "agent": p,
                "type": "insight",
                "confidence": 0.6,
                "tags": ["offline"],
                "content": f"[offline] Took part in a {conversation.format} on "
                f"{conversation.topic}",
            }
            for p in people
        ],
        "pairwise_drift": [
            {"a": a, "b": b, "drift": 0.01, "reason": "worked together"}
            for a, b in itertools.pairwise(people)
        ],
        "action_items": [
            {
                "agent": people[0],
                "title": f"Follow up: {conversation.topic}"[:200],
                "step_kind": "analyze",
            }
        ],
    }


def apply_distillation(conversation: Conversation, data: Distillation) -> dict:
    kept = {"memories": 0, "drifts": 0, "action_items": 0, "dropped": []}
    with transaction.atomic():
        _keep_memories(conversation, data.memories, kept)
        _apply_drifts(conversation, data.pairwise_drift, kept)
        _propose_actions(conversation, data.action_items, kept)
    return kept


def _valid(model, raw, kept, what):
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        kept["dropped"].append(f"{what}: {str(error).splitlines()[0][:150]}")
        return None


def _keep_memories(conversation, items, kept) -> None:
    people = set(conversation.participants)
    for index, raw in enumerate(items[:MAX_MEMORIES_PER_CONVERSATION]):
        item = _valid(MemoryDraft, raw, kept, f"memory {index}")
        if item is None:
            continue
        if item.agent not in people or Decimal(str(item.confidence)) < MIN_CONFIDENCE:
            kept["dropped"].append(f"memory {index}: not a participant or below 0.55")
            continue
        _, created = Memory.objects.get_or_create(
            source_trace_id=f"conversation:{conversation.id}:{index}",
            defaults={
                "agent_id": item.agent,
                "type": item.type,
                "content": item.content,
                "confidence": Decimal(str(item.confidence)).quantize(Decimal("0.01")),
                "tags": item.tags,
            },
        )
        if created:
            kept["memories"] += 1
            retire_beyond_cap(item.agent)


def retire_beyond_cap(agent_slug: str) -> int:
    """Keep at most 200 active memories per agent: the oldest, least confident retire."""
    active = Memory.objects.active().filter(agent_id=agent_slug)
    surplus = active.count() - MAX_MEMORIES_PER_AGENT
    if surplus <= 0:
        return 0
    retire = active.order_by("confidence", "created_at", "id").values_list("id", flat=True)
    return Memory.objects.filter(id__in=list(retire[:surplus])).update(status=MemoryStatus.ARCHIVED)


def _apply_drifts(conversation, items, kept) -> None:
    limit = Policy.objects.value("relationship_drift_policy")
    people = set(conversation.participants)
    for index, raw in enumerate(items):
        item = _valid(DriftDraft, raw, kept, f"drift {index}")
        if item is None or not {item.a, item.b} <= people or item.a == item.b:
            if item is not None:
                kept["dropped"].append(f"drift {index}: not a pair of participants")
            continue
        if limit.enabled:
            apply_drift(item.a, item.b, item.drift, item.reason, conversation.id, limit.max_drift)
            kept["drifts"] += 1


def apply_drift(a: str, b: str, drift: float, reason: str, conversation_id, max_drift) -> Decimal:
    """Clamp a drift to ±max_drift and the affinity to [0.10, 0.95]; keep the last 20."""
    first, second = pair(a, b)
    rel, _ = Relationship.objects.select_for_update().get_or_create(
        agent_a_id=first, agent_b_id=second
    )
    step = max(-max_drift, min(max_drift, drift))
    rel.affinity = Decimal(str(min(0.95, max(0.10, float(rel.affinity) + step)))).quantize(
        Decimal("0.01")
    )
    rel.total_interactions += 1
    rel.positive_interactions += step > 0
    rel.negative_interactions += step < 0
    entry = {
        "drift": round(step, 4),
        "reason": redact_text(reason)[:200],
        "conversation": conversation_id,
        "affinity": float(rel.affinity),
    }
    rel.drift_log = [*rel.drift_log, entry][-DRIFT_LOG_LENGTH:]
    rel.save()
    return rel.affinity


def _propose_actions(conversation, items, kept) -> None:
    if not FORMATS[conversation.format].formal:
        return
    for index, raw in enumerate(items):
        item = _valid(ActionDraft, raw, kept, f"action {index}")
        if item is None:
            continue
        used = Proposal.objects.created_today().filter(source=ProposalSource.CONVERSATION).count()
        if used >= MAX_ACTION_ITEMS_PER_DAY:
            kept["dropped"].append(f"action {index}: {MAX_ACTION_ITEMS_PER_DAY} a day reached")
            continue
        kind = item.step_kind if is_known(item.step_kind) else "analyze"
        data = {
            "agent": item.agent,
            "title": item.title,
            "steps": [{"kind": kind}],
            "dedupe_key": f"conversation:{conversation.id}:action:{index}",
        }
        try:
            submit_proposal(
                data,
                source=ProposalSource.CONVERSATION,
                cause_ref=f"conversation:{conversation.id}",
            )
            kept["action_items"] += 1
        except ValueError as invalid:
            kept["dropped"].append(f"action {index}: {invalid}")


def _close(conversation: Conversation, status: str, error: str) -> Conversation:
    conversation.status, conversation.error = status, redact_text(error)
    conversation.lease_owner, conversation.lease_expires_at = "", None
    conversation.finished_at = Now()
    conversation.save()
    conversation.refresh_from_db()
    record_event(
        f"conversation.{status}",
        f"C{conversation.id} {conversation.format} {status}",
        summary=conversation.error,
        tags=["conversation", status],
        payload={"conversation_id": conversation.id, "distillation": conversation.distillation},
        actor="system:roundtable",
    )
    return conversation


def recover_stale_conversations() -> dict:
    """A conversation stuck in `running` past its lease (worker died) fails with the reason."""
    stale = Conversation.objects.filter(
        status=ConversationStatus.RUNNING, lease_expires_at__lt=Now()
    )
    count = 0
    for conversation in stale:
        _close(
            conversation,
            ConversationStatus.FAILED,
            f"worker {conversation.lease_owner} stopped before finishing",
        )
        count += 1
    return {"recovered": count}
