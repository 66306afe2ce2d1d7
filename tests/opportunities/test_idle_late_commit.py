"""Idle cognition's "what changed since my last look" was bounded by created_at, stamped when an
event's transaction began: an event whose transaction began before a look and committed after
it was in no window, and no idle window ever looked at it."""

from datetime import timedelta

import pytest

from console.bootstrap import bootstrap
from opscore.db import db_now
from opscore.models import StandingOrder
from opscore.standing_orders import execute_run, start_run
from tests.late_commit import look_while_held

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_event_committed_after_an_idle_look_is_a_change_to_the_next_look():
    bootstrap(1, actor="test")
    bootstrap(5, actor="test", force=True)
    idle = StandingOrder.objects.get(name="devops-idle-cognition")
    first = look_while_held(lambda: execute_run(start_run(idle, db_now())), "deploy.finished")

    later = execute_run(start_run(idle, first.scheduled_for + timedelta(hours=1)))

    assert first.summary.startswith("nothing changed since")
    assert not later.summary.startswith("nothing changed since"), later.summary
