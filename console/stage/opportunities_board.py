"""The Opportunities board: open and decided opportunities in columns by status with their
scores and evidence, and the ideas stream beside them (kept ideas say why)."""

from django.db.models import Count
from django.shortcuts import render
from django.views.decorators.http import require_GET

from console.stage.access import visible_or_login
from console.stage.health import health_summary
from opportunities.models import Idea, Opportunity, OpportunityStatus
from opportunities.track_record import track_records
from opscore.lanes import pause_of

PER_COLUMN = 30


def board_columns() -> list[dict]:
    """Each status's newest cards, and how many it holds: a column of more than it shows
    counted only its cards."""
    by_status = Opportunity.objects.order_by().values("status").annotate(n=Count("id"))
    totals = dict(by_status.values_list("status", "n"))
    return [
        {
            "status": status,
            "label": label,
            "total": totals.get(status, 0),
            "cards": list(
                Opportunity.objects.filter(status=status)
                .select_related("source_agent", "proposal")
                .order_by("-id")[:PER_COLUMN]
            ),
        }
        for status, label in OpportunityStatus.choices
    ]


@require_GET
def opportunities_board(request):
    if refusal := visible_or_login(request):
        return refusal
    columns = board_columns()
    context = {
        "columns": columns,
        "cards_shown": any(column["cards"] for column in columns),
        "ideas": list(Idea.objects.select_related("source_agent").order_by("-id")[:30]),
        "records": list(track_records().values()),
        "paused": pause_of("proactive"),  # the scouts' lane: then no new opportunity comes
        "health": health_summary(),
        "view": "opportunities",
    }
    return render(request, "stage/opportunities.html", context)
