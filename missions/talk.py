"""What an operator types (a thread comment, a chat message) is untrusted text: cleaned of
invisible characters, at most OPS_TALK_MAX_CHARS long, and at most OPS_TALK_PER_HOUR messages an
hour per sender across threads and the chat. A sender is a credential, not a name a caller
types: every `api:*` actor spends the one API token's allowance, an operator (the Stage's user,
the CLI's --as) their own. The count reads the ledger's own events, so the limit holds across
processes; it is taken under the sender's advisory lock in the transaction that records the
message, so two requests at once cannot both see room for one. A refusal writes a `talk.refused`
event with its reason (never the text, which may be what was refused)."""

import re
from collections.abc import Callable
from datetime import timedelta
from typing import NoReturn, TypeVar

from django.conf import settings
from django.db import connection, transaction

from missions.text import strip_invisible
from opscore.actions import record_event
from opscore.db import AdvisoryLock, db_now
from opscore.models import Agent, Event
from opscore.redaction import redact_text

COUNTED = ["thread.comment", "chat.message"]
API = "api:"  # every API caller's actor: `api:<the name it gave>`, one bearer token behind all
T = TypeVar("T")
MENTION = re.compile(r"(?<![\w@])@([a-z0-9][a-z0-9_-]{0,63})")


class TalkRefused(ValueError):
    """An operator's message that was not taken: the reason is one line the operator reads."""

    status = 400  # what the API answers; the CLI exits 2 for every refusal


class TalkNotFound(TalkRefused):
    """No such row of this operator's (another's is answered the same): the API's 404."""

    status = 404


class TalkSettled(TalkRefused):
    """A right request too late: the draft was submitted or discarded already (409)."""

    status = 409


def clean_talk(text, *, actor: str, where: str) -> str:
    """The text to keep, or TalkRefused (recorded) with why: its length, not yet its count."""
    cleaned = strip_invisible(str(text or "")).strip()
    problem = ""
    if not cleaned:
        problem = "a message needs text"
    elif len(cleaned) > settings.OPS_TALK_MAX_CHARS:
        problem = (
            f"a message is at most {settings.OPS_TALK_MAX_CHARS} characters ({len(cleaned)} given)"
        )
    if problem:
        refuse(problem, actor=actor, where=where, length=len(cleaned))
    return redact_text(cleaned)  # a secret typed in is kept nowhere: not a row, page or prompt


def keep_talk(text, *, actor: str, where: str, keep: Callable[[str], T]) -> T:
    """`keep(cleaned text)`'s row, written in the transaction that counted the sender's hour
    under their lock; the next message of theirs waits for this one to commit or roll back.
    Over the limit the transaction rolls back and the refusal is recorded after it. Whatever
    the message starts (an agent's reply, a model call) runs after, with no lock held."""
    cleaned = clean_talk(text, actor=actor, where=where)
    try:
        with transaction.atomic():
            lock_sender(actor)
            if sent_last_hour(actor) >= settings.OPS_TALK_PER_HOUR:
                raise OverLimit(over_limit(actor))
            return keep(cleaned)
    except OverLimit as refused:
        refuse(str(refused), actor=actor, where=where, length=len(cleaned))


class OverLimit(Exception):
    """Raised inside the counting transaction to roll it back; recorded outside it."""


def refuse(problem: str, *, actor: str, where: str, length: int) -> NoReturn:
    record_event(
        "talk.refused",
        f"{where} message from {actor} refused",
        summary=problem,
        tags=["talk", "refused"],
        payload={"where": where, "reason": problem, "length": length},
        actor=actor,
    )
    raise TalkRefused(problem)


def over_limit(actor: str) -> str:
    limit = settings.OPS_TALK_PER_HOUR
    if actor.startswith(API):
        return f"the API token (every api: name) sent {limit} messages this hour; try again later"
    return f"{actor} sent {limit} messages this hour; try again later"


def sender(actor: str) -> str:
    """Whose allowance a message spends: the API token's for any `api:*` name, else the actor's."""
    return f"{API}*" if actor.startswith(API) else actor


def lock_sender(actor: str) -> None:
    """Count one message at a time per sender until the transaction ends."""
    with connection.cursor() as cursor:
        key = f"{AdvisoryLock.SENDER_PREFIX}{sender(actor)}"
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])


def sent_last_hour(actor: str) -> int:
    since = db_now() - timedelta(hours=1)
    sent = Event.objects.filter(kind__in=COUNTED, created_at__gte=since)
    if actor.startswith(API):
        return sent.filter(actor__startswith=API).count()
    return sent.filter(actor=actor).count()


def mentioned_agent(text: str) -> Agent | None:
    """The first `@slug` in the text that names an agent: whom the message is for."""
    slugs = MENTION.findall(text.lower())
    found = {a.slug: a for a in Agent.objects.filter(slug__in=slugs)}
    return next((found[s] for s in slugs if s in found), None)
