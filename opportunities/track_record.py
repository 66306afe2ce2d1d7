"""A scout's track record: what it proposed against what people accepted, and what they turned
down or dismissed. It feeds back into the scout's daily budget — a scout whose items keep being
rejected gets fewer slots — and the Stage's board shows it per scout."""

from datetime import timedelta

from django.db.models import Count, Q

from opportunities.models import Notice, Opportunity
from opscore.db import db_now

WINDOW = timedelta(days=7)
REJECTIONS_PER_SLOT = 3  # every three rejected or dismissed items cost one daily slot


def track_records(since=None) -> dict[str, dict]:
    since = since or db_now() - WINDOW
    rows = (
        Opportunity.objects.filter(created_at__gte=since)
        .values("source_agent")
        .annotate(
            proposed=Count("id"),
            accepted=Count("id", filter=Q(status__in=["accepted", "converted"])),
            rejected=Count("id", filter=Q(status="rejected")),
        )
        .order_by("source_agent")
    )
    found = {row["source_agent"]: {**row, "dismissed": 0} for row in rows}
    dismissed = Notice.objects.filter(dismissed_at__gte=since, source_agent__isnull=False)
    for row in dismissed.values("source_agent").annotate(n=Count("id")).order_by():
        record = found.setdefault(
            row["source_agent"],
            {"source_agent": row["source_agent"], "proposed": 0, "accepted": 0, "rejected": 0},
        )
        record["dismissed"] = row["n"]
    return found


def daily_budget(agent_slug: str, base: int) -> tuple[int, str]:
    """The scout's slots today and, when fewer than the policy's, why."""
    record = track_records().get(agent_slug)
    if record is None or base == 0:
        return base, ""
    turned_down = record["rejected"] + record["dismissed"]
    lost = turned_down // REJECTIONS_PER_SLOT
    if not lost:
        return base, ""
    budget = max(1, base - lost)
    return budget, f"{turned_down} rejected or dismissed in 7 days cost {base - budget} slot(s)"
