"""Today's LLM spend, kept as calls are written (LLMSpend): the budget check before every call
reads a few rows whatever the day's traffic, and its sums are the calls' own. Both clocks are
frozen (tests/clock.py) a moment before a year ends, or where a zone's date is a leap day."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from opscore.budgets import (
    check_budget,
    lane_spend,
    outside_the_ledger,
    sync_spend_zone,
    todays_spend,
)
from opscore.models import LLMCall, LLMSpend
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db
YEAR_END = datetime(2027, 12, 31, 23, 59, 30, tzinfo=UTC)


def day_of(instant: datetime) -> date:
    """The day a call at `instant` spends: OPS_TIME_ZONE's, which the run may set."""
    return timezone.localdate(instant)


@pytest.fixture
def frozen(clock):
    clock.freeze(YEAR_END)
    return clock


def call(usd: str, agent=None, lane="steps", **fields) -> LLMCall:
    return LLMCall.objects.create(
        purpose="t", lane=lane, agent=agent, provider="anthropic", model="m",
        prompt_version="v", outcome="ok", cost_usd=usd, **fields,
    )  # fmt: skip


def summed_from_the_calls(agent, lane) -> dict:
    today = LLMCall.objects.filter(spend_day=day_of(YEAR_END))
    return {
        "total": today.aggregate(s=Sum("cost_usd"))["s"] or 0,
        "agent": today.filter(agent=agent).aggregate(s=Sum("cost_usd"))["s"] or 0,
        "lane": today.filter(lane=lane).aggregate(s=Sum("cost_usd"))["s"] or 0,
    }


def test_the_budget_check_reads_the_days_sums_not_every_call(frozen):
    agent = AgentFactory()
    for _ in range(3):
        call("0.01", agent)

    with CaptureQueriesContext(connection) as queries:
        check_budget(agent, "steps")

    [read] = [q["sql"] for q in queries.captured_queries if "opscore_llm" in q["sql"]]
    assert "opscore_llmspend" in read and "opscore_llmcall" not in read


def test_the_sums_are_the_calls_own_across_agents_lanes_and_days(frozen):
    ada, bo = AgentFactory(), AgentFactory()
    call("0.010000", ada)
    call("0.020000", ada, lane="other")
    call("0.004000", bo)
    call("0.001000")  # no agent
    call("0", ada)  # free: no row moves
    call("5", ada, created_at=YEAR_END - timedelta(days=1))  # yesterday's budget

    assert todays_spend(ada, "steps") == summed_from_the_calls(ada, "steps")
    assert todays_spend(ada, "steps") == {
        "total": Decimal("0.035"),
        "agent": Decimal("0.03"),
        "lane": Decimal("0.015"),
    }
    assert lane_spend() == {"steps": 0.015, "other": 0.02}
    assert LLMSpend.objects.get(agent_slug=ada.slug, lane="steps", day=day_of(YEAR_END)).calls == 1
    yesterday = day_of(YEAR_END - timedelta(days=1))
    assert LLMSpend.objects.get(agent_slug=ada.slug, day=yesterday).usd == Decimal("5")


def test_a_changed_or_deleted_call_moves_or_takes_back_its_cost(frozen):
    ada = AgentFactory()
    first, second = call("0.5", ada), call("0.25", ada)

    LLMCall.objects.filter(pk=first.pk).update(lane="other")
    LLMCall.objects.filter(pk=second.pk).delete()
    LLMCall.objects.filter(pk=first.pk).update(outcome="bad_reply")  # not a cost: nothing moves

    assert todays_spend(ada, "other") == {
        "total": Decimal("0.5"),
        "agent": Decimal("0.5"),
        "lane": Decimal("0.5"),
    }
    assert todays_spend(ada, "steps")["lane"] == 0


@pytest.mark.parametrize(
    ("zone", "local_day"),
    [("Pacific/Kiritimati", date(2028, 2, 29)), ("Etc/GMT+12", date(2028, 2, 27))],
)
def test_today_is_the_configured_time_zones_however_the_call_was_written(
    settings, clock, zone, local_day
):
    """At 10:30 UTC on 28 February 2028 it is already the leap day at UTC+14 and still the
    27th at UTC-12: a call is dated, and the check reads, the same local today, also for a call
    written in bulk."""
    clock.freeze(datetime(2028, 2, 28, 10, 30, tzinfo=UTC))
    settings.TIME_ZONE = zone
    sync_spend_zone()  # as after every migrate
    ada = AgentFactory()
    made = call("0.3", ada)
    in_bulk = dict(purpose="t", provider="p", model="m", prompt_version="v", outcome="ok")
    LLMCall.objects.bulk_create([LLMCall(agent=ada, cost_usd="0.2", **in_bulk)])
    made.refresh_from_db()

    assert made.spend_day == local_day == timezone.localdate()
    assert todays_spend(ada, "steps")["agent"] == Decimal("0.5")


def test_a_transaction_that_will_be_rolled_back_spends_no_day(frozen):
    """A live replay's calls hold no row of today's spend locked while it runs."""
    ada = AgentFactory()
    call("0.1", ada)

    outside_the_ledger()
    call("7", ada)

    assert todays_spend(ada, "steps")["agent"] == Decimal("0.1")
