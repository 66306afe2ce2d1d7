"""Bluesky (AT Protocol): a session from an app password (com.atproto.server.createSession),
then com.atproto.repo.createRecord of an app.bsky.feed.post on the account's PDS.

The record key is a TID derived from the outbox row (its time and id), the same on every retry:
a retry first asks for that record (com.atproto.repo.getRecord) and posts only if it is not
there, and the PDS refuses a second record under the same key anyway. Numbers come from the
public AppView (app.bsky.feed.getPosts): no impressions; a post it no longer returns was deleted.
"""

from datetime import UTC

from django.conf import settings

from opportunities.channels.base import (
    Duplicate,
    Malformed,
    Measured,
    Posted,
    check,
    client,
    engagements_of,
    json_of,
)
from opportunities.channels.limits import URL
from opscore.redaction import know_secret

NAME = "bluesky"
COLLECTION = "app.bsky.feed.post"
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
ENGAGEMENTS = ("likeCount", "repostCount", "replyCount", "quoteCount")


def configured() -> bool:
    return bool(settings.OPS_BLUESKY_HANDLE and settings.OPS_BLUESKY_APP_PASSWORD)


def tid(micros: int, clock_id: int) -> str:
    """An AT Protocol TID: 53 bits of microseconds and 10 of clock id, base32-sortable."""
    value, out = (micros << 10) | (clock_id % 1024), ""
    for _ in range(13):
        out = TID_ALPHABET[value & 31] + out
        value >>= 5
    return out


def link_facets(text: str) -> list[dict]:
    """Links are only clickable on Bluesky as facets, addressed in UTF-8 bytes."""
    facets = []
    for match in URL.finditer(text):
        start = len(text[: match.start()].encode())
        end = start + len(match.group().encode())
        facets.append(
            {
                "index": {"byteStart": start, "byteEnd": end},
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": match.group()}],
            }
        )
    return facets


def post_url(did: str, rkey: str) -> str:
    return f"https://bsky.app/profile/{did}/post/{rkey}"


class Channel:
    name, measures, idempotent = NAME, True, False
    odd_ids = None  # its ids go into no path: the rule for every id (Publication)

    def __init__(self):
        self.http = client(settings.OPS_BLUESKY_PDS_URL)
        self.did = None

    def close(self):
        self.http.close()

    def limit(self) -> None:
        return None

    def login(self) -> str:
        if self.did is None:
            body = {
                "identifier": settings.OPS_BLUESKY_HANDLE,
                "password": settings.OPS_BLUESKY_APP_PASSWORD,
            }
            answer = self.http.post("/xrpc/com.atproto.server.createSession", json=body)
            session = json_of(check(answer, NAME), NAME)
            if not isinstance(session.get("accessJwt"), str) or not session.get("did"):
                raise Malformed("bluesky: createSession answered without accessJwt and did")
            for token in ("accessJwt", "refreshJwt"):  # known before anything can echo it
                know_secret(session.get(token) or "")
            self.http.headers["Authorization"] = f"Bearer {session['accessJwt']}"
            self.did = str(session["did"])
        return self.did

    def rkey(self, request) -> str:
        micros = int(request.created_at.astimezone(UTC).timestamp() * 1_000_000)
        return tid(micros, request.seq)

    def publish(self, request) -> Posted:
        did, rkey = self.login(), self.rkey(request)
        record = {
            "$type": COLLECTION,
            "text": request.text,
            "createdAt": request.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }
        if facets := link_facets(request.text):
            record["facets"] = facets
        body = {"repo": did, "collection": COLLECTION, "rkey": rkey, "record": record}
        answer = self.http.post("/xrpc/com.atproto.repo.createRecord", json=body)
        if answer.status_code == 400 and "already exists" in answer.text.lower():
            raise Duplicate("bluesky: a record with this key already exists")
        uri = json_of(check(answer, NAME), NAME).get("uri")
        if not isinstance(uri, str) or not uri.startswith("at://"):
            raise Malformed("bluesky: createRecord answered without an at:// uri")
        return Posted(uri, post_url(did, rkey))

    def find(self, request) -> Posted | None:
        did, rkey = self.login(), self.rkey(request)
        params = {"repo": did, "collection": COLLECTION, "rkey": rkey}
        answer = self.http.get("/xrpc/com.atproto.repo.getRecord", params=params)
        if answer.status_code == 400 and "RecordNotFound" in answer.text:
            return None
        uri = json_of(check(answer, NAME), NAME).get("uri")
        return Posted(str(uri), post_url(did, rkey)) if uri else None

    def measure(self, post_id: str) -> Measured:
        with client(settings.OPS_BLUESKY_APPVIEW_URL) as appview:
            answer = appview.get("/xrpc/app.bsky.feed.getPosts", params={"uris": post_id})
        posts = json_of(check(answer, NAME), NAME).get("posts")
        if not isinstance(posts, list):
            raise Malformed("bluesky: getPosts answered without a posts list")
        found = [p for p in posts if isinstance(p, dict) and p.get("uri") == post_id]
        if not found:
            return Measured(deleted=True)
        return Measured(0, engagements_of(found[0], ENGAGEMENTS, NAME))
