"""`GET /api/ops/proposals/<id>`: the proposal with the steps approving it would run and their
digest. `POST /api/ops/proposals/<id>/approve|reject` with the bearer token: body `{"as": USER,
"reason"?, "digest"?}`. The token holder decides as USER, and four-eyes holds for USER as on
the Stage (the permission the steps need; never the author approving their own); with the
digest it shows, an approval approves exactly that content (a changed one is refused: 409, as
is a proposal decided already; 403: this person may not decide it)."""

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from console.api import error, parse_json_body, reason_errors, string_field_errors, token_refusal
from console.api_errors import get_only
from missions.actions import DecisionRefused
from missions.decisions import decide_proposal_as
from missions.models import Proposal, Step

VERBS = ("approve", "reject")
FIELDS = {"as", "reason", "digest"}


@get_only
def show(request, proposal_id: int):
    refusal = token_refusal(request, settings.OPS_API_TOKEN, "OPS_API_TOKEN")
    if refusal:
        return refusal
    proposal = Proposal.objects.filter(pk=proposal_id).first()
    if proposal is None:
        return error(404, f"no proposal P{proposal_id}")
    return JsonResponse(proposal.as_json(Step.objects.of_proposal(proposal)))


@csrf_exempt
@require_POST
def decide(request, proposal_id: int, verb: str):
    refusal = token_refusal(request, settings.OPS_API_TOKEN, "OPS_API_TOKEN")
    if refusal:
        return refusal
    if verb not in VERBS:
        return error(404, f"unknown proposal verb {verb!r}; known: {', '.join(VERBS)}")
    data, problem = parse_json_body(request)
    if problem:
        return problem
    wrong = string_field_errors(data, FIELDS)
    if not data.get("as"):
        wrong.setdefault("as", ["who decides: a user name"])
    if verb == "reject":
        wrong = reason_errors(data, needed_by="a rejection") | wrong
    if wrong:
        return error(400, f"invalid proposal {verb}", wrong)
    if not Proposal.objects.filter(pk=proposal_id).exists():
        return error(404, f"no proposal P{proposal_id}")
    try:
        proposal = decide_proposal_as(
            proposal_id,
            data["as"],
            approve=verb == "approve",
            reason=data.get("reason", ""),
            shown_digest=data.get("digest"),
        )
    except DecisionRefused as refused:
        return error(refused.status, str(refused))
    return JsonResponse(proposal.as_json(Step.objects.of_proposal(proposal)))
