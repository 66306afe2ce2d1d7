"""Each channel adapter's real client code against recorded, documented answers: success,
429, 401, duplicate, deleted post and a malformed body. Never the network."""

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest

from opportunities.channels import PostRequest, bluesky, mastodon, webhook, x
from opportunities.channels.base import (
    DEFAULT_RETRY_SECONDS,
    CredentialsRefused,
    Duplicate,
    Malformed,
    Measured,
    PostRejected,
    RateLimited,
)
from opportunities.channels.limits import secret_in, too_long, x_length
from tests.channel_fakes import (
    BSKY_BAD_PASSWORD,
    BSKY_NOT_FOUND,
    BSKY_SESSION,
    DID,
    MASTODON_NOT_FOUND,
    MASTODON_UNAUTHORIZED,
    STATUS_ID,
    TWEET_ID,
    X_DELETED,
    X_DUPLICATE,
    X_ME,
    X_UNAUTHORIZED,
    answer,
    bsky_created,
    bsky_posts,
    mastodon_instance,
    mastodon_status,
    x_created,
    x_metrics,
    x_problem,
    x_timeline,
)

WHEN = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
REQUEST = PostRequest("We shipped!", "post:x:7", WHEN, 42)


def test_it_posts_to_x_and_keeps_the_tweet_id_and_url(network, x_account):
    network.on("POST", "/2/tweets", x_created())

    posted = x.Channel().publish(REQUEST)

    assert posted.post_id == TWEET_ID
    assert posted.url == f"https://x.com/i/web/status/{TWEET_ID}"
    sent = network.sent("POST", "/2/tweets")[0]
    assert json.loads(sent.content) == {"text": "We shipped!"}
    assert sent.headers["Authorization"] == "Bearer x-user-token-0123456789abcdef"


def test_x_rate_limit_waits_until_the_reset_it_names(network, x_account):
    reset = str(int(time.time()) + 900)
    network.on(
        "POST",
        "/2/tweets",
        x_problem(429, "Too Many Requests", "Too Many Requests", x_rate_limit_reset=reset),
    )

    with pytest.raises(RateLimited) as limited:
        x.Channel().publish(REQUEST)

    assert 890 <= limited.value.retry_after <= 900


@pytest.mark.parametrize("header", ["retry_after", "x_rate_limit_reset"])
def test_a_rate_limit_naming_no_number_waits_the_default(network, x_account, header):
    """A byte outside ASCII reads as Latin-1: "\\xb2" is "²", a digit to str.isdigit() and
    no number to float(); the 429 is still a rate limit, not a ValueError."""
    problem = x_problem(429, "Too Many Requests", "Too Many Requests", **{header: b"\xb2"})
    network.on("POST", "/2/tweets", problem)

    with pytest.raises(RateLimited) as limited:
        x.Channel().publish(REQUEST)

    assert limited.value.retry_after == DEFAULT_RETRY_SECONDS


def test_x_unauthorized_and_forbidden_are_refused_credentials(network, x_account):
    network.on("POST", "/2/tweets", X_UNAUTHORIZED)
    with pytest.raises(CredentialsRefused, match="x answered 401"):
        x.Channel().publish(REQUEST)
    network.on("POST", "/2/tweets", x_problem(403, "Forbidden", "oauth1-permissions"))
    with pytest.raises(CredentialsRefused, match="x answered 403"):
        x.Channel().publish(REQUEST)


def test_x_duplicate_is_found_among_the_accounts_latest_posts(network, x_account):
    network.on("POST", "/2/tweets", X_DUPLICATE)
    network.on("GET", "/2/users/me", X_ME)
    network.on("GET", "/2/users/2244994945/tweets", x_timeline("other", "We shipped!"))
    channel = x.Channel()

    with pytest.raises(Duplicate):
        channel.publish(REQUEST)
    found = channel.find(REQUEST)

    assert found.post_id == f"{TWEET_ID[:-1]}1"


def test_x_metrics_deleted_and_malformed(network, x_account):
    network.on("GET", f"/2/tweets/{TWEET_ID}", x_metrics(), X_DELETED, answer(200, "<html>"))
    channel = x.Channel()

    assert channel.measure(TWEET_ID) == Measured(impressions=1000, engagements=38)
    assert channel.measure(TWEET_ID).deleted
    with pytest.raises(Malformed):
        channel.measure(TWEET_ID)
    network.on(
        "GET",
        f"/2/tweets/{TWEET_ID}",
        answer(200, {"data": {"public_metrics": {"like_count": "many", "impression_count": 5}}}),
    )
    with pytest.raises(Malformed, match="like_count"):
        channel.measure(TWEET_ID)


def test_it_posts_to_bluesky_under_a_record_key_that_is_the_same_on_every_retry(
    network, bluesky_account
):
    network.on("POST", "/xrpc/com.atproto.server.createSession", BSKY_SESSION)
    network.on("POST", "/xrpc/com.atproto.repo.createRecord", bsky_created())
    linked = PostRequest("Read https://example.com/x now", "post:bluesky:7", WHEN, 42)

    posted = bluesky.Channel().publish(linked)
    again = bluesky.Channel().rkey(linked)

    body = json.loads(network.sent("POST", "/xrpc/com.atproto.repo.createRecord")[0].content)
    assert body["rkey"] == again and len(again) == 13
    assert body["repo"] == DID and body["collection"] == "app.bsky.feed.post"
    assert body["record"]["facets"][0]["index"] == {"byteStart": 5, "byteEnd": 26}
    assert posted.post_id.startswith(f"at://{DID}/app.bsky.feed.post/")
    assert posted.url.startswith(f"https://bsky.app/profile/{DID}/post/")


def test_bluesky_check_before_retry_and_refusals(network, bluesky_account):
    network.on("POST", "/xrpc/com.atproto.server.createSession", BSKY_SESSION)
    network.on("GET", "/xrpc/com.atproto.repo.getRecord", BSKY_NOT_FOUND, bsky_created())
    channel = bluesky.Channel()

    assert channel.find(REQUEST) is None
    assert channel.find(REQUEST).post_id.startswith("at://")
    network.on(
        "POST",
        "/xrpc/com.atproto.repo.createRecord",
        answer(400, {"error": "InvalidRequest", "message": "Record already exists"}),
    )
    with pytest.raises(Duplicate):
        channel.publish(REQUEST)
    network.on(
        "POST",
        "/xrpc/com.atproto.repo.createRecord",
        answer(
            429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, retry_after="120"
        ),
    )
    with pytest.raises(RateLimited) as limited:
        channel.publish(REQUEST)
    assert limited.value.retry_after == 120
    network.on("POST", "/xrpc/com.atproto.server.createSession", BSKY_BAD_PASSWORD)
    with pytest.raises(CredentialsRefused, match="Invalid identifier or password"):
        bluesky.Channel().publish(REQUEST)


def test_bluesky_metrics_deleted_and_malformed(network, bluesky_account):
    uri = f"at://{DID}/app.bsky.feed.post/3l3qo2vutsw2b"
    network.on(
        "GET",
        "/xrpc/app.bsky.feed.getPosts",
        bsky_posts(uri),
        answer(200, {"posts": []}),
        answer(200, {"posts": "none"}),
    )
    channel = bluesky.Channel()

    assert channel.measure(uri) == Measured(impressions=0, engagements=13)
    assert channel.measure(uri).deleted
    with pytest.raises(Malformed):
        channel.measure(uri)


def test_mastodon_posts_with_an_idempotency_key_under_the_instances_limit(
    network, mastodon_account
):
    network.on("GET", "/api/v2/instance", mastodon_instance(limit=1000))
    network.on("POST", "/api/v1/statuses", mastodon_status())
    channel = mastodon.Channel()

    assert channel.limit() == 1000
    posted = channel.publish(PostRequest("We shipped!", "post:mastodon:7", WHEN, 42))

    assert (posted.post_id, posted.url) == (
        STATUS_ID,
        f"https://mastodon.example/@opscore/{STATUS_ID}",
    )
    sent = network.sent("POST", "/api/v1/statuses")[0]
    assert sent.headers["Idempotency-Key"] == "post:mastodon:7"


def test_mastodon_refusals_limits_and_metrics(network, mastodon_account):
    channel = mastodon.Channel()
    network.on("POST", "/api/v1/statuses", MASTODON_UNAUTHORIZED)
    with pytest.raises(CredentialsRefused, match="The access token is invalid"):
        channel.publish(REQUEST)
    network.on(
        "POST",
        "/api/v1/statuses",
        answer(422, {"error": "Validation failed: Text character limit of 500 exceeded"}),
    )
    with pytest.raises(PostRejected, match="character limit"):
        channel.publish(REQUEST)
    network.on(
        "POST",
        "/api/v1/statuses",
        answer(429, {"error": "Too many requests"}, x_ratelimit_reset="2999-01-01T00:00:00.000Z"),
    )
    with pytest.raises(RateLimited) as limited:
        channel.publish(REQUEST)
    assert limited.value.retry_after == 24 * 3600  # never longer than a day
    network.on("GET", "/api/v2/instance", answer(200, {"configuration": {}}))
    with pytest.raises(Malformed):
        channel.limit()
    network.on(
        "GET",
        f"/api/v1/statuses/{STATUS_ID}",
        mastodon_status(favourites=7, reblogs=2, replies=1),
        MASTODON_NOT_FOUND,
    )
    assert channel.measure(STATUS_ID) == Measured(impressions=0, engagements=10)
    assert channel.measure(STATUS_ID).deleted


def test_the_webhook_is_signed_and_keyed(network, webhook_account):
    network.on(
        "POST",
        "/posts",
        answer(200, {"id": "w-1", "url": "https://example.com/w-1"}),
        answer(409, {"error": "duplicate"}),
        answer(401, "no"),
    )
    channel = webhook.Channel()

    posted = channel.publish(REQUEST)

    sent = network.requests[0]
    stamp = sent.headers["X-Opscore-Timestamp"]
    expected = hmac.new(
        b"whsec-0123456789abcdef", stamp.encode() + b"." + sent.content, hashlib.sha256
    ).hexdigest()
    assert sent.headers["X-Opscore-Signature"] == f"sha256={expected}"
    assert sent.headers["Idempotency-Key"] == "post:x:7"
    assert (posted.post_id, posted.url) == ("w-1", "https://example.com/w-1")
    with pytest.raises(Duplicate):
        channel.publish(REQUEST)
    with pytest.raises(CredentialsRefused):
        channel.publish(REQUEST)


def test_an_error_body_is_kept_short_and_without_the_credential(network, mastodon_account):
    leaked = "token mastodon-app-token-0123456789 rejected; Bearer abcdefghijklmnop " + "z" * 900
    network.on("POST", "/api/v1/statuses", answer(401, leaked))

    with pytest.raises(CredentialsRefused) as refused:
        mastodon.Channel().publish(REQUEST)

    said = str(refused.value)
    assert "mastodon-app-token-0123456789" not in said and "abcdefghijklmnop" not in said
    assert "[redacted]" in said and len(said) < 400


@pytest.mark.parametrize(
    ("channel", "text", "refused"),
    [
        ("x", "a" * 280, None),
        ("x", "a" * 281, "281 weighted characters"),
        ("x", "a" * 256 + " https://example.com/a-very-long-path-that-counts-as-23", None),
        ("x", "界" * 141, "282 weighted characters"),
        ("bluesky", "👍🏽" * 300, None),
        ("bluesky", "é" * 301, "301 characters, limit 300"),
    ],
)
def test_length_rules_count_as_each_network_does(channel, text, refused):
    reason = too_long(channel, text)
    assert (reason is None) if refused is None else (refused in reason)


def test_x_weights_a_link_as_23():
    assert x_length("see https://example.com/" + "p" * 100) == 4 + 23


@pytest.mark.parametrize(
    "text",
    [
        "our key AKIAIOSFODNN7EXAMPLE oops",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "-----BEGIN RSA PRIVATE KEY-----",
        "sk-ant-abcdefghijklmnopqrstuvwxyz",
        "password: hunter2hunter2",
    ],
)
def test_a_secret_looking_string_is_named_not_repeated(text):
    assert secret_in(text) and text not in secret_in(text)
    assert secret_in("We shipped the new dashboard today!") is None
