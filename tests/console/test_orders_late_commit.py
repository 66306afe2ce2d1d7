"""A standing order's window of "what happened since my last look" was bounded by created_at,
stamped when an event's transaction began: an event whose transaction began before a look and
committed after it was in no window, and no order ever looked at it."""

from datetime import timedelta

import pytest

from opscore.db import db_now
from opscore.schedule_math import latest_slot
from opscore.standing_orders import fire
from tests.factories import AgentFactory
from tests.late_commit import look_while_held
from tests.opscore.test_standing_orders import order

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_event_committed_after_a_generic_orders_look_is_news_to_its_next_look():
    devops = AgentFactory(slug="devops")
    o = order("generic", agent=devops, precondition="events_since_last_run", cron="0 * * * *")
    slot = latest_slot(o.cron, o.timezone, db_now()) + timedelta(seconds=30)

    first = look_while_held(lambda: fire(o, slot), "config.changed")

    later = fire(o, slot + timedelta(hours=3))

    assert first.status == "no_work"
    assert later.status != "no_work", later.summary
