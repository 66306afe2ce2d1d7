"""X (API v2): POST /2/tweets with an OAuth 2.0 user token (tweet.write scope).

X has no idempotency key, so a retry first looks for the post among the account's latest
(GET /2/users/me, then /2/users/:id/tweets) and only posts when it is not there. A 403 for
duplicate content is answered the same way; any other 403 is a credential X will not accept.
"""

from datetime import UTC

from django.conf import settings

from opportunities.channels.base import (
    NOT_IN_PATH_IDS,
    CredentialsRefused,
    Duplicate,
    Malformed,
    Measured,
    Posted,
    check,
    client,
    count_of,
    engagements_of,
    error_body,
    json_of,
    looked_since,
    made_since,
    measured,
    path_id,
)
from opportunities.channels.limits import URL

NAME = "x"
ENGAGEMENTS = ("like_count", "retweet_count", "reply_count", "quote_count")


def configured() -> bool:
    return bool(settings.OPS_X_ACCESS_TOKEN)


def post_url(post_id: str) -> str:
    """The post's page; none for an id that would lead elsewhere on x.com."""
    return "" if NOT_IN_PATH_IDS.search(post_id) else f"https://x.com/i/web/status/{post_id}"


def same_words(a: str, b: str) -> bool:
    """X rewrites links (t.co), so compare the words without them."""
    return " ".join(URL.sub("", a).split()) == " ".join(URL.sub("", b).split())


class Channel:
    name, measures, idempotent = NAME, True, False
    odd_ids = NOT_IN_PATH_IDS  # a post's id is put into the path its numbers are read at

    def __init__(self):
        token = settings.OPS_X_ACCESS_TOKEN
        self.http = client(settings.OPS_X_API_URL, Authorization=f"Bearer {token}")

    def close(self):
        self.http.close()

    def limit(self) -> None:
        return None

    def publish(self, request) -> Posted:
        answer = self.http.post("/2/tweets", json={"text": request.text})
        if answer.status_code == 403 and "duplicate" in answer.text.lower():
            raise Duplicate("x: duplicate content")
        if answer.status_code == 403:  # the app or token lacks the right to post
            raise CredentialsRefused(f"x answered 403: {error_body(answer)}")
        data = json_of(check(answer, NAME), NAME).get("data")
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise Malformed("x: the answer to POST /2/tweets has no data.id")
        return Posted(data["id"], post_url(data["id"]))

    def find(self, request) -> Posted | None:
        me = json_of(check(self.http.get("/2/users/me"), NAME), NAME).get("data") or {}
        if not isinstance(me.get("id"), str):
            raise Malformed("x: the answer to GET /2/users/me has no data.id")
        account, since = path_id(me["id"], "the account's id", NAME), looked_since(request)
        params = {"max_results": 20, "tweet.fields": "created_at"}
        params["start_time"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer = self.http.get(f"/2/users/{account}/tweets", params=params)
        for tweet in json_of(check(answer, NAME), NAME).get("data") or []:
            if not isinstance(tweet, dict) or not isinstance(tweet.get("id"), str):
                continue
            if tweet["id"] in request.taken:
                continue
            if "created_at" in tweet and not made_since(tweet, since):  # start_time, kept
                continue
            if same_words(str(tweet.get("text")), request.text):
                return Posted(tweet["id"], post_url(tweet["id"]))
        return None

    def measure(self, post_id: str) -> Measured:
        params = {"tweet.fields": "public_metrics"}
        path = f"/2/tweets/{path_id(post_id, 'the id', NAME)}"
        data = json_of(check(self.http.get(path, params=params), NAME), NAME)
        errors, tweet = data.get("errors"), data.get("data")
        if (
            tweet is None
            and isinstance(errors, list)
            and any(isinstance(e, dict) and e.get("title") == "Not Found Error" for e in errors)
        ):
            return Measured(deleted=True)
        metrics = tweet.get("public_metrics") if isinstance(tweet, dict) else None
        if not isinstance(metrics, dict):
            raise Malformed("x: the tweet has no public_metrics")
        engagements = engagements_of(metrics, ENGAGEMENTS, NAME)
        impressions = count_of(metrics, "impression_count", NAME)
        if tweet.get("id") != post_id:  # another post's numbers are not ours
            raise Malformed(f"x: the answer is for {str(tweet.get('id'))[:40]}, not {post_id}")
        return measured(impressions, engagements, NAME)
