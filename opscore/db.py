"""The one clock (the database's), and the names every process agrees on: NOTIFY channels and
advisory lock ids. Python's clock is never used for a rule: two machines disagree, one server
does not."""

from datetime import timedelta

import psycopg
from django.db import InterfaceError, OperationalError, connection, models
from django.db.models import DateTimeField, ExpressionWrapper, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Now
from django.utils import timezone

# What a lost database connection raises (a restart, the network): Django's wrappers, and
# psycopg's own for calls made on the raw connection (LISTEN, prepared claims).
DISCONNECTS = (OperationalError, InterfaceError, psycopg.OperationalError)


# psycopg prepares a statement that asks (`prepare=True`) only where preparing is on, and Django
# turns it off (prepare_threshold None, for poolers in transaction mode). Turned on around one
# call with a threshold no statement reaches by repetition: only the one that asks is prepared.
ONLY_WHEN_ASKED = 2**31 - 1


def execute_prepared(cursor: psycopg.Cursor, sql: str, params) -> None:
    """Run `sql` as a prepared statement of the session: the server parses and plans it once
    per connection, then binds the values on each call (a rollback deallocates it, and the
    next call prepares it again)."""
    conn = cursor.connection
    threshold = conn.prepare_threshold
    conn.prepare_threshold = ONLY_WHEN_ASKED if threshold is None else threshold
    try:
        cursor.execute(sql, params, prepare=True)
    finally:
        conn.prepare_threshold = threshold


class Channel:
    """LISTEN/NOTIFY channels."""

    STEPS = "opscore_steps"  # a step may have become claimable (missions_step_notify)
    EVENTS = "opscore_events"  # an event was written (opscore_event_notify), payload = its id
    OUTBOX = "opscore_outbox"  # a message to deliver was written (missions.outbox)


class AdvisoryLock:
    """Session-level advisory lock ids (the first key where two keys are used)."""

    HEARTBEAT = 0x0B5C0DE  # one heartbeat at a time
    WORKER_SLOT = 0x0B5C0DF  # + the slot number: one worker session per slot
    BOOTSTRAP = "opscore.bootstrap"  # hashtext() key: one bootstrap at a time
    GATE_PREFIX = "opscore.gate."  # + step kind, hashtext() key: serialises a quota check
    STAGE_READER_PREFIX = "opscore.stage.reader."  # + node, hashtext(): one Stage reader a node
    SENDER_PREFIX = "opscore.sender."  # + who sent a message, hashtext(): counted one at a time


def listen(channel: str):
    """A connection of its own (autocommit, outside Django's) that LISTENs on `channel`."""
    params = connection.get_connection_params()
    params = {k: v for k, v in params.items() if k not in ("cursor_factory", "context")}
    listener = psycopg.connect(**params, autocommit=True)
    listener.execute(f"LISTEN {channel}")
    return listener


def notify(channel: str) -> None:
    """NOTIFY `channel`; inside a transaction it is sent when (and only if) that commits."""
    with connection.cursor() as cursor:
        cursor.execute(f"NOTIFY {channel}")


def seconds_until(table: str, column: str, where: str) -> float:
    """Seconds until the earliest future `column` among the rows matching `where`, by the
    database clock (inf when there is none): how long a loop may sleep."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXTRACT(EPOCH FROM min({column}) - statement_timestamp()) FROM {table}"
            f" WHERE {where} AND {column} > statement_timestamp()"
        )
        value = cursor.fetchone()[0]
    return float("inf") if value is None else max(float(value), 0.0)


def db_now():
    """statement_timestamp(): `now()` would stand still for a whole transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")
        return cursor.fetchone()[0]


def in_seconds(seconds: float):
    """now() + seconds, on the database clock."""
    return ExpressionWrapper(
        Now() + Value(timedelta(seconds=seconds)), output_field=DateTimeField()
    )


def start_of_today():
    """Midnight in the configured time zone, as an instant, by the database clock. Django's
    Trunc leaves that midnight a naive local time, which a comparison with a timestamptz column
    reads as UTC: in New York "today" began four hours early, at UTC+14 fourteen hours late
    (after 'now', so no daily cap counted anything until 14:00)."""
    zone = timezone.get_current_timezone_name()
    return RawSQL(
        "(date_trunc('day', statement_timestamp() AT TIME ZONE %s) AT TIME ZONE %s)",
        [zone, zone],
        output_field=models.DateTimeField(),
    )


def oldest_unlocked(queryset):
    """The oldest row of a queue that no other consumer holds (FOR UPDATE SKIP LOCKED), so
    concurrent consumers never wait on each other or take the same row. Call it inside the
    transaction that consumes the row."""
    return queryset.select_for_update(skip_locked=True).order_by("id").first()
