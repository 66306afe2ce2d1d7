"""Engagement comes back: a standing order reads each published post's public numbers on a
decaying schedule (1 h, 6 h, 24 h and 72 h after posting) and writes ContentMetric rows, so
outcome learning and the tweet_high_engagement trigger run on real numbers. A post the channel
no longer has is recorded as deleted. One bad answer fails that poll (kept on the post, the next
poll still comes), never the order; a 429 postpones the poll; a refused credential blocks the
channel, as a refused post does. A stopped channel (`stop-channel`) is not polled until the
stop is lifted, and a paused publishing lane holds the order (opportunities.apps)."""

from collections import Counter

import httpx
from django.db import transaction

from missions.models import ContentMetric, Publication, PublicationStatus
from opportunities.channels import ADAPTERS, LABELS
from opportunities.channels.base import ChannelError, CredentialsRefused, RateLimited
from opportunities.models import ChannelAccount
from opportunities.publishing import block_channel, stopped_by
from opscore.actions import record_event
from opscore.models import RunStatus
from opscore.redaction import redact_text
from opscore.standing_orders import RunResult
from opscore.text import strip_invisible

MAX_PER_RUN = 50
BLOCKED_RETRY_SECONDS = 3600
STOPPED_RETRY_SECONDS = 900  # a stopped channel's polls look again as often as the order runs


def engagement_poll(order, run):
    due = Publication.objects.due_for_poll().filter(status=PublicationStatus.PUBLISHED)
    polled = Counter(poll_one(publication) for publication in due[:MAX_PER_RUN])
    if not polled:
        return RunResult(RunStatus.NO_WORK, "no post is due for an engagement poll")
    summary = ", ".join(f"{outcome} {n}" for outcome, n in sorted(polled.items()))
    return RunResult(RunStatus.COMPLETED, f"engagement polls: {summary}", dict(polled))


def poll_one(publication: Publication) -> str:
    """Poll one post; returns what happened (measured, deleted, failed, postponed, skipped)."""
    module = ADAPTERS.get(publication.channel)
    if module is None or not module.configured() or not module.Channel.measures:
        publication.record_poll(f"{publication.channel} is not configured or has no metrics")
        return "skipped"
    if ChannelAccount.objects.filter(name=publication.channel, blocked_at__isnull=False).exists():
        publication.postpone_poll(BLOCKED_RETRY_SECONDS, f"{publication.channel} is blocked")
        return "postponed"
    if stop := stopped_by(publication.channel):  # the kill switch: nothing goes to the channel
        why = f"{publication.channel} is stopped by override {stop.id}: {stop.reason}"
        publication.postpone_poll(STOPPED_RETRY_SECONDS, why)
        return "postponed"
    channel = module.Channel()
    try:
        measured = channel.measure(publication.external_id)
    except RateLimited as limited:
        publication.postpone_poll(limited.retry_after, str(limited))
        return "postponed"
    except CredentialsRefused as refused:
        block_channel(publication.channel, str(refused))
        publication.postpone_poll(BLOCKED_RETRY_SECONDS, str(refused))
        return "failed"
    except (ChannelError, httpx.HTTPError) as error:
        publication.record_poll(poll_error(error))
        return "failed"
    finally:
        channel.close()
    return record_measurement(publication, measured)


def poll_error(error: Exception) -> str:
    """The error as kept on the post: an HTTP error may name what it sent (redacted), and a
    channel's own words may hold a NUL (an answer's post id quoted back), which Postgres
    refuses: the write failed, and the whole order with it, on every run."""
    return redact_text(" ".join(strip_invisible(f"{type(error).__name__}: {error}").split()))


@transaction.atomic
def record_measurement(publication: Publication, measured) -> str:
    if measured.deleted:
        publication.mark_deleted()
        record_event(
            "tweet.deleted",
            f"Deleted on {LABELS[publication.channel]}: {publication.body[:120]}",
            tags=["tweet", "deleted", publication.channel],
            payload={"publication_id": publication.id, "external_id": publication.external_id},
            step=publication.step,
            agent_id=publication.step.agent_id,
            actor=f"channel:{publication.channel}",
            dedupe_key=f"publication.deleted:{publication.id}",
        )
        return "deleted"
    rate = measured.engagements / measured.impressions if measured.impressions else 0.0
    ContentMetric.objects.create(
        publication=publication,
        post_ref=publication.external_id,
        impressions=measured.impressions,
        engagements=measured.engagements,
        engagement_rate=rate,
    )
    publication.record_poll()
    return "measured"


HANDLERS = {"engagement_poll": engagement_poll}
