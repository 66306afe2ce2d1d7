"""The Stage: a live page where people watch the company run.

Server-rendered fragments; the same `_events.html` fragment serves the page, "load older" and the
websocket's live pushes. Every piece of agent, LLM or crawled text goes through autoescaping.
"""

import json

from django.db import DatabaseError
from django.http import HttpResponseForbidden, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from console.stage import floor, scenes
from console.stage.access import stage_visible, visible_or_login
from console.stage.conversations import latest_event_id
from console.stage.give_task import form_context
from console.stage.happening import recent_sentences
from console.stage.health import health_summary
from console.stage.mission_page import not_found
from console.stage.pixels import office_symbols
from console.stage.swimlane import swimlane as swimlane_scene
from console.stage.swimlane import zoom_of
from missions.models import Artifact, Mission
from opscore.db import db_now
from opscore.models import Agent, Event

PAGE = 50
TAG_CHARS = Event._meta.get_field("tags").base_field.max_length


def events_page(before: int | None = None, **filters):
    events = Event.objects.settled().select_related("agent").order_by("-id")
    if before:
        events = events.filter(id__lt=before)
    if filters.get("agent"):
        events = events.filter(agent_id=filters["agent"])
    if filters.get("kind"):
        events = events.filter(kind__startswith=filters["kind"])
    if filters.get("tag"):  # a longer one PostgreSQL would cut to the column, and match
        tag = filters["tag"]
        events = events.filter(tags__contains=[tag]) if len(tag) <= TAG_CHARS else events.none()
    if filters.get("mission"):  # a mission id is a number; anything else matches nothing
        mission = filters["mission"]
        events = events.filter(mission_id=int(mission)) if mission.isdecimal() else events.none()
    if filters.get("influenced") in INFLUENCED:  # chosen by memory (true) or by rotation
        events = events.filter(payload__memory_influenced=INFLUENCED[filters["influenced"]])
    return list(events[:PAGE])


INFLUENCED = {"yes": True, "no": False}


def _filters(request) -> dict:
    """As typed: cut to fit, a filter matched the shorter name it was cut to."""
    keys = ("agent", "kind", "tag", "mission", "influenced")
    return {k: request.GET.get(k, "").strip() for k in keys if request.GET.get(k)}


@require_GET
def stage(request):
    if refusal := visible_or_login(request):
        return refusal
    newest = latest_event_id()  # before the list: an event settling between is sent again
    events = events_page(**_filters(request))
    context = {
        "events": events,
        "oldest": events[-1].id if events else None,
        "newest": newest,
        "filters": _filters(request),
        "agents": Agent.objects.enabled(),
        "health": health_summary(),
        "task_form": form_context(),
    }
    return render(request, "stage/stage.html", context)


@require_GET
def older_events(request):
    if not stage_visible(request):
        return HttpResponseForbidden("sign in to see the Stage")
    try:
        before = int(request.GET.get("before", ""))
    except ValueError:
        before = None
    events = events_page(before, **_filters(request))
    return render(
        request,
        "stage/_events.html",
        {
            "events": events,
            "oldest": events[-1].id if events else None,
            "more": True,
            "filters": _filters(request),
        },
    )


@require_GET
def health(request):
    if not stage_visible(request):
        return HttpResponseForbidden("sign in to see the Stage")
    return render(request, "stage/_health.html", {"health": health_summary()})


@require_GET
def swimlane(request):
    if refusal := visible_or_login(request):
        return refusal
    lane = swimlane_scene(db_now(), zoom_of(request.GET.get("hours")))
    if request.htmx:
        return render(request, "stage/_swimlane.html", {"lane": lane})
    context = {"lane": lane, "health": health_summary(), "view": "swimlane"}
    return render(request, "stage/swimlane.html", context)


def _office_context():
    now = db_now()
    local_hour = timezone.localtime(now).hour
    sprites = scenes.office_states(now)
    return {
        "sprites": sprites,
        "symbols": office_symbols(),
        "layout": {
            "table": floor.TABLE,
            "coffee": floor.COFFEE,
            "table_seats": json.dumps(floor.TABLE_SEATS),
            "coffee_spots": json.dumps(floor.COFFEE_SPOTS),
            "grid": "/".join(floor.walkable(len(sprites))),
        },
        "latest_event": latest_event_id(),
        "evolved": [s for s in sprites if s["voice"]],
        "happening": recent_sentences(),
        "sky": scenes.sky_for(local_hour),
        "board": scenes.whiteboard(),
        "health": health_summary(),
        "view": "office",
    }


@require_GET
def office(request):
    if refusal := visible_or_login(request):
        return refusal
    if request.GET.get("board"):  # the whiteboard's numbers, refreshed by the page
        return JsonResponse(scenes.whiteboard())
    template = "stage/_office.html" if request.htmx else "stage/office.html"
    return render(request, template, _office_context())


@require_GET
def playback(request, mission_id: int):
    if refusal := visible_or_login(request):
        return refusal
    mission = Mission.objects.select_related("agent").filter(pk=mission_id).first()
    if mission is None:
        return not_found(request, f"mission M{mission_id}")
    events = list(mission.events.select_related("agent").order_by("id")[:500])
    context = {"mission": mission, "moments": moments_of(mission, events)}
    context |= {"health": health_summary(), "view": "playback"}
    return render(request, "stage/playback.html", context)


def moments_of(mission, events) -> list[dict]:
    """Each event with the time since the one before, and what its step produced."""
    made: dict[int, list] = {}
    for artifact in Artifact.objects.filter(step__mission=mission).order_by("id"):
        made.setdefault(artifact.step_id, []).append(artifact)
    moments, previous = [], mission.created_at
    for event in events:
        produced = made.get(event.step_id, []) if event.kind == "step.succeeded" else []
        gap = (event.created_at - previous).total_seconds()
        moments.append({"event": event, "gap": gap, "artifacts": produced})
        previous = event.created_at
    return moments


@require_GET
def missions_panel(request):
    """A panel that fails alone: a database error shows a message and a retry, not a blank."""
    if not stage_visible(request):
        return HttpResponseForbidden("sign in to see the Stage")
    try:
        missions = list(
            Mission.objects.select_related("agent")
            .prefetch_related("steps__attempts", "steps__artifacts", "steps__llm_calls")
            .order_by("-id")[:20]
        )
    except DatabaseError as error:
        context = {"reason": type(error).__name__, "retry": request.get_full_path()}
        return render(request, "stage/_panel_error.html", context)
    return render(request, "stage/_missions.html", {"missions": missions, "now": db_now()})
