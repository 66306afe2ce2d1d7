"""Engagement comes back: each published post is read 1 h, 6 h, 24 h and 72 h after posting
into ContentMetric rows; a deleted post is recorded as such; one bad answer fails that poll,
not the standing order."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from missions.models import ContentMetric, Publication
from missions.outbox import deliver_pending
from missions.worker import handle_one_step
from opportunities.publishing import approve_channel
from opscore.models import Event, StandingOrder
from tests.channel_fakes import (
    STATUS_ID,
    TWEET_ID,
    X_DELETED,
    answer,
    mastodon_instance,
    mastodon_status,
    x_created,
    x_metrics,
)
from tests.factories import AgentFactory, make_step, run_order_now

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def poll_order(db):
    publisher = AgentFactory(slug="publisher")
    return StandingOrder.objects.create(
        agent=publisher, name="engagement", cron="*/15 * * * *", handler="engagement_poll"
    )


def posted_on_x(network, clock) -> Publication:
    clock.freeze(T0)
    approve_channel("x", actor="operator:ann")
    network.on("POST", "/2/tweets", x_created())
    make_step("post_tweet", payload={"text": "We shipped!"})
    handle_one_step("w1")
    deliver_pending()
    return Publication.objects.get()


def posted_on_mastodon(network) -> Publication:
    approve_channel("mastodon", actor="operator:ann")
    network.on("GET", "/api/v2/instance", mastodon_instance())
    network.on("POST", "/api/v1/statuses", mastodon_status())
    make_step("post_tweet", payload={"text": "Also here", "channel": "mastodon"})
    handle_one_step("w1")
    deliver_pending()
    return Publication.objects.get(channel="mastodon")


def poll_at(clock, poll_order, hours: float):
    clock.freeze(T0 + timedelta(hours=hours))
    return run_order_now(poll_order)


def test_it_reads_the_numbers_at_1_6_24_and_72_hours_then_stops(
    network, x_account, clock, poll_order
):
    publication = posted_on_x(network, clock)
    network.on(
        "GET",
        f"/2/tweets/{TWEET_ID}",
        x_metrics(impressions=100, likes=5),
        x_metrics(impressions=800, likes=40),
        x_metrics(impressions=2000, likes=90),
        x_metrics(impressions=2100, likes=95),
    )

    runs = [poll_at(clock, poll_order, h) for h in (0.5, 1, 5, 6, 24, 72, 200)]

    assert [r.status for r in runs] == [
        "no_work",
        "completed",
        "no_work",
        "completed",
        "completed",
        "completed",
        "no_work",
    ]
    metrics = ContentMetric.objects.filter(publication=publication).order_by("measured_at")
    assert [m.impressions for m in metrics] == [100, 800, 2000, 2100]
    assert [m.measured_at - T0 for m in metrics] == [timedelta(hours=h) for h in (1, 6, 24, 72)]
    assert metrics.last().engagements == 95 + 5 + 2 + 1
    assert metrics.last().post_ref == TWEET_ID
    publication.refresh_from_db()
    assert (publication.polls_done, publication.next_poll_at) == (4, None)


def test_a_post_deleted_on_the_channel_is_recorded_as_deleted(
    network, x_account, clock, poll_order
):
    publication = posted_on_x(network, clock)
    network.on("GET", f"/2/tweets/{TWEET_ID}", X_DELETED)

    run = poll_at(clock, poll_order, 1)

    publication.refresh_from_db()
    assert run.evidence == {"deleted": 1}
    assert (publication.status, publication.get_status_display()) == (
        "deleted",
        "deleted on the channel",
    )
    assert publication.deleted_at == T0 + timedelta(hours=1)
    assert publication.next_poll_at is None and not ContentMetric.objects.exists()
    assert Event.objects.get(kind="tweet.deleted").payload["external_id"] == TWEET_ID


def test_a_malformed_answer_fails_that_poll_not_the_order(
    network, x_account, mastodon_account, clock, poll_order
):
    broken = posted_on_x(network, clock)
    posted_on_mastodon(network)
    network.on("GET", f"/2/tweets/{TWEET_ID}", answer(200, {"data": {"id": TWEET_ID}}))
    network.on("GET", f"/api/v1/statuses/{STATUS_ID}", mastodon_status(favourites=4))

    run = poll_at(clock, poll_order, 1)

    assert run.status == "completed" and run.evidence == {"failed": 1, "measured": 1}
    broken.refresh_from_db()
    assert broken.last_poll_error == "Malformed: x: the tweet has no public_metrics"
    assert broken.next_poll_at == T0 + timedelta(hours=6)  # the next poll still comes
    assert ContentMetric.objects.get().engagements == 4


def test_an_answer_with_a_nul_fails_that_poll_not_the_order(network, x_account, clock, poll_order):
    """Postgres refuses a NUL: kept in the poll's error, it failed the whole order."""
    publication = posted_on_x(network, clock)
    network.on("GET", f"/2/tweets/{TWEET_ID}", answer(502, "upstream\x00 down\x07"))

    run = poll_at(clock, poll_order, 1)

    assert run.status == "completed" and run.evidence == {"failed": 1}
    publication.refresh_from_db()
    assert publication.last_poll_error == "Unavailable: x answered 502: upstream down"


@pytest.mark.parametrize(
    ("likes", "retweets", "said"),
    [
        (10**20, 0, "x metric 'like_count' is not a count: '100000000000000000000'"),
        (2**30, 2**30, "x engagements are not a count: 2147483651"),
    ],
    ids=["one-too-large", "their-sum-too-large"],
)
def test_numbers_no_column_holds_fail_that_poll_not_the_order(
    network, x_account, clock, poll_order, likes, retweets, said
):
    """A count past what a metric row holds failed the write, and the whole order, on every
    run: the post stayed first in line."""
    publication = posted_on_x(network, clock)
    network.on("GET", f"/2/tweets/{TWEET_ID}", x_metrics(likes=likes, retweets=retweets))

    run = poll_at(clock, poll_order, 1)

    assert run.status == "completed" and run.evidence == {"failed": 1}
    publication.refresh_from_db()
    assert publication.last_poll_error == f"Malformed: {said}"
    assert publication.next_poll_at == T0 + timedelta(hours=6)
    assert not ContentMetric.objects.exists()


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"data": ["not", "a", "tweet"]}, "x: the tweet has no public_metrics"),
        ({"errors": 5}, "x: the tweet has no public_metrics"),
        ({"data": {"id": "20", "public_metrics": {}}}, f"x: the answer is for 20, not {TWEET_ID}"),
    ],
    ids=["data-a-list", "errors-a-number", "another-post"],
)
def test_an_answer_of_another_shape_or_post_fails_that_poll_not_the_order(
    network, x_account, clock, poll_order, body, said
):
    """JSON of another shape raised past the poll's handling (the order failed, every run), and
    another post's numbers were kept as ours."""
    publication = posted_on_x(network, clock)
    network.on("GET", f"/2/tweets/{TWEET_ID}", answer(200, body))

    run = poll_at(clock, poll_order, 1)

    assert run.status == "completed" and run.evidence == {"failed": 1}
    publication.refresh_from_db()
    assert publication.last_poll_error == f"Malformed: {said}"
    assert not ContentMetric.objects.exists()


def test_a_mastodon_answer_for_another_status_is_not_kept_as_ours(
    network, x_account, mastodon_account, clock, poll_order
):
    clock.freeze(T0)
    posted_on_mastodon(network)
    other = mastodon_status(favourites=9000, status_id="1")
    network.on("GET", f"/api/v1/statuses/{STATUS_ID}", other)

    run = poll_at(clock, poll_order, 1)

    assert run.status == "completed" and run.evidence == {"failed": 1}
    said = f"Malformed: mastodon: the answer is for 1, not {STATUS_ID}"
    assert Publication.objects.get().last_poll_error == said
    assert not ContentMetric.objects.exists()


def test_a_429_postpones_the_poll_without_counting_it(network, x_account, clock, poll_order):
    publication = posted_on_x(network, clock)
    network.on(
        "GET",
        f"/2/tweets/{TWEET_ID}",
        answer(429, {"title": "Too Many Requests"}, retry_after="600"),
    )

    run = poll_at(clock, poll_order, 1)

    publication.refresh_from_db()
    assert run.evidence == {"postponed": 1} and publication.polls_done == 0
    assert publication.next_poll_at == T0 + timedelta(hours=1, minutes=10)


def test_a_stopped_channel_is_not_polled_until_the_stop_is_lifted(
    network, x_account, clock, poll_order
):
    """`stop-channel x` is the channel's kill switch: nothing goes to it, not even a read of a
    post's numbers with the same credentials, until it is lifted."""
    from opscore.overrides import apply_override, lift_override

    publication = posted_on_x(network, clock)
    network.on("GET", f"/2/tweets/{TWEET_ID}", x_metrics(impressions=100, likes=5))
    switch = apply_override("stop_channel", "x", reason="bad week", actor="operator:ann")

    held = poll_at(clock, poll_order, 1)

    publication.refresh_from_db()
    assert held.evidence == {"postponed": 1} and not network.sent("GET", f"/2/tweets/{TWEET_ID}")
    assert f"stopped by override {switch.id}" in publication.last_poll_error
    lift_override(switch.id, reason="better", actor="operator:ann")
    assert poll_at(clock, poll_order, 2).evidence == {"measured": 1}


def test_a_paused_publishing_lane_holds_the_engagement_polls(network, x_account, clock, poll_order):
    from opscore.overrides import apply_override

    posted_on_x(network, clock)
    apply_override("pause_lane", "publishing", reason="quiet", actor="operator:ann")

    held = poll_at(clock, poll_order, 1)

    assert held.status == "blocked" and "publishing" in held.summary
    assert not network.sent("GET", f"/2/tweets/{TWEET_ID}")


def test_a_network_failure_kept_on_the_post_keeps_no_credential(
    network, x_account, clock, poll_order
):
    """An HTTP library's error may name what it sent (a URL with a key in it): the reason
    kept on the post is masked, as the outbox's is."""
    publication = posted_on_x(network, clock)
    lost = httpx.ConnectError("proxy refused ?token=x-user-token-0123456789abcdef")
    network.on("GET", f"/2/tweets/{TWEET_ID}", lost)

    run = poll_at(clock, poll_order, 1)

    assert run.evidence == {"failed": 1}
    publication.refresh_from_db()
    assert publication.last_poll_error == "ConnectError: proxy refused ?token=[redacted]"


def test_an_answer_naming_a_post_id_with_a_nul_fails_that_poll_not_the_order(
    network, x_account, clock, poll_order
):
    """The poll's error quoted the answer's post id as it came: with a NUL in it, Postgres
    refused the error's write and the whole order failed, on every run (the post stays due)."""
    publication = posted_on_x(network, clock)
    body = {"data": {"id": "20\x00\x1b[2J", "public_metrics": {}}}
    network.on("GET", f"/2/tweets/{TWEET_ID}", answer(200, body))

    run = poll_at(clock, poll_order, 1)

    assert run.status == "completed" and run.evidence == {"failed": 1}
    publication.refresh_from_db()
    assert publication.last_poll_error == f"Malformed: x: the answer is for 20[2J, not {TWEET_ID}"


def test_an_answer_nested_past_what_json_reads_fails_that_poll_not_the_order(
    network, x_account, mastodon_account, clock, poll_order
):
    """A body of a hundred thousand `[` (well under the 1 MiB cap) made the JSON reader give up
    with a RecursionError, no ValueError: it went past the poll's handling and failed the whole
    order, on every run, the post staying first in line and every other post's poll with it."""
    broken = posted_on_x(network, clock)
    posted_on_mastodon(network)
    network.on("GET", f"/2/tweets/{TWEET_ID}", answer(200, "[" * 100_000))
    network.on("GET", f"/api/v1/statuses/{STATUS_ID}", mastodon_status(favourites=4))

    run = poll_at(clock, poll_order, 1)

    assert run.status == "completed" and run.evidence == {"failed": 1, "measured": 1}
    broken.refresh_from_db()
    assert broken.last_poll_error == "Malformed: x answered 200 with JSON nested too deep to read"
    assert broken.next_poll_at == T0 + timedelta(hours=6)
    assert ContentMetric.objects.get().engagements == 4


def test_more_engagements_than_impressions_fail_that_poll_as_the_metrics_api_refuses_them(
    network, x_account, clock, poll_order
):
    """`record-metrics` and POST /api/ops/metrics refuse engagements past impressions; a
    channel's answer saying so was kept, its rate of 200 000 000 % first past every
    tweet_high_engagement threshold and into the calibration's averages."""
    publication = posted_on_x(network, clock)
    network.on("GET", f"/2/tweets/{TWEET_ID}", x_metrics(impressions=1, likes=2_000_000))

    run = poll_at(clock, poll_order, 1)

    assert run.status == "completed" and run.evidence == {"failed": 1}
    publication.refresh_from_db()
    said = "Malformed: x engagements (2000008) exceed impressions (1)"
    assert publication.last_poll_error == said
    assert not ContentMetric.objects.exists()
