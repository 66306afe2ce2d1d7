"""The Stage's Inbox: what the proactive lane's arbiter sent the humans (alerts, digests,
memos), newest first, each dismissable with a reason by a signed-in operator."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from console.stage.access import operator_only, stage_visible
from opportunities.models import Notice
from opportunities.notices import DismissRefused, dismiss
from opscore.models import operator_actor


def inbox_context(**extra) -> dict:
    waiting = Notice.objects.filter(dismissed_at__isnull=True)
    return {"notices": list(waiting[:10]), "waiting": waiting.count()} | extra


@require_GET
def inbox_panel(request):
    if not stage_visible(request):
        return render(request, "stage/_panel_error.html", {"reason": "sign in"}, status=403)
    return render(request, "stage/_inbox.html", inbox_context())


@require_POST
@login_required
@operator_only()
def dismiss_notice(request, notice_id: int):
    notice = get_object_or_404(Notice, pk=notice_id)
    try:
        dismiss(notice, actor=operator_actor(request.user), reason=request.POST.get("reason", ""))
    except DismissRefused as refused:
        return render(request, "stage/_inbox.html", inbox_context(problem=str(refused)))
    return render(request, "stage/_inbox.html", inbox_context())
