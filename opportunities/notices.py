"""The one arbiter of what reaches a human: alerts at once, the daily ideas and accountability
digests, the weekly bets memo. A notice is a row (the Stage's inbox) plus one outbox message per
configured channel, written together; a repeated notice (same dedupe key) writes nothing new.
The outbox's own loop (`manage.py deliver`) sends them, with timeouts (EMAIL_TIMEOUT, the
webhook's), retries with backoff and a recorded final failure; an e-mail keeps the Message-ID
chosen when the notice was written, so a resend is recognisably the same message."""

import re
from contextlib import nullcontext
from email.utils import parseaddr

import httpx
from django.conf import settings
from django.core.mail import EmailMessage, make_msgid
from django.db import IntegrityError, transaction
from django.db.models.functions import Now
from django.utils.text import capfirst

from missions.crawl import deadline_client
from missions.models import OutboxMessage
from missions.outbox import ChannelSaidNo, Held, backoff_seconds
from opportunities.channels.base import error_body, retry_seconds
from opportunities.models import Notice
from opscore import db
from opscore.lanes import lane_of_handler, pause_of
from opscore.mail import SomeRecipientsRefused
from opscore.redaction import redact_text
from opscore.text import ReasonRefused, checked_reason

WEBHOOK_TIMEOUT = 10
PAUSED_RECHECK_SECONDS = 60  # a notice held by a paused lane looks again this often
WEBHOOK_TEXT = 3000  # a chat message's room for the notice
CUT = "… (cut here: the whole message is in the Stage's inbox)"
ROOM_MENTION = re.compile(r"@(?=(?:here|channel|everyone|all)\b)", re.IGNORECASE)
# Microsoft Teams' incoming webhooks answer 200 to what they could not deliver and deem
# retryable (a 429, a 413), the failure said in the body: not delivered, so retried.
FAILED_WITH_200 = "webhook message delivery failed"
HALF_ENTITY = re.compile(r"&[a-z]{0,3}$")  # an escape the cut went through


def channels() -> list[str]:
    found = []
    if settings.OPS_NOTIFY_EMAIL:
        found.append("email")
    if settings.OPS_WEBHOOK_URL:
        found.append("webhook")
    return found


def notify(
    lane: str, title: str, body: str, *, dedupe_key: str, run=None, of_lane="", **extra
) -> Notice:
    """Write the notice and its outbox rows in one transaction; the same key returns the
    notice already on file and sends nothing again. `of_lane`: the lane whose pause holds its
    delivery (a run's own is its order's). The words are redacted first: a scout or a runtime
    quoting a log may quote a credential, and the inbox, the e-mail and the chat show them."""
    of_lane = of_lane or (lane_of_handler(run.order.handler) if run else "")
    title, body = redact_text(title)[:200], redact_text(body)
    try:
        with transaction.atomic():
            notice = Notice.objects.create(
                lane=lane, title=title, body=body, dedupe_key=dedupe_key[:200], **extra
            )
            for channel in channels():
                OutboxMessage.objects.create(
                    key=f"notice:{notice.id}:{channel}",
                    channel=channel,
                    payload={"notice_id": notice.id, "of_lane": of_lane} | channel_fields(channel),
                    standing_order_run=run,
                )
            db.notify(db.Channel.OUTBOX)  # wakes the deliverer once this commits
            return notice
    except IntegrityError:
        return Notice.objects.get(dedupe_key=dedupe_key[:200])


def mail_domain() -> str:
    return settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip("<> ") or "opscore.invalid"


def channel_fields(channel: str) -> dict:
    """What a channel needs fixed at write time: an e-mail's RFC 5322 Message-ID, stored on
    the row so every retry sends the same one."""
    if channel == "email":
        return {"message_id": make_msgid("notice", domain=mail_domain())}
    return {}


def message_id(message: OutboxMessage) -> str:
    """The stored Message-ID; rows written before it was stored get one derived from the
    row, as stable across retries."""
    return message.payload.get("message_id") or f"<opscore.outbox.{message.id}@{mail_domain()}>"


def subject(notice: Notice) -> str:
    """Says what the message is: its kind of notice, then its title, on one line: a title an
    outside runtime or a model wrote may hold a line break, which no mail header takes (the
    send failed on every retry)."""
    title = " ".join(notice.title.split())
    return f"[Opscore] {capfirst(notice.get_lane_display())}: {title}"


def held_by_a_pause(message: OutboxMessage) -> None:
    """A notice of a paused lane waits for the pause to end, no attempt spent: one queued
    before the pause (its mail server down, say) went out during it."""
    if pause := pause_of(message.payload.get("of_lane", "")):
        raise Held(f"held: {pause.why}", retry_after=PAUSED_RECHECK_SECONDS)


def still_configured(name: str, unset: str) -> None:
    """A notice queued while its channel was configured, the setting emptied since: Django
    sends a message with no recipient to nobody and says nothing (the row read 'delivered'),
    and a URL-less post fails the same way every time. Failed at once, saying why."""
    if not getattr(settings, name):
        raise ChannelSaidNo(f"{name} {unset}: nothing was sent", retry_after=None)


def send_email(message: OutboxMessage) -> str:
    """One SMTP conversation under EMAIL_TIMEOUT (Django's mail framework applies it)."""
    held_by_a_pause(message)
    still_configured("OPS_NOTIFY_EMAIL", "names no recipient any more")
    notice = Notice.objects.get(pk=message.payload["notice_id"])
    email = EmailMessage(
        subject=subject(notice),
        body=notice.body,
        to=owed_to(message),
        headers={"Message-ID": message_id(message)},
    )
    try:
        email.send(fail_silently=False)
    except SomeRecipientsRefused as partly:
        raise still_owed(message, partly.refused) from None
    return f"email:{message_id(message)}"


def owed_to(message: OutboxMessage) -> list[str]:
    """OPS_NOTIFY_EMAIL, or those of them a server refused last time (the row's `to`, matched
    by address: the backend may spell a named one its own way). One taken off the list since
    is owed nothing."""
    owed = message.payload.get("to")
    if owed is None:
        return settings.OPS_NOTIFY_EMAIL
    owed = {parseaddr(to)[1].lower() for to in owed}
    return [to for to in settings.OPS_NOTIFY_EMAIL if parseaddr(to)[1].lower() in owed]


def still_owed(message: OutboxMessage, refused: dict) -> ChannelSaidNo:
    """Some recipients refused (a mailbox full, a name gone), the others took the message: the
    attempt failed, saying whom and why, and the retry goes to those still owed it (the row's
    `to`), never again to those who have it. Refused for good, they are in the failure's
    alert."""
    said = ", ".join(
        f"{to} ({code} {words.decode(errors='replace')})"
        for to, (code, words) in sorted(refused.items())
    )

    def owe() -> None:
        to = sorted(refused)
        OutboxMessage.objects.filter(pk=message.pk, attempts=message.attempts).update(
            payload=message.payload | {"to": to}
        )

    reason = f"the mail server refused {said}; the others have the message"
    return ChannelSaidNo(reason, retry_after=backoff_seconds(message.attempts), aftermath=owe)


def as_chat_text(words: str) -> str:
    """Words shown as written, never read as the chat's commands: Slack-compatible webhooks
    take `<!channel>` as a ping to the room and `<url|words>` as a link showing other words,
    so &, < and > are escaped as Slack's formatting rules ask; a room-wide @-mention (which
    Mattermost and Discord read in plain text) gets a word joiner after its @."""
    escaped = words.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return ROOM_MENTION.sub("@\u2060", escaped)


class WebhookRefused(RuntimeError):
    """The chat webhook answered with an error; the message names the status alone, as the
    URL is the webhook's key and httpx spells it its own way (a host lowercased, a port
    dropped), past any masking of the setting's value."""


def send_webhook(message: OutboxMessage, client: httpx.Client | None = None) -> str:
    """Slack-compatible JSON; the key rides along so a receiver can drop a duplicate."""
    held_by_a_pause(message)
    still_configured("OPS_WEBHOOK_URL", "is not set any more")
    notice = Notice.objects.get(pk=message.payload["notice_id"])
    text = f"*{notice.get_lane_display()}: {as_chat_text(notice.title)}*\n"
    text += as_chat_text(notice.body)
    if len(text) > WEBHOOK_TEXT:  # a cut message says so: the rest was not dropped unsaid
        text = HALF_ENTITY.sub("", text[: WEBHOOK_TEXT - len(CUT) - 1]) + "\n" + CUT
    own = nullcontext(client) if client else deadline_client(WEBHOOK_TIMEOUT)  # the whole call
    with own as sender:
        answer = sender.post(
            settings.OPS_WEBHOOK_URL,
            json={"text": text},
            headers={"Idempotency-Key": message.key},
        )
    if answer.status_code == 429:
        raise rate_limited(answer, message)
    if not answer.is_success:  # not raise_for_status(): its error names the URL, here the key
        raise WebhookRefused(f"the webhook answered {answer.status_code} {answer.reason_phrase}")
    if answer.text.lstrip().lower().startswith(FAILED_WITH_200):
        raise WebhookRefused(f"the webhook answered {answer.status_code}: {error_body(answer)}")
    return f"webhook:{message.key}"


def rate_limited(answer: httpx.Response, message: OutboxMessage) -> ChannelSaidNo:
    """A 429 waits what the chat asked (Retry-After), at least the backoff: Slack's and
    Discord's windows run to minutes, and retried sooner the notice spent every attempt
    inside one and was given up undelivered."""
    wait = max(retry_seconds(answer), backoff_seconds(message.attempts))
    said = f"the webhook answered 429 {answer.reason_phrase} (retry in {wait:.0f} s)"
    return ChannelSaidNo(said, retry_after=wait)


class DismissRefused(ValueError):
    """A dismissal not taken; the message says why, in one line."""


def dismiss(notice: Notice, *, actor: str, reason: str = "") -> Notice:
    """A person's reason is kept whole or refused (opscore.text.checked_reason, as every
    reason): it was cut to its column without a word. It is optional here."""
    try:
        reason = checked_reason(reason)
    except ReasonRefused as refused:
        raise DismissRefused(str(refused)) from None
    Notice.objects.filter(pk=notice.pk, dismissed_at__isnull=True).update(
        dismissed_at=Now(), dismissed_by=actor, dismiss_reason=reason
    )
    notice.refresh_from_db()
    return notice
