"""A generic signed webhook: POST JSON {key, channel, text} to OPS_POST_WEBHOOK_URL, signed
`X-Opscore-Signature: sha256=HMAC(secret, "<timestamp>.<body>")` with the timestamp in
`X-Opscore-Timestamp`, and the outbox key as `Idempotency-Key` so a receiver drops a repeat.
An answer of JSON {"id", "url"} is kept; 409 means the receiver already has the post.
A webhook reports no engagement, so its posts are not polled."""

import hashlib
import hmac
import json
import time

from django.conf import settings

from opportunities.channels.base import Duplicate, Posted, check, client, post_link

NAME = "post_webhook"


def configured() -> bool:
    return bool(settings.OPS_POST_WEBHOOK_URL and settings.OPS_POST_WEBHOOK_SECRET)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class Channel:
    name, measures, idempotent = NAME, False, True
    odd_ids = None  # its ids go into no path: the rule for every id (Publication)

    def __init__(self):
        self.http = client("")  # the URL exactly as configured: a base URL gains a "/"

    def close(self):
        self.http.close()

    def limit(self) -> None:
        return None

    def publish(self, request) -> Posted:
        body = json.dumps({"key": request.key, "channel": NAME, "text": request.text}).encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": request.key,
            "X-Opscore-Timestamp": stamp,
            "X-Opscore-Signature": signature(settings.OPS_POST_WEBHOOK_SECRET, stamp, body),
        }
        answer = self.http.post(settings.OPS_POST_WEBHOOK_URL, content=body, headers=headers)
        if answer.status_code == 409:
            raise Duplicate("post_webhook: the receiver already has this key")
        check(answer, NAME)
        try:
            data = answer.json() if answer.content else {}
        except (ValueError, RecursionError):  # a 2xx is a post made, whatever its body says
            data = {}
        data = data if isinstance(data, dict) else {}
        return Posted(str(data.get("id") or request.key)[:200], post_link(data.get("url")))

    def find(self, request) -> Posted:
        """A receiver that answered 409 has the post under our key."""
        return Posted(request.key, "")

    def measure(self, post_id: str):
        raise NotImplementedError("a webhook reports no engagement")
