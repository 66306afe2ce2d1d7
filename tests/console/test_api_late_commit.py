"""Events a transaction committed after a later event's commit: ids come from a sequence at
INSERT, commits land in another order. A reader at `next_after` past the later event never
saw the earlier one once it committed: an event lost to an outside consumer."""

import psycopg
import pytest
from django.db import connection, transaction

from opscore.models import Event

pytestmark = pytest.mark.django_db(transaction=True)

HELD = (
    "INSERT INTO opscore_event (kind, title, summary, tags, payload, actor)"
    " VALUES ('test', 'written first, committed last', '', '{}', '{}', '') RETURNING id"
)


def held_open():
    """A second connection whose transaction wrote an event and has not committed yet."""
    params = {k: v for k, v in connection.get_connection_params().items() if k != "context"}
    other = psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"})
    held_id = other.execute(HELD).fetchone()[0]
    return other, held_id


def settle(event_id: int) -> None:
    """Wait until no transaction older than the event's runs: other test processes share the
    cluster, and an open transaction of theirs holds every reader's watermark back."""
    with connection.cursor() as cursor:
        for _ in range(600):
            cursor.execute(
                "SELECT passed, CASE WHEN NOT passed THEN pg_sleep(0.1) END FROM"
                " (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint > xact AS passed"
                " FROM opscore_event WHERE id = %s) AS settled",
                [event_id],
            )
            if cursor.fetchone()[0]:
                return
    raise AssertionError("an older transaction stayed open for a minute")


def held_and_quick(quick_began_first: bool):
    """An event held open on another connection, and a later one committed. With
    `quick_began_first`, the later one's transaction took its id before the held one wrote (a
    worker updating its step, then writing its event)."""
    with transaction.atomic():
        if quick_began_first:
            connection.cursor().execute("SELECT pg_current_xact_id()")
        other, held_id = held_open()
        quick = Event.objects.create(kind="test", title="quick")
    return other, held_id, quick


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
