"""Extraction: candidates from an agent's own evidence of the last day.

One LLM call reads the evidence packet (the agent's failed and lost attempts, with their ids) and
answers in a strict schema; every candidate must cite evidence rows that exist. A malformed reply
fails the run with the reason and writes nothing. Offline the answer is deterministic from the
same rows: a kind failing three or more times becomes a lesson citing those attempts — so a
single noisy incident never becomes a lesson.
"""

from django.db import transaction
from django.db.models import Count
from pydantic import BaseModel, ConfigDict, Field

from memory.actions import CandidateInvalid, propose_candidate
from memory.evidence import untrusted_reason
from memory.models import Memory
from missions.models import AttemptOutcome, StepAttempt
from opscore.asking import Question, ask_json
from opscore.inputs import MalformedReply
from opscore.llm_records import link_call
from opscore.models import Agent, LLMCall

REPEATS = 3
MAX_REFS = 10
PACKET_LIMIT = 40
MAX_CANDIDATES = 5
INSTRUCTIONS = (
    "From the evidence below (your own work of the last 24 hours), propose at most "
    f"{MAX_CANDIDATES} things worth remembering: repeated outcomes, not single incidents. Reply "
    'with JSON only: {"candidates": [{"kind": "lesson"|"pattern"|"playbook"|"constraint"|'
    '"fact", "title", "body", "confidence": 0-1, "evidence": [{"type": "attempt", "id": N}]}]}. '
    "Cite only ids that appear in the evidence. An empty list is a fine answer."
)


class ExtractionMalformed(MalformedReply):
    """The model's answer did not fit the schema or cited rows that do not exist."""


class Extracted(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    title: str
    body: str
    confidence: float
    evidence: list[dict] = Field(min_length=1)


class ExtractionReply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    candidates: list[Extracted] = Field(max_length=MAX_CANDIDATES)


QUESTION = Question(
    purpose="memory.extract",
    prompt_version="extract.v1",
    instructions=INSTRUCTIONS,
    schema=ExtractionReply,
    what="extraction",
    temperature=0.2,
    max_tokens=900,
    error=ExtractionMalformed,
)


def failures(agent_slug: str, since):
    return StepAttempt.objects.filter(
        step__agent=agent_slug,
        outcome__in=[AttemptOutcome.FAILED, AttemptOutcome.LOST, AttemptOutcome.BAD_REPLY],
        finished_at__gte=since,
    )


def evidence_packet(agent_slug: str, since) -> list[dict]:
    rows = failures(agent_slug, since).select_related("step").order_by("-finished_at")
    return [
        {
            "type": "attempt",
            "id": a.id,
            "kind": a.step.kind,
            "outcome": a.outcome,
            "error": a.error[:200],
        }
        for a in rows[:PACKET_LIMIT]
    ]


def deterministic_answer(agent_slug: str, since) -> dict:
    """What the offline provider answers: a lesson per kind that failed three times or more."""
    repeated = (
        failures(agent_slug, since)
        .values("step__kind")
        .annotate(n=Count("id"))
        .filter(n__gte=REPEATS)
        .order_by("step__kind")
    )
    answer = []
    for row in repeated:
        attempts = failures(agent_slug, since).filter(step__kind=row["step__kind"])
        latest = attempts.order_by("-finished_at").first()
        answer.append(
            {
                "kind": "lesson",
                "title": f"{row['step__kind']} keeps failing",
                "body": f"{row['n']} attempts of {row['step__kind']} failed in a day; the latest "
                f"error: {(latest.error or 'none recorded')[:300]}",
                "confidence": 0.6,
                "evidence": [
                    {"type": "attempt", "id": a.id}
                    for a in attempts.order_by("-finished_at")[:MAX_REFS]
                ],
            }
        )
    return {"candidates": answer}


def ask(agent: Agent, packet: list[dict], offline: dict) -> tuple[ExtractionReply, int | None]:
    """The extraction and the LLMCall that made it."""
    return ask_json(QUESTION, agent, "lessons from repeated failures", packet, offline)


def what_it_read(packet: list[dict], call_id: int | None) -> str:
    """Why every candidate of this extraction is untrusted, or '': its model read each error in
    the packet (an outside runtime's report, a crawled page's work) and the memories its prompt
    carried, whatever it then cites, so a rule citing only trusted attempts may still be an
    injected error's words."""
    rows = [{"type": item["type"], "id": item["id"]} for item in packet]
    if why := untrusted_reason(rows, how="its extraction read"):
        return why
    calls = LLMCall.objects.filter(pk=call_id)
    carried = Memory.objects.carried_by(calls).not_our_words() if call_id else ""
    return f"its extraction's prompt carried {carried}"[:300] if carried else ""


def extract_candidates(agent_slug: str, since, day: str) -> list | None:
    """The candidates proposed (new or already open), or None when there was no evidence."""
    packet = evidence_packet(agent_slug, since)
    if not packet:
        return None
    answer, call_id = ask(
        Agent.objects.get(slug=agent_slug), packet, deterministic_answer(agent_slug, since)
    )
    cited = {item["id"] for item in packet}
    read = what_it_read(packet, call_id)
    found = []
    with transaction.atomic():  # all or nothing: one bad candidate writes none of them
        for index, item in enumerate(answer.candidates):
            if any(ref.get("id") not in cited for ref in item.evidence):
                raise ExtractionMalformed(f"candidate {index} cites evidence outside the packet")
            # the active memories' dedupe keys are one namespace for every agent
            data = item.model_dump() | {
                "agent": agent_slug,
                "dedupe_key": f"extract:{agent_slug}:{day}:{item.title}"[:200],
                "tags": ["extracted"],
            }
            try:
                found.append(propose_candidate(data, untrusted_reason=read)[0])
            except CandidateInvalid as invalid:
                raise ExtractionMalformed(f"candidate {index}: {invalid}") from None
    link_call(call_id, candidates=[candidate.id for candidate in found])
    return found
