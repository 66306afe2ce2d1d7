"""A post the outbox gives up on (every attempt a 5xx, a timeout, a malformed answer) is a
failed Publication with the last reason: the mission page, the digest and the admin read the
Publication, and a post no attempt got out was on none of them, the step reading succeeded."""

from datetime import UTC, datetime, timedelta

import pytest

from console.order_handlers import posts_line
from missions.models import OutboxMessage, Publication
from missions.outbox import MAX_DELIVERY_ATTEMPTS, deliver_pending
from missions.worker import handle_one_step
from opportunities.publishing import approve_channel
from tests.channel_fakes import answer, mastodon_instance
from tests.factories import make_step

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 7, 1, 9, tzinfo=UTC)


def test_a_post_every_attempt_of_which_failed_is_a_failed_publication_saying_why(
    network, mastodon_account, clock
):
    clock.freeze(T0)
    approve_channel("mastodon", actor="operator:ann")
    network.on("GET", "/api/v2/instance", mastodon_instance())
    network.on("POST", "/api/v1/statuses", answer(503, {"error": "down for maintenance"}))
    network.on("GET", "/api/v1/accounts/verify_credentials", answer(200, {"id": "109"}))
    network.on("GET", "/api/v1/accounts/109/statuses", answer(200, []))  # a retry looks first
    make_step("post_tweet", payload={"text": "We shipped!", "channel": "mastodon"})
    handle_one_step("w1")

    for hour in range(MAX_DELIVERY_ATTEMPTS):
        clock.freeze(T0 + timedelta(hours=hour))
        deliver_pending()

    assert OutboxMessage.objects.get().status == "failed"
    publication = Publication.objects.get()
    assert (publication.status, publication.channel, publication.body) == (
        "failed",
        "mastodon",
        "We shipped!",
    )
    assert publication.reason == (
        'Unavailable: mastodon answered 503: {"error":"down for maintenance"}'
    )
    assert posts_line(T0) == "Posts: 1 Failed"
