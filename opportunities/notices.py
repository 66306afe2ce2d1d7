"""The one arbiter of what reaches a human: alerts at once, the daily ideas digest, the weekly
bets memo. A notice is a row (the Stage's inbox) plus one outbox message per configured channel,
written together; a repeated notice (same dedupe key) writes nothing new, and the outbox sends
each message once however often delivery is retried."""

import httpx
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models.functions import Now

from missions.models import OutboxMessage
from opportunities.models import Notice

WEBHOOK_TIMEOUT = 10


def channels() -> list[str]:
    found = []
    if settings.OPS_NOTIFY_EMAIL:
        found.append("email")
    if settings.OPS_WEBHOOK_URL:
        found.append("webhook")
    return found


def notify(lane: str, title: str, body: str, *, dedupe_key: str, run=None, **extra) -> Notice:
    """Write the notice and its outbox rows in one transaction; the same key returns the
    notice already on file and sends nothing again."""
    try:
        with transaction.atomic():
            notice = Notice.objects.create(
                lane=lane, title=title[:200], body=body, dedupe_key=dedupe_key[:200], **extra
            )
            for channel in channels():
                OutboxMessage.objects.create(
                    key=f"notice:{notice.id}:{channel}",
                    channel=channel,
                    payload={"notice_id": notice.id},
                    standing_order_run=run,
                )
            return notice
    except IntegrityError:
        return Notice.objects.get(dedupe_key=dedupe_key[:200])


def send_email(message: OutboxMessage) -> str:
    notice = Notice.objects.get(pk=message.payload["notice_id"])
    email = EmailMessage(
        subject=f"[Opscore {notice.get_lane_display()}] {notice.title}",
        body=notice.body,
        to=settings.OPS_NOTIFY_EMAIL,
        headers={"Message-ID": f"<{message.key}@opscore>"},  # a resend is recognisably the same
    )
    email.send(fail_silently=False)
    return f"email:{message.key}"


def send_webhook(message: OutboxMessage, client: httpx.Client | None = None) -> str:
    """Slack-compatible JSON; the key rides along so a receiver can drop a duplicate."""
    notice = Notice.objects.get(pk=message.payload["notice_id"])
    text = f"*{notice.get_lane_display()}: {notice.title}*\n{notice.body}"
    post = (client or httpx).post
    answer = post(
        settings.OPS_WEBHOOK_URL,
        json={"text": text[:3000]},
        headers={"Idempotency-Key": message.key},
        timeout=WEBHOOK_TIMEOUT,
    )
    answer.raise_for_status()
    return f"webhook:{message.key}"


def dismiss(notice: Notice, *, actor: str, reason: str = "") -> Notice:
    Notice.objects.filter(pk=notice.pk, dismissed_at__isnull=True).update(
        dismissed_at=Now(), dismissed_by=actor, dismiss_reason=reason[:300]
    )
    notice.refresh_from_db()
    return notice
