"""Every channel call is over within OPS_CHANNEL_TIMEOUT in all: a receiver that trickles its
answer a byte at a time (each read arriving in time) is cut off, so a post is never held past
the outbox's claim and sent a second time by another deliverer."""

import httpx
import pytest

from opportunities.channels.webhook import Channel
from opportunities.publishing import PostRequest
from tests.trickler import Trickler


@pytest.fixture
def trickler(settings):
    far = Trickler()
    settings.OPS_POST_WEBHOOK_URL = far.url
    settings.OPS_POST_WEBHOOK_SECRET = "s" * 32
    settings.OPS_CHANNEL_TIMEOUT = 1
    yield far
    far.close()


def test_a_receiver_trickling_its_answer_is_cut_off_at_the_channel_timeout(trickler):
    channel = Channel()
    request = PostRequest("Hello", "post:post_webhook:1", None, 1)

    with pytest.raises(httpx.TimeoutException):
        channel.publish(request)
    channel.close()

    assert trickler.cut_off
