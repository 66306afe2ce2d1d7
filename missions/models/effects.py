"""What steps produce and send out: artifacts, publications and the outbox."""

import re
from datetime import timedelta

from django.db import models
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q
from django.db.models.functions import Now

from missions.models.steps import Step
from opscore.db import in_seconds


class OutboxStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    # Never sent, on purpose (its mission was cancelled or timed out): expected, so no alert.
    REFUSED = "refused", "refused before sending"


class ClaimLost(RuntimeError):
    """This attempt's claim ran out and another deliverer took the row while it ran."""


class OutboxQuerySet(models.QuerySet):
    def due(self):
        """Pending and not backing off (nor claimed by a deliverer: a claim pushes the time on)."""
        return self.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=Now())

    def waiting(self) -> dict:
        """Pending, failed and refused counts, and how long the oldest due message has waited
        untaken by the database clock (a claim or a hold pushes its time on, so a message in a
        deliverer's hands is not due): the one figure that says no deliverer is running."""
        due = Q(status=OutboxStatus.PENDING, next_attempt_at__lte=Now())
        age = ExpressionWrapper(Now() - Min("next_attempt_at", filter=due), DurationField())
        row = self.aggregate(
            pending=Count("id", filter=Q(status=OutboxStatus.PENDING)),
            failed=Count("id", filter=Q(status=OutboxStatus.FAILED)),
            refused=Count("id", filter=Q(status=OutboxStatus.REFUSED)),
            age=age,
        )
        age = row.pop("age")
        seconds = round(age.total_seconds(), 1) if age is not None else None
        return row | {"oldest_due_age_seconds": seconds}


class OutboxMessage(models.Model):
    """An external effect, written in the same transaction as the step's completion (or the
    standing-order run's result, for messages to the humans).

    The unique key makes a retried or restarted step unable to record the same effect twice;
    delivery reads these rows later and marks them delivered.
    """

    key = models.CharField(max_length=200, unique=True)
    step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.PROTECT, related_name="outbox"
    )
    standing_order_run = models.ForeignKey(
        "opscore.StandingOrderRun",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="outbox",
    )
    channel = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_default=Now())
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = OutboxQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["id"], condition=Q(status="pending"), name="outbox_pending_idx"),
        ]

    def __str__(self):
        return f"{self.channel}:{self.key}"

    def claim(self, lease_seconds: float) -> None:
        """Count the attempt and hold the row for `lease_seconds`, committed before the send,
        so the send runs with no transaction or lock open; a deliverer that dies mid-send
        leaves the row to be retried when the lease runs out."""
        OutboxMessage.objects.filter(pk=self.pk).update(
            attempts=F("attempts") + 1,
            last_attempt_at=Now(),
            next_attempt_at=in_seconds(lease_seconds),
        )
        self.refresh_from_db(fields=["attempts", "last_attempt_at", "next_attempt_at"])

    def mark_delivered(self, external_id: str) -> None:
        done = OutboxMessage.objects.filter(
            pk=self.pk, status=OutboxStatus.PENDING, attempts=self.attempts
        ).update(status=OutboxStatus.DELIVERED, delivered_at=Now(), external_id=external_id)
        if not done:  # our claim ran out and another deliverer took the row
            raise ClaimLost(f"outbox {self.key}: claimed again while this attempt ran")

    def postpone(self, reason: str, seconds: float) -> None:
        """Not sent, and not an attempt: a switch holds the row (a paused lane). The claim's
        count is given back, so a long pause never uses up its delivery attempts."""
        OutboxMessage.objects.filter(pk=self.pk, attempts=self.attempts).update(
            attempts=F("attempts") - 1,
            last_error=reason[:2000],
            next_attempt_at=in_seconds(seconds),
        )
        self.refresh_from_db()

    def mark_refused(self, reason: str) -> None:
        """Never to be sent, and nothing failed: the row is done with, with its reason."""
        OutboxMessage.objects.filter(pk=self.pk, attempts=self.attempts).update(
            status=OutboxStatus.REFUSED, last_error=reason[:2000]
        )
        self.refresh_from_db()

    def record_failure(self, reason: str, *, retry_after: float | None) -> None:
        """Keep the reason; retry `retry_after` seconds after this attempt began, or, with
        None, give up: the row is `failed` for good, with its reason."""
        fields = {"last_error": reason[:2000]}
        if retry_after is None:
            fields["status"] = OutboxStatus.FAILED
        else:
            fields["next_attempt_at"] = F("last_attempt_at") + timedelta(seconds=retry_after)
        OutboxMessage.objects.filter(pk=self.pk, attempts=self.attempts).update(**fields)
        self.refresh_from_db()


class Provenance(models.TextChoices):
    TRUSTED = "trusted", "trusted (made by our agents)"
    UNTRUSTED = "untrusted", "untrusted (from outside, e.g. a crawled page)"


class Artifact(models.Model):
    """What a step produced: text plus metadata, and where its content came from."""

    step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.PROTECT, related_name="artifacts"
    )
    standing_order_run = models.ForeignKey(
        "opscore.StandingOrderRun",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="artifacts",
    )
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=300)
    body = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    provenance = models.CharField(
        max_length=10, choices=Provenance.choices, default=Provenance.TRUSTED
    )
    source_url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"A{self.id} {self.kind}: {self.title}"


class PublicationStatus(models.TextChoices):
    PENDING = "pending"
    PUBLISHED = "published"
    FAILED = "failed"
    # No credentials for the channel, or words from the offline LLM provider: kept here only.
    LOCAL = "local", "recorded locally, not published"
    REFUSED = "refused", "refused before posting"
    DELETED = "deleted", "deleted on the channel"


NOT_IN_IDS = re.compile(r"[^A-Za-z0-9:/._~%@+=-]")  # what no network's post id holds
# Engagement is read back 1 h, 6 h, 24 h and 72 h after posting, then no more.
POLL_AFTER = (timedelta(hours=1), timedelta(hours=6), timedelta(hours=24), timedelta(hours=72))


class PublicationQuerySet(models.QuerySet):
    def due_for_poll(self):
        """Served by publication_poll_idx: only rows with a next poll are in it."""
        return self.filter(next_poll_at__lte=Now()).order_by("next_poll_at", "id")


def unusable_id(value: str, most: int, odd: re.Pattern | None = None) -> str:
    """Why a channel's id for a post cannot be kept as it came back ('' when it can). An id is
    one word of the characters every network's ids are made of (X's and Mastodon's digits,
    Pleroma's base62, Bluesky's at:// URI): a server's sentence in its place was quoted by the
    tweet_high_engagement rule in the work it proposed, trusted as our post's words are.
    `odd`: what one channel's ids never hold, where that is stricter (ids put into a path)."""
    if not value:
        return "empty"
    if len(value) > most:
        return f"over {most} characters"
    if not value.isprintable():
        return "unprintable"
    odd = NOT_IN_IDS.search(value) or (odd.search(value) if odd else None)
    return f"not an id ({odd.group()!r} in it)" if odd else ""


class Publication(models.Model):
    """A post to an outside channel, created by its outbox row exactly once. `external_id`
    and `url` are the channel's own; `reason` says why a post is local, refused or failed."""

    step = models.ForeignKey(Step, on_delete=models.PROTECT, related_name="publications")
    outbox = models.OneToOneField(
        OutboxMessage, on_delete=models.PROTECT, related_name="publication"
    )
    channel = models.CharField(max_length=64)
    body = models.TextField()
    status = models.CharField(
        max_length=10, choices=PublicationStatus.choices, default=PublicationStatus.PENDING
    )
    reason = models.CharField(max_length=500, blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    published_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    polls_done = models.PositiveSmallIntegerField(default=0)
    last_poll_error = models.CharField(max_length=500, blank=True)

    objects = PublicationQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["channel", "created_at"], name="publication_day_idx"),
            models.Index(
                fields=["next_poll_at"],
                condition=Q(next_poll_at__isnull=False),
                name="publication_poll_idx",
            ),
            # The content_published checker's lookback: published since its window start.
            models.Index(
                fields=["published_at"],
                condition=Q(status="published"),
                name="publication_published_idx",
            ),
        ]

    def __str__(self):
        return f"{self.channel}: {self.body[:40]}"

    @property
    def is_posted(self) -> bool:
        return self.status in (PublicationStatus.PUBLISHED, PublicationStatus.DELETED)

    def mark_published(
        self, external_id: str, url: str, *, measured: bool = True, odd_ids=None
    ) -> None:
        """Posted: the channel's id and URL kept, the first engagement poll an hour on. An id
        no row holds as it came is not kept, and the post is not polled, saying why: cut, every
        poll asked for another post; with a NUL, the write failed after the post was out.
        `odd_ids`: what the channel's ids never hold (unusable_id)."""
        most = self._meta.get_field("external_id").max_length
        why = unusable_id(external_id, most, odd_ids)
        self.status = PublicationStatus.PUBLISHED
        self.reason = (
            f"{self.channel}'s id for it is {why}: its engagement is not read" if why else ""
        )
        self.external_id, self.url = ("" if why else external_id), url[:500]
        self.published_at = Now()
        polled = measured and not why
        self.next_poll_at = in_seconds(POLL_AFTER[0].total_seconds()) if polled else None
        self.save()
        self.refresh_from_db(fields=["published_at", "next_poll_at"])

    def set_aside(self, status: str, reason: str) -> None:
        """Local, refused or failed: never posted, with the reason shown wherever it appears."""
        self.status, self.reason, self.external_id = status, reason[:500], ""
        self.next_poll_at = None
        self.save()

    def record_poll(self, error: str = "") -> None:
        """One poll done (or failed, with why): the next one on the decaying schedule."""
        self.polls_done += 1
        self.last_poll_error = error[:500]
        later = POLL_AFTER[self.polls_done] if self.polls_done < len(POLL_AFTER) else None
        self.next_poll_at = self.published_at + later if later else None
        self.save(update_fields=["polls_done", "last_poll_error", "next_poll_at"])

    def postpone_poll(self, seconds: float, error: str) -> None:
        """The channel asked us to wait (429): same poll, later; not counted as done."""
        self.last_poll_error = error[:500]
        self.next_poll_at = in_seconds(seconds)
        self.save(update_fields=["last_poll_error", "next_poll_at"])
        self.refresh_from_db(fields=["next_poll_at"])

    def mark_deleted(self) -> None:
        """Gone on the channel: kept here as deleted, and no longer polled."""
        self.status, self.deleted_at, self.next_poll_at = PublicationStatus.DELETED, Now(), None
        self.save(update_fields=["status", "deleted_at", "next_poll_at"])
        self.refresh_from_db(fields=["deleted_at"])
