"""What a hostile client can do to the Stage's socket: send frames up it, ask for the feed from
far in the past or from a cursor the feed never reached, and reconnect — each answered with a
close code the page acts on, the server unharmed, and a reconnecting page caught up exactly."""

import json
import re

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from console.asgi import application
from console.stage import consumers
from opscore.models import Event
from tests.console.test_stage import run_on_a_loop

pytestmark = pytest.mark.django_db(transaction=True)


async def open_socket(after: str = "", origin: bytes = b"http://127.0.0.1:8000"):
    path = f"/ws/stage/?after={after}" if after != "" else "/ws/stage/"
    headers = [(b"origin", origin), (b"host", b"127.0.0.1:8000")]
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


@database_sync_to_async
def write_events(*titles: str) -> list[int]:
    return [Event.objects.create(kind="test", title=title).id for title in titles]


def ids_in(batch: str) -> list[int]:
    return [int(n) for n in re.findall(r'id="event-(\d+)"', json.loads(batch)["html"])]


@pytest.mark.parametrize(
    "frame",
    [
        {"text_data": "{not json"},
        {"text_data": json.dumps({"type": "subscribe", "agent": "another"})},
        {"text_data": "x" * 1_000_000},
        {"bytes_data": b"\x00\xff" * 1000},
    ],
    ids=["malformed", "unknown type", "huge", "binary"],
)
def test_a_frame_sent_up_the_socket_closes_it_with_a_code_and_harms_no_one(frame):
    """The socket only pushes. Anything sent up it was read and dropped in silence, so a
    client could keep a socket busy with a flood of frames for as long as it liked; now the
    first frame closes it (1003: unsupported data) and other viewers' feeds go on."""

    async def scenario():
        hostile, connected, _ = await open_socket()
        watcher, _, _ = await open_socket()
        assert connected
        await hostile.send_to(**frame)
        assert await hostile.receive_output(timeout=5) == {"type": "websocket.close", "code": 1003}
        await write_events("still live")
        assert "still live" in json.loads(await watcher.receive_from(timeout=5))["html"]
        await watcher.disconnect()

    run_on_a_loop(scenario)


def test_asking_for_the_feed_from_far_in_the_past_closes_with_a_reload_code(monkeypatch):
    """`?after=0` on a long-lived company had the server read and render every event ever
    written, a hundred at a time, for one socket — and any visitor may open as many as they
    like. A cursor further back than a catch-up covers now closes the socket (4409) without
    reading the feed; the page reloads, and older rows load by cursor as always."""
    monkeypatch.setattr(consumers, "CATCH_UP_EVENTS", 5)

    async def scenario():
        await write_events(*(f"old {n}" for n in range(10)))
        socket, connected, _ = await open_socket(after="0")
        assert connected
        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4409}

    run_on_a_loop(scenario)


def test_a_cursor_beyond_the_newest_event_closes_with_a_reload_code():
    """A page open across a restore holds an id the feed no longer reached: the events then
    written under those ids were never sent to it, and the page waited in silence. It is told
    to reload instead."""

    async def scenario():
        [newest] = await write_events("before the restore")
        socket, connected, _ = await open_socket(after=str(newest + 1000))
        assert connected
        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4409}

    run_on_a_loop(scenario)


def test_a_page_that_reconnects_catches_up_exactly_by_event_id(monkeypatch):
    """Nothing twice, nothing skipped: ids a page holds across a drop and a reconnect are the
    ids written, in order, even when the catch-up spans several batches."""
    monkeypatch.setattr("console.stage.bridge.BATCH", 7)

    async def scenario():
        [start] = await write_events("page drawn")
        socket, connected, _ = await open_socket(after=str(start))
        assert connected
        written = await write_events(*(f"live {n}" for n in range(10)))
        seen = []
        while len(seen) < len(written):
            seen += sorted(ids_in(await socket.receive_from(timeout=5)))
        await socket.disconnect()
        written += await write_events(*(f"while away {n}" for n in range(20)))
        again, connected, _ = await open_socket(after=str(seen[-1]))
        assert connected
        while len(seen) < len(written):
            seen += sorted(ids_in(await again.receive_from(timeout=5)))
        assert seen == written
        assert await again.receive_nothing(timeout=0.2)
        await again.disconnect()

    run_on_a_loop(scenario)


@pytest.mark.parametrize("query", ["agent=nobody", "kind=test.rare"])
def test_a_filtered_feeds_socket_starts_at_the_newest_event(client, query):
    """The page's socket started at the newest *matching* event: a filter matching nothing
    gave `?after=0`, and the server read the company's whole history for one page."""
    rare = Event.objects.create(kind="test.rare", title="long ago").id
    newest = [Event.objects.create(kind="test", title=f"since {n}").id for n in range(3)][-1]

    page = client.get(f"/stage/?{query}").content.decode()

    assert f'data-last-id="{newest}"' in page and f'data-last-id="{rare}"' not in page


@pytest.mark.parametrize(
    ("origin", "opens"),
    [
        (b"http://127.0.0.1:8000", True),
        (b"http://127.0.0.1:9999", False),  # another program on the same host
        (b"http://localhost:8000", False),  # another allowed host, not this page's
    ],
)
def test_a_private_stage_opens_only_to_pages_of_its_own_origin(settings, origin, opens):
    """A browser sends its cookies to any port of a host, so a page served by another program
    there (another origin) opened a private Stage's socket with the signed-in person's session
    and read the feed: ALLOWED_HOSTS names hosts, not origins. The Origin must now be the
    socket's own host (or one of CSRF_TRUSTED_ORIGINS, as for the Stage's posts)."""
    from django.test import Client

    from tests.factories import OperatorFactory

    settings.STAGE_PUBLIC = False
    browser = Client()
    browser.force_login(OperatorFactory())
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()

    async def scenario():
        headers = [(b"origin", origin), (b"host", b"127.0.0.1:8000"), (b"cookie", cookie)]
        socket = WebsocketCommunicator(application, "/ws/stage/", headers=headers)
        connected, _ = await socket.connect()
        assert connected is opens
        if connected:
            await socket.disconnect()

    run_on_a_loop(scenario)


@pytest.mark.parametrize("trusted", ["https://stage.example.com", "https://*.example.com"])
def test_an_origin_named_in_csrf_trusted_origins_may_open_the_socket(settings, trusted):
    """Behind a proxy that rewrites Host, the public origin is trusted as Django's CSRF check
    trusts it for the Stage's posts."""
    settings.CSRF_TRUSTED_ORIGINS = [trusted]
    settings.ALLOWED_HOSTS = ["127.0.0.1", "stage.example.com"]

    async def scenario():
        headers = [(b"origin", b"https://stage.example.com"), (b"host", b"127.0.0.1:8000")]
        socket = WebsocketCommunicator(application, "/ws/stage/", headers=headers)
        connected, _ = await socket.connect()
        assert connected
        await socket.disconnect()

    run_on_a_loop(scenario)
