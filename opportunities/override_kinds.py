"""The overrides the opportunities lane owns: a per-channel kill switch for publishing."""

from django.db import transaction

from missions.models import OutboxMessage, OutboxStatus
from missions.recovery import requeue_cleared_blockers
from opportunities.channels import ADAPTERS
from opportunities.publishing import STOP
from opscore.overrides import OVERRIDE_KINDS, OverrideKind, OverrideRefused


def check_channel(target: str) -> str:
    if target not in ADAPTERS:
        raise OverrideRefused(f"stop-channel: unknown channel {target!r}; known: {list(ADAPTERS)}")
    return target


def queued_posts(target: str) -> dict:
    pending = OutboxMessage.objects.filter(channel=target, status=OutboxStatus.PENDING)
    return {"queued_posts": pending.count()}


KINDS = [
    OverrideKind(
        STOP,
        "stop posting to channel",
        True,
        check_channel,
        queued_posts,
        apply=queued_posts,  # the switch is the row itself: publishing reads it before posting
        lift=lambda row: transaction.on_commit(requeue_cleared_blockers),
        left=queued_posts,
        targets=lambda: [(name, name) for name in ADAPTERS],
    ),
]


def register() -> None:
    for kind in KINDS:
        OVERRIDE_KINDS.register(kind.name, kind)
