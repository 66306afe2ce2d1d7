"""Mastodon's and X's ids go into the paths we ask them for (a status's numbers, an account's
statuses), with our token: an id holding `../` asked for another path (httpx folds dot
segments away: /api/v1/statuses/../../accounts is /api/accounts), and one with `?` or `#` cut
the path short. Their ids are one word of letters, digits, `_` and `-`; anything else is no
id of theirs: the post is published without it (and not polled), and a look under an account
with such an id is refused, the reason on the outbox row."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from missions.models import OutboxMessage, Publication
from missions.outbox import deliver_pending
from missions.worker import handle_one_step
from opportunities.channels import mastodon, x
from opportunities.channels.base import Malformed
from opportunities.publishing import approve_channel
from tests.channel_fakes import answer, mastodon_instance, mastodon_status, x_created
from tests.factories import make_step

pytestmark = pytest.mark.django_db
START = datetime(2026, 6, 1, 12, tzinfo=UTC)
LEADING_AWAY = ["../../accounts/109", "..", "1?limit=40", "1#x", "1%2F..%2F..%2Fadmin"]


def post(channel: str) -> None:
    approve_channel(channel, actor="operator:ann")
    make_step("post_tweet", payload={"text": "We shipped!", "channel": channel})
    handle_one_step("w1")
    deliver_pending()


def test_a_mastodon_status_whose_id_leads_to_another_path_is_published_and_not_polled(
    network, mastodon_account
):
    network.on("GET", "/api/v2/instance", mastodon_instance())
    network.on("POST", "/api/v1/statuses", mastodon_status(status_id="../../accounts/109"))
    post("mastodon")

    publication = Publication.objects.get()
    assert (publication.status, publication.external_id) == ("published", "")
    assert publication.next_poll_at is None
    assert publication.reason == (
        "mastodon's id for it is not an id ('.' in it): its engagement is not read"
    )
    assert len(network.sent("POST", "/api/v1/statuses")) == 1


def test_an_x_post_whose_id_leads_to_another_path_is_published_and_not_polled(network, x_account):
    network.on("POST", "/2/tweets", x_created(tweet_id="../users/2244994945"))
    post("x")

    publication = Publication.objects.get()
    assert (publication.status, publication.external_id) == ("published", "")
    assert publication.next_poll_at is None
    assert publication.url == ""
    assert len(network.sent("POST", "/2/tweets")) == 1


@pytest.mark.parametrize("post_id", LEADING_AWAY)
@pytest.mark.parametrize("module", [mastodon, x], ids=["mastodon", "x"])
def test_measuring_a_kept_id_that_leads_elsewhere_asks_for_nothing(
    network, mastodon_account, x_account, module, post_id
):
    channel = module.Channel()

    with pytest.raises(Malformed, match="is not an id"):
        channel.measure(post_id)

    assert network.requests == []


LOOKS = {  # the channel: where it posts, where a retry asks whose account it is, its answer
    "mastodon": (
        "/api/v1/statuses",
        "/api/v1/accounts/verify_credentials",
        {"id": "../../admin?x="},
    ),
    "x": ("/2/tweets", "/2/users/me", {"data": {"id": "../../2/tweets/search"}}),
}


@pytest.mark.parametrize("channel", LOOKS)
def test_a_retry_under_an_account_id_that_leads_elsewhere_looks_nowhere_and_posts_nothing(
    network, mastodon_account, x_account, clock, channel
):
    posts, me, account = LOOKS[channel]
    clock.freeze(START)
    network.on("GET", "/api/v2/instance", mastodon_instance())
    network.on("POST", posts, httpx.ReadTimeout("the answer never came"))
    network.on("GET", me, answer(200, account))
    post(channel)
    clock.freeze(START + timedelta(hours=2))
    OutboxMessage.objects.update(next_attempt_at=START)
    deliver_pending()

    message = OutboxMessage.objects.get()
    assert message.status == "pending"
    said = str(account.get("data", account)["id"])
    assert f"{channel}: the account's id {said!r} is not an id" in message.last_error
    assert {request.url.path for request in network.requests} <= {"/api/v2/instance", posts, me}
    assert len(network.sent("POST", posts)) == 1
