"""Two schedule ticks at once (two clusters' schedulers, a slow tick overlapping the next):
one handles the slot, the other says so; neither fails with a database error."""

import random
import threading
from datetime import UTC, datetime

import pytest
from django.db import connections, transaction

from roundtable.models import Conversation
from roundtable.scheduling import schedule_tick
from tests.processes import sessions_waiting_on_a_lock

MORNING = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # the standup: it always rolls


@pytest.mark.django_db(transaction=True)
def test_two_ticks_for_one_slot_at_once_enqueue_one_and_the_other_says_why(crew):
    ticked = {}

    def other_tick():
        try:
            ticked["second"] = schedule_tick(MORNING, random.Random(2))
        except Exception as error:  # what the other scheduler's task died of
            ticked["second"] = repr(error)
        finally:
            connections.close_all()

    with transaction.atomic():  # the first tick, its slot's row not yet committed
        ticked["first"] = schedule_tick(MORNING, random.Random(1))
        other = threading.Thread(target=other_tick)
        other.start()
        for _ in range(2_000):  # bounded: until the other one finished or waits its turn
            if not other.is_alive() or sessions_waiting_on_a_lock():
                break
    other.join(timeout=60)

    assert ticked["first"]["enqueued"] == 1
    assert ticked["second"] == {"enqueued": 0, "reason": "slot already handled"}
    assert Conversation.objects.count() == 1
