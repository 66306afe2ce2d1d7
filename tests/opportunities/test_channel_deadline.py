"""Every channel call is over within OPS_CHANNEL_TIMEOUT in all: a receiver that trickles its
answer a byte at a time (each read arriving in time) is cut off, so a post is never held past
the outbox's claim and sent a second time by another deliverer."""

import socket
import threading
import time

import httpx
import pytest

from opportunities.channels.webhook import Channel
from opportunities.publishing import PostRequest

ANSWER = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 300 + b"\r\nContent-Length: 2\r\n\r\n{}"


class Trickler:
    """A receiver on 127.0.0.1 that sends its answer one byte every 50 ms (15 s in all)."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.sent = 0
        threading.Thread(target=self._answer, daemon=True).start()

    def _answer(self):
        conn, _ = self.listener.accept()
        with conn:
            conn.recv(65536)  # the post
            for start in range(len(ANSWER)):
                time.sleep(0.05)  # the receiver's pace, not something the test measures
                try:
                    conn.sendall(ANSWER[start : start + 1])
                except OSError:  # the deliverer hung up
                    return
                self.sent += 1


@pytest.fixture
def trickler(settings):
    far = Trickler()
    port = far.listener.getsockname()[1]
    settings.OPS_POST_WEBHOOK_URL = f"http://127.0.0.1:{port}/hook"
    settings.OPS_POST_WEBHOOK_SECRET = "s" * 32
    settings.OPS_CHANNEL_TIMEOUT = 1
    yield far
    far.listener.close()


def test_a_receiver_trickling_its_answer_is_cut_off_at_the_channel_timeout(trickler):
    channel = Channel()
    request = PostRequest("Hello", "post:post_webhook:1", None, 1)

    with pytest.raises(httpx.TimeoutException):
        channel.publish(request)
    channel.close()

    assert trickler.sent < len(ANSWER)
