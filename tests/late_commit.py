"""Two transactions that commit out of their events' id order: one held open on a second
connection, a later event committed meanwhile. Ids come from a sequence at INSERT, commits in
another order; a reader by id alone passed the held one for good."""

import psycopg
from django.db import connection, transaction

from opscore.models import Event

HELD = (
    "INSERT INTO opscore_event (kind, title, summary, tags, payload, actor)"
    " VALUES (%s, 'written first, committed last', '', %s, '{}', '') RETURNING id"
)


def held_open(kind: str = "test", tags: tuple = ()):
    """A second connection whose transaction wrote an event and has not committed yet."""
    params = connection.get_connection_params()
    other = psycopg.connect(
        **{k: v for k, v in params.items() if k not in ("context", "cursor_factory")}
    )
    held_id = other.execute(HELD, [kind, list(tags)]).fetchone()[0]
    return other, held_id


def held_and_quick(quick_began_first: bool, kind: str = "test", tags: tuple = ()):
    """An event held open on another connection, and a later one committed. With
    `quick_began_first`, the later one's transaction took its id before the held one wrote (a
    worker updating its step, then writing its event)."""
    with transaction.atomic():
        if quick_began_first:
            connection.cursor().execute("SELECT pg_current_xact_id()")
        other, held_id = held_open(kind, tags)
        quick = Event.objects.create(kind=kind, title="quick", tags=list(tags))
    return other, held_id, quick


def settle(event_id: int) -> None:
    """Wait until no transaction of this database older than the event's runs (a thread's,
    a subprocess's): a bounded poll for a condition."""
    from opscore.models.events import Watermark

    settled = Event.objects.filter(id=event_id, xact__lt=Watermark())
    for _ in range(600):
        if settled.exists():
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(0.1)")
    raise AssertionError("an older transaction stayed open for a minute")


def open_elsewhere():
    """A transaction holding an id in another database of the same server (its maintenance
    database): another app's, another test worker's."""
    params = connection.get_connection_params() | {"dbname": "postgres"}
    other = psycopg.connect(
        **{k: v for k, v in params.items() if k not in ("context", "cursor_factory")}
    )
    other.execute("SELECT pg_current_xact_id()")
    return other


def look_while_held(look, kind: str = "test", tags: tuple = ()):
    """`look()` while another connection holds an event open, which then commits and settles: a
    window reader's look taken before that event commits, and its result."""
    other, held_id = held_open(kind, tags)
    try:
        first = look()
        other.commit()
    finally:
        other.close()
    settle(held_id)
    return first
