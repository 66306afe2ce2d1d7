"""What a channel answers that is neither a post nor a refusal: a redirect is not a post made
(the post is retried with the outbox's backoff, the reason on its row, nothing says "Posted");
an answer larger than any channel's (a 5xx with a body without end, or a small gzip one that
inflates to hundreds of megabytes) is not read into memory past a cap."""

import contextlib
import gzip
import socket
import threading

import pytest

from missions.models import OutboxMessage, Publication
from opscore.models import Event
from tests.channel_fakes import answer, deliver_one_webhook_post

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_a_webhook_answering_a_redirect_has_not_taken_the_post(network, webhook_account, code):
    network.on("POST", "/posts", answer(code, "", location="https://login.example/sso"))
    deliver_one_webhook_post()

    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts) == ("pending", 1)
    assert (
        message.last_error == f"Unavailable: post_webhook answered {code}, a redirect: not followed"
    )
    assert not Publication.objects.filter(status="published").exists()
    assert not Event.objects.filter(kind="tweet.posted").exists()


def test_a_webhook_taking_the_post_with_json_nested_too_deep_to_read_has_taken_it(
    network, webhook_account
):
    """A 2xx is the post made, whatever its body: one nested past what the JSON reader goes
    raised RecursionError, not ValueError, and the post that went out was failed and sent
    again."""
    network.on("POST", "/posts", answer(200, "[" * 100_000))
    deliver_one_webhook_post()

    message = OutboxMessage.objects.get()
    assert (message.status, message.last_error) == ("delivered", "")
    assert Publication.objects.get().status == "published"
    assert len(network.sent("POST", "/posts")) == 1


class Flooder:
    """A receiver on 127.0.0.1 that answers 503 with a body of `size` zeros, sent as fast as
    the caller reads it; `gzipped`: sent as gzip (50 MB of zeros make 49 kB)."""

    def __init__(self, size: int, gzipped: bool = False):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.body = gzip.compress(bytes(size)) if gzipped else None
        self.size, self.sent = len(self.body) if gzipped else size, 0
        threading.Thread(target=self._answer, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/posts"

    def _answer(self):
        conn, _ = self.listener.accept()
        encoding = b"Content-Encoding: gzip\r\n" if self.body else b""
        head = b"HTTP/1.1 503 Service Unavailable\r\n" + encoding
        with conn, contextlib.suppress(OSError):  # the caller hung up
            conn.recv(65536)  # the request
            conn.sendall(head + f"Content-Length: {self.size}\r\n\r\n".encode())
            while self.sent < self.size:
                chunk = self.body[self.sent : self.sent + 65536] if self.body else bytes(65536)
                conn.sendall(chunk)
                self.sent += len(chunk)
            while conn.recv(65536):  # until the caller hangs up: no reset under its read
                pass

    def close(self):
        self.listener.close()


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip-bomb"])
def test_an_answer_larger_than_any_channels_is_not_read_past_a_cap(settings, gzipped):
    flooder = Flooder(50_000_000, gzipped)
    settings.OPSCORE_LLM = "anthropic"
    settings.OPS_POST_WEBHOOK_URL, settings.OPS_POST_WEBHOOK_SECRET = flooder.url, "s" * 32
    deliver_one_webhook_post()
    flooder.close()

    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.last_error == "AnswerRefused: the answer is larger than 1048576 bytes"
    assert gzipped or flooder.sent < flooder.size
