"""What the live socket carries besides the rows: the few fields the office, the conversations
list and a thread page act on, from Opscore's own conversation and thread events only."""

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from console.asgi import application
from tests.console.test_agentbus import bus
from tests.console.test_stage import run_on_a_loop

pytestmark = pytest.mark.django_db(transaction=True)
BULK = "x" * 12_000


def test_an_outside_runtimes_event_sends_no_payload_to_every_viewer(agent):
    """A moment copied `text`, `participants`, `thread`… from any event's payload, so an
    outside runtime emitting an event with a 12 kB `text` (which no page reads for its kind)
    had that sent to every viewer of the Stage with each such event. Only Opscore's own
    conversation and thread events (namespaces a runtime may not emit in) carry them now."""
    payload = {"text": BULK, "participants": [BULK], "thread": BULK, "interaction": BULK}

    def emit():
        return bus("emit-event", "--topic", "ops.checked", "--payload", json.dumps(payload))

    async def scenario():
        headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
        socket = WebsocketCommunicator(application, "/ws/stage/", headers)
        assert (await socket.connect())[0]
        emitted = (await database_sync_to_async(emit)())["event"]["id"]
        batch = await socket.receive_from(timeout=5)
        [moment] = [m for m in json.loads(batch)["moments"] if m["id"] == emitted]
        assert moment["kind"] == "ops.checked" and BULK not in batch
        await socket.disconnect()

    run_on_a_loop(scenario)
