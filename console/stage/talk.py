"""Threads and the chat on the Stage. A thread page shows the comments on one subject and
takes an operator's remark or answer; the chat page is the operator's own chat with the
coordinator, with its drafts to confirm or discard. One fragment serves the page and its live
refresh (static/stage/talk.js asks for it when a `thread.comment` event names the thread)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from console.chat import confirm_draft, discard_draft, history, send_message
from console.stage.access import operator_only, visible_or_login
from console.stage.conversations import latest_event_id
from console.stage.health import health_summary
from console.stage.mission_page import not_found
from missions.talk import TalkRefused
from missions.threads import post_comment, subject_of, thread_of
from opscore.db import db_now
from opscore.inputs import whole_number
from opscore.models import operator_actor


@require_GET
def thread_page(request, kind: str, subject_id: int):
    if refusal := visible_or_login(request):
        return refusal
    return render_thread(request, kind, subject_id)


@require_POST
@login_required
@operator_only("missions.add_comment")
def post_to_thread(request, kind: str, subject_id: int):
    answers = request.POST.get("answers", "").strip() or None
    question = whole_number(answers) if answers else None
    # "0" would be taken as no answer at all
    if answers is not None and (question is None or question < 1):
        error = "answers: expected a question id (a number)"
        return render_thread(request, kind, subject_id, error=error, status=400)
    try:
        post_comment(
            kind,
            subject_id,
            actor=operator_actor(request.user),
            user=request.user,
            text=request.POST.get("text", ""),
            answers=question,
        )
    except TalkRefused as refused:
        return render_thread(request, kind, subject_id, error=str(refused), status=400)
    return redirect("stage-thread", kind=kind, subject_id=subject_id)


def render_thread(request, kind, subject_id, error: str = "", status: int = 200):
    try:
        subject = subject_of(kind, subject_id)
    except TalkRefused:  # its reason ("no mission 9") reads wrongly after "There is no"
        return not_found(request, f"thread {kind}:{subject_id}")
    newest = latest_event_id()  # before the comments: one written between is caught up
    now = db_now()
    comments = [(c, c.question_state(now)) for c in thread_of(kind, subject_id)]
    context = {
        "newest": newest,
        "subject": subject,
        "comments": comments,
        "error": error,
        "health": health_summary(),
        "view": "thread",
    }
    fragment = request.htmx and not error
    template = "stage/_thread.html" if fragment else "stage/thread.html"
    return render(request, template, context, status=status)


@require_GET
@login_required
def chat_page(request):
    return render_chat(request)


def render_chat(request, error: str = "", status: int = 200):
    actor = operator_actor(request.user)
    context = {
        "messages_": history(actor),
        "error": error,
        "health": health_summary(),
        "view": "chat",
    }
    return render(request, "stage/chat.html", context, status=status)


@require_POST
@login_required
@operator_only()
def chat_send(request):
    try:
        send_message(
            request.POST.get("text", ""), actor=operator_actor(request.user), user=request.user
        )
    except TalkRefused as refused:
        return render_chat(request, error=str(refused), status=400)
    return redirect("stage-chat")


@require_POST
@login_required
@operator_only()
def chat_draft(request, message_id: int, verb: str):
    if verb not in ("confirm", "discard"):
        return not_found(request, f"chat verb {verb!r}")
    actor = operator_actor(request.user)
    try:
        if verb == "confirm":
            confirm_draft(message_id, actor=actor, user=request.user)
        else:
            discard_draft(message_id, actor=actor)
    except TalkRefused as refused:
        return render_chat(request, error=str(refused), status=400)
    return redirect("stage-chat")
