"""Events a transaction committed after a later event's commit: ids come from a sequence at
INSERT, commits land in another order. A reader at `next_after` past the later event never
saw the earlier one once it committed: an event lost to an outside consumer."""

import pytest

from tests.late_commit import held_and_quick, settle

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
