"""An event whose transaction commits after a later event's (a heartbeat pass writes its events
in one transaction while a worker's step event commits at once) reached no live Stage: the
bridge read only ids above the newest it had sent, and the late one's id was below it. The
feed now holds the later event back until the older transaction ends (Event.objects.after),
and a browser catching up by its cursor gets both too."""

import json
import threading

import pytest
from channels.db import database_sync_to_async
from django.db import connection, transaction

from opscore.models import Event
from tests.console.test_stage import connect, run_on_a_loop
from tests.late_commit import held_and_quick

pytestmark = pytest.mark.django_db(transaction=True)


async def until_seen(socket, *titles: str) -> str:
    """The batches' rows until each title arrived (a missing one times out)."""
    html = ""
    while not all(title in html for title in titles):
        html += json.loads(await socket.receive_from(timeout=30))["html"]
    return html


def test_an_event_committed_after_a_later_one_still_reaches_the_live_feed():
    started, release, done = threading.Event(), threading.Event(), threading.Event()

    def slow_writer():
        try:
            with transaction.atomic():
                Event.objects.create(kind="test", title="written first, committed last")
                started.set()
                release.wait(30)
        finally:
            connection.close()
            done.set()

    async def scenario():
        socket, connected = await connect()
        assert connected
        threading.Thread(target=slow_writer).start()
        await database_sync_to_async(started.wait)(30)
        await database_sync_to_async(Event.objects.create)(kind="test", title="quick")
        release.set()
        await database_sync_to_async(done.wait)(30)
        html = await until_seen(socket, "quick", "committed last")
        assert html.count("quick") == html.count("committed last") == 1
        await socket.disconnect()

    run_on_a_loop(scenario)


def test_a_browser_catching_up_past_a_later_event_still_gets_the_late_one():
    """It connects while the older transaction is open and the later event (its transaction
    the older one) has committed: its own catch-up read and the bridge's start both went past
    the late event's id."""
    other, held_id, _ = held_and_quick(quick_began_first=True)

    async def scenario():
        # from just before the two: `after=0` on a worker whose earlier tests took more than
        # CATCH_UP_EVENTS event ids is answered with a reload (ids are not reset between tests)
        socket, connected = await connect(f"/ws/stage/?after={held_id - 1}")
        assert connected
        first = json.loads(await socket.receive_from(timeout=30))["html"]
        assert "quick" in first and "committed last" not in first
        await database_sync_to_async(other.commit)()
        assert "quick" not in await until_seen(socket, "committed last")
        await socket.disconnect()

    try:
        run_on_a_loop(scenario)
    finally:
        other.close()
