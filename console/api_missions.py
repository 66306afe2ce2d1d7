"""`POST /api/ops/missions/<id>/<verb>` (pause, resume, note, deadline) with the bearer token:
body `{"reason": …}`, `{"text": …}` or `{"deadline": "2h", "reason": …}`, optional `actor`."""

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from console.api import api_actor, error, parse_json_body, string_field_errors, token_refusal
from missions.actions import DecisionRefused
from missions.mission_control import VERBS, control_mission, mission_state

# What each verb reads: another field (a deadline sent with a pause) was dropped without a word.
FIELDS = {
    "pause": {"reason", "actor"},
    "resume": {"reason", "actor"},
    "note": {"text", "reason", "actor"},
    "deadline": {"deadline", "reason", "actor"},
}


@csrf_exempt
@require_POST
def control(request, mission_id: int, verb: str):
    refusal = token_refusal(request, settings.OPS_API_TOKEN, "OPS_API_TOKEN")
    if refusal:
        return refusal
    if verb not in VERBS:
        return error(404, f"unknown mission verb {verb!r}; known: {', '.join(VERBS)}")
    data, problem = parse_json_body(request)
    if problem:
        return problem
    wrong = string_field_errors(data, FIELDS[verb])
    if wrong:
        return error(400, f"invalid mission {verb}", wrong)
    actor = api_actor(data.get("actor"))
    try:
        mission = control_mission(mission_id, verb, actor=actor, fields=data)
    except DecisionRefused as refused:
        return error(refused.status, str(refused))
    return JsonResponse(mission_state(mission))
