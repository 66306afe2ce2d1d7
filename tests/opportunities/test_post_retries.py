"""A retry looks for the post among the account's latest, made since the row was written:
Mastodon keeps an Idempotency-Key for an hour only, so a retry later than that (a lost answer,
then a paused lane, a long Retry-After, a deliverer down) posted the status a second time; and
X's look took an older post with the same words for this one."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from missions.models import OutboxMessage, Publication
from missions.outbox import deliver_pending
from missions.worker import handle_one_step
from opportunities.models import ChannelAccount
from opportunities.publishing import approve_channel
from opscore.models import Event
from opscore.overrides import apply_override, lift_override
from tests.channel_fakes import (
    STATUS_ID,
    X_ME,
    answer,
    mastodon_instance,
    mastodon_status,
    x_created,
)
from tests.factories import make_step

pytestmark = pytest.mark.django_db
START = datetime(2026, 6, 1, 12, tzinfo=UTC)
ACCOUNT = answer(200, {"id": "109", "username": "opscore", "acct": "opscore"})


def status(status_id: str, made: datetime, html: str) -> dict:
    when = made.isoformat().replace("+00:00", "Z")
    url = f"https://mastodon.example/@opscore/{status_id}"
    return {"id": status_id, "created_at": when, "url": url, "content": html}


def lost_answer_then_two_hours(network, clock, *timeline: dict) -> None:
    """The first POST's answer never comes (the status was made); the lane is paused for two
    hours; then the retry."""
    clock.freeze(START)
    network.on("GET", "/api/v2/instance", mastodon_instance())
    network.on(
        "POST",
        "/api/v1/statuses",
        httpx.ReadTimeout("the answer never came"),
        mastodon_status(status_id="2"),  # the key forgotten: a second status
    )
    network.on("GET", "/api/v1/accounts/verify_credentials", ACCOUNT)
    network.on("GET", "/api/v1/accounts/109/statuses", answer(200, list(timeline)))
    approve_channel("mastodon", actor="operator:ann")
    make_step(
        "post_tweet",
        payload={"text": "We shipped! https://example.com/notes", "channel": "mastodon"},
    )
    handle_one_step("w1")
    deliver_pending()
    assert OutboxMessage.objects.get().attempts == 1
    pause = apply_override("pause_lane", "publishing", reason="quiet", actor="operator:ann")
    clock.freeze(START + timedelta(hours=1))
    deliver_pending()
    lift_override(pause.id, actor="operator:ann", reason="back")
    clock.freeze(START + timedelta(hours=2))
    deliver_pending()


def test_a_retry_past_the_keys_hour_finds_the_status_instead_of_posting_twice(
    network, mastodon_account, clock
):
    made = status(
        STATUS_ID,
        START + timedelta(seconds=1),
        '<p>We shipped! <a href="https://example.com/notes"><span class="invisible">https://'
        '</span><span class="">example.com/notes</span><span class="invisible"></span></a></p>',
    )

    lost_answer_then_two_hours(network, clock, made)

    publication = Publication.objects.get()
    assert (publication.status, publication.external_id) == ("published", STATUS_ID)
    assert len(network.sent("POST", "/api/v1/statuses")) == 1


def test_the_same_words_posted_before_the_row_was_written_are_not_taken_for_it(
    network, mastodon_account, clock
):
    last_week = status(
        "1", START - timedelta(days=7), "<p>We shipped! https://example.com/notes</p>"
    )

    lost_answer_then_two_hours(network, clock, last_week)

    publication = Publication.objects.get()
    assert (publication.status, publication.external_id) == ("published", "2")
    assert len(network.sent("POST", "/api/v1/statuses")) == 2


def test_an_x_retry_never_takes_last_weeks_post_for_this_one(network, x_account, clock):
    """X rewrites links, so their words are compared without them: last week's 'New release:
    <link>' read as this week's, which was then never posted (and its numbers were last
    week's)."""
    clock.freeze(START)
    approve_channel("x", actor="operator:ann")
    network.on("POST", "/2/tweets", answer(503, "over capacity"), x_created(tweet_id="77"))
    network.on("GET", "/2/users/me", X_ME)
    week_ago = (START - timedelta(days=7)).isoformat().replace("+00:00", "Z")
    old = {"id": "66", "text": "New release: https://t.co/aaa", "created_at": week_ago}
    network.on("GET", "/2/users/2244994945/tweets", answer(200, {"data": [old]}))
    make_step("post_tweet", payload={"text": "New release: https://example.com/v2"})
    handle_one_step("w1")
    deliver_pending()
    clock.freeze(START + timedelta(minutes=1))

    deliver_pending()

    publication = Publication.objects.get()
    assert (publication.status, publication.external_id) == ("published", "77")
    assert len(network.sent("POST", "/2/tweets")) == 2
    (looked,) = network.sent("GET", "/2/users/2244994945/tweets")
    assert looked.url.params["start_time"] == "2026-06-01T11:55:00Z"


def test_a_retry_whose_look_the_token_may_not_make_blocks_the_channel_not_the_post(
    network, mastodon_account, clock
):
    """The look before a retry (verify_credentials) needs a scope the post itself does not: a
    token without it answered 403 and the post, which the lost answer may well have made, was
    set down as 'refused before posting' with no one told to fix the token."""
    clock.freeze(START)
    network.on("GET", "/api/v2/instance", mastodon_instance())
    network.on("POST", "/api/v1/statuses", httpx.ReadTimeout("the answer never came"))
    outside = answer(403, {"error": "This action is outside the authorized scopes"})
    network.on("GET", "/api/v1/accounts/verify_credentials", outside)
    approve_channel("mastodon", actor="operator:ann")
    make_step("post_tweet", payload={"text": "We shipped!", "channel": "mastodon"})
    handle_one_step("w1")
    deliver_pending()
    clock.freeze(START + timedelta(minutes=1))

    deliver_pending()

    publication = Publication.objects.get()
    said = 'mastodon answered 403: {"error":"This action is outside the authorized scopes"}'
    assert (publication.status, publication.reason) == ("failed", f"looking for it: {said}")
    assert ChannelAccount.objects.get(name="mastodon").blocked
    assert Event.objects.filter(kind="channel.blocked").count() == 1
    assert len(network.sent("POST", "/api/v1/statuses")) == 1


def test_a_retry_never_takes_another_rows_post_of_the_same_words_for_its_own(
    network, mastodon_account, clock
):
    """Two posts of the same words (a repeated announcement): the second's answer was lost,
    and its retry's look found the first's status, made since its row was written, and took it
    for its own. The second was never posted, both rows held one id, and every engagement of
    that status counted twice."""
    clock.freeze(START)
    words = "<p>We shipped! https://example.com/notes</p>"
    network.on("GET", "/api/v2/instance", mastodon_instance())
    network.on(
        "POST",
        "/api/v1/statuses",
        mastodon_status(status_id="1"),
        httpx.ReadTimeout("the answer never came"),
        mastodon_status(status_id="2"),
    )
    network.on("GET", "/api/v1/accounts/verify_credentials", ACCOUNT)
    first = status("1", START + timedelta(seconds=1), words)
    network.on("GET", "/api/v1/accounts/109/statuses", answer(200, [first]))
    approve_channel("mastodon", actor="operator:ann")
    for _ in range(2):
        make_step(
            "post_tweet",
            payload={"text": "We shipped! https://example.com/notes", "channel": "mastodon"},
        )
        handle_one_step("w1")
    deliver_pending()
    clock.freeze(START + timedelta(hours=2))

    deliver_pending()

    ids = sorted(Publication.objects.values_list("status", "external_id"))
    assert ids == [("published", "1"), ("published", "2")]
    assert len(network.sent("POST", "/api/v1/statuses")) == 3
