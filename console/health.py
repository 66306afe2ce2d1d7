"""Health you can query: seed 004's SQL views (console/sql/health_views), read as one row (the
same figures reach Prometheus through console/metrics.py)."""

from django.conf import settings
from django.db import connection

from opscore.budgets import lane_report, spent_today_usd
from opscore.models import Policy


def health_snapshot() -> dict:
    """One row of `system_health_snapshot_v`: queue, standing orders (24 h) and workers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM system_health_snapshot_v")
        names = [column.name for column in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def llm_spend() -> dict:
    budget = Policy.objects.value("llm_budget")
    spent = float(spent_today_usd())
    return {
        "provider": settings.OPSCORE_LLM,
        "offline": settings.OPSCORE_LLM == "offline",
        "spent_today_usd": round(spent, 4),
        "budget_today_usd": budget.total_daily_usd,
        "budget_enforced": budget.enabled,
        "lanes": lane_report(),
    }
