"""Cron arithmetic with croniter, in each order's own time zone (DST-safe: croniter steps in
local time and we convert each slot to UTC)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

MAX_SLOTS = 10_000


class ScheduleError(ValueError):
    pass


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r}") from None


def validate(cron: str, timezone: str) -> None:
    zone(timezone)
    if len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise ScheduleError(f"not a five-field cron expression: {cron!r}")


def slots_between(cron: str, timezone: str, since: datetime, until: datetime) -> list[datetime]:
    tz = zone(timezone)
    walker = croniter(cron, since.astimezone(tz))
    slots = []
    while len(slots) < MAX_SLOTS:
        slot = walker.get_next(datetime)
        if slot > until:
            break
        slots.append(slot.astimezone(UTC))
    return slots


def latest_slot(cron: str, timezone: str, now: datetime) -> datetime:
    tz = zone(timezone)
    return croniter(cron, now.astimezone(tz)).get_prev(datetime).astimezone(UTC)
