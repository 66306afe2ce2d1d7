"""LLM budgets: per agent and overall per day, and per lane with a soft limit (drop to the
cheap tier) and a hard one (refuse, with the reason). Every call's lane and tier are on its
LLMCall row, so the spend and the degradation are both queryable. Today's spend is read from
LLMSpend, the sums a trigger keeps as calls are written: the check costs the same at the day's
first call and at its fifty-thousandth."""

from django.conf import settings
from django.db import connections
from django.db.models import DateField, Func, Q, Sum
from psycopg import sql
from pydantic import Field, model_validator

from opscore.llm_wire import OverBudget
from opscore.models import LLMSpend, Policy
from opscore.policies import PolicyValue
from opscore.policy_names import names_in
from opscore.registry import Registry

# lane → (soft_usd, hard_usd), its default daily budget; each lane registers its own.
LLM_LANES: Registry = Registry("LLM lane")
# a call's purpose prefix (`lane.`) → the lane whose budget it spends; lanes register theirs.
LANE_OF_PREFIX: Registry = Registry("LLM purpose prefix")
# Work that names no lane of its own (a step's call): Opscore's own lane, registered in its ready().
BASE_LANE = "steps"


def lane_of(purpose: str) -> str:
    """Which lane's budget a call spends: by its purpose's prefix; the base lane otherwise."""
    for prefix, lane in LANE_OF_PREFIX.items():
        if purpose.startswith(prefix):
            return lane
    return BASE_LANE


class LaneBudget(PolicyValue):
    """At `soft_usd` a lane's calls drop to the cheap tier; at `hard_usd` they are refused."""

    soft_usd: float = Field(ge=0)
    hard_usd: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self):
        if self.soft_usd > self.hard_usd:
            raise ValueError("soft_usd must not exceed hard_usd")
        return self


def default_lane_budgets() -> dict[str, LaneBudget]:
    return {lane: LaneBudget(soft_usd=s, hard_usd=h) for lane, (s, h) in LLM_LANES.items()}


class LLMBudget(PolicyValue):
    enabled: bool = True
    per_agent_daily_usd: float = Field(1.0, ge=0)
    total_daily_usd: float = Field(5.0, ge=0)
    lanes: names_in("LLM lanes", LLM_LANES.names, dict[str, LaneBudget]) = Field(
        default_factory=default_lane_budgets
    )


def spent_today():
    """Today's LLMSpend rows: today as the trigger dates a call (the database's clock in the zone
    opscore_spend_zone() names)."""
    today = Func(function="opscore_spend_today", output_field=DateField())
    return LLMSpend.objects.filter(day=today)


def sync_spend_zone(using: str = "default", **_signal) -> None:
    """After every migrate: the day a call spends, and the check's today, are OPS_TIME_ZONE's
    (opscore/sql/llm_spend.v1.sql reads it from this function)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regprocedure('opscore_spend_zone()') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return  # migrated back past the ledger
        body = sql.SQL(" SELECT {}::text ").format(sql.Literal(settings.TIME_ZONE))  # as the file
        statement = sql.SQL(
            "CREATE OR REPLACE FUNCTION opscore_spend_zone() RETURNS text LANGUAGE sql STABLE AS {}"
        ).format(sql.Literal(body.as_string(connection.connection)))
        cursor.execute(statement.as_string(connection.connection))


def outside_the_ledger() -> None:
    """For the rest of this transaction, calls it writes count toward no day's spend: for one that
    will be rolled back (a live replay, which adds its spend once it has ended), which would
    otherwise hold its agents' rows of today's spend locked, and their calls waiting, all along."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT set_config('opscore.spend_ledger', 'off', true)")


def add_to_todays_spend(agent_slug: str, lane: str, usd, calls: int) -> None:
    """Spend no LLMCall row carries (a live replay's, whose rows were rolled back), added to
    today's as the trigger adds a call's."""
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT opscore_llm_spend_add(opscore_spend_today(), %s, %s, %s, %s)",
            [agent_slug, lane, usd, calls],
        )


def spent_today_usd():
    """The day's whole spend so far (the status page's and the Stage's figure)."""
    return spent_today().aggregate(total=Sum("usd"))["total"] or 0


def lane_spend() -> dict[str, float]:
    rows = spent_today().values("lane").annotate(total=Sum("usd")).order_by()
    return {row["lane"]: float(row["total"] or 0) for row in rows}


def check_budget(agent, lane: str = BASE_LANE, tier: str = "main", unledgered=None) -> str:
    """The tier the call may use, or OverBudget with the reason. Today's three spends (total,
    the agent's, the lane's) come from one aggregate: this runs before every LLM call.
    `unledgered`: spend not in the ledger yet, {(agent slug, lane): [usd, calls]} (a live
    replay's so far)."""
    budget = Policy.objects.value("llm_budget")
    if not budget.enabled:
        return tier
    spent = todays_spend(agent, lane)
    for (agent_slug, its_lane), (usd, _calls) in (unledgered or {}).items():
        spent["total"] += usd
        spent["agent"] += usd if agent and agent_slug == agent.slug else 0
        spent["lane"] += usd if its_lane == lane else 0
    if spent["total"] >= budget.total_daily_usd:
        raise OverBudget(
            f"daily LLM budget spent (${spent['total']:.4f} of ${budget.total_daily_usd})"
        )
    if agent and spent["agent"] >= budget.per_agent_daily_usd:
        raise OverBudget(
            f"{agent.slug}'s daily LLM budget spent "
            f"(${spent['agent']:.4f} of ${budget.per_agent_daily_usd})"
        )
    limits = budget.lanes.get(lane)
    if limits is None:
        return tier
    if spent["lane"] >= limits.hard_usd:
        raise OverBudget(
            f"the {lane} lane's daily LLM budget is spent (${spent['lane']:.4f} of hard limit "
            f"${limits.hard_usd})"
        )
    return "cheap" if spent["lane"] >= limits.soft_usd else tier


def todays_spend(agent, lane: str) -> dict[str, float]:
    """Spent today in all, by this agent (0 with none) and in this lane."""
    sums = spent_today().aggregate(
        total=Sum("usd"),
        agent=Sum("usd", filter=Q(agent_slug=agent.slug) if agent else Q(pk__isnull=True)),
        lane=Sum("usd", filter=Q(lane=lane)),
    )
    return {name: usd or 0 for name, usd in sums.items()}


def lane_report() -> list[dict]:
    """Each lane's spend today, its limits and the tier its calls get now (for the Stage)."""
    budget = Policy.objects.value("llm_budget")
    spent = lane_spend()
    report = []
    for lane, limits in budget.lanes.items():
        usd = spent.get(lane, 0.0)
        state = (
            "blocked" if usd >= limits.hard_usd else "cheap" if usd >= limits.soft_usd else "main"
        )
        report.append(
            {
                "lane": lane,
                "spent_usd": round(usd, 4),
                "soft_usd": limits.soft_usd,
                "hard_usd": limits.hard_usd,
                "tier": state,
            }
        )
    return report
