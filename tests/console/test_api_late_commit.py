"""Events a transaction committed after a later event's commit: ids come from a sequence at
INSERT, commits land in another order. A reader at `next_after` past the later event never
saw the earlier one once it committed: an event lost to an outside consumer."""

import pytest

from opscore.models import Event
from tests.late_commit import held_and_quick, open_elsewhere, settle

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("quick_began_first", [False, True])
def test_an_event_committed_after_a_later_one_still_reaches_the_next_page(
    client, quick_began_first
):
    other, held_id, quick = held_and_quick(quick_began_first)
    try:
        first = client.get("/api/ops/events?after=0").json()
        other.commit()
    finally:
        other.close()
    settle(held_id)

    second = client.get(f"/api/ops/events?after={first['next_after']}").json()

    seen = [e["id"] for e in first["events"] + second["events"]]
    assert sorted(seen) == sorted([held_id, quick.id])  # each once


def test_a_transaction_open_in_another_database_holds_no_event_back(client):
    elsewhere = open_elsewhere()
    try:
        event = Event.objects.create(kind="test", title="committed here")

        page = client.get("/api/ops/events?after=0").json()
    finally:
        elsewhere.close()

    assert [e["id"] for e in page["events"]] == [event.id]


def test_a_reader_starting_from_the_status_misses_no_event_committed_late(client):
    """`last_event_id` was the highest id: a consumer that started paging there passed an
    event whose transaction was still open, and never saw it once it committed."""
    other, held_id, quick = held_and_quick(quick_began_first=False)
    try:
        start = client.get("/api/ops/status").json()["last_event_id"]
        other.commit()
    finally:
        other.close()
    settle(held_id)

    page = client.get(f"/api/ops/events?after={start}").json()

    assert sorted(e["id"] for e in page["events"]) == sorted([held_id, quick.id])
