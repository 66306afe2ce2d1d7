"""The Coding panel: runs by state with their passes, cost and approvals, and the WIP limits
(running against the limit, queued per repository). One fragment serves the page and its
five-second refresh."""

from django.db.models import Prefetch
from django.shortcuts import render
from django.views.decorators.http import require_GET

from coding.driver import wip
from coding.models import CodingApproval, CodingIteration, CodingRun, RunStatus
from coding.sandbox import sandbox_state
from console.stage.access import visible_or_login
from console.stage.health import health_summary
from opscore.lanes import pause_of

PER_COLUMN = 20


def columns() -> list[dict]:
    passes = CodingIteration.objects.order_by("-number")
    standing = CodingApproval.objects.standing()
    found = []
    for status in RunStatus.values:
        runs = (
            CodingRun.objects.filter(status=status)
            .select_related("repository", "agent")
            .prefetch_related(Prefetch("iterations", passes), Prefetch("approvals", standing))
            .order_by("-id")[:PER_COLUMN]
        )
        found.append({"status": status, "label": status.replace("_", " "), "runs": list(runs)})
    return found


@require_GET
def coding_panel(request):
    if refusal := visible_or_login(request):
        return refusal
    context = {"columns": columns(), "wip": wip(), "health": health_summary(), "view": "coding"}
    context["sandbox"], context["paused"] = sandbox_state(), pause_of("coding")
    context["runs_shown"] = any(column["runs"] for column in context["columns"])
    if request.headers.get("HX-Request"):
        return render(request, "stage/_coding.html", context)
    return render(request, "stage/coding.html", context)
