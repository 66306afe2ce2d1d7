"""`/api/ops/overrides`: GET the overrides in force; POST one (or its preview) with a bearer
token; POST `/api/ops/overrides/<id>/lift` to lift one (404: no such override; 409: no longer
in force). The functions are opscore.overrides'."""

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from console.api import (
    actor_errors,
    api_actor,
    error,
    json_post,
    parse_json_body,
    read_only_refusal,
    token_refusal,
)
from opscore.models import Override
from opscore.overrides import (
    OverrideRefused,
    active_overrides,
    apply_override,
    lift_override,
    preview_override,
)

FIELDS = {"kind": True, "target": True, "reason": True, "expires": False, "preview": False}


def actor_of(data: dict) -> str:
    return api_actor(data.get("actor"))


def shape_errors(data: dict) -> dict:
    errors = {
        name: ["required"] for name, required in FIELDS.items() if required and name not in data
    } | actor_errors(data)
    for name in ("kind", "target", "reason", "expires"):
        if name in data and not isinstance(data[name], str | int):
            errors[name] = ["expected a string"]
    if "preview" in data and not isinstance(data["preview"], bool):
        errors["preview"] = ["expected true or false"]
    unknown = sorted(set(data) - set(FIELDS) - {"actor"})
    if unknown:
        errors["body"] = [f"unknown fields {unknown}"]
    return errors


@json_post
def create_override(request, data):
    problems = shape_errors(data)
    if problems:
        return error(400, "invalid override", problems)
    try:
        expires = str(data["expires"]) if data.get("expires") else None
        if data.get("preview"):
            preview = preview_override(str(data["kind"]), str(data["target"]), expires)
            return JsonResponse(preview)
        row = apply_override(
            str(data["kind"]),
            str(data["target"]),
            reason=str(data["reason"]),
            actor=actor_of(data),
            expires=expires,
        )
    except OverrideRefused as refused:
        return error(400, str(refused))
    return JsonResponse(row.as_json(), status=201)


@csrf_exempt
def overrides(request):
    if request.method == "POST":
        return create_override(request)
    if request.method != "GET":
        return error(405, "use GET to list overrides or POST to apply one")
    refusal = read_only_refusal(request)
    return refusal or JsonResponse({"overrides": active_overrides()})


@csrf_exempt
@require_POST
def lift(request, override_id: int):
    refusal = token_refusal(request, settings.OPS_API_TOKEN, "OPS_API_TOKEN")
    if refusal:
        return refusal
    data, problem = parse_json_body(request)
    if problem:
        return problem
    reason, wrong = data.get("reason"), actor_errors(data)
    if not isinstance(reason, str) or not reason.strip():
        wrong["reason"] = ["required"]
    if wrong:
        return error(400, "invalid lift", wrong)
    row = Override.objects.filter(pk=override_id).first()
    if row is None:
        return error(404, f"no override {override_id}")
    try:
        row = lift_override(override_id, actor=actor_of(data), reason=reason)
    except OverrideRefused as refused:  # lifted or expired already, as a decided proposal
        return error(409, str(refused))
    return JsonResponse(row.as_json())
