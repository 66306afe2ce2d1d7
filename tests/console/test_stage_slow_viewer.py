"""One viewer that stops reading its socket must not hold up everyone else's feed: the real
ASGI server on loopback, a client that takes the handshake and then reads nothing, and a
browser-like viewer beside it."""

import base64
import json
import os
import socket
from urllib.parse import urlsplit

import pytest
from django.db import transaction

from opscore.models import Event
from tests.console.test_stage_browser import server  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)
ROW = "a long title for a busy feed " * 10  # each row a few hundred bytes on the wire


def a_viewer_that_never_reads(base: str) -> socket.socket:
    """The handshake, then nothing read: the server's buffers for it fill and stay full."""
    host = urlsplit(base).netloc
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect((urlsplit(base).hostname, urlsplit(base).port))
    key = base64.b64encode(os.urandom(16)).decode()
    handshake = (
        f"GET /ws/stage/ HTTP/1.1\r\nHost: {host}\r\nOrigin: {base}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    stalled.sendall(handshake.encode())
    assert b" 101 " in stalled.recv(1024)
    return stalled


def write_a_busy_spell(batches: int) -> None:
    for _ in range(batches):
        with transaction.atomic():
            Event.objects.bulk_create([Event(kind="test", title=ROW) for _ in range(100)])


def test_a_viewer_that_stops_reading_does_not_stall_the_others(server):  # noqa: F811
    """Each batch went to each socket in turn, waiting for each send: once a viewer that read
    nothing had its buffers full, the send to it waited, and with it every other viewer of
    the process, for as long as that client liked (a slow reader throttles the feed to its
    pace). A socket that cannot take a batch within seconds is now closed (it reconnects and
    catches up by its own cursor) and the others are served meanwhile."""
    from websockets.sync.client import connect

    base_url = server
    ws_url = "ws" + base_url.removeprefix("http") + "/ws/stage/"
    stalled = a_viewer_that_never_reads(base_url)
    try:
        with connect(ws_url, origin=base_url, max_size=None, open_timeout=10) as viewer:
            write_a_busy_spell(60)
            last = Event.objects.create(kind="test", title="the last word").id
            newest = 0
            while newest < last:  # a stalled relay sends nothing more: recv times out
                newest = json.loads(viewer.recv(timeout=15))["last_id"]
    finally:
        stalled.close()
