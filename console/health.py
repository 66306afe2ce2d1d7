"""Health you can query: seed 004's SQL views (console/sql/health_views), read as one row, and
the same figures as Prometheus metrics at `GET /metrics`."""

from django.conf import settings
from django.db import connection
from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import CollectorRegistry

from missions.models import Step
from opscore.budgets import lane_report
from opscore.models import LLMCall, Policy
from opscore.overrides import active_overrides
from opscore.policy_names import describe_unknown


def health_snapshot() -> dict:
    """One row of `system_health_snapshot_v`: queue, standing orders (24 h) and workers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM system_health_snapshot_v")
        names = [column.name for column in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def llm_spend() -> dict:
    budget = Policy.objects.value("llm_budget")
    spent = float(LLMCall.objects.today().spend())
    return {
        "provider": settings.OPSCORE_LLM,
        "offline": settings.OPSCORE_LLM == "offline",
        "spent_today_usd": round(spent, 4),
        "budget_today_usd": budget.total_daily_usd,
        "budget_enforced": budget.enabled,
        "lanes": lane_report(),
    }


class HealthCollector:
    """Read at scrape time, so a scrape is as fresh as `status`."""

    PREFIX = "opscore_"

    def collect(self):
        snapshot = health_snapshot()
        for name, value in snapshot.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                yield GaugeMetricFamily(f"{self.PREFIX}{name}", name.replace("_", " "), value=value)
        depth = GaugeMetricFamily(
            f"{self.PREFIX}steps", "steps by status and kind", labels=["status", "kind"]
        )
        for status, kind, count in step_depths():
            depth.add_metric([status, kind], count)
        yield depth
        spend = llm_spend()
        yield GaugeMetricFamily(
            f"{self.PREFIX}llm_spent_today_usd", "LLM spend today", value=spend["spent_today_usd"]
        )
        yield GaugeMetricFamily(
            f"{self.PREFIX}llm_budget_today_usd", "LLM budget", value=spend["budget_today_usd"]
        )
        yield GaugeMetricFamily(
            f"{self.PREFIX}overrides_in_force", "overrides in force", value=len(active_overrides())
        )
        unknown = describe_unknown(Policy.objects.unknown_names())
        yield GaugeMetricFamily(
            f"{self.PREFIX}policy_unknown_names",
            "policy fields naming step kinds or lanes no loaded app knows (kept, ignored)",
            value=len(unknown),
        )


def step_depths() -> list[tuple[str, str, int]]:
    rows = Step.objects.values_list("status", "kind").annotate(n=Count("id")).order_by()
    return list(rows)


def metrics_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HealthCollector())
    return registry
