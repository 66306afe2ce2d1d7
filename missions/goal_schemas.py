"""A goal as it arrives from the CLI, the API or the admin, checked before anything is written:
a title of sensible length, a metric the ledger can measure, a target that is a number, a
deadline still ahead and an owner who exists."""

import math
import re
from datetime import UTC, datetime, time, timedelta

from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from missions.goal_metrics import METRICS
from missions.models import GoalDirection, GoalScope
from missions.models.goals import MAX_TITLE, MAX_WHY
from missions.schemas import field_errors
from missions.text import one_line, strip_invisible
from opscore.inputs import FieldErrors, InputRefused, check_clean

# ASCII digits: `\d` read a full-width 3 as 3. Any count of them: `99999999d` is a span too
# long, not something other than a span.
SPAN = re.compile(r"^(?P<n>[0-9]+)(?P<unit>[hdw])$")
UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
MAX_HORIZON = timedelta(days=2 * 366)
MAX_TARGET = 1e12
FORMS = "a span (36h, 30d, 12w), a date (2027-03-31) or a time with its zone"


class GoalInvalid(FieldErrors):
    """Bad goal input: nothing was written."""


def parse_deadline(text, now: datetime) -> datetime:
    """`36h`, `30d`, `12w` from now, an ISO date (its end in OPS_TIME_ZONE, the operator's day,
    as for quotas: its end in UTC cut an operator's last day short, and refused that day as
    past once UTC had moved on) or an ISO time with its zone."""
    text = str(text or "").strip()
    if match := SPAN.match(text):
        span = int(match["n"][:7]) * UNIT[match["unit"]]
        if len(match["n"]) > 6 or span > MAX_HORIZON:  # before now + span overflows a date
            raise ValueError(f"{text[:40]!r}: at most two years ahead")
        return now + span
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r}: give {FORMS}") from None
    if len(text) == 10:  # a bare date: the whole day counts
        return datetime.combine(when.date(), time.max, tzinfo=timezone.get_default_timezone())
    if when.tzinfo is None:
        raise ValueError(f"{text!r}: give its zone, e.g. 2027-03-31T18:00+00:00")
    return when


class GoalTerms(BaseModel):
    """Everything a goal asks for. `revise` accepts any subset of these fields."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=MAX_TITLE)
    why: str = Field(default="", max_length=MAX_WHY)
    metric: str
    scope: GoalScope = GoalScope.COMPANY
    target: float = Field(ge=0, le=MAX_TARGET)
    direction: GoalDirection = GoalDirection.AT_LEAST
    owner: str = Field(min_length=1, max_length=64)
    deadline: str | datetime

    @field_validator("title", "why")
    @classmethod
    def _visible(cls, text):
        cleaned = strip_invisible(text).strip()
        if not cleaned and text:
            raise ValueError("nothing left once invisible characters are removed")
        return cleaned

    @field_validator("title")
    @classmethod
    def _one_line(cls, title):
        """A line per goal in `goal list`, one for it in its owner's initiative prompt: a line
        break printed a second 'goal' under it."""
        return one_line(title)

    @field_validator("deadline", mode="before")
    @classmethod
    def _text_or_time(cls, value):
        """One error on `deadline`, not pydantic's one per member of the union
        (`deadline.constrained-str`, `deadline.datetime`) that no form or client knows."""
        if not isinstance(value, str | datetime):
            raise ValueError(FORMS)
        return value

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, name):
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
        return name

    @field_validator("target", mode="before")
    @classmethod
    def _number(cls, value):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("a number")
        if isinstance(value, str) and (not value.isascii() or "_" in value):
            # float() reads a full-width 5 as 5 and "1_000" as 1000: not what was typed
            raise ValueError(f"{value[:40]!r} is not a number in digits 0-9")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError("a finite number")
        return number


def parse_terms(data, now: datetime, *, is_agent=None) -> tuple[GoalTerms, datetime]:
    """The validated terms and the deadline as a time, or GoalInvalid naming every bad field
    at once (`is_agent(slug)` says whether an owner exists)."""
    if not isinstance(data, dict):
        raise GoalInvalid({"body": ["expected a JSON object"]})
    try:
        check_clean(data)
    except InputRefused as refused:
        raise GoalInvalid({refused.field or "body": [refused.message]}) from None
    terms, errors = None, {}
    try:
        terms = GoalTerms.model_validate(data)
    except ValidationError as error:
        errors = field_errors(error)
    deadline = None
    if "deadline" not in errors:
        try:
            deadline = checked_deadline(data["deadline"], now)
        except ValueError as bad:
            errors["deadline"] = [str(bad)]
    owner = data.get("owner")
    if "owner" not in errors and is_agent and not is_agent(str(owner).strip()):
        errors["owner"] = [f"unknown agent {str(owner).strip()!r}"]
    if errors:
        raise GoalInvalid(errors)
    return terms, deadline


def checked_deadline(deadline, now: datetime) -> datetime:
    """The deadline in UTC, as the database gives it back: kept in the zone it was typed in,
    the answer to `goal add`, its version row and its event said another day and time than
    every later read."""
    if not isinstance(deadline, datetime):
        deadline = parse_deadline(deadline, now)
    if deadline <= now:
        raise ValueError(f"{deadline.isoformat()} is already past")
    if deadline - now > MAX_HORIZON:
        raise ValueError("at most two years ahead")
    return deadline.astimezone(UTC)  # within range now: year 1 or 9999 in a zone would overflow
