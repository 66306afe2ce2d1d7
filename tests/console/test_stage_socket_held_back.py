"""A page drawn while an open transaction holds the feed back: its socket must follow on from
where the page was drawn, not send the browser round a reload that draws the same page again."""

import json
import re

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from console.asgi import application
from console.stage import consumers
from opscore.models import Event
from tests.console.test_stage import run_on_a_loop
from tests.late_commit import held_open

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_page_drawn_behind_a_held_transaction_is_not_sent_round_a_reload_loop(
    client, monkeypatch
):
    """Events committed behind a transaction still open (an operator's psql session, a long
    job) wait for it, so a page is drawn with the cursor where the settled feed ends; its
    socket measured that cursor against the highest id written, held-back events included.
    Once more than a catch-up's worth of them had committed, every socket opened was closed
    with 4409, and every browser reloaded, drew the same cursor and reloaded again, for as
    long as the transaction stayed open. Now the socket opens and, once the transaction
    ends, sends what was held back."""
    monkeypatch.setattr(consumers, "CATCH_UP_EVENTS", 5)
    Event.objects.create(kind="test", title="settled before")
    other, _ = held_open()
    try:
        for n in range(10):
            Event.objects.create(kind="test", title=f"behind the held one {n}")
        page = client.get("/stage/").content.decode()
        cursor = re.search(r'data-last-id="(\d+)"', page).group(1)

        async def scenario():
            headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
            socket = WebsocketCommunicator(application, f"/ws/stage/?after={cursor}", headers)
            connected, _ = await socket.connect()
            assert connected
            await database_sync_to_async(other.commit)()
            batch = await socket.receive_output(timeout=5)
            assert batch["type"] == "websocket.send", batch  # not a close: 4409 is a reload
            assert "behind the held one 0" in json.loads(batch["text"])["html"]
            await socket.disconnect()

        run_on_a_loop(scenario)
    finally:
        other.close()
