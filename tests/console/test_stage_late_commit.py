"""An event whose transaction commits after a later event's (a heartbeat pass writes its events
in one transaction while a worker's step event commits at once) reached no live Stage: the
bridge read only ids above the newest it had sent, and the late one's id was below it."""

import json
import threading

import pytest
from channels.db import database_sync_to_async
from django.db import connection, transaction

from opscore.models import Event
from tests.console.test_stage import connect, run_on_a_loop

pytestmark = pytest.mark.django_db(transaction=True)


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
        first = json.loads(await socket.receive_from(timeout=30))
        assert "quick" in first["html"]
        release.set()
        await database_sync_to_async(done.wait)(30)
        late = json.loads(await socket.receive_from(timeout=30))
        assert "committed last" in late["html"] and late["last_id"] == first["last_id"]
        await socket.disconnect()

    run_on_a_loop(scenario)
