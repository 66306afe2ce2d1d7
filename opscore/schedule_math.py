"""Cron arithmetic with croniter, in each order's own time zone (DST-safe: croniter steps in
local time and we convert each slot to UTC).

DST hazards, as Vixie cron settles them: a fixed-time job (an hour field without `*`) whose
wall-clock time falls in the hour that repeats when clocks go back runs once, at the first
pass; in the hour skipped when clocks go forward it runs right after the change. A job with
`*` in its hour field keeps its interval through both."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

MAX_SLOTS = 10_000
NEVER_BEFORE = datetime(2000, 1, 1, tzinfo=UTC)  # any cron that fires does so within 4 years


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
    try:  # a day no month has (30 2, 31 4) passes is_valid, then every walk over it raises
        croniter(cron, NEVER_BEFORE).get_next(datetime)
    except CroniterBadDateError:
        raise ScheduleError(f"{cron!r} names no date that exists: it would never fire") from None


def slots_between(
    cron: str, timezone: str, since: datetime, until: datetime, limit: int = MAX_SLOTS
) -> list[datetime]:
    """The first `limit` slots in (since, until]: a caller that must know whether there were
    more asks for one more than it takes."""
    tz = zone(timezone)
    walker = croniter(cron, since.astimezone(tz))
    slots = []
    while len(slots) < limit:
        slot = walker.get_next(datetime)
        if slot > until:
            break
        if not is_repeated_wall_time(cron, slot, tz):
            slots.append(slot.astimezone(UTC))
    return slots


def next_slot(cron: str, timezone: str, after: datetime) -> datetime:
    return _walk(cron, timezone, after, forward=True)


def latest_slot(cron: str, timezone: str, now: datetime) -> datetime:
    return _walk(cron, timezone, now, forward=False)


def _walk(cron: str, timezone: str, start: datetime, forward: bool) -> datetime:
    tz = zone(timezone)
    walker = croniter(cron, start.astimezone(tz))
    step = walker.get_next if forward else walker.get_prev
    slot = step(datetime)
    while is_repeated_wall_time(cron, slot, tz):
        slot = step(datetime)
    return slot.astimezone(UTC)


def is_repeated_wall_time(cron: str, slot: datetime, tz: ZoneInfo) -> bool:
    """Whether `slot` is the second pass of a wall-clock time that occurs twice (clocks went
    back) for a fixed-time job, which already ran at the first pass."""
    if "*" in cron.split()[1]:
        return False
    first_pass = slot.astimezone(tz).replace(tzinfo=None).replace(tzinfo=tz, fold=0)
    return first_pass.astimezone(UTC) != slot.astimezone(UTC)
