"""The web server `make run` starts takes no large frame up the Stage's socket: the socket
reads nothing a client sends, and the server refuses a frame past a few KiB by its header,
before holding it in memory."""

import os

import pytest

from console.management.commands.up import WS_MAX_BYTES, web_command
from tests.console.test_stage_browser import TOKEN
from tests.processes import database_url, spawn_web

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def served_as_make_run_serves():
    env = os.environ | {
        "DATABASE_URL": database_url(),
        "OPS_API_TOKEN": TOKEN,
        "SECRET_KEY": "frame-size-test",
        "STAGE_PUBLIC": "true",
        "LOG_LEVEL": "WARNING",
    }
    process, base = spawn_web(env, serve_as=lambda port: web_command("127.0.0.1", port))
    yield base
    process.terminate()
    process.wait(timeout=10)


def test_a_big_frame_is_refused_by_the_server_before_it_is_taken_in(served_as_make_run_serves):
    """uvicorn's default took in up to 16 MiB of a frame for each socket before the Stage's
    consumer closed it unread, so anyone could make the server hold that much per socket
    they opened. It now closes the socket as too big (1009) past WS_MAX_BYTES."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    base = served_as_make_run_serves
    url = "ws" + base.removeprefix("http") + "/ws/stage/"
    with connect(url, origin=base, open_timeout=10) as socket:
        socket.send("x" * (WS_MAX_BYTES * 16))
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd.code == 1009  # message too big: the server's, not the consumer's
