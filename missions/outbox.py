"""Deliver recorded effects, by their own loop (`manage.py deliver`, a supervised process),
never from a step worker: an outside channel that stalls (an SMTP server that accepts and never
answers) must not hold the worker that runs steps.

A row is claimed first (SKIP LOCKED, its attempt counted and a claim lease set, committed), then
sent with no lock held and every outside call under its own timeout, then marked delivered in a
transaction with whatever the channel wrote locally, so a local effect happens once. A remote
channel receives the row's stable key (the e-mail's Message-ID, the webhook's Idempotency-Key)
so it can refuse a duplicate after a crash between send and commit. A failure keeps its reason
on the row and is retried with exponential backoff; after MAX_DELIVERY_ATTEMPTS the row is
`failed` and an `outbox.failed` alert event says why. An effect of a mission cancelled or timed
out is `refused`, with an `outbox.refused` event: asked for, so no alert.
"""

import contextlib
import logging
import threading
import time
from collections.abc import Callable

import psycopg
from django.db import InterfaceError, OperationalError, close_old_connections, transaction
from django.db import connection as django_connection

from missions.models import Mission, MissionStatus, OutboxMessage, OutboxStatus
from missions.models.effects import ClaimLost
from opscore.actions import record_event
from opscore.db import Channel, listen, oldest_unlocked, seconds_until
from opscore.models import Agent, Override
from opscore.redaction import redact_text
from opscore.registry import Registry
from opscore.text import strip_invisible

log = logging.getLogger(__name__)
MAX_DELIVERY_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 30  # 30 s, 1 min, 2 min, 4 min after each failed attempt began
CLAIM_SECONDS = 300  # longer than any send may take: every channel's calls have timeouts
SWITCHED_OFF_RECHECK_SECONDS = 60  # an effect its step's switches hold looks again this often
Deliver = Callable[[OutboxMessage], str]  # a channel: sends, returns an external id
CHANNELS: Registry = Registry("outbox channel")
# Channels that refuse an ended mission's effect themselves, on a row of their own (a network's
# Publication, refused with a `tweet.refused` event); every other channel's is refused here.
REFUSE_ENDED_THEMSELVES: Registry = Registry("outbox channel refusing ended missions itself")
# Channels whose own row says what became of the effect (a network's Publication), told with
# the last reason once the outbox gives a message up, in the same transaction.
GIVEN_UP: Registry = Registry("outbox channel told when a message is given up")
DISCONNECTS = (OperationalError, InterfaceError, psycopg.OperationalError)


class ChannelSaidNo(Exception):
    """A channel's answer that decides the retry itself: wait `retry_after` seconds (a 429's
    Retry-After) or, with None, never retry (a revoked credential: a retry storm helps no one).
    `aftermath` runs after the send's transaction rolled back, in its own, so what it writes
    (the channel blocked, its alert) is kept."""

    def __init__(self, reason: str, *, retry_after: float | None, aftermath=None):
        super().__init__(reason)
        self.retry_after, self.aftermath = retry_after, aftermath


class Refused(Exception):
    """An effect that must never go out (its mission ended): the operator who cancelled the
    mission asked for this, so it is a refusal on its row, counted apart, not a failure that
    pages anyone (an `outbox.failed` alert, OpscoreOutboxFailed on the failed count)."""


class Held(Exception):
    """A switch holds the message (a paused lane): look again in `retry_after` seconds,
    without counting an attempt."""

    def __init__(self, reason: str, *, retry_after: float):
        super().__init__(reason)
        self.retry_after = retry_after


def deliver_locally(message: OutboxMessage) -> str:
    """The default channel: the effect is recorded here and nowhere else."""
    return f"local-{message.id}"


def claim_next() -> OutboxMessage | None:
    """The oldest due row, claimed; or one whose every attempt was claimed by a deliverer
    that died before answering (its claim ran out), now `failed` instead of tried again:
    a send that kills its deliverer each time must not loop past the cap."""
    with transaction.atomic():
        message = oldest_unlocked(OutboxMessage.objects.due())
        if message is not None and message.attempts >= MAX_DELIVERY_ATTEMPTS:
            lost = f"attempt {message.attempts} never finished: its deliverer was lost mid-send"
            record_failure(message, lost, retry_after=None)
        elif message is not None:
            message.claim(CLAIM_SECONDS)
    return message


def deliver_one() -> bool:
    """Claim and send one due message. Returns whether there was one."""
    return send_one() is not None


def send_one() -> str | None:
    """Claim and send one due message: 'delivered', 'held', 'failed' or 'refused' (kept on its
    row with the reason) or 'late' (see `send`), or None when nothing is due."""
    message = claim_next()
    return None if message is None else send(message)


def send(message: OutboxMessage) -> str:
    """Send a claimed message: 'delivered', 'held', 'failed', 'refused', or 'late' when its
    claim ran out and another deliverer took the row meanwhile (record_late_answer)."""
    if message.status == OutboxStatus.FAILED:  # out of attempts: given up, not sent
        return "failed"
    deliver = CHANNELS.get(message.channel)
    try:
        if deliver is None:
            raise LookupError(f"no outbox channel named {message.channel!r}")
        if message.step_id and (why := held_by_its_step(message.step)):
            raise Held(f"held: {why}", retry_after=SWITCHED_OFF_RECHECK_SECONDS)
        if message.channel not in REFUSE_ENDED_THEMSELVES and (why := mission_ended(message)):
            raise Refused(f"refused: {why}")
        with transaction.atomic():
            message.mark_delivered(deliver(message))
    except ClaimLost:
        record_late_answer(message)
        return "late"
    except Held as held:
        message.postpone(str(held), held.retry_after)
        return "held"
    except Refused as refused:
        record_refusal(message, str(refused))
        return "refused"
    except ChannelSaidNo as said:
        with transaction.atomic():
            if said.aftermath is not None:
                said.aftermath()
            record_failure(message, str(said), retry_after=said.retry_after)
        return "failed"
    except Exception as error:  # the failure is kept on the row, with its reason
        record_failure(message, f"{type(error).__name__}: {error}".strip())
        return "failed"
    return "delivered"


def held_by_its_step(step) -> str | None:
    """An effect queued before its agent was disabled or its mission paused waits with them,
    on every channel (a plug-in's too): the step ran, but the switch says the agent, or the
    mission, acts no more for now."""
    agent = Agent.objects.get(pk=step.agent_id)
    if not agent.enabled:
        return Override.objects.why_disabled(agent.slug)
    mission = Mission.objects.get(pk=step.mission_id)
    if mission.paused_at is not None:
        return f"mission M{mission.id} is paused: {mission.pause_reason}"
    return None


def mission_ended(message: OutboxMessage) -> str | None:
    """A cancelled (or timed-out) mission's effect never goes out, on any channel (a plug-in's
    too): cancelling is how an operator takes back work queued before a pause."""
    if not message.step_id:
        return None
    step = message.step
    status = Mission.objects.filter(pk=step.mission_id).values_list("status", flat=True).get()
    ended = (MissionStatus.CANCELLED, MissionStatus.TIMED_OUT)
    return (
        f"its mission M{step.mission_id} was {status.replace('_', ' ')}"
        if status in ended
        else None
    )


def record_failure(message: OutboxMessage, reason: str, retry_after: float | None = -1) -> None:
    """Back off exponentially, unless the channel said how long (or never, with None). The
    reason is redacted: an HTTP library's error names the URL, and a webhook's URL is its key;
    and cleaned of control characters: a far end's NUL, which Postgres refuses, failed the
    write and the deliverer with it."""
    reason = redact_text(" ".join(strip_invisible(reason).split()))
    if retry_after == -1:
        retry_after = backoff_seconds(message.attempts)
    if retry_after is not None and message.attempts < MAX_DELIVERY_ATTEMPTS:
        message.record_failure(reason, retry_after=retry_after)
        return
    with transaction.atomic():
        message.record_failure(reason, retry_after=None)
        given_up = GIVEN_UP.get(message.channel)
        if given_up and message.status == OutboxStatus.FAILED:  # not another attempt's row
            given_up(message, reason)
        announce_failure(message, reason)


def announce_failure(message: OutboxMessage, reason: str) -> None:
    record_event(
        "outbox.failed",
        f"Not delivered by {message.channel}: {message.key}",
        summary=f"gave up after {message.attempts} attempts: {reason}"[:2000],
        tags=["alert", "outbox", message.channel],
        payload={"outbox_id": message.id, "channel": message.channel, "key": message.key},
        actor="system:outbox",
        dedupe_key=f"outbox.failed:{message.id}",
    )


def record_refusal(message: OutboxMessage, reason: str) -> None:
    """Refused on its row, and said on its mission's feed at no alert's level."""
    step = message.step
    with transaction.atomic():
        message.mark_refused(reason)
        record_event(
            "outbox.refused",
            f"Not sent by {message.channel}: {message.key}",
            summary=reason,
            tags=["outbox", "refused", message.channel],
            payload={"outbox_id": message.id, "channel": message.channel, "key": message.key},
            actor="system:outbox",
            agent_id=step.agent_id,
            mission_id=step.mission_id,
            step=step,
            dedupe_key=f"outbox.refused:{message.id}",
        )


def record_late_answer(message: OutboxMessage) -> None:
    """The channel answered after this attempt's claim ran out, and another deliverer had taken
    the row (a send stalled past CLAIM_SECONDS, a deliverer paused): the row stays the newer
    attempt's, and this one's send is said, not dropped: the message may have gone out twice
    (a remote channel got the row's key both times, to refuse the second)."""
    now = OutboxMessage.objects.get(pk=message.pk)
    record_event(
        "outbox.late_answer",
        f"{message.channel}: {message.key} answered after its claim ran out",
        summary=(
            f"attempt {message.attempts} answered after its {CLAIM_SECONDS} s claim ran out; "
            f"attempt {now.attempts} had taken the message (now {now.status}): it may have "
            "gone out twice"
        ),
        tags=["alert", "outbox", message.channel],
        payload={"outbox_id": message.id, "channel": message.channel, "key": message.key},
        actor="system:outbox",
        dedupe_key=f"outbox.late_answer:{message.id}:{message.attempts}",
    )


def backoff_seconds(attempts: int) -> float:
    """The wait after attempt number `attempts` began: 30 s, 1, 2, 4 min."""
    return BACKOFF_BASE_SECONDS * 2 ** (attempts - 1)


def deliver_pending(limit: int = 100) -> int:
    """Send what is due, at most `limit` tries; returns how many messages were tried."""
    delivered = 0
    while delivered < limit and deliver_one():
        delivered += 1
    return delivered


def seconds_until_next_delivery() -> float:
    return seconds_until("missions_outboxmessage", "next_attempt_at", "status = 'pending'")


class Deliverer:
    """The delivery loop: deliver while anything is due, else sleep until the next row falls
    due or a NOTIFY on the outbox channel (a notice was written) wakes it. It outlives a
    database restart by reconnecting, and ends once `stop` is set, after the send in hand."""

    def __init__(self, stop: threading.Event, idle_poll: float = 5.0):
        self.stop, self.idle_poll = stop, idle_poll
        self.listener = None
        self.delivered = 0

    def run(self) -> int:
        try:
            while not self.stop.is_set():
                self._cycle()
        finally:
            self._close_listener()
        return self.delivered

    def _cycle(self) -> None:
        try:
            if self.listener is None:
                self.listener = listen(Channel.OUTBOX)
            if sent := send_one():
                self.delivered += sent == "delivered"  # what went out, not what was tried
                return
            self._wait(min(self.idle_poll, seconds_until_next_delivery()))
        except DISCONNECTS as error:
            log.warning("outbox deliverer lost the database: %s", error)
            self._close_listener()
            close_old_connections()
            django_connection.close()
            self.stop.wait(1.0)

    def _wait(self, seconds: float) -> None:
        """Until a NOTIFY or `seconds` pass, looking at `stop` every second: a signal does not
        interrupt the wait itself."""
        until = time.monotonic() + seconds
        while not self.stop.is_set() and (left := until - time.monotonic()) > 0:
            for _ in self.listener.notifies(timeout=min(left, 1.0), stop_after=1):
                return

    def _close_listener(self) -> None:
        if self.listener is not None:
            with contextlib.suppress(psycopg.Error):
                self.listener.close()
            self.listener = None
