"""Distillation: one LLM call turns a finished conversation into memories, relationship
drift and action items. The reply is validated strictly; invalid items are dropped and listed."""

import itertools
from decimal import Decimal

from django.db import connection, transaction
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memory.actions import CandidateInvalid, labels_only, propose_and_review
from memory.models import Memory, MemoryCandidate, MemoryType
from memory.retrieval import OFFLINE_TAG
from missions.actions import lock_agents, submit_proposal
from missions.models import Proposal, ProposalSource, ProposalStatus
from missions.step_kinds import is_known
from opscore.inputs import MalformedReply
from opscore.llm import LLMError, LLMReply, LLMRequest, OverBudget, call_llm, parse_llm_reply
from opscore.llm_records import link_call
from opscore.models import Agent, LLMCall, Policy
from opscore.prompting import system_prompt
from opscore.redaction import redact_text
from roundtable.formats import FORMATS
from roundtable.lifecycle import close_conversation
from roundtable.models import Conversation, ConversationStatus, Relationship, pair
from roundtable.speech import OFFLINE_MARK

MAX_MEMORIES_PER_CONVERSATION = 6
MAX_ACTION_ITEMS_PER_DAY = 3
# The kinds the distillation asks for. A decision, a constraint or a fact reads as settled (and
# supersedes the one the agent held), a playbook as a procedure: weights no chat alone carries.
TAUGHT = ("insight", "pattern", "strategy", "preference", "lesson")
ACTION_ITEMS_LOCK = "opscore.roundtable.action_items"  # hashtext() advisory key


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
    problem, data = "", None
    for _ in range(2):
        try:
            reply = _distill_call(conversation)
            data = parse_llm_reply(reply, Distillation, "distillation")  # and its row says so
            break
        except MalformedReply as malformed:
            problem = str(malformed)
        except (LLMError, OverBudget) as error:
            problem = f"distillation call failed: {error}"
            break
    if data is None:
        return close_conversation(conversation, ConversationStatus.DISTILL_FAILED, problem)
    summary = apply_distillation(conversation, data)
    link_call(reply.call_id, candidates=candidate_ids(conversation))
    conversation.distillation = summary
    conversation.save(update_fields=["distillation"])
    return close_conversation(conversation, ConversationStatus.SUCCEEDED, "")


def candidate_ids(conversation: Conversation) -> list[int]:
    found = MemoryCandidate.objects.filter(source_ref=f"conversation:{conversation.id}")
    return sorted(found.values_list("id", flat=True))


def _distill_call(conversation: Conversation) -> LLMReply:
    transcript = [f"{t.speaker_id}: {t.text}" for t in conversation.turns.all()]
    agent = Agent.objects.get(slug=conversation.participants[0])
    known, injected = system_prompt(agent, conversation.topic)
    request = LLMRequest(
        system="You distil team conversations into structured learning. Reply with JSON only. "
        "Do not repeat what the company already knows:\n\n" + known,
        injected=injected,
        messages=[
            {
                "role": "user",
                "content": (
                    'Return {"memories": [{agent, type '
                    f"({'|'.join(TAUGHT)}), "
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
    return call_llm(
        request,
        agent=agent,
        purpose="roundtable.distill",
        prompt_version="distill.v1",
        links={"conversation": conversation.id},
    )


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
    offline = held_offline(conversation)
    for index, raw in enumerate(items[:MAX_MEMORIES_PER_CONVERSATION]):
        item = _valid(MemoryDraft, raw, kept, f"memory {index}")
        if item is None:
            continue
        if item.agent not in people or Decimal(str(item.confidence)) < Memory.MIN_CONFIDENCE:
            kept["dropped"].append(f"memory {index}: not a participant or below 0.55")
            continue
        if item.type not in TAUGHT:
            kept["dropped"].append(f"memory {index}: a conversation teaches no {item.type}")
            continue
        item.tags = labels_only(item.tags)
        if offline and OFFLINE_TAG not in item.tags:
            item.tags = [*item.tags[:9], OFFLINE_TAG]
        try:  # one the gate cannot file (blank once trimmed) is dropped, not the distillation
            kept["memories"] += _remember(conversation, index, item)
        except CandidateInvalid as invalid:
            kept["dropped"].append(f"memory {index}: {str(invalid)[:150]}")
    for index in range(MAX_MEMORIES_PER_CONVERSATION, len(items)):  # listed, never lost unsaid
        kept["dropped"].append(
            f"memory {index}: past the {MAX_MEMORIES_PER_CONVERSATION} a conversation keeps"
        )


def held_offline(conversation) -> bool:
    """Any turn in the offline provider's stand-in words makes the whole conversation offline:
    what is distilled from it is marked so retrieval never serves it to a real model."""
    return conversation.turns.filter(text__startswith=OFFLINE_MARK).exists()


def _remember(conversation, index: int, item) -> bool:
    """A candidate citing the conversation; the agent's own private memory may be promoted at
    once by the gate (memory_policy.auto_promote_private). Shared memory never is, here."""
    _, review = propose_and_review(
        {
            "agent": item.agent,
            "kind": item.type,
            "title": item.content[:200],
            "body": item.content,
            "confidence": item.confidence,
            "tags": item.tags,
            "evidence": [{"type": "conversation", "id": conversation.id}],
            "dedupe_key": f"conversation:{conversation.id}:{index}",
            "source_ref": f"conversation:{conversation.id}",
        },
        reviewer="system:roundtable",
    )
    return review is not None and review.decision == "promote"


def _apply_drifts(conversation, items, kept) -> None:
    """Each pair drifts once per conversation: max_drift bounds what one conversation does to
    a relationship, and a reply naming a pair again would otherwise add another step."""
    limit = Policy.objects.value("relationship_drift_policy")
    people = set(conversation.participants)
    drifted = set()
    for index, raw in enumerate(items):
        item = _valid(DriftDraft, raw, kept, f"drift {index}")
        if item is None or not {item.a, item.b} <= people or item.a == item.b:
            if item is not None:
                kept["dropped"].append(f"drift {index}: not a pair of participants")
            continue
        if not limit.enabled:
            kept["dropped"].append(f"drift {index}: relationship_drift_policy is switched off")
            continue
        if (both := pair(item.a, item.b)) in drifted:
            kept["dropped"].append(
                f"drift {index}: {'↔'.join(both)} drifted already in this conversation"
            )
            continue
        drifted.add(both)
        apply_drift(item.a, item.b, item.drift, item.reason, conversation.id, limit.max_drift)
        kept["drifts"] += 1


def apply_drift(a: str, b: str, drift: float, reason: str, conversation_id, max_drift) -> Decimal:
    first, second = pair(a, b)
    rel, _ = Relationship.objects.select_for_update().get_or_create(
        agent_a_id=first, agent_b_id=second
    )
    note = {"reason": redact_text(reason)[:200], "conversation": conversation_id}
    return rel.drift(drift, max_drift, note)


def conversation_untrusted(conversation_id: int) -> str:
    """A conversation is as trusted as its topic and what its prompts carried: a topic given
    from outside, or a memory whose words are not Opscore's own served to any speaker or to
    the distillation, makes all it distils (and anything citing it) untrusted."""
    conversation = Conversation.objects.filter(pk=conversation_id).only("source").first()
    if conversation is not None and (why := conversation.topic_untrusted()):
        return why[:300]
    calls = LLMCall.objects.linked_to(conversation=conversation_id)
    why = Memory.objects.carried_by(calls).not_our_words()
    return f"C{conversation_id}'s prompts carried {why}"[:300] if why else ""


def lock_action_items() -> None:
    """Count the day's action items one distillation at a time, until its transaction ends:
    two conversations distilled at once each saw room for all three (six a day)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [ACTION_ITEMS_LOCK])


def _propose_actions(conversation, items, kept) -> None:
    if not FORMATS[conversation.format].formal:  # listed, never ignored unsaid
        why = f"a {conversation.format} files no action items (only formal formats do)"
        kept["dropped"] += [f"action {index}: {why}" for index in range(len(items))]
        return
    lock_action_items()
    lock_agents(conversation.participants)  # before any gate an item's intake takes
    why = conversation_untrusted(conversation.id)
    for index, raw in enumerate(items):
        item = _valid(ActionDraft, raw, kept, f"action {index}")
        if item is None:
            continue
        if item.agent not in conversation.participants:  # as a memory or a drift would be
            kept["dropped"].append(
                f"action {index}: {item.agent} did not take part in this conversation"
            )
            continue
        used = Proposal.objects.created_today().filter(source=ProposalSource.CONVERSATION).count()
        if used >= MAX_ACTION_ITEMS_PER_DAY:
            kept["dropped"].append(f"action {index}: {MAX_ACTION_ITEMS_PER_DAY} a day reached")
            continue
        _file_action(conversation, index, item, why, kept)


def _file_action(conversation, index: int, item: ActionDraft, why: str, kept: dict) -> None:
    """One action item through the intake; one it rejects is listed with the reason, since
    counted as kept the summary read as work filed when none was."""
    kind = item.step_kind if is_known(item.step_kind) else "analyze"
    cause = f"conversation:{conversation.id}"
    work = {"agent": item.agent, "title": item.title, "steps": [{"kind": kind}]}
    try:
        filed = submit_proposal(
            work | {"dedupe_key": f"{cause}:action:{index}"},
            source=ProposalSource.CONVERSATION,
            cause_ref=cause,
            untrusted_reason=why,
        )
        proposal = filed.proposal
    except ValueError as invalid:
        kept["dropped"].append(f"action {index}: {invalid}")
        return
    if proposal.status == ProposalStatus.REJECTED:
        kept["dropped"].append(f"action {index}: P{proposal.id} rejected: {proposal.reason}")
    else:
        kept["action_items"] += 1
