"""`Idempotency-Key` for API writes: the same key (per caller) gets the first answer again,
a different body under it is a conflict, and the key is stored with that answer in the write's
own transaction (opscore.models.idempotency says how races are settled).

A write whose commit is in doubt (the connection dropped during COMMIT) may be retried with the
same key: either it committed and the stored answer comes back, or it did not and it runs now.
"""

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from opscore.models import IdempotencyKey

HEADER = "Idempotency-Key"
KEY_FORMAT = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as in the IETF draft's examples


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict
    replayed: bool = False


class KeyRefused(ValueError):
    """A key that cannot be honoured: malformed (400), or reused for another request (409)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def request_sha256(data) -> str:
    """Of the parsed body in canonical form: key order and whitespace are not a new request."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def answer_once(scope: str, key: str | None, data, write: Callable[[], Answer]) -> Answer:
    """Run `write` (which must only touch the database) once per key; replay it afterwards.

    Everything the answer needs is computed inside the transaction, so nothing that runs after
    the commit can turn a committed write into an error. `write` raising rolls the key back
    with the write: a refused request leaves no key behind and can be corrected and resent.
    """
    if key is None:
        return write()
    if not KEY_FORMAT.match(key):
        raise KeyRefused(400, f"{HEADER} must be 1 to 255 visible ASCII characters")
    digest = request_sha256(data)
    with transaction.atomic():
        row, created = IdempotencyKey.objects.claim(scope, key, digest)
        if not created:
            return replay(row, digest)
        answer = write()
        row.remember(answer.status, answer.body)
    return answer


def replay(row: IdempotencyKey, digest: str) -> Answer:
    if row.request_sha256 != digest:
        raise KeyRefused(
            409,
            f"{HEADER} {row.key!r} was already used for a different request body; "
            "use a new key for a new request",
        )
    return Answer(row.response_status, row.response_body(), replayed=True)
