"""Deliver recorded effects. A row is delivered at most once: it is claimed with SKIP LOCKED and
marked delivered in the same transaction as the (local) delivery; remote channels receive the
row's unique key so they can refuse a duplicate after a crash between send and commit."""

import logging
from collections.abc import Callable

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now

from missions.models import OutboxMessage, OutboxStatus, in_seconds
from opscore.db import oldest_unlocked
from opscore.registry import Registry

log = logging.getLogger(__name__)
MAX_DELIVERY_ATTEMPTS = 5
Channel = Callable[[OutboxMessage], str]  # returns an external id
CHANNELS: Registry = Registry("outbox channel")


def deliver_locally(message: OutboxMessage) -> str:
    """The default channel: the effect is recorded here and nowhere else."""
    return f"local-{message.id}"


def deliver_one() -> bool:
    with transaction.atomic():
        due = OutboxMessage.objects.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=Now())
        message = oldest_unlocked(due)
        if message is None:
            return False
        deliver = CHANNELS.get(message.channel)
        try:
            if deliver is None:
                raise LookupError(f"no outbox channel named {message.channel!r}")
            message.external_id = deliver(message)
            message.status, message.delivered_at = OutboxStatus.DELIVERED, Now()
        except Exception as error:  # the failure is kept on the row
            message.last_error = str(error)[:2000]
            if message.attempts + 1 >= MAX_DELIVERY_ATTEMPTS:
                message.status = OutboxStatus.FAILED
            message.next_attempt_at = in_seconds(30 * 2**message.attempts)
        message.attempts = F("attempts") + 1
        message.save()
    return True


def deliver_pending(limit: int = 100) -> int:
    delivered = 0
    while delivered < limit and deliver_one():
        delivered += 1
    return delivered
