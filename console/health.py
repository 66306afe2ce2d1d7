"""Health you can query: seed 004's SQL views (console/sql/health_views), read as one row (the
same figures reach Prometheus through console/metrics.py)."""

from datetime import timedelta

from django.conf import settings
from django.db import connection, connections
from django.db.models import DurationField, ExpressionWrapper, F
from django.db.models.functions import Now

from opscore.budgets import lane_report, spent_today_usd
from opscore.models import Policy


def health_snapshot() -> dict:
    """One row of `system_health_snapshot_v`: queue, standing orders (24 h) and workers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM system_health_snapshot_v")
        names = [column.name for column in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def sync_worker_stale_seconds(using: str = "default", **_signal) -> None:
    """After every migrate: the views call a worker stale after OPS_WORKER_STALE_SECONDS, as
    `status` does (console/sql/health_views.v5.sql reads it from this function). Written into
    the database, not set on a session, so psql, /metrics and the Stage read one threshold."""
    seconds = int(settings.OPS_WORKER_STALE_SECONDS)
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT to_regprocedure('opscore_worker_stale_seconds()') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return  # migrated back past the views that read it
        cursor.execute(  # the body as the file writes it; an int needs no quoting
            "CREATE OR REPLACE FUNCTION opscore_worker_stale_seconds() RETURNS integer "
            f"LANGUAGE sql STABLE AS $$ SELECT {seconds} $$"
        )


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


SWEEP_GROUP = "missions.sweep"  # django-q2 groups a schedule's tasks under its name
SWEEP_STALLED_AFTER = timedelta(minutes=5)  # five missed minute sweeps


def sweeper_state() -> dict:
    """When the django-q cluster last finished the minute sweep, aged on the database's clock.
    The cluster hosts every timer (the sweep, the heartbeat, the standing orders' slots): while
    it is down the workers still look live and nothing records what did not run, so this is
    the one figure that says so. A cluster that never swept is stalled too, and so is one whose
    sweeps all fail: a sweep that crashes every minute sweeps nothing, so what keeps the
    figure calm is the last sweep that succeeded."""
    from django_q.models import Task

    age = ExpressionWrapper(Now() - F("stopped"), output_field=DurationField())
    sweeps = Task.objects.filter(group=SWEEP_GROUP).annotate(age=age).order_by("-stopped")
    last = sweeps.first()
    if last is None:
        return {
            "last_swept_at": None, "seconds_ago": None, "succeeded": None,
            "seconds_since_success": None, "stalled": True,
        }  # fmt: skip
    good = last if last.success else sweeps.filter(success=True).first()
    return {
        "last_swept_at": last.stopped.isoformat(),
        "seconds_ago": round(last.age.total_seconds(), 1),
        "succeeded": last.success,
        "seconds_since_success": round(good.age.total_seconds(), 1) if good else None,
        "stalled": good is None or good.age > SWEEP_STALLED_AFTER,
    }
