"""`/api/ops/goals` (GET the goals, POST a new one), `/api/ops/goals/<id>` (GET one with its
missions, versions and snapshots), `POST /api/ops/goals/<id>/revise|close`, and
`POST /api/ops/feedback`. Writes need the bearer token; the functions are missions.goals' and
missions.feedback's, the same the CLI and the admin call."""

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from console.api import (
    READS,
    actor_errors,
    api_actor,
    error,
    json_post,
    kind_errors,
    not_allowed,
    parse_json_body,
    read_only_refusal,
    token_refusal,
    unknown_query_refusal,
)
from missions.feedback import FeedbackInvalid, record_feedback
from missions.goal_schemas import GoalInvalid
from missions.goals import add_goal, close_goal, goal_detail, goal_state, listed_goals, revised
from missions.models import Goal

OUTPUTS = ("mission", "artifact", "publication")
# The goal functions take a target as text too (the CLI's and the admin's arrive as text); a
# JSON body says a number as one.
TERMS = {"target": float}


def actor_of(data: dict) -> str:
    return api_actor(data.pop("actor", None))


@json_post
def create_goal(request, data):
    if wrong := actor_errors(data) | kind_errors(data, TERMS):
        return error(400, "invalid goal", wrong)
    actor = actor_of(data)
    try:
        goal = add_goal(data, actor=actor)
    except GoalInvalid as invalid:
        return error(400, "invalid goal", invalid.errors)
    return JsonResponse(goal_state(goal), status=201)


@csrf_exempt
def goals(request):
    if request.method == "POST":
        return create_goal(request)
    if request.method not in READS:
        return not_allowed("use GET to list goals or POST to add one")
    refusal = read_only_refusal(request) or unknown_query_refusal(request)
    if refusal:
        return refusal
    rows, total = listed_goals()
    return JsonResponse({"goals": [goal_state(g) for g in rows], "total": total})


@csrf_exempt  # it only reads: the CSRF check would answer another method 403, not 405
def goal(request, goal_id: int):
    if request.method not in READS:
        refused = error(405, "use GET; POST to /revise or /close")
        refused["Allow"] = "GET, HEAD"
        return refused
    refusal = read_only_refusal(request)
    if refusal:
        return refusal
    found = Goal.objects.filter(pk=goal_id).first()
    if found is None:
        return error(404, f"no goal {goal_id}")
    return JsonResponse(goal_detail(found), json_dumps_params={"default": str})


def _verb(view):
    """`POST /api/ops/goals/<id>/<verb>`: the token, the body, then the goal function (which
    answers the goal's state)."""

    @csrf_exempt
    @require_POST
    def guarded(request, goal_id: int):
        refusal = token_refusal(request, settings.OPS_API_TOKEN, "OPS_API_TOKEN")
        data, problem = (None, refusal) if refusal else parse_json_body(request)
        if problem:
            return problem
        wrong = actor_errors(data)
        actor, reason = actor_of(data), data.pop("reason", "")
        if not isinstance(reason, str):
            wrong["reason"] = ["expected a string"]
        if wrong:
            return error(400, "invalid goal change", wrong)
        try:
            return JsonResponse(view(goal_id, data, actor=actor, reason=reason))
        except GoalInvalid as invalid:
            status = 404 if "goal" in invalid.errors and "no goal" in str(invalid) else 400
            return error(status, "goal change refused", invalid.errors)

    return guarded


@_verb
def revise(goal_id, data, *, actor, reason):
    if wrong := kind_errors(data, TERMS):
        raise GoalInvalid(wrong)
    return revised(goal_id, data, actor=actor, reason=reason)


@_verb
def close(goal_id, data, *, actor, reason):
    if data:
        raise GoalInvalid({"body": [f"unknown fields {sorted(data)}; close takes a reason"]})
    return goal_state(close_goal(goal_id, actor=actor, reason=reason))


@json_post
def feedback(request, data):
    wrong = actor_errors(data) | kind_errors(data, {"reason": str})
    actor = actor_of(data)
    if unknown := sorted(set(data) - {*OUTPUTS, "rating", "reason"}):
        wrong["body"] = [f"unknown fields {unknown}"]
    if wrong:
        return error(400, "invalid feedback", wrong)
    output = {k: data[k] for k in OUTPUTS if k in data}
    try:
        row = record_feedback(
            rating=data.get("rating"), reason=data.get("reason"), actor=actor, **output
        )
    except FeedbackInvalid as invalid:
        return error(400, "invalid feedback", invalid.errors)
    body = {"id": row.id, "mission_id": row.mission_id, "output": row.output}
    return JsonResponse(body | {"rating": row.rating, "reason": row.reason}, status=201)
