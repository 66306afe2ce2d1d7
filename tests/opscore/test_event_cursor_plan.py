"""A reader past a cursor starts its index scan at the cursor's (xact, id): written as
`xact >= at AND (xact > at OR id > cursor)`, only the first half bounded the scan, and
`bench/loop.py`'s reactions read all million events of the fill's one transaction every
heartbeat (48 ms at 10k events, 185 ms at 1M; 53 and 41 ms with the row comparison)."""

import pytest
from django.db import connection, transaction

from opscore.models import Event

pytestmark = pytest.mark.django_db


def test_the_scan_past_a_cursor_starts_at_the_cursors_place_in_the_log():
    with transaction.atomic():  # one transaction's events: one xact for all of them
        events = Event.objects.bulk_create(Event(kind="test", title=f"e{n}") for n in range(50))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
    plan = Event.objects.after(events[10].id).explain()

    index_conditions = [line for line in plan.splitlines() if "Index Cond" in line]
    assert any("ROW(xact, id) >" in line for line in index_conditions), plan
