"""A scout's evidence packet read events past the last one stamped before its window's start;
an event is stamped when its transaction began, so one that began before a scout's look and
committed after it was in no packet, and no scout ever saw it."""

from datetime import timedelta

import pytest

from console.bootstrap import bootstrap
from opscore.db import db_now
from opscore.models import StandingOrder
from opscore.standing_orders import execute_run, start_run
from tests.late_commit import look_while_held

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_failure_committed_after_a_scouts_look_is_in_its_next_packet():
    bootstrap(1, actor="test")
    bootstrap(3, actor="test", force=True)
    scout = StandingOrder.objects.get(name="devops-automation-opportunities")

    first = look_while_held(
        lambda: execute_run(start_run(scout, db_now())), "step.failed", ("step", "failed", "crawl")
    )

    later = execute_run(start_run(scout, first.scheduled_for + timedelta(hours=24)))

    assert first.summary == "evidence packet empty: nothing to say"
    assert later.summary != "evidence packet empty: nothing to say"
