"""Who may see the Stage: everyone when STAGE_PUBLIC, otherwise signed-in operators. Pages send
a visitor to the login; fragments answer 403.

Who may act on it: watching is not operating. An action (give a task, pause a mission, rate,
dismiss, comment, chat) needs a staff account, and where the admin has the same change the
model permission the admin asks for it; anyone else signed in gets a 403 that says what is
missing, and the refusal is a `stage.action_refused` event. Approvals keep their own rule
(opscore.four_eyes: the decision's permission, staff or not). The Stage's websocket only
pushes events: nothing sent up it is read (a frame closes it)."""

import functools

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render

from console.stage.health import health_summary
from missions.text import strip_invisible
from opscore.actions import record_event
from opscore.models import operator_actor


def stage_visible(request) -> bool:
    return settings.STAGE_PUBLIC or request.user.is_authenticated


def visible_or_login(request):
    return None if stage_visible(request) else redirect_to_login(request.get_full_path())


def why_not_operate(user, permission: str = "") -> str:
    """'' when `user` may take an operator action needing `permission`; else the reason."""
    if user is None or not user.is_authenticated:
        return "sign in to act on the Stage"
    name = strip_invisible(user.get_username())
    if not user.is_staff:
        return f"{name} may watch the Stage; acting on it needs a staff account"
    if permission and not user.has_perm(permission):
        return f"{name} may watch the Stage; this action needs the permission {permission}"
    return ""


def operator_only(permission: str = ""):
    """A Stage action: a visitor goes to the login, a non-operator gets a 403 refusal."""

    def decorate(view):
        @functools.wraps(view)
        def guarded(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            why = why_not_operate(request.user, permission)
            if why:
                record_refusal(request, why)
                return refused(request, why)
            return view(request, *args, **kwargs)

        return guarded

    return decorate


def record_refusal(request, why: str) -> None:
    """Who tried which action and why not: a refused decision (proposal.decision_refused) and a
    refused message (talk.refused) leave the same evidence."""
    actor = operator_actor(request.user)
    action = request.resolver_match.url_name  # the URL's own name: bounded, unlike its path
    record_event(
        "stage.action_refused",
        f"{action} by {actor} refused",
        summary=why,
        tags=["stage", "refused"],
        payload={"action": action, "path": request.path[:200], "reason": why},
        actor=actor,
    )


def refused(request, why: str):
    """htmx swaps the line into its panel; a plain form post replaces the whole page, so it
    gets the Stage's frame and a way back rather than one unstyled line."""
    if request.htmx:
        return render(request, "stage/_refused.html", {"reason": why}, status=403)
    context = {"reason": why, "health": health_summary(), "view": "refused"}
    return render(request, "stage/refused.html", context, status=403)
