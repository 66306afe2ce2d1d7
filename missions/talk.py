"""What an operator types (a thread comment, a chat message) is untrusted text: cleaned of
invisible characters, at most OPS_TALK_MAX_CHARS long, and at most OPS_TALK_PER_HOUR messages an
hour per operator across threads and the chat. The count reads the ledger's own events, so the
limit holds across processes. A refusal writes a `talk.refused` event with its reason (never the
text, which may be what was refused)."""

import re
from datetime import timedelta

from django.conf import settings

from missions.text import strip_invisible
from opscore.actions import record_event
from opscore.db import db_now
from opscore.models import Agent, Event
from opscore.redaction import redact_text

COUNTED = ["thread.comment", "chat.message"]
MENTION = re.compile(r"(?<![\w@])@([a-z0-9][a-z0-9_-]{0,63})")


class TalkRefused(ValueError):
    """An operator's message that was not taken: the reason is one line the operator reads."""


def clean_talk(text, *, actor: str, where: str) -> str:
    """The text to keep, or TalkRefused (recorded) with why."""
    cleaned = strip_invisible(str(text or "")).strip()
    problem = ""
    if not cleaned:
        problem = "a message needs text"
    elif len(cleaned) > settings.OPS_TALK_MAX_CHARS:
        problem = (
            f"a message is at most {settings.OPS_TALK_MAX_CHARS} characters ({len(cleaned)} given)"
        )
    elif sent_last_hour(actor) >= settings.OPS_TALK_PER_HOUR:
        problem = f"{actor} sent {settings.OPS_TALK_PER_HOUR} messages this hour; try again later"
    if problem:
        record_event(
            "talk.refused",
            f"{where} message from {actor} refused",
            summary=problem,
            tags=["talk", "refused"],
            payload={"where": where, "reason": problem, "length": len(cleaned)},
            actor=actor,
        )
        raise TalkRefused(problem)
    return redact_text(cleaned)  # a secret typed in is kept nowhere: not a row, page or prompt


def sent_last_hour(actor: str) -> int:
    since = db_now() - timedelta(hours=1)
    return Event.objects.filter(kind__in=COUNTED, actor=actor, created_at__gte=since).count()


def mentioned_agent(text: str) -> Agent | None:
    """The first `@slug` in the text that names an agent: whom the message is for."""
    slugs = MENTION.findall(text.lower())
    found = {a.slug: a for a in Agent.objects.filter(slug__in=slugs)}
    return next((found[s] for s in slugs if s in found), None)
