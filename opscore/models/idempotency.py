"""Idempotency keys: a client's retry of a write gets the first answer, not a second write.

The row is inserted *before* the write and answered in the same transaction as it, so a key on
file always carries its answer, and a crash between the write and the key cannot happen. Two
requests racing with one key are serialised by the unique constraint: the second's insert waits
for the first's transaction and then finds the row (or, if that rolled back, takes the key).
"""

import json
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.functions import Now

TTL = timedelta(hours=24)


class IdempotencyKeyQuerySet(models.QuerySet):
    def expired(self):
        return self.filter(created_at__lt=Now() - TTL)

    def claim(self, scope: str, key: str, request_sha256: str):
        """(row, created) inside the caller's transaction; an expired key is taken afresh."""
        self.expired().filter(scope=scope, key=key).delete()
        return self.get_or_create(scope=scope, key=key, defaults={"request_sha256": request_sha256})


class IdempotencyKey(models.Model):
    scope = models.CharField(max_length=100, help_text="whose key: endpoint and caller")
    key = models.CharField(max_length=255)
    request_sha256 = models.CharField(max_length=64)
    # Null only inside the transaction that writes the answer: nobody else ever sees that.
    response_status = models.PositiveSmallIntegerField(null=True)
    response_json = models.TextField(blank=True, help_text="the body exactly as first sent")
    created_at = models.DateTimeField(db_default=Now())

    objects = IdempotencyKeyQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_one_per_key"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self):
        return f"{self.scope} {self.key}"

    def remember(self, status: int, body: dict) -> None:
        # Text, not jsonb: jsonb reorders keys, and a replay is the same bytes as the first.
        self.response_status = status
        self.response_json = json.dumps(body, cls=DjangoJSONEncoder)  # as JsonResponse does
        self.save(update_fields=["response_status", "response_json"])

    def response_body(self) -> dict:
        return json.loads(self.response_json)
