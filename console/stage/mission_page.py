"""A mission's own page: its inputs, its steps with their attempts on a time axis, what they
produced and published, the run-at of delayed steps, and where it came from (lineage)."""

from django.contrib.auth.decorators import login_required
from django.db import DatabaseError
from django.shortcuts import redirect, render
from django.views import defaults
from django.views.decorators.http import require_GET, require_POST

from console.stage.access import operator_only, stage_visible, visible_or_login
from console.stage.health import health_summary
from console.stage.holds import holds_on
from console.stage.timeline import mission_timeline
from missions.actions import DecisionRefused
from missions.feedback import FeedbackInvalid, record_feedback
from missions.mission_control import control_mission, operator_notes
from missions.models import Artifact, Mission
from missions.text import reveal_invisible
from opscore.db import db_now
from opscore.inputs import whole_number
from opscore.models import operator_actor


def not_found(request, what: str):
    context = {"what": what, "health": health_summary(), "view": "not found"}
    return render(request, "stage/not_found.html", context, status=404)


def page_not_found(request, exception):
    """handler404: an address no page answers (a label typed as it reads, /stage/missions/M12)
    is the Stage's own 'not here', with its way back and the offline banner, not Django's bare
    white page. A private Stage's visitor, or a database that cannot draw the health strip,
    gets Django's: the strip is the Stage's to show."""
    if stage_visible(request):
        try:
            return not_found(request, f"page {reveal_invisible(request.path)}")
        except DatabaseError:
            pass
    return defaults.page_not_found(request, exception)


@require_GET
def mission_page(request, mission_id: int):
    if refusal := visible_or_login(request):
        return refusal
    return render_mission(request, mission_id)


@require_POST
@login_required
@operator_only("missions.change_mission")  # what the admin's controls need
def control(request, mission_id: int):
    """Pause, resume, note or deadline from the mission page; a refusal is shown in place."""
    fields = {name: request.POST.get(name, "") for name in ("reason", "text", "deadline")}
    try:
        control_mission(
            mission_id,
            request.POST.get("verb", ""),
            actor=operator_actor(request.user),
            fields=fields,
        )
    except DecisionRefused as refused:
        return render_mission(
            request, mission_id, control_error=str(refused), status=refused.status
        )
    return redirect("stage-mission", mission_id=mission_id)


@require_POST
@login_required
@operator_only("missions.add_feedback")
def rate(request, mission_id: int):
    """An operator rates the mission or one of its artifacts; a refusal is shown in place."""
    artifact = request.POST.get("artifact", "")
    number = whole_number(artifact)
    output = {"artifact": number} if number is not None else {"mission": mission_id}
    ours = Artifact.objects.filter(pk=output.get("artifact"), step__mission_id=mission_id)
    if artifact and not ours.exists():  # "²" or "x" is no artifact, and not the mission
        error = f"artifact {artifact} is not an output of M{mission_id}"
        return render_mission(request, mission_id, feedback_error=error, status=400)
    try:
        record_feedback(
            rating=request.POST.get("rating", ""),
            reason=request.POST.get("reason", ""),
            actor=operator_actor(request.user),
            **output,
        )
    except FeedbackInvalid as refused:
        return render_mission(request, mission_id, feedback_error=str(refused), status=400)
    return redirect("stage-mission", mission_id=mission_id)


def render_mission(request, mission_id: int, status: int = 200, **errors):
    query = Mission.objects.select_related("agent", "proposal", "proposal__goal")
    mission = query.filter(pk=mission_id).first()
    if mission is None:
        return not_found(request, f"mission M{mission_id}")
    steps = list(
        mission.steps.order_by("position", "id").prefetch_related(
            "attempts", "artifacts", "publications", "llm_calls__record"
        )
    )
    held = holds_on(steps)
    for step in steps:
        step.hold = held.get(step.id)
    context = {
        "mission": mission,
        "proposal": mission.proposal,
        "steps": steps,
        "timeline": mission_timeline(mission, steps, db_now()),
        "health": health_summary(),
        "view": "mission",
        "notes": operator_notes(mission.id),
        "control_error": errors.get("control_error", ""),
        "feedback_error": errors.get("feedback_error", ""),
        "feedback": list(mission.feedback.order_by("-id")[:20]),
        "holds": list(held.values()),
    }
    return render(request, "stage/mission.html", context, status=status)
