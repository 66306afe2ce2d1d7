"""`/api/ops/threads/<kind>/<id>` (GET the thread; POST a comment or, with `answers`, an answer)
and `/api/ops/chat` (POST a message; GET your chat), `/api/ops/chat/<id>/confirm|discard` (a
draft). Writes need the bearer token; a thread reads like the Stage. `actor` names the operator
behind the token on the rows and pages; the rate limit counts the token, whatever name is given."""

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
    not_allowed,
    parse_json_body,
    read_only_refusal,
    token_refusal,
    unknown_field_errors,
    unknown_query_refusal,
)
from console.chat import as_json, confirm_draft, discard_draft, history, send_message
from missions.talk import TalkRefused
from missions.threads import post_comment, posted_json, subject_of, thread_of
from opscore.db import db_now


def actor_of(data: dict) -> str:
    return api_actor(data.get("actor"))


def _text(data: dict, fields: set[str]) -> tuple[str, JsonResponse | None]:
    """The message's text, or the refusal of a body with no string text or a field besides
    `fields` (the text itself and `actor` among them), or an `actor` that is not a name."""
    if wrong := unknown_field_errors(data, fields) | actor_errors(data):
        return "", error(400, "invalid message", wrong)
    text = data.get("text")
    if not isinstance(text, str):
        return "", error(400, "invalid message", {"text": ["expected a string"]})
    return text, None


def is_question_id(value) -> bool:
    """A positive integer: `true` is not question 1, and 0 is not "no question"."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@csrf_exempt
def thread(request, kind: str, subject_id: int):
    if request.method == "POST":
        return _comment(request, kind, subject_id)
    if request.method not in READS:
        return not_allowed("use GET to read a thread or POST to comment")
    if refusal := read_only_refusal(request):
        return refusal
    try:
        subject = subject_of(kind, subject_id)
    except TalkRefused as missing:
        return error(404, str(missing))
    now = db_now()
    comments = [c.as_json(now) for c in thread_of(kind, subject_id)]
    return JsonResponse({"subject": subject.as_json(), "comments": comments})


def _comment(request, kind: str, subject_id: int):
    if refusal := token_refusal(request, settings.OPS_API_TOKEN, "OPS_API_TOKEN"):
        return refusal
    try:
        subject_of(kind, subject_id)
    except TalkRefused as missing:  # as reading it answers: no such thing is a 404
        return error(404, str(missing))
    data, problem = parse_json_body(request)
    if problem:
        return problem
    text, problem = _text(data, {"text", "answers", "actor"})
    answers = data.get("answers")
    if answers is not None and not is_question_id(answers):
        problem = problem or error(400, "invalid comment", {"answers": ["expected a question id"]})
    if problem:
        return problem
    try:
        comment = post_comment(kind, subject_id, actor=actor_of(data), text=text, answers=answers)
    except TalkRefused as refused:
        return error(400, str(refused))
    return JsonResponse(posted_json(comment, db_now()), status=201)


@csrf_exempt
def chat(request):
    if request.method == "POST":
        return _say(request)
    if request.method not in READS:
        return not_allowed("use GET to read your chat or POST to send a message")
    refusal = token_refusal(request, settings.OPS_API_TOKEN, "OPS_API_TOKEN")
    if refusal := refusal or unknown_query_refusal(request, ("actor",)):
        return refusal
    actor = actor_of({"actor": request.GET.get("actor")})
    return JsonResponse({"messages": [as_json(m) for m in history(actor)]})


@json_post
def _say(request, data):
    text, problem = _text(data, {"text", "actor"})
    if problem:
        return problem
    try:
        answer = send_message(text, actor=actor_of(data))
    except TalkRefused as refused:
        return error(400, str(refused))
    return JsonResponse({"answer": as_json(answer)}, status=201)


@csrf_exempt
@require_POST
def chat_draft(request, message_id: int, verb: str):
    if refusal := token_refusal(request, settings.OPS_API_TOKEN, "OPS_API_TOKEN"):
        return refusal
    data, problem = parse_json_body(request)
    if problem:
        return problem
    if verb not in ("confirm", "discard"):
        return error(404, f"unknown verb {verb!r}: confirm or discard")
    if wrong := unknown_field_errors(data, {"actor"}) | actor_errors(data):
        return error(400, f"invalid {verb}", wrong)
    try:
        if verb == "discard":
            return JsonResponse(
                {"message": as_json(discard_draft(message_id, actor=actor_of(data)))}
            )
        result = confirm_draft(message_id, actor=actor_of(data))
    except TalkRefused as refused:
        return error(refused.status, str(refused))
    return JsonResponse({"proposal": result.as_json()}, status=201)
