"""The publishing channels, each a small adapter over httpx with the same five verbs:
configured(), Channel().limit(), publish(request), find(request) (check before a retry) and
measure(post_id). `ADAPTERS` maps the outbox channel name to its module."""

from dataclasses import dataclass
from datetime import datetime

from opportunities.channels import bluesky, mastodon, webhook, x

ADAPTERS = {module.NAME: module for module in (x, bluesky, mastodon, webhook)}
LABELS = {"x": "X", "bluesky": "Bluesky", "mastodon": "Mastodon", "post_webhook": "webhook"}


@dataclass(frozen=True)
class PostRequest:
    """What a channel is asked to post; `key` is the outbox row's idempotency key, `created_at`
    and `seq` make Bluesky's record key the same on every retry. `taken`: the ids other rows
    already hold, which a retry's look for the post must not take for this one."""

    text: str
    key: str
    created_at: datetime
    seq: int
    taken: frozenset[str] = frozenset()
