"""Keeping every model call whole: what was sent, what came back, which versions were in force,
and what the call served — redacted like events, compressed, and pruned by retention."""

import time
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q, Sum, Window
from django.db.models.functions import Now

from opscore.actions import record_cap_hit
from opscore.db import db_now
from opscore.models import LLMCall, LLMCallRecord, Policy
from opscore.models.llm_records import pack
from opscore.policies import SCHEMAS
from opscore.redaction import redact

PRUNE_BATCH = 1000


def request_document(request, model: str) -> dict:
    """The request as a provider is sent it: system, messages, tools and parameters."""
    return {
        "system": request.system,
        "messages": list(request.messages),
        "tools": [],
        "parameters": {
            "model": model,
            "tier": request.tier,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        },
    }


def reply_document(reply) -> dict:
    return {
        "text": reply.text,
        "input_tokens": reply.input_tokens,
        "output_tokens": reply.output_tokens,
        "model": reply.model,
        "provider": reply.provider,
    }


def error_document(error) -> dict:
    """A failed try's reply: the error's class decides how a replay re-raises it."""
    return {
        "error": str(error),
        "class": type(error).__name__,
        "input_tokens": getattr(error, "input_tokens", 0),
        "output_tokens": getattr(error, "output_tokens", 0),
        "model": getattr(error, "model", ""),
    }


def redacted(document: dict) -> dict:
    """The events' rules on what a model or a person wrote: the prompt's words, the reply's
    text, an error. Our own keys (max_tokens, input_tokens) are no secret and stay readable."""
    spoken = ("system", "messages", "tools", "text", "error")
    return document | {key: redact(document[key]) for key in spoken if key in document}


def keep_record(call: LLMCall, request: dict, reply: dict) -> LLMCallRecord:
    """Redacted before compression: a secret never reaches the blob."""
    request_z, reply_z = pack(redacted(request)), pack(redacted(reply))
    size = len(request_z) + len(reply_z)
    record = LLMCallRecord(call=call, size_bytes=size, request_z=request_z, reply_z=reply_z)
    if size > settings.OPS_LLM_RECORD_MAX_BYTES:
        record.request_z = record.reply_z = None
        record.size_bytes, record.pruned_at = 0, Now()
        record.pruned_reason = f"{size} bytes, over the {settings.OPS_LLM_RECORD_MAX_BYTES} cap"
    record.save(force_insert=True)
    return record


def versions_in_force(prompt_version: str, injected: dict) -> dict:
    """Every policy's version (0: its schema default, never saved) and the prompt's and
    voice's, as they stood for this call."""
    stored = dict(Policy.objects.values_list("key", "version"))
    return {
        "prompt": prompt_version,
        "voice": injected.get("voice_version", ""),
        "policies": {key: 0 for key in sorted(SCHEMAS)} | stored,
    }


def link_call(call_id: int | None, **links) -> None:
    """Add what a call served once it exists (the turn it became, the candidates it made)."""
    if call_id is None:
        return
    call = LLMCall.objects.filter(pk=call_id).only("links").first()
    if call is not None:
        call.links = call.links | links
        call.save(update_fields=["links"])


def prune_llm_records(deadline: float, limit: int = PRUNE_BATCH) -> dict:
    """The heartbeat duty: bodies older than OPS_LLM_RECORD_DAYS go, then the oldest until all
    kept records fit OPS_LLM_RECORDS_TOTAL_MB. Rows stay, saying when and why. At most `limit`
    a pass: those pruned match no longer, so the next pass takes the rest; a pass cut short
    counts what waits as `deferred` and leaves a `sweep.capped` row (out of time: `budget`,
    in the heartbeat's row, as its other duties say it)."""
    cutoff = db_now() - timedelta(days=settings.OPS_LLM_RECORD_DAYS)  # one clock: the database's
    days = f"older than {settings.OPS_LLM_RECORD_DAYS} days"
    counts = {"aged": _prune_each(_aged(cutoff), days, deadline, limit)}
    over = f"over the {settings.OPS_LLM_RECORDS_TOTAL_MB} MB total"
    counts["over_size"] = _prune_each(_over_total(), over, deadline, limit - counts["aged"])
    out_of_time = time.monotonic() > deadline
    if counts["aged"] + counts["over_size"] < limit and not out_of_time:
        return counts  # neither cap stopped it: nothing is left
    waiting = LLMCallRecord.objects.filter(
        Q(pk__in=_aged(cutoff).values("pk")) | Q(pk__in=_over_total().values("pk"))
    ).count()
    if not waiting:
        return counts
    if out_of_time:
        return counts | {"deferred": "budget"}
    record_cap_hit("prune_llm_records", limit, waiting, actor="system:heartbeat")
    return counts | {"deferred": waiting}


def _aged(cutoff):
    return LLMCallRecord.objects.older_than(cutoff).order_by("created_at", "call_id")


def _over_total():
    """The oldest kept records that must go for the rest to fit the total: each one whose
    elders' sizes summed fall short of the excess."""
    budget = settings.OPS_LLM_RECORDS_TOTAL_MB * 1024 * 1024
    excess = (LLMCallRecord.objects.kept().aggregate(n=Sum("size_bytes"))["n"] or 0) - budget
    if excess <= 0:
        return LLMCallRecord.objects.none()
    oldest_first = ["created_at", "call_id"]
    elders = Window(Sum("size_bytes"), order_by=oldest_first) - F("size_bytes")
    kept = LLMCallRecord.objects.kept().annotate(elders=elders)
    return kept.filter(elders__lt=excess).order_by(*oldest_first)


def _prune_each(records, reason: str, deadline: float, limit: int) -> int:
    pruned = 0
    for record in records[: max(limit, 0)]:
        if time.monotonic() > deadline:
            break
        record.prune(reason)
        pruned += 1
    return pruned
