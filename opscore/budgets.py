"""LLM budgets: per agent and overall per day, and per lane with a soft limit (drop to the
cheap tier) and a hard one (refuse, with the reason). Every call's lane and tier are on its
LLMCall row, so the spend and the degradation are both queryable."""

from django.db.models import Sum

from opscore.llm_providers import OverBudget
from opscore.models import LLMCall, Policy

LANE_OF_PREFIX = {"roundtable.": "roundtable", "memory.": "memory", "proactive.": "proactive"}
LANE_OF_PREFIX |= {"idle.": "idle", "coding.": "coding", "opportunity.": "proactive"}
LANE_OF_PREFIX |= {"thread.": "talk", "chat.": "talk"}


def lane_of(purpose: str) -> str:
    """Which lane's budget a call spends: by its purpose's prefix; steps otherwise."""
    for prefix, lane in LANE_OF_PREFIX.items():
        if purpose.startswith(prefix):
            return lane
    return "steps"


def lane_spend() -> dict[str, float]:
    rows = LLMCall.objects.today().values("lane").annotate(usd=Sum("cost_usd")).order_by()
    return {row["lane"]: float(row["usd"] or 0) for row in rows}


def check_budget(agent, lane: str = "steps", tier: str = "main") -> str:
    """The tier the call may use, or OverBudget with the reason."""
    budget = Policy.objects.value("llm_budget")
    if not budget.enabled:
        return tier
    today = LLMCall.objects.today()
    spent_total = today.spend()
    if spent_total >= budget.total_daily_usd:
        raise OverBudget(
            f"daily LLM budget spent (${spent_total:.4f} of ${budget.total_daily_usd})"
        )
    spent_agent = today.filter(agent=agent).spend() if agent else 0
    if agent and spent_agent >= budget.per_agent_daily_usd:
        raise OverBudget(
            f"{agent.slug}'s daily LLM budget spent "
            f"(${spent_agent:.4f} of ${budget.per_agent_daily_usd})"
        )
    limits = budget.lanes.get(lane)
    if limits is None:
        return tier
    spent_lane = today.filter(lane=lane).spend()
    if spent_lane >= limits.hard_usd:
        raise OverBudget(
            f"the {lane} lane's daily LLM budget is spent (${spent_lane:.4f} of hard limit "
            f"${limits.hard_usd})"
        )
    return "cheap" if spent_lane >= limits.soft_usd else tier


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
