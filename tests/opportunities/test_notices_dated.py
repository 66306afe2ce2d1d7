"""A daily notice is dated by its slot's day on the order's own clock (the zone its cron is
written in): one digest a day, each named for the day it was sent, whatever the UTC date."""

from datetime import datetime

import pytest

from console.bootstrap import bootstrap
from opportunities.models import Notice, Opportunity
from opscore.actions import record_event
from opscore.models import Agent, StandingOrder
from opscore.overrides import apply_override, lift_override
from opscore.standing_orders import fire
from opscore.tasks import run_held_orders
from tests.opportunities.test_notices import opportunity

pytestmark = pytest.mark.django_db


@pytest.fixture
def orders(clock, settings):
    settings.OPS_NOTIFY_EMAIL = ["ops@example.com"]
    clock.freeze(datetime.fromisoformat("2027-03-01T12:00:00+00:00"))  # before every slot here
    bootstrap(1, actor="test")
    bootstrap(3, actor="test", force=True)
    return StandingOrder.objects


def rescheduled(orders, name: str, cron: str, zone: str) -> StandingOrder:
    orders.filter(name=name).update(cron=cron, timezone=zone)
    return orders.get(name=name)


def test_an_evening_digest_in_new_york_is_sent_each_day_through_the_spring_change(orders, clock):
    """19:30 EST on 13 March is 00:30 UTC on the 14th, and 19:30 EDT on the 14th is 23:30 UTC on
    the 14th: dated by the UTC day, the second digest was taken for the first, and not sent."""
    digest = rescheduled(orders, "publisher-opportunity-digest", "30 19 * * *", "America/New_York")

    clock.freeze(datetime.fromisoformat("2027-03-13T19:30:30-05:00"))
    opportunity()
    first = fire(digest)
    clock.freeze(datetime.fromisoformat("2027-03-14T19:30:30-04:00"))
    opportunity(title="Backups run long on Sundays")
    second = fire(digest)

    titles = Notice.objects.filter(lane="digest").order_by("id").values_list("title", flat=True)
    days = [t.removeprefix("[offline] ").split(":")[0] for t in titles]
    assert days == ["Ideas digest 2027-03-13", "Ideas digest 2027-03-14"]
    assert first.evidence["notice_id"] != second.evidence["notice_id"]


def test_a_morning_digest_in_tokyo_names_that_morning_not_the_utc_evening_before(orders, clock):
    """08:00 on 1 April in Tokyo is 23:00 UTC on 31 March."""
    daily = rescheduled(orders, "publisher-daily-digest", "0 8 * * *", "Asia/Tokyo")

    clock.freeze(datetime.fromisoformat("2027-04-01T08:00:30+09:00"))
    run = fire(daily)

    accountability = Notice.objects.get(pk=run.evidence["accountability_notice"])
    assert accountability.title.startswith("Accountability 2027-04-01:")


def held_two_slots_then_run(clock, order, slots: list[str], lifted: str) -> None:
    """Pause the proactive lane, let `order` come due at each slot (held), then lift the
    pause at `lifted` and run what it held."""
    pause = apply_override("pause-lane", "proactive", reason="quiet days", actor="operator:ana")
    for slot in slots:
        clock.freeze(datetime.fromisoformat(slot))
        assert fire(order).status == "blocked"
    clock.freeze(datetime.fromisoformat(lifted))
    lift_override(pause.id, actor="operator:ana", reason="back to work")
    run_held_orders()


def test_the_digest_held_by_a_pause_looks_back_to_its_last_real_look(orders, clock):
    """Paused for two evenings, the lane's held digest runs once the pause ends: an
    opportunity found the morning before the pause is in it, not lost between windows."""
    digest = orders.get(name="publisher-opportunity-digest")
    clock.freeze(datetime.fromisoformat("2027-03-01T18:30:30+00:00"))
    assert fire(digest).status == "no_work"  # it looked: nothing new that day
    clock.freeze(datetime.fromisoformat("2027-03-02T10:00:00+00:00"))
    opportunity(title="Found before the pause")

    evenings = ["2027-03-02T18:30:30+00:00", "2027-03-03T18:30:30+00:00"]
    held_two_slots_then_run(clock, digest, evenings, "2027-03-04T09:00:00+00:00")

    notice = Notice.objects.get(lane="digest")
    assert "Found before the pause" in notice.body and "1 new" in notice.title


def looked_then_three_failures(orders, clock) -> StandingOrder:
    """The devops scout looks at 04:00 on 2 March (an empty packet); three crawls fail at 15:00."""
    scout = orders.get(name="devops-automation-opportunities")  # 04:00 UTC
    clock.freeze(datetime.fromisoformat("2027-03-02T04:00:30+00:00"))
    assert fire(scout).status == "no_work"  # it looked: an empty packet
    clock.freeze(datetime.fromisoformat("2027-03-02T15:00:00+00:00"))
    for n in range(3):
        record_event("step.failed", f"S{n} crawl failed", tags=["step", "failed", "crawl"])
    return scout


def assert_read_back_to_its_last_look():
    found = Opportunity.objects.get()
    assert "crawl" in found.title and len(found.evidence) == 3
    assert found.why_now.startswith("3 rows since 2027-03-02 04:00 UTC")


def test_a_scout_held_by_a_pause_reads_the_signals_from_its_last_real_look(orders, clock):
    """Failures on the afternoon before a two-day pause: the scout's held slot, run when the
    pause ends, reads them (the 24 hours before its own slot began after them)."""
    scout = looked_then_three_failures(orders, clock)

    mornings = ["2027-03-03T04:00:30+00:00", "2027-03-04T04:00:30+00:00"]
    held_two_slots_then_run(clock, scout, mornings, "2027-03-04T09:00:00+00:00")

    assert_read_back_to_its_last_look()


def test_a_scout_whose_agent_was_switched_off_reads_back_to_its_last_real_look(orders, clock):
    """The devops agent is off for a morning: that slot is `no_work` saying so, but it never
    looked, so the next morning's scout still reads the failures of the afternoon before."""
    scout = looked_then_three_failures(orders, clock)
    Agent.objects.filter(slug="devops").update(enabled=False)
    clock.freeze(datetime.fromisoformat("2027-03-03T04:00:30+00:00"))
    off = fire(scout)
    assert off.status == "no_work" and off.evidence["checked"]["enabled"] is False
    Agent.objects.filter(slug="devops").update(enabled=True)

    clock.freeze(datetime.fromisoformat("2027-03-04T04:00:30+00:00"))
    assert fire(scout).status == "completed"

    assert_read_back_to_its_last_look()
