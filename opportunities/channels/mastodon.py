"""Mastodon (REST): POST /api/v1/statuses with an app token and an Idempotency-Key, which the
server honours for an hour only: a retry later than that (a lost answer, then a paused lane or
a long Retry-After) made a second status. So a retry first looks among the account's latest
statuses made since the outbox row was written, as X's does, and the key still rides along.
The length limit is the instance's own, read from GET /api/v2/instance before posting."""

import html
import re

from django.conf import settings

from opportunities.channels.base import (
    NOT_IN_PATH_IDS,
    Malformed,
    Measured,
    Posted,
    check,
    client,
    engagements_of,
    json_of,
    looked_since,
    made_since,
    parsed,
    path_id,
    post_link,
)
from opportunities.channels.x import same_words

NAME = "mastodon"
ENGAGEMENTS = ("favourites_count", "reblogs_count", "replies_count")
BREAKS = re.compile(r"<br\s*/?>|</p>", re.I)
TAGS = re.compile(r"<[^>]*>")


def plain_text(content: str) -> str:
    """A status's HTML as the words it was posted with: a break or paragraph end is a space,
    any other tag nothing (a link's spans join back into its URL)."""
    return html.unescape(TAGS.sub("", BREAKS.sub(" ", content)))


def configured() -> bool:
    return bool(settings.OPS_MASTODON_URL and settings.OPS_MASTODON_TOKEN)


class Channel:
    name, measures, idempotent = NAME, True, False  # the key is kept an hour: look first
    odd_ids = NOT_IN_PATH_IDS  # a status's id is put into the path its numbers are read at

    def __init__(self):
        token = settings.OPS_MASTODON_TOKEN
        self.http = client(settings.OPS_MASTODON_URL, Authorization=f"Bearer {token}")

    def close(self):
        self.http.close()

    def limit(self) -> int:
        data = json_of(check(self.http.get("/api/v2/instance"), NAME), NAME)
        limit = ((data.get("configuration") or {}).get("statuses") or {}).get("max_characters")
        if not isinstance(limit, int) or limit <= 0:
            raise Malformed("mastodon: /api/v2/instance has no configuration.statuses limit")
        return limit

    def publish(self, request) -> Posted:
        answer = self.http.post(
            "/api/v1/statuses",
            data={"status": request.text, "visibility": "public"},
            headers={"Idempotency-Key": request.key},
        )
        status = json_of(check(answer, NAME), NAME)
        if not isinstance(status.get("id"), str) or not isinstance(status.get("url"), str):
            raise Malformed("mastodon: the new status has no id and url")
        return Posted(status["id"], post_link(status["url"]))

    def find(self, request) -> Posted | None:
        me = json_of(check(self.http.get("/api/v1/accounts/verify_credentials"), NAME), NAME)
        if not isinstance(me.get("id"), str):
            raise Malformed("mastodon: verify_credentials answered without an id")
        account = path_id(me["id"], "the account's id", NAME)
        answer = self.http.get(f"/api/v1/accounts/{account}/statuses", params={"limit": 20})
        statuses = parsed(check(answer, NAME), NAME)
        if not isinstance(statuses, list):
            raise Malformed("mastodon: the account's statuses are not a list")
        for status in statuses:
            if not isinstance(status, dict) or not made_since(status, looked_since(request)):
                continue
            if str(status.get("id")) in request.taken:
                continue
            if same_words(plain_text(str(status.get("content"))), request.text):
                return Posted(str(status.get("id")), post_link(status.get("url")))
        return None

    def measure(self, post_id: str) -> Measured:
        answer = self.http.get(f"/api/v1/statuses/{path_id(post_id, 'the id', NAME)}")
        if answer.status_code == 404:
            return Measured(deleted=True)
        status = json_of(check(answer, NAME), NAME)
        if status.get("id") != post_id:  # another status's numbers are not ours
            said = str(status.get("id"))[:40]
            raise Malformed(f"mastodon: the answer is for {said}, not {post_id}")
        return Measured(0, engagements_of(status, ENGAGEMENTS, NAME))
