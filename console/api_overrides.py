"""`/api/ops/overrides`: GET the overrides in force; POST one (or its preview) with a bearer
token; POST `/api/ops/overrides/<id>/lift` to lift one (404: no such override; 409: no longer
in force). The functions are opscore.overrides'."""

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
    reason_errors,
    token_refusal,
    unknown_field_errors,
    unknown_query_refusal,
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
KINDS = {"kind": str, "target": str, "reason": str, "expires": str, "preview": bool}


def actor_of(data: dict) -> str:
    return api_actor(data.get("actor"))


def shape_errors(data: dict) -> dict:
    missing = {name: ["required"] for name, needed in FIELDS.items() if needed and name not in data}
    unknown = unknown_field_errors(data, {*FIELDS, "actor"})
    return missing | actor_errors(data) | kind_errors(data, KINDS) | unknown


@json_post
def create_override(request, data):
    problems = shape_errors(data)
    if problems:
        return error(400, "invalid override", problems)
    kind, target, expires = data["kind"], data["target"], data.get("expires") or None
    try:
        if data.get("preview"):
            return JsonResponse(preview_override(kind, target, expires))
        row = apply_override(
            kind, target, reason=data["reason"], actor=actor_of(data), expires=expires
        )
    except OverrideRefused as refused:
        return error(400, str(refused))
    return JsonResponse(row.as_json(), status=201)


@csrf_exempt
def overrides(request):
    if request.method == "POST":
        return create_override(request)
    if request.method not in READS:
        return not_allowed("use GET to list overrides or POST to apply one")
    refusal = read_only_refusal(request) or unknown_query_refusal(request)
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
    wrong = reason_errors(data, needed_by="lifting an override") | actor_errors(data)
    wrong |= kind_errors(data, {"reason": str}) | unknown_field_errors(data, {"reason", "actor"})
    if wrong:
        return error(400, "invalid lift", wrong)
    row = Override.objects.filter(pk=override_id).first()
    if row is None:
        return error(404, f"no override {override_id}")
    try:
        row = lift_override(override_id, actor=actor_of(data), reason=data["reason"])
    except OverrideRefused as refused:  # lifted or expired already, as a decided proposal
        return error(409, str(refused))
    return JsonResponse(row.as_json())
