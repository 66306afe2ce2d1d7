"""Give task: a signed-in operator's human proposal through the single intake, with the fields
each step kind reads (from the registry), errors shown in place, and a token per form so a
double click is one proposal."""

import secrets

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_POST

from console.stage.access import operator_only
from missions.actions import submit_proposal
from missions.models import ProposalSource
from missions.schemas import ProposalInvalid
from opscore.models import Agent
from opscore.registry import STEP_KINDS

FORM_KINDS = ["analyze", "write_content", "draft_tweet", "crawl", "post_tweet", "deploy"]
MAX_TOKEN = 40  # the form sends 16 characters; the dedupe key (200) holds the rest


def form_context(**extra) -> dict:
    """The form, fresh (a new token) unless `extra` carries what the operator typed."""
    kinds = [STEP_KINDS[name] for name in FORM_KINDS if name in STEP_KINDS]
    context = {"kinds": kinds, "agents": Agent.objects.enabled(), "values": {}, "errors": {}}
    return context | {"token": secrets.token_urlsafe(12)} | extra


def payload_from(request, kind: str, title: str) -> dict:
    fields = STEP_KINDS[kind].fields if kind in STEP_KINDS else ()
    payload = {}
    for spec in fields:
        value = request.POST.get(f"{kind}-{spec.name}", "").strip()
        if value:
            payload[spec.name] = value
    if any(spec.name == "topic" for spec in fields):
        payload.setdefault("topic", title)
    return payload


def field_errors_in_place(errors: dict, kind: str) -> dict:
    """The intake names `steps.0.payload.url`; the form names its input `crawl-url`."""
    named = {}
    for where, messages in errors.items():
        field = where.removeprefix("steps.0.payload.")
        named[f"{kind}-{field}" if field != where else where.removeprefix("steps.0.")] = messages
    return named


@require_POST
@login_required
@operator_only()  # the admin gives no task: staff is the rule
def give_task(request):
    kind = request.POST.get("kind", "analyze")
    title = request.POST.get("title", "")
    data = {
        "agent": request.POST.get("agent", ""),
        "title": title,
        "steps": [{"kind": kind, "payload": payload_from(request, kind, title)}],
    }
    token = request.POST.get("token", "")
    if len(token) > MAX_TOKEN:  # cut, two tokens alike in their first 40 were one task
        wrong = f"at most {MAX_TOKEN} characters ({len(token)} given); the form has a new one"
        return not_submitted(request, {"token": [wrong]}, token="")
    if token:
        data["dedupe_key"] = f"stage-task:{request.user.pk}:{token}"
    try:
        result = submit_proposal(
            data,
            source=ProposalSource.HUMAN,
            operator=request.user,
            cause_ref=f"stage:{request.user.get_username()}",
        )
    except ProposalInvalid as invalid:
        return not_submitted(request, field_errors_in_place(invalid.errors, kind), token=token)
    answer = render(request, "stage/_give_task.html", form_context(proposal=result.proposal))
    answer["HX-Trigger"] = "stage-changed, task-given"  # strip, missions, approvals refresh
    return answer


def not_submitted(request, errors: dict, *, token: str):
    """The form again as typed, the errors in place; the same token unless it was refused."""
    values = request.POST.dict()
    context = form_context(errors=errors, values=values, token=token or secrets.token_urlsafe(12))
    return render(request, "stage/_give_task.html", context, status=400)
