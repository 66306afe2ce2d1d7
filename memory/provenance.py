"""A memory's provenance in one walk: the rows it was learned from → the candidate → every
review of the candidate and the memory → what it supersedes and what superseded it → the LLM
calls whose prompts carried it. The admin renders this; nothing here writes."""

from dataclasses import dataclass

from django.apps import apps
from django.db.models import Q
from django.urls import NoReverseMatch, reverse

from memory.evidence import EVIDENCE_TYPES
from memory.models import Memory, MemoryReview
from memory.uses import uses_of
from opscore.models import LLMCall

CALLS_SHOWN = 20


@dataclass(frozen=True)
class Link:
    stage: str
    text: str
    url: str = ""


def admin_url(label: str, pk) -> str:
    model = apps.get_model(label)
    try:
        return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[pk])
    except NoReverseMatch:
        return ""


def evidence_links(refs: list[dict]) -> list[Link]:
    links = []
    for ref in refs:
        label = EVIDENCE_TYPES.get(ref.get("type"))
        url = admin_url(label, ref["id"]) if label else ""
        links.append(Link("evidence", f"{ref.get('type')} {ref.get('id')}", url))
    return links


def review_links(memory: Memory) -> list[Link]:
    touching = Q(memory=memory) | (
        Q(candidate_id=memory.candidate_id) if memory.candidate_id else Q()
    )
    reviews = MemoryReview.objects.filter(touching).order_by("created_at", "id")
    return [
        Link(
            "review",
            f"{r.created_at:%Y-%m-%d %H:%M} {r.decision} by {r.reviewer}: {r.reason}",
            admin_url("memory.MemoryReview", r.pk),
        )
        for r in reviews
    ]


def lineage_links(memory: Memory) -> list[Link]:
    links = [
        Link(
            "supersedes",
            f"memory {old.id} ({old.status}): {old.content[:80]}",
            admin_url("memory.Memory", old.id),
        )
        for old in memory.supersedes.order_by("id")
    ]
    if memory.superseded_by_id:
        links.append(
            Link(
                "superseded by",
                f"memory {memory.superseded_by_id}",
                admin_url("memory.Memory", memory.superseded_by_id),
            )
        )
    return links


def call_links(memory: Memory) -> list[Link]:
    calls = LLMCall.objects.filter(injected__memory_ids__contains=[memory.id]).order_by("-id")
    return [
        Link(
            "used by",
            f"LLM call {c.id} ({c.created_at:%Y-%m-%d %H:%M}, {c.purpose or c.model})",
            admin_url("opscore.LLMCall", c.id),
        )
        for c in calls[:CALLS_SHOWN]
    ]


def provenance_chain(memory: Memory) -> list[Link]:
    chain = evidence_links(memory.evidence)
    if memory.candidate_id:
        candidate = memory.candidate
        chain.append(
            Link(
                "candidate",
                f"candidate {candidate.id} by {candidate.source_agent_id}"
                + (f" from {candidate.source_ref}" if candidate.source_ref else ""),
                admin_url("memory.MemoryCandidate", candidate.id),
            )
        )
        chain += [Link("source", ref) for ref in candidate.source_refs]
    chain += review_links(memory)
    chain.append(
        Link("memory", f"memory {memory.id} ({memory.status}, used {uses_of(memory)} times)")
    )
    return chain + lineage_links(memory) + call_links(memory)
