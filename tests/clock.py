"""One pinned clock for tests: Python's (time-machine) and the database's, moved together.

Opscore reads time from the database (`statement_timestamp()`, `now()`, Django's `Now()`), so
pinning only Python's clock would pin nothing that matters. The test database gets a `clock`
schema whose `now()`, `statement_timestamp()`, `transaction_timestamp()` and
`clock_timestamp()` shadow the built-ins (the search path puts `pg_catalog` last, and `clock`
after `public` so that tables are still created in `public`) and add the
shift stored in `clock.pinned`, or return its frozen instant. The search path is set on the
database itself, so worker subprocesses a test spawns read the same clock once the row is
committed. Production databases never have this schema.
"""

import os
from datetime import datetime
from datetime import time as dt_time
from pathlib import Path

import time_machine
from django.db import connection

SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS clock;
CREATE TABLE IF NOT EXISTS clock.pinned (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    shift interval NOT NULL DEFAULT interval '0',
    frozen_at timestamptz
);
CREATE OR REPLACE FUNCTION clock.pinned_at(real_now timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT coalesce(frozen_at, real_now + shift) FROM clock.pinned),
        real_now + coalesce(
            nullif(current_setting('opscore.clock_shift', true), '')::interval, interval '0'))
$$;
CREATE OR REPLACE FUNCTION clock.now() RETURNS timestamptz LANGUAGE sql STABLE
    AS $$ SELECT clock.pinned_at(pg_catalog.now()) $$;
CREATE OR REPLACE FUNCTION clock.transaction_timestamp() RETURNS timestamptz
    LANGUAGE sql STABLE AS $$ SELECT clock.pinned_at(pg_catalog.transaction_timestamp()) $$;
CREATE OR REPLACE FUNCTION clock.statement_timestamp() RETURNS timestamptz
    LANGUAGE sql STABLE AS $$ SELECT clock.pinned_at(pg_catalog.statement_timestamp()) $$;
CREATE OR REPLACE FUNCTION clock.clock_timestamp() RETURNS timestamptz
    LANGUAGE sql VOLATILE AS $$ SELECT clock.pinned_at(pg_catalog.clock_timestamp()) $$;
"""
SEARCH_PATH = '"$user", public, clock, pg_catalog'
CHILD_HOOK = Path(__file__).resolve().parent / "instant"


def install(using_connection) -> None:
    """Give the test database its pinnable clock, before any migration runs: column defaults
    (`db_default=Now()`) then bind to it too."""
    with using_connection.cursor() as cursor:
        cursor.execute(SCHEMA_SQL)
        name = using_connection.ops.quote_name(using_connection.settings_dict["NAME"])
        cursor.execute(f"ALTER DATABASE {name} SET search_path TO {SEARCH_PATH}")
        cursor.execute(f"SET search_path TO {SEARCH_PATH}")


def move_whole_run(instant: datetime):
    """Move both clocks to `instant` for the whole test run, ticking: Python's by time-machine
    (in the processes a test spawns too: tests/instant/sitecustomize.py), the database's by a
    shift every connection (subprocesses included) reads from its `opscore.clock_shift`
    setting. Returns the traveller to stop at the end."""
    traveller = time_machine.travel(instant, tick=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s - pg_catalog.statement_timestamp()", [instant])
        shift = str(cursor.fetchone()[0].total_seconds())
        name = connection.ops.quote_name(connection.settings_dict["NAME"])
        cursor.execute(f"ALTER DATABASE {name} SET opscore.clock_shift = '{shift} seconds'")
        cursor.execute("SELECT set_config('opscore.clock_shift', %s, false)", [f"{shift} seconds"])
    children_follow(shift)
    traveller.start()
    return traveller


def children_follow(shift: str) -> None:
    """Each Python started from here on moves its clock by `shift` seconds at start-up."""
    os.environ["OPS_TEST_CLOCK_SHIFT"] = shift
    paths = [str(CHILD_HOOK), *filter(None, [os.environ.get("PYTHONPATH")])]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)


class Clock:
    """`clock.freeze(instant)` stops both clocks at `instant`; `clock.travel(instant)` moves both
    there and lets them tick. Either lasts until the test ends."""

    def __init__(self):
        self._traveller = None

    def freeze(self, instant: datetime) -> None:
        self._pin(instant, tick=False)
        self._write("INSERT INTO clock.pinned (frozen_at) VALUES (%s)", [instant])

    def travel(self, instant: datetime) -> None:
        self._pin(instant, tick=True)
        self._write(
            "INSERT INTO clock.pinned (shift) VALUES (%s - pg_catalog.statement_timestamp())",
            [instant],
        )

    def midday(self) -> None:
        """Both clocks moved, ticking, to noon of today in OPS_TIME_ZONE (the date the run is
        on, an OPS_TEST_INSTANT's included): for a test that counts a day's work (a daily
        limit, a quota) across several statements, so midnight cannot fall between its writes
        and its check."""
        from django.utils import timezone

        today = timezone.localdate()
        self.travel(datetime.combine(today, dt_time(12), timezone.get_current_timezone()))

    def stop(self) -> None:
        if self._traveller is not None:
            self._traveller.stop()
            self._traveller = None
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM clock.pinned")

    def _pin(self, instant: datetime, tick: bool) -> None:
        if instant.tzinfo is None:
            raise ValueError("pin the clock to an aware datetime")
        if self._traveller is not None:
            self._traveller.stop()
        self._traveller = time_machine.travel(instant, tick=tick)
        self._traveller.start()

    @staticmethod
    def _write(sql: str, params: list) -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM clock.pinned")
            cursor.execute(sql, params)
