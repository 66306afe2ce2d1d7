"""A mission's own page: its inputs, its steps with their attempts on a time axis, what they
produced and published, the run-at of delayed steps, and where it came from (lineage)."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from console.stage.access import visible_or_login
from console.stage.health import health_summary
from console.stage.timeline import mission_timeline
from missions.models import Mission
from opscore.db import db_now


def not_found(request, what: str):
    context = {"what": what, "health": health_summary(), "view": "not found"}
    return render(request, "stage/not_found.html", context, status=404)


@require_GET
def mission_page(request, mission_id: int):
    if refusal := visible_or_login(request):
        return refusal
    mission = Mission.objects.select_related("agent", "proposal").filter(pk=mission_id).first()
    if mission is None:
        return not_found(request, f"mission M{mission_id}")
    steps = list(
        mission.steps.order_by("position", "id").prefetch_related(
            "attempts", "artifacts", "publications", "llm_calls"
        )
    )
    context = {
        "mission": mission,
        "proposal": mission.proposal,
        "steps": steps,
        "timeline": mission_timeline(mission, steps, db_now()),
        "health": health_summary(),
        "view": "mission",
    }
    return render(request, "stage/mission.html", context)
