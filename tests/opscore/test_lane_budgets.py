"""Per-lane LLM budgets: past the soft limit a lane's calls use the cheap tier (recorded on each
LLMCall, and seen in the request the provider gets); at the hard limit they are refused."""

import pytest

from opscore.actions import set_policy
from opscore.budgets import lane_of, lane_report
from opscore.llm import OverBudget, call_llm
from opscore.models import LLMCall
from opscore.policies import PolicyError
from tests.opscore.test_llm_providers import REQUEST, anthropic_reply, anthropic_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def tight_roundtable(agent):
    lanes = {"roundtable": {"soft_usd": 0.01, "hard_usd": 0.05}}
    value = {"enabled": True, "per_agent_daily_usd": 10.0, "total_daily_usd": 10.0, "lanes": lanes}
    set_policy("llm_budget", value, actor="t", reason="test")


def spent(lane: str, usd: str, agent=None) -> None:
    LLMCall.objects.create(
        purpose=f"{lane}.turn",
        lane=lane,
        agent=agent,
        provider="anthropic",
        model="m",
        prompt_version="v",
        outcome="ok",
        cost_usd=usd,
    )


def talk(agent, seen):
    return call_llm(
        REQUEST,
        agent=agent,
        purpose="roundtable.turn",
        prompt_version="t",
        provider=anthropic_with(anthropic_reply(), seen=seen),
    )


def test_a_lane_degrades_to_the_cheap_tier_and_then_blocks(agent, tight_roundtable):
    seen: list[dict] = []
    talk(agent, seen)
    spent("roundtable", "0.015")  # past soft
    talk(agent, seen)
    spent("roundtable", "0.040")  # past hard

    with pytest.raises(OverBudget, match="roundtable lane's daily LLM budget is spent"):
        talk(agent, seen)

    assert [s["model"] for s in seen] == ["claude-sonnet-4-6", "claude-haiku-4-5"]
    tiers = list(
        LLMCall.objects.filter(provider="anthropic", prompt_version="t")
        .order_by("id")
        .values_list("tier", "outcome")
    )
    assert tiers == [("main", "ok"), ("cheap", "ok"), ("main", "over_budget")]
    assert {r["lane"]: r["tier"] for r in lane_report()}["roundtable"] == "blocked"


def test_other_lanes_keep_their_tier(agent, tight_roundtable):
    spent("roundtable", "0.05")
    seen: list[dict] = []

    call_llm(
        REQUEST,
        agent=agent,
        purpose="analyze",
        prompt_version="t",
        provider=anthropic_with(anthropic_reply(), seen=seen),
    )

    assert seen[0]["model"] == "claude-sonnet-4-6"
    assert LLMCall.objects.get(prompt_version="t").lane == "steps"


def test_lanes_come_from_the_purpose_and_unknown_lanes_are_refused():
    assert (lane_of("roundtable.distill"), lane_of("memory.extract"), lane_of("draft_tweet")) == (
        "roundtable",
        "memory",
        "steps",
    )
    with pytest.raises(PolicyError, match="unknown LLM lanes"):
        set_policy(
            "llm_budget",
            {"lanes": {"coffee": {"soft_usd": 1, "hard_usd": 2}}},
            actor="t",
            reason="r",
        )
    with pytest.raises(PolicyError, match="soft_usd must not exceed hard_usd"):
        set_policy(
            "llm_budget",
            {"lanes": {"steps": {"soft_usd": 3, "hard_usd": 2}}},
            actor="t",
            reason="r",
        )


def test_the_budget_check_reads_todays_spend_once(
    agent, tight_roundtable, django_assert_num_queries
):
    """It runs before every LLM call: the total, the agent's and the lane's spend are one read."""
    from opscore.budgets import check_budget
    from opscore.models.policies import Policy, policy_snapshot

    spent("roundtable", "0.015")

    with policy_snapshot():
        Policy.objects.value("llm_budget")  # the policy read is the snapshot's, not the check's
        with django_assert_num_queries(1):
            tier = check_budget(agent, "roundtable")

    assert tier == "cheap"


def test_an_agents_own_spend_refuses_before_the_lane(agent, tight_roundtable):
    value = {"enabled": True, "per_agent_daily_usd": 0.01, "total_daily_usd": 10.0}
    set_policy("llm_budget", value, actor="t", reason="test")
    spent("steps", "0.02", agent=agent)
    spent("steps", "0.5")  # another's spend: not this agent's

    with pytest.raises(OverBudget, match=f"{agent.slug}'s daily LLM budget spent \\(\\$0.0200"):
        talk(agent, [])
