"""Mastodon (REST): POST /api/v1/statuses with an app token and an Idempotency-Key, which the
server honours for an hour, so a retry returns the status already made instead of a second.
The length limit is the instance's own, read from GET /api/v2/instance before posting."""

from django.conf import settings

from opportunities.channels.base import (
    Malformed,
    Measured,
    Posted,
    check,
    client,
    engagements_of,
    json_of,
)

NAME = "mastodon"
ENGAGEMENTS = ("favourites_count", "reblogs_count", "replies_count")


def configured() -> bool:
    return bool(settings.OPS_MASTODON_URL and settings.OPS_MASTODON_TOKEN)


class Channel:
    name, measures, idempotent = NAME, True, True

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
        return Posted(status["id"], status["url"])

    def find(self, request) -> None:
        """The Idempotency-Key makes a repeated POST safe: nothing to look up first."""
        return None

    def measure(self, post_id: str) -> Measured:
        answer = self.http.get(f"/api/v1/statuses/{post_id}")
        if answer.status_code == 404:
            return Measured(deleted=True)
        status = json_of(check(answer, NAME), NAME)
        if status.get("id") != post_id:  # another status's numbers are not ours
            said = str(status.get("id"))[:40]
            raise Malformed(f"mastodon: the answer is for {said}, not {post_id}")
        return Measured(0, engagements_of(status, ENGAGEMENTS, NAME))
