"""`GET /api/ops/steps/<id>/words`: the words a held post would post, exactly and as revealed,
with their digest. `POST /api/ops/steps/<id>/approve-words {"as": USER, "digest"}` approves
exactly the words with that digest; `POST …/refuse-words {"as": USER, "reason"}` fails the
step. Bearer token; four-eyes holds for USER as for a proposal (missions.words)."""

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from console.api import error, parse_json_body, reason_errors, string_field_errors, token_refusal
from console.api_errors import get_only
from missions.models import Step
from missions.words import WordsRefused, decide_words_as, words_card

VERBS = {"approve-words": "digest", "refuse-words": "reason"}


@get_only
def show(request, step_id: int):
    refusal = token_refusal(request, settings.OPS_API_TOKEN, "OPS_API_TOKEN")
    if refusal:
        return refusal
    step = Step.objects.select_related("mission__proposal__operator").filter(pk=step_id).first()
    if step is None:
        return error(404, f"no step S{step_id}")
    return JsonResponse(words_card(step))


@csrf_exempt
@require_POST
def decide(request, step_id: int, verb: str):
    refusal = token_refusal(request, settings.OPS_API_TOKEN, "OPS_API_TOKEN")
    if refusal:
        return refusal
    if verb not in VERBS:
        return error(404, f"unknown step verb {verb!r}; known: {', '.join(VERBS)}")
    data, problem = parse_json_body(request)
    if problem:
        return problem
    needed = VERBS[verb]
    wrong = string_field_errors(data, {"as", needed})
    if needed == "reason":
        wrong = reason_errors(data, needed_by="a refusal") | wrong
    for name, what in [("as", "who decides: a user name"), (needed, f"the {needed}")]:
        if not str(data.get(name, "")).strip():
            wrong.setdefault(name, [what])
    if wrong:
        return error(400, f"invalid {verb}", wrong)
    if not Step.objects.filter(pk=step_id).exists():
        return error(404, f"no step S{step_id}")
    try:
        row = decide_words_as(
            step_id, data["as"], approve=verb == "approve-words", **{needed: data[needed]}
        )
    except WordsRefused as refused:
        return error(refused.status, str(refused))
    return JsonResponse({"step": step_id, "decision": row.decision, "digest": row.digest})
