"""A private Stage's socket is a signed-in person's: one without a session is refused, and one
whose session ended (signed out, or the account switched off) stops receiving the feed."""

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from console.asgi import application
from opscore.models import Event
from tests.console.test_stage import run_on_a_loop
from tests.factories import OperatorFactory

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in_browser() -> Client:
    browser = Client()
    browser.force_login(OperatorFactory())
    return browser


async def open_socket(cookie: str = ""):
    headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/stage/?after=0", headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def write_event(title: str) -> None:
    await database_sync_to_async(Event.objects.create)(kind="test", title=title)


def test_a_private_stage_refuses_a_socket_without_a_session(settings):
    settings.STAGE_PUBLIC = False

    async def scenario():
        _, connected, code = await open_socket()
        assert not connected and code == 4403

    run_on_a_loop(scenario)


@pytest.mark.parametrize("ending", ["sign out", "account switched off"])
def test_a_private_stage_stops_the_feed_when_the_session_ends(settings, ending):
    settings.STAGE_PUBLIC = False
    settings.OPS_STAGE_SESSION_RECHECK_SECONDS = 0  # read at every batch (5 s by default)
    browser = signed_in_browser()

    def end_session():
        if ending == "sign out":
            browser.post("/stage/logout")
        else:
            type(OperatorFactory()).objects.update(is_active=False)

    async def scenario():
        communicator, connected, _ = await open_socket(browser.cookies["sessionid"].value)
        assert connected
        await write_event("while signed in")
        assert "while signed in" in json.loads(await communicator.receive_from(timeout=5))["html"]
        await database_sync_to_async(end_session)()
        await write_event("after the session ended")
        closing = await communicator.receive_output(timeout=5)
        assert closing == {"type": "websocket.close", "code": 4403}

    run_on_a_loop(scenario)


def test_a_socket_whose_session_cannot_be_read_is_closed_so_the_browser_reconnects(
    settings, monkeypatch
):
    """The session's re-read failed (the database went away): the relay stopped handing that
    socket batches but left it open, so the browser waited for ever on a feed that had ended
    instead of reconnecting and catching up from its last id."""
    from django.db import OperationalError

    from console.stage import consumers

    settings.STAGE_PUBLIC = False
    settings.OPS_STAGE_SESSION_RECHECK_SECONDS = 0
    browser = signed_in_browser()

    async def database_gone(scope):
        raise OperationalError("server closed the connection unexpectedly")

    async def scenario():
        communicator, connected, _ = await open_socket(browser.cookies["sessionid"].value)
        assert connected
        await write_event("while the database answers")
        assert "answers" in json.loads(await communicator.receive_from(timeout=5))["html"]
        monkeypatch.setattr(consumers, "get_user", database_gone)
        await write_event("while the database is away")
        closing = await communicator.receive_output(timeout=5)
        assert closing == {"type": "websocket.close", "code": 1011}

    run_on_a_loop(scenario)
