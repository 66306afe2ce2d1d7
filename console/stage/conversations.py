"""Conversations on the Stage: today's, against the daily cap, and one page per conversation
with its turns (refreshed while it runs), then what it left behind: the memories it distilled,
the relationship drift it caused, the proposals its action items became and what its
distillation dropped, with why."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from console.stage.access import visible_or_login
from console.stage.health import health_summary
from console.stage.mission_page import not_found
from memory.models import MemoryCandidate
from missions.models import Proposal
from opscore.db import start_of_today
from opscore.lanes import pause_of
from opscore.models import Event, LLMCall, Policy
from roundtable.models import Conversation, ConversationStatus, Relationship
from roundtable.scheduling import conversations_today


def _gate(request):
    return visible_or_login(request)


@require_GET
def conversations(request):
    if refusal := _gate(request):
        return refusal
    today = Conversation.objects.filter(created_at__gte=start_of_today()).order_by("-id")
    context = {
        "conversations": list(today[:100]),
        "count": conversations_today(),
        "cap": Policy.objects.value("roundtable_policy").max_daily_conversations,
        "paused": pause_of("roundtable"),  # then nothing runs, whatever the cap says
        "view": "conversations",
    }
    if request.htmx:
        return render(request, "stage/_conversation_list.html", context)
    context |= {"health": health_summary(), "newest": latest_event_id()}
    return render(request, "stage/conversations.html", context)


@require_GET
def conversation_page(request, conversation_id: int):
    if refusal := _gate(request):
        return refusal
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        return not_found(request, f"conversation C{conversation_id}")
    context = {
        "conversation": conversation,
        "turns": list(conversation.turns.select_related("speaker").order_by("index")),
        "failed_turns": failed_turns(conversation.id),
        "live": conversation.status in (ConversationStatus.QUEUED, ConversationStatus.RUNNING),
        "candidates": MemoryCandidate.objects.filter(
            source_ref=f"conversation:{conversation.id}"
        ).select_related("promoted_memory"),
        "drifts": drifts_of(conversation.id),
        "proposals": Proposal.objects.filter(cause_ref=f"conversation:{conversation.id}").order_by(
            "id"
        ),
        "dropped": (conversation.distillation or {}).get("dropped", []),
        "calls": LLMCall.objects.linked_to(conversation=conversation.id)
        .select_related("record")
        .order_by("id"),
        "health": health_summary(),
        "view": "conversation",
    }
    template = "stage/_conversation.html" if request.htmx else "stage/conversation.html"
    return render(request, template, context)


def latest_event_id() -> int:
    """Where the page's socket starts: moments after the list was drawn refetch it. The
    newest settled event in log order, not the highest id: an event an older open
    transaction holds back comes later, and a socket starting past its place never got it."""
    return Event.objects.last_position()


def failed_turns(conversation_id: int) -> list[str]:
    """Each turn the model answered unusably, as its event said it: the floor passed on, and
    without them the page showed a turn missing with no word why."""
    failed = Event.objects.filter(
        kind="conversation.turn_failed", payload__conversation_id=conversation_id
    )
    return list(failed.order_by("id").values_list("summary", flat=True))


def drifts_of(conversation_id: int) -> list[dict]:
    """Each pair's drift log entries that name this conversation."""
    rows = Relationship.objects.filter(drift_log__contains=[{"conversation": conversation_id}])
    found = []
    for rel in rows:
        for entry in rel.drift_log:
            if entry.get("conversation") == conversation_id:
                found.append({"a": rel.agent_a_id, "b": rel.agent_b_id, **entry})
    return found
