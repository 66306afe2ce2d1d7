"""A fake network for the publishing channels: httpx.MockTransport answering with responses
recorded from each channel's documentation, keyed by method and path, every request kept.
The adapters' real code runs against it; nothing reaches the network."""

import httpx
import pytest

from opportunities.channels import base

TWEET_ID = "1445880548472328192"
DID = "did:plc:z72i7hdynmk6r22z27h6tvur"
STATUS_ID = "103704874086360371"


def answer(status=200, body=None, **headers) -> httpx.Response:
    headers = {key.replace("_", "-"): value for key, value in headers.items()}
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers)
    return httpx.Response(status, json=body if body is not None else {}, headers=headers)


class FakeNetwork:
    """`on(method, path, *answers)`: answers served in turn, the last one repeated; an
    exception among them is raised, as the transport would."""

    def __init__(self):
        self.routes: dict[tuple[str, str], list[httpx.Response]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *answers: httpx.Response) -> None:
        self.routes[(method, path)] = list(answers)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answers = self.routes.get((request.method, request.url.path))
        if not answers:
            return answer(404, {"error": f"no route {request.method} {request.url.path}"})
        served = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(served, Exception):  # e.g. the answer lost on the way back
            raise served
        return served

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if (r.method, r.url.path) == (method, path)]


@pytest.fixture
def network(monkeypatch):
    fake = FakeNetwork()
    monkeypatch.setattr(base, "TRANSPORT", httpx.MockTransport(fake.handle))
    return fake


@pytest.fixture
def x_account(settings):
    settings.OPSCORE_LLM = "anthropic"  # a real provider: its words may leave the machine
    settings.OPS_X_ACCESS_TOKEN = "x-user-token-0123456789abcdef"
    settings.OPS_X_API_URL = "https://api.x.com"


@pytest.fixture
def bluesky_account(settings):
    settings.OPSCORE_LLM = "anthropic"
    settings.OPS_BLUESKY_HANDLE = "opscore.bsky.social"
    settings.OPS_BLUESKY_APP_PASSWORD = "abcd-efgh-ijkl-mnop"


@pytest.fixture
def mastodon_account(settings):
    settings.OPSCORE_LLM = "anthropic"
    settings.OPS_MASTODON_URL = "https://mastodon.example"
    settings.OPS_MASTODON_TOKEN = "mastodon-app-token-0123456789"


@pytest.fixture
def webhook_account(settings):
    settings.OPSCORE_LLM = "anthropic"
    settings.OPS_POST_WEBHOOK_URL = "https://hooks.example/posts"
    settings.OPS_POST_WEBHOOK_SECRET = "whsec-0123456789abcdef"


# X API v2 (docs.x.com: POST /2/tweets, GET /2/tweets/:id, GET /2/users/me, …/tweets)
def x_created(text="We shipped!", tweet_id=TWEET_ID):
    ids = [tweet_id]
    return answer(201, {"data": {"id": tweet_id, "text": text, "edit_history_tweet_ids": ids}})


def x_problem(status, title, detail, **headers):
    body = {"title": title, "detail": detail, "type": "about:blank", "status": status}
    return answer(status, body, **headers)


X_UNAUTHORIZED = x_problem(401, "Unauthorized", "Unauthorized")
X_DUPLICATE = x_problem(
    403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."
)
X_ME = answer(200, {"data": {"id": "2244994945", "name": "Opscore", "username": "opscore"}})


def x_timeline(*texts):
    tweets = [{"id": f"{TWEET_ID[:-1]}{n}", "text": text} for n, text in enumerate(texts)]
    return answer(200, {"data": tweets, "meta": {"result_count": len(tweets)}})


def x_metrics(impressions=1000, likes=30, retweets=5, replies=2, quotes=1):
    metrics = {
        "retweet_count": retweets,
        "reply_count": replies,
        "like_count": likes,
        "quote_count": quotes,
        "bookmark_count": 0,
        "impression_count": impressions,
    }
    return answer(200, {"data": {"id": TWEET_ID, "text": "t", "public_metrics": metrics}})


X_DELETED = answer(
    200,
    {
        "errors": [
            {
                "value": TWEET_ID,
                "detail": f"Could not find tweet with id: [{TWEET_ID}].",
                "title": "Not Found Error",
                "resource_type": "tweet",
                "parameter": "id",
                "resource_id": TWEET_ID,
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            }
        ]
    },
)

# Bluesky (docs.bsky.app: createSession, createRecord, getRecord, app.bsky.feed.getPosts)
BSKY_SESSION = answer(
    200,
    {
        "did": DID,
        "handle": "opscore.bsky.social",
        "accessJwt": "eyJhbGciOiJIUzI1NiJ9.eyJzY29wZSI6ImNvbSJ9.c2lnbmF0dXJl",
        "refreshJwt": "eyJhbGciOiJIUzI1NiJ9.eyJzY29wZSI6InJlZiJ9.c2lnbmF0dXJl",
        "active": True,
    },
)
BSKY_BAD_PASSWORD = answer(
    401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}
)
BSKY_NOT_FOUND = answer(400, {"error": "RecordNotFound", "message": "Could not locate record"})


def bsky_created(rkey="3l3qo2vutsw2b"):
    return answer(
        200,
        {
            "uri": f"at://{DID}/app.bsky.feed.post/{rkey}",
            "cid": "bafyreig2fjxi3rptqdgylg7e5hmjl6mcke7rn2b6cugzlqq3i4zu6rq52q",
            "commit": {"cid": "bafyreib", "rev": "3l3qo2vuu5k2b"},
            "validationStatus": "valid",
        },
    )


def bsky_posts(uri, likes=10, reposts=2, replies=1, quotes=0):
    post = {
        "uri": uri,
        "cid": "bafyreig2",
        "author": {"did": DID, "handle": "opscore.bsky.social"},
        "record": {"$type": "app.bsky.feed.post", "text": "t", "createdAt": "2026-01-01T00:00Z"},
        "replyCount": replies,
        "repostCount": reposts,
        "likeCount": likes,
        "quoteCount": quotes,
        "indexedAt": "2026-01-01T00:00:00.000Z",
    }
    return answer(200, {"posts": [post]})


# Mastodon (docs.joinmastodon.org: /api/v2/instance, POST /api/v1/statuses, GET status)
def mastodon_instance(limit=500):
    statuses = {"max_characters": limit, "max_media_attachments": 4}
    statuses["characters_reserved_per_url"] = 23
    return answer(200, {"domain": "mastodon.example", "configuration": {"statuses": statuses}})


def mastodon_status(favourites=0, reblogs=0, replies=0, status_id=STATUS_ID):
    return answer(
        200,
        {
            "id": status_id,
            "created_at": "2026-01-01T00:00:00.000Z",
            "url": f"https://mastodon.example/@opscore/{status_id}",
            "uri": f"https://mastodon.example/users/opscore/statuses/{status_id}",
            "content": "<p>We shipped!</p>",
            "visibility": "public",
            "favourites_count": favourites,
            "reblogs_count": reblogs,
            "replies_count": replies,
        },
    )


MASTODON_UNAUTHORIZED = answer(401, {"error": "The access token is invalid"})
MASTODON_NOT_FOUND = answer(404, {"error": "Record not found"})


def deliver_one_webhook_post(text: str = "We shipped!") -> None:
    """A post through the posting webhook as it goes for real: the channel approved, the step
    run by a worker, then one pass of the outbox's deliverer (whatever the far end answers)."""
    from missions.outbox import deliver_pending
    from missions.worker import handle_one_step
    from opportunities.publishing import approve_channel
    from tests.factories import make_step

    approve_channel("post_webhook", actor="operator:ann")
    make_step("post_tweet", payload={"text": text, "channel": "post_webhook"})
    handle_one_step("w1")
    deliver_pending()
